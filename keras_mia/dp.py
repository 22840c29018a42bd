"""Differential-privacy budgets next to measured leakage.

Two numbers answer "how private is this model?" from opposite sides:

* the *theoretical* epsilon of DP-SGD training, an upper bound on the
  privacy loss that follows from the noise multiplier, the sampling rate and
  the number of steps (computed with Google's `dp-accounting` library);
* the *empirical* epsilon lower bound implied by an attack that was
  actually run: if a membership test reaches true-positive rate TPR at
  false-positive rate FPR, then (epsilon, delta)-DP requires
  `TPR <= exp(epsilon) * FPR + delta` and
  `1 - FPR <= exp(epsilon) * (1 - TPR) + delta` (Kairouz, Oh & Viswanath,
  ICML 2015, Theorem 2.1; used for auditing by Jagielski, Ullman & Oprea,
  NeurIPS 2020). Solving for epsilon with confidence bounds in place of
  the measured rates gives a lower bound that holds with a stated
  probability.

A sound DP-SGD implementation gives an empirical bound below the
theoretical epsilon. A bound above it points at a bug or at a broken
assumption (see :func:`epsilon_lower_bound`).

Note: the empirical bound treats the evaluated records as independent
trials of the membership test. Records of one trained model share that
model, so for a single model this is an estimate of the privacy loss seen
by these records, not a proof about the training algorithm.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import math
from types import ModuleType

import numpy as np
from scipy import stats

logger = logging.getLogger(__name__)

ACCOUNTANTS = ("rdp", "pld")

#: Discretisation of the PLD accountant's privacy-loss grid. The accountant
#: rounds pessimistically, so a coarser grid only raises epsilon; 1e-4 is
#: the library's default and is accurate to about 1e-3 in epsilon.
PLD_VALUE_DISCRETIZATION = 1e-4

DP_INSTALL_HINT = (
    "Install it with `pip install keras-mia[dp]` (or `pip install "
    "dp-accounting`)."
)


def require_dp_accounting() -> ModuleType:
    """Import dp-accounting or fail with an installation hint.

    Returns:
        The imported `dp_accounting` module.

    Raises:
        ImportError: If `dp-accounting` is not installed.
    """
    try:
        return importlib.import_module("dp_accounting")
    except ImportError as err:
        raise ImportError(
            "The theoretical epsilon needs the `dp-accounting` package, which "
            f"is not installed. {DP_INSTALL_HINT}"
        ) from err


def _check_delta(delta: float, allow_zero: bool) -> float:
    delta = float(delta)
    low_ok = delta >= 0.0 if allow_zero else delta > 0.0
    if not (low_ok and delta < 1.0) or math.isnan(delta):
        domain = "[0, 1)" if allow_zero else "(0, 1)"
        raise ValueError(
            f"`delta` must be in {domain}; received delta={delta!r}."
        )
    return delta


def _check_confidence(confidence_level: float) -> float:
    level = float(confidence_level)
    if not 0.0 < level < 1.0:
        raise ValueError(
            "`confidence_level` must be in (0, 1); received "
            f"confidence_level={confidence_level!r}."
        )
    return level


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(
        value, bool | np.bool_
    )


def _check_n_train(n_train: object) -> None:
    if not _is_int(n_train) or n_train < 1:
        raise ValueError(
            f"`n_train` must be an int >= 1; received n_train={n_train!r}."
        )


def _check_batch_size(batch_size: object, n_train: int | None) -> None:
    high = "n_train" if n_train is None else f"n_train={n_train}"
    if not _is_int(batch_size) or not (
        1 <= batch_size <= (math.inf if n_train is None else n_train)
    ):
        raise ValueError(
            f"`batch_size` must be an int in [1, {high}]; "
            f"received batch_size={batch_size!r}."
        )


def _check_epochs(epochs: object) -> None:
    if (
        not isinstance(epochs, int | float | np.integer | np.floating)
        or isinstance(epochs, bool | np.bool_)
        or not epochs > 0
        or math.isinf(epochs)
    ):
        raise ValueError(
            f"`epochs` must be a finite number > 0; received epochs={epochs!r}."
        )


def _check_noise_multiplier(noise_multiplier: object) -> float:
    try:
        value = float(noise_multiplier)
    except (TypeError, ValueError):
        value = math.nan
    if not value >= 0 or math.isinf(value):
        raise ValueError(
            "`noise_multiplier` must be a finite number >= 0; received "
            f"noise_multiplier={noise_multiplier!r}."
        )
    return value


def _check_accountant(accountant: object) -> None:
    if accountant not in ACCOUNTANTS:
        raise ValueError(
            f"`accountant` must be one of {list(ACCOUNTANTS)}; received "
            f"accountant={accountant!r}."
        )


def dp_sgd_steps(n_train: int, batch_size: int, epochs: float) -> int:
    """Number of noisy gradient steps of DP-SGD training.

    Args:
        n_train: Number of training records, at least 1.
        batch_size: Expected batch size, in `[1, n_train]`.
        epochs: Passes over the data, `> 0` (may be fractional).

    Returns:
        `ceil(epochs * n_train / batch_size)`, the convention of TensorFlow
        Privacy's `compute_dp_sgd_privacy`.

    Raises:
        ValueError: If an argument is outside its domain.
    """
    _check_n_train(n_train)
    _check_batch_size(batch_size, n_train)
    _check_epochs(epochs)
    return int(math.ceil(epochs * n_train / batch_size))


def theoretical_epsilon(
    noise_multiplier: float,
    batch_size: int,
    n_train: int,
    epochs: float,
    delta: float,
    *,
    accountant: str = "rdp",
) -> float:
    """Epsilon of DP-SGD training, from `dp-accounting`.

    Each step is modelled as the Gaussian mechanism with standard deviation
    `noise_multiplier` (in units of the clipping norm) applied to a Poisson
    sample of the data with rate `q = batch_size / n_train`; the steps
    compose (`SelfComposedDpEvent`). Neighbouring datasets differ by adding
    or removing one record.

    Note: Keras shuffles the data and takes fixed-size batches; it does not
    sample each record independently as the Poisson model assumes. This is
    the usual reporting convention (TensorFlow Privacy does the same), but
    strictly speaking the guarantee is proved for Poisson sampling only.

    Args:
        noise_multiplier: Ratio of the noise standard deviation to the
            clipping norm, `>= 0`. 0 means no noise (epsilon is infinite).
        batch_size: Expected batch size, in `[1, n_train]`.
        n_train: Number of training records, at least 1.
        epochs: Passes over the data, `> 0`.
        delta: Target delta in (0, 1), usually below `1 / n_train`.
        accountant: `"rdp"` (Renyi DP, Mironov 2017; slightly pessimistic)
            or `"pld"` (privacy-loss distributions, tighter and slower).
            Defaults to `"rdp"`.

    Returns:
        Epsilon, a float `>= 0`, `inf` without noise. Lower = more private.

    Raises:
        ValueError: If an argument is outside its domain.
        ImportError: If `dp-accounting` is not installed.
    """
    noise_multiplier = _check_noise_multiplier(noise_multiplier)
    steps = dp_sgd_steps(n_train, batch_size, epochs)
    delta = _check_delta(delta, allow_zero=False)
    _check_accountant(accountant)
    if noise_multiplier == 0:
        return math.inf

    dpa = require_dp_accounting()
    event = dpa.SelfComposedDpEvent(
        dpa.PoissonSampledDpEvent(
            batch_size / n_train, dpa.GaussianDpEvent(noise_multiplier)
        ),
        steps,
    )
    if accountant == "rdp":
        ledger = dpa.rdp.RdpAccountant()
    else:
        ledger = dpa.pld.PLDAccountant(
            value_discretization_interval=PLD_VALUE_DISCRETIZATION
        )
    # The RDP accountant logs a warning through absl for every Renyi order
    # whose series does not converge (large sampling rates); it drops those
    # orders, which can only make epsilon larger (more pessimistic).
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        ledger.compose(event)
        epsilon = float(ledger.get_epsilon(delta))
    finally:
        absl_logger.setLevel(level)
    logger.debug(
        "DP-SGD epsilon %.4g (%s): sigma=%g, q=%g, steps=%d, delta=%g",
        epsilon, accountant, noise_multiplier, batch_size / n_train, steps,
        delta,
    )
    return epsilon


@dataclasses.dataclass(frozen=True)
class DpSgdConfig:
    """How a model was trained with DP-SGD, for the theoretical epsilon.

    The settings are checked when the object is made, so a mistake shows
    up at once rather than after an audit has trained its models.

    Attributes:
        noise_multiplier: Noise standard deviation over the clipping norm,
            a finite number `>= 0`; 0 means no noise (epsilon is infinite).
        batch_size: Batch size used in training, an int `>= 1` and at most
            `n_train` when that is given.
        epochs: Number of training epochs, a finite number `> 0`.
        delta: Target delta in (0, 1); also used for the empirical bound.
        n_train: Training-set size, an int `>= 1`. `None` means the number
            of members given to the audit.
        accountant: One of :data:`ACCOUNTANTS` (`"rdp"` or `"pld"`).
            Defaults to `"rdp"`.

    Raises:
        ValueError: If a setting is outside its domain.
    """

    noise_multiplier: float
    batch_size: int
    epochs: float
    delta: float
    n_train: int | None = None
    accountant: str = "rdp"

    def __post_init__(self) -> None:
        _check_noise_multiplier(self.noise_multiplier)
        _check_epochs(self.epochs)
        _check_delta(self.delta, allow_zero=False)
        if self.n_train is not None:
            _check_n_train(self.n_train)
        _check_batch_size(self.batch_size, self.n_train)
        _check_accountant(self.accountant)

    def epsilon(self, n_train: int | None = None) -> float:
        """The theoretical epsilon of this configuration.

        Args:
            n_train: Training-set size to use when `self.n_train` is None.

        Returns:
            Epsilon from :func:`theoretical_epsilon`.

        Raises:
            ValueError: If no training-set size is known.
        """
        size = self.n_train if self.n_train is not None else n_train
        if size is None:
            raise ValueError(
                "DpSgdConfig needs `n_train` (the training-set size); "
                "received None."
            )
        return theoretical_epsilon(
            self.noise_multiplier, self.batch_size, int(size), self.epochs,
            self.delta, accountant=self.accountant,
        )


def clopper_pearson(
    n_successes: np.ndarray | int,
    n_trials: np.ndarray | int,
    alpha: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact one-sided Clopper-Pearson bounds of a binomial proportion.

    Clopper & Pearson (Biometrika 1934). Each bound alone holds with
    probability at least `1 - alpha`: the true proportion is `>= low`
    with that probability, and `<= high` with that probability.

    Args:
        n_successes: Counts, int or int array, in `[0, n_trials]`.
        n_trials: Trials, int or int array (broadcast), at least 1.
        alpha: One-sided error probability in (0, 1).

    Returns:
        `(low, high)` float arrays of the broadcast shape: the
        `alpha`-quantile of `Beta(k, n - k + 1)` (0 when `k = 0`) and the
        `(1 - alpha)`-quantile of `Beta(k + 1, n - k)` (1 when `k = n`).

    Raises:
        ValueError: If counts are out of range or `alpha` is not in (0, 1).
    """
    k = np.asarray(n_successes, dtype=np.float64)
    n = np.asarray(n_trials, dtype=np.float64)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"`alpha` must be in (0, 1); received alpha={alpha}.")
    if np.any(n < 1) or np.any(k < 0) or np.any(k > n):
        raise ValueError(
            "Counts must satisfy 0 <= n_successes <= n_trials and "
            "n_trials >= 1."
        )
    k, n = np.broadcast_arrays(k, n)
    with np.errstate(invalid="ignore"):
        low = np.where(
            k > 0, stats.beta.ppf(alpha, np.maximum(k, 1), n - k + 1), 0.0
        )
        high = np.where(
            k < n, stats.beta.ppf(1.0 - alpha, k + 1, np.maximum(n - k, 1)),
            1.0,
        )
    return low, high


