"""Attack metrics: ROC AUC, advantage, TPR at low FPR, PPV, intervals.

Members are the positive class throughout, and attack scores are oriented so
that a higher score means "member". ROC curves and AUC come from
scikit-learn (`sklearn.metrics.roc_curve`, `sklearn.metrics.auc`).

Carlini et al. (IEEE S&P 2022) argue that an attack matters when it is
confident about a few records, so the true-positive rate at a low
false-positive rate (0.1 %, 1 %) is reported next to the AUC.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn import metrics as sk_metrics

from keras_mia.errors import UndefinedMetricWarning

#: Number of points kept when a ROC curve is stored (TensorBoard, JSON).
ROC_POINTS = 201


def _check_fprs(target_fprs: Sequence[float]) -> tuple[float, ...]:
    fprs = tuple(float(f) for f in target_fprs)
    for fpr in fprs:
        if not 0.0 < fpr < 1.0:
            raise ValueError(
                "Every value of `target_fprs` must be in (0, 1); received "
                f"target_fprs={list(target_fprs)}."
            )
    return fprs


@dataclasses.dataclass(frozen=True)
class RocSummary:
    """Threshold-free metrics of one attack score.

    Attributes:
        auc: Area under the ROC curve, in [0, 1]; 0.5 is chance, higher
            means more leakage.
        advantage: `max(TPR - FPR)` over the ROC curve, in [0, 1]; 0 means
            no attack beats guessing.
        tpr_at_fpr: Mapping from each target FPR to the largest TPR reached
            at an FPR no larger than it.
        false_positive_rates: Floats, shape `(ROC_POINTS,)`, the stored
            curve's FPR grid (log-spaced near 0, linear above).
        true_positive_rates: Floats, same shape: the ROC curve at each grid
            FPR, interpolated linearly between its points (as the AUC's
            trapezoid rule does; an attacker reaches such points by
            randomising between two thresholds).
    """

    auc: float
    advantage: float
    tpr_at_fpr: dict[float, float]
    false_positive_rates: np.ndarray
    true_positive_rates: np.ndarray


def _fpr_grid() -> np.ndarray:
    low = np.logspace(-5, -1, 100, endpoint=False)
    high = np.linspace(0.1, 1.0, ROC_POINTS - 101)
    return np.concatenate([[0.0], low, high])


def _best_tpr_at(
    fpr: np.ndarray, tpr: np.ndarray, at: np.ndarray
) -> np.ndarray:
    """Largest TPR with FPR <= each value of `at` (FPR is nondecreasing)."""
    idx = np.searchsorted(fpr, at, side="right") - 1
    best = np.maximum.accumulate(tpr)
    return np.where(idx >= 0, best[np.maximum(idx, 0)], 0.0)


def _interpolate_roc(
    fpr: np.ndarray, tpr: np.ndarray, at: np.ndarray
) -> np.ndarray:
    """ROC curve read at `at`, linear between points, top of vertical steps."""
    last = np.concatenate([fpr[1:] != fpr[:-1], [True]])
    return np.interp(at, fpr[last], tpr[last])


def roc_summary(
    member_scores: np.ndarray,
    non_member_scores: np.ndarray,
    target_fprs: Sequence[float] = (0.001, 0.01),
) -> RocSummary:
    """ROC AUC, advantage and TPR at fixed FPRs of one attack score.

    Args:
        member_scores: Floats, shape `(n_members,)`; higher = more
            member-like.
        non_member_scores: Floats, shape `(n_non_members,)`, same sense.
        target_fprs: FPR levels in (0, 1) for the TPR report. Defaults to
            `(0.001, 0.01)`.

    Returns:
        A :class:`RocSummary`. If either set is empty, every metric is
        `nan` and an :class:`UndefinedMetricWarning` is issued.

    Raises:
        ValueError: If a target FPR is outside (0, 1).
    """
    fprs = _check_fprs(target_fprs)
    members = np.asarray(member_scores, dtype=np.float64)
    non_members = np.asarray(non_member_scores, dtype=np.float64)
    grid = _fpr_grid()
    if len(members) == 0 or len(non_members) == 0:
        warnings.warn(
            "ROC metrics need members and non-members; received "
            f"{len(members)} members and {len(non_members)} non-members. "
            "Returning nan.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        return RocSummary(
            np.nan, np.nan, dict.fromkeys(fprs, np.nan), grid,
            np.full_like(grid, np.nan),
        )
    y_true = np.concatenate(
        [np.ones(len(members), np.int8), np.zeros(len(non_members), np.int8)]
    )
    # The ROC curve does not depend on record order. Two sorted runs let
    # scikit-learn's stable sort merge them in linear time.
    scores = np.concatenate([np.sort(members), np.sort(non_members)])
    fpr, tpr, _ = sk_metrics.roc_curve(y_true, scores, drop_intermediate=False)
    auc = float(sk_metrics.auc(fpr, tpr))
    advantage = float(np.max(tpr - fpr))
    at_targets = _best_tpr_at(fpr, tpr, np.asarray(fprs))
    return RocSummary(
        auc=auc,
        advantage=advantage,
        tpr_at_fpr={f: float(t) for f, t in zip(fprs, at_targets, strict=True)},
        false_positive_rates=grid,
        true_positive_rates=_interpolate_roc(fpr, tpr, grid),
    )


def balanced_accuracy(
    member_flags: np.ndarray, non_member_flags: np.ndarray
) -> float:
    """Balanced accuracy of member/non-member decisions.

    Song & Mittal's attack accuracy: `0.5 * (TPR + TNR)`, with equal weight
    on members and non-members whatever their counts.

    Args:
        member_flags: Booleans, shape `(n_members,)`: True where the attack
            calls a member a member.
        non_member_flags: Booleans, shape `(n_non_members,)`: True where the
            attack calls a non-member a member.

    Returns:
        The accuracy in [0, 1]; 0.5 is chance, higher means more leakage.
        `nan` (with a warning) if either set is empty.
    """
    if len(member_flags) == 0 or len(non_member_flags) == 0:
        warnings.warn(
            "Balanced accuracy needs members and non-members; returning nan.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        return float("nan")
    tpr = np.count_nonzero(member_flags) / len(member_flags)
    tnr = 1.0 - np.count_nonzero(non_member_flags) / len(non_member_flags)
    return float(0.5 * (tpr + tnr))


def positive_predictive_value(
    true_positive_rate: float,
    false_positive_rate: float,
    membership_prior: float = 0.5,
) -> float:
    """Precision of the attack's "member" calls at a membership prior.

    `PPV = pi * TPR / (pi * TPR + (1 - pi) * FPR)`: the chance that a record
    the attack calls a member really is one, when a fraction `pi` of the
    records it sees are members.

    Args:
        true_positive_rate: The attack's TPR, in [0, 1].
        false_positive_rate: The attack's FPR, in [0, 1].
        membership_prior: Fraction `pi` of members, in (0, 1). Defaults to
            0.5 (as many members as non-members).

    Returns:
        The PPV in [0, 1]; `nan` (with a warning) if the attack never says
        "member".

    Raises:
        ValueError: If `membership_prior` is not in (0, 1).
    """
    if not 0.0 < membership_prior < 1.0:
        raise ValueError(
            "`membership_prior` must be in (0, 1); received "
            f"membership_prior={membership_prior}."
        )
    flagged = (
        membership_prior * true_positive_rate
        + (1.0 - membership_prior) * false_positive_rate
    )
    if flagged == 0:
        warnings.warn(
            "PPV is undefined: the attack flags no record as a member. "
            "Returning nan.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        return float("nan")
    return float(membership_prior * true_positive_rate / flagged)


@dataclasses.dataclass(frozen=True)
class BootstrapIntervals:
    """Percentile bootstrap confidence intervals.

    Attributes:
        confidence_level: Coverage of each interval, e.g. 0.95.
        n_bootstraps: Number of resamples used.
        intervals: Mapping from metric name (`accuracy`, `auc`,
            `tpr_at_fpr@<fpr>`) to a `(low, high)` pair.
    """

    confidence_level: float
    n_bootstraps: int
    intervals: dict[str, tuple[float, float]]


def bootstrap_intervals(
    member_scores: np.ndarray,
    non_member_scores: np.ndarray,
    member_flags: np.ndarray,
    non_member_flags: np.ndarray,
    *,
    target_fprs: Sequence[float] = (0.001, 0.01),
    n_bootstraps: int = 100,
    confidence_level: float = 0.95,
    seed: int = 0,
) -> BootstrapIntervals:
    """Seeded percentile-bootstrap intervals for accuracy, AUC and TPR@FPR.

    Members and non-members are resampled with replacement separately (so
    each resample keeps both set sizes). The attack's decisions and
    thresholds are held fixed: the intervals describe the uncertainty from
    which records were evaluated, not from fitting the thresholds.

    Args:
        member_scores: Floats, shape `(n_members,)`; higher = member-like.
        non_member_scores: Floats, shape `(n_non_members,)`.
        member_flags: Booleans, shape `(n_members,)`: the attack's calls.
        non_member_flags: Booleans, shape `(n_non_members,)`.
        target_fprs: FPR levels for the TPR intervals. Defaults to
            `(0.001, 0.01)`.
        n_bootstraps: Number of resamples, at least 2. Defaults to 100.
        confidence_level: Interval coverage in (0, 1). Defaults to 0.95.
        seed: Seed of the resampling generator. Defaults to 0.

    Returns:
        A :class:`BootstrapIntervals`.

    Raises:
        ValueError: If `n_bootstraps < 2` or `confidence_level` is not in
            (0, 1).
    """
    if n_bootstraps < 2:
        raise ValueError(
            f"`n_bootstraps` must be at least 2; received {n_bootstraps}."
        )
    if not 0.0 < confidence_level < 1.0:
        raise ValueError(
            "`confidence_level` must be in (0, 1); received "
            f"confidence_level={confidence_level}."
        )
    fprs = _check_fprs(target_fprs)
    n_in, n_out = len(member_scores), len(non_member_scores)
    # Sort once (descending score); tied scores form one ROC step.
    scores = np.concatenate([member_scores, non_member_scores])
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    group_starts = np.flatnonzero(
        np.concatenate([[True], sorted_scores[1:] != sorted_scores[:-1]])
    )
    rng = np.random.default_rng(seed)
    rows = {name: [] for name in ["accuracy", "auc"]}
    rows.update({f"tpr_at_fpr@{f:g}": [] for f in fprs})
    for _ in range(n_bootstraps):
        w_in = np.bincount(rng.integers(0, n_in, n_in), minlength=n_in)
        w_out = np.bincount(rng.integers(0, n_out, n_out), minlength=n_out)
        tpr_rate = np.dot(w_in, member_flags) / n_in
        fpr_rate = np.dot(w_out, non_member_flags) / n_out
        rows["accuracy"].append(0.5 * (tpr_rate + 1.0 - fpr_rate))
        weights = np.concatenate([w_in, np.zeros(n_out)])[order]
        tp = np.cumsum(np.add.reduceat(weights, group_starts)) / n_in
        weights = np.concatenate([np.zeros(n_in), w_out])[order]
        fp = np.cumsum(np.add.reduceat(weights, group_starts)) / n_out
        tp, fp = np.r_[0.0, tp], np.r_[0.0, fp]
        rows["auc"].append(np.trapezoid(tp, fp))
        at = _best_tpr_at(fp, tp, np.asarray(fprs))
        for f, value in zip(fprs, at, strict=True):
            rows[f"tpr_at_fpr@{f:g}"].append(value)
    tail = (1.0 - confidence_level) / 2.0 * 100.0
    intervals = {
        name: (
            float(np.percentile(values, tail)),
            float(np.percentile(values, 100.0 - tail)),
        )
        for name, values in rows.items()
    }
    return BootstrapIntervals(confidence_level, n_bootstraps, intervals)