def _epsilon_from_rates(
    tpr_low: np.ndarray, fpr_high: np.ndarray, delta: float
) -> np.ndarray:
    """max(0, log((TPR - d) / FPR), log((1 - FPR - d) / (1 - TPR)))."""
    with np.errstate(divide="ignore", invalid="ignore"):
        forward = np.log(np.maximum(tpr_low - delta, 0.0) / fpr_high)
        backward = np.log(
            np.maximum(1.0 - fpr_high - delta, 0.0) / (1.0 - tpr_low)
        )
    out = np.maximum(np.maximum(forward, backward), 0.0)
    return np.where(np.isnan(out), 0.0, out)


@dataclasses.dataclass(frozen=True)
class EpsilonLowerBound:
    """An empirical epsilon lower bound and what it rests on.

    Attributes:
        epsilon: The bound, `>= 0` (0 when the attack proves nothing);
            higher = more measured leakage.
        delta: The delta the bound is for.
        confidence_level: Probability that the bound holds, after the
            correction for `n_comparisons`.
        n_comparisons: Number of decision rules the reported bound was the
            best of (Bonferroni correction).
        true_positive_rate_low: Lower confidence bound of the TPR.
        false_positive_rate_high: Upper confidence bound of the FPR.
        n_true_positives: Members called members.
        n_members: Members tested.
        n_false_positives: Non-members called members.
        n_non_members: Non-members tested.
        rule: What the decision rule was (e.g. the attack's name).
    """

    epsilon: float
    delta: float
    confidence_level: float
    n_comparisons: int
    true_positive_rate_low: float
    false_positive_rate_high: float
    n_true_positives: int
    n_members: int
    n_false_positives: int
    n_non_members: int
    rule: str = ""

    def to_dict(self) -> dict:
        """JSON-safe dict of the fields.

        Returns:
            A dict of plain Python values.
        """
        return dataclasses.asdict(self)


def epsilon_lower_bound(
    n_true_positives: int,
    n_members: int,
    n_false_positives: int,
    n_non_members: int,
    *,
    delta: float = 0.0,
    confidence_level: float = 0.95,
    n_comparisons: int = 1,
    rule: str = "",
) -> EpsilonLowerBound:
    """Epsilon lower bound implied by one membership decision rule.

    With exact one-sided Clopper-Pearson bounds `TPR_low` (members called
    members) and `FPR_high` (non-members called members), each at error
    `alpha / 2` where `alpha = (1 - confidence_level) / n_comparisons`:

        epsilon >= max(log((TPR_low - delta) / FPR_high),
                       log((1 - FPR_high - delta) / (1 - TPR_low)))

    Both forms are monotone in the rates, so the same pair of bounds covers
    both: if the test is (epsilon, delta)-DP, the result exceeds the true
    epsilon with probability at most `1 - confidence_level`.

    Multiple testing: the guarantee holds for a decision rule fixed before
    looking at these records. If the reported bound is the best of several
    rules evaluated on the same records, pass their number as
    `n_comparisons` (Bonferroni). The audit fixes its thresholds on shadow
    models, so it only corrects for the number of rules it compares.

    Args:
        n_true_positives: Members the rule called members, in
            `[0, n_members]`.
        n_members: Members tested, at least 1.
        n_false_positives: Non-members called members, in
            `[0, n_non_members]`.
        n_non_members: Non-members tested, at least 1.
        delta: The delta of the (epsilon, delta) guarantee, in [0, 1).
            Defaults to 0 (pure epsilon).
        confidence_level: Probability that the bound holds, in (0, 1).
            Defaults to 0.95.
        n_comparisons: Number of rules this one was selected from, `>= 1`.
            Defaults to 1.
        rule: A description stored with the result. Defaults to `""`.

    Returns:
        An :class:`EpsilonLowerBound`.

    Raises:
        ValueError: If a count or option is outside its domain.
    """
    delta = _check_delta(delta, allow_zero=True)
    level = _check_confidence(confidence_level)
    if not isinstance(n_comparisons, int | np.integer) or n_comparisons < 1:
        raise ValueError(
            "`n_comparisons` must be an int >= 1; received "
            f"n_comparisons={n_comparisons!r}."
        )
    for name, k, n in (
        ("n_true_positives", n_true_positives, n_members),
        ("n_false_positives", n_false_positives, n_non_members),
    ):
        if n < 1 or not 0 <= k <= n:
            raise ValueError(
                f"`{name}` must be in [0, {n}] with at least one record "
                f"tested; received {name}={k} of {n}."
            )
    alpha = (1.0 - level) / n_comparisons / 2.0
    tpr_low = float(clopper_pearson(n_true_positives, n_members, alpha)[0])
    fpr_high = float(
        clopper_pearson(n_false_positives, n_non_members, alpha)[1]
    )
    epsilon = float(_epsilon_from_rates(tpr_low, fpr_high, delta))
    return EpsilonLowerBound(
        epsilon=epsilon,
        delta=delta,
        confidence_level=level,
        n_comparisons=int(n_comparisons),
        true_positive_rate_low=tpr_low,
        false_positive_rate_high=fpr_high,
        n_true_positives=int(n_true_positives),
        n_members=int(n_members),
        n_false_positives=int(n_false_positives),
        n_non_members=int(n_non_members),
        rule=rule,
    )


def best_epsilon_threshold(
    member_scores: np.ndarray,
    non_member_scores: np.ndarray,
    *,
    delta: float = 0.0,
    confidence_level: float = 0.95,
    n_comparisons: int = 1,
) -> float:
    """The score threshold whose rule gives the largest epsilon bound.

    Meant for *fitting* data (a shadow model's members and non-members):
    the returned threshold is then applied to other records, where
    :func:`epsilon_lower_bound` needs no correction for the search. Using it
    on the records that are then evaluated would overstate the bound.

    Args:
        member_scores: Floats, shape `(n_members,)`; higher = more
            member-like. A record is called a member when its score is
            `>=` the threshold.
        non_member_scores: Floats, shape `(n_non_members,)`, same sense.
        delta: The delta of the bound, in [0, 1). Defaults to 0.
        confidence_level: Confidence of the bounds used in the search.
            Defaults to 0.95.
        n_comparisons: Bonferroni factor used in the search. Defaults to 1.

    Returns:
        The threshold (one of the scores), or `inf` (never "member") when
        no threshold gives a positive bound.

    Raises:
        ValueError: If a set is empty or an option is out of range.
    """
    delta = _check_delta(delta, allow_zero=True)
    level = _check_confidence(confidence_level)
    s_in = np.asarray(member_scores, dtype=np.float64)
    s_out = np.asarray(non_member_scores, dtype=np.float64)
    if len(s_in) == 0 or len(s_out) == 0:
        raise ValueError(
            "`member_scores` and `non_member_scores` must both be non-empty; "
            f"received {len(s_in)} and {len(s_out)} scores."
        )
    candidates = np.unique(np.concatenate([s_in, s_out]))
    sorted_in, sorted_out = np.sort(s_in), np.sort(s_out)
    tp = len(s_in) - np.searchsorted(sorted_in, candidates, side="left")
    fp = len(s_out) - np.searchsorted(sorted_out, candidates, side="left")
    alpha = (1.0 - level) / n_comparisons / 2.0
    tpr_low = clopper_pearson(tp, len(s_in), alpha)[0]
    fpr_high = clopper_pearson(fp, len(s_out), alpha)[1]
    bounds = _epsilon_from_rates(tpr_low, fpr_high, delta)
    best = int(np.argmax(bounds))
    if bounds[best] <= 0:
        return math.inf
    return float(candidates[best])
