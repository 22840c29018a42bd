"""Membership-inference attacks of Song & Mittal (2021) and their metrics.

Five attacks read one signal each (see :mod:`keras_mia.signals`):

* `correctness`: "member" iff the model classifies the record correctly
  (no threshold);
* `confidence`, `entropy`, `modified_entropy`, `loss`: "member" iff the
  record's score reaches a threshold, where the score is `p_y`, `-H`,
  `-Mentr` or `-loss` (higher = more member-like).

Thresholds are per true class by default (the paper's class-dependent
attack) or one global threshold. Where they come from is part of every
result (`threshold_source`):

* `"shadow"`: fitted on reference members and non-members, e.g. a shadow
  model's outputs on its own training and held-out data (the paper's
  protocol; needs `reference`).
* `"cross_fit"`: k-fold over the evaluated records: thresholds fitted on the
  other folds decide the held-out fold. An honest estimate without shadow
  data; the default when no reference is given.
* `"optimistic"`: fitted and scored on the same records: an upper bound on
  what a threshold attack can reach, as TensorFlow Privacy reports.

Fallbacks: a class with no fitting members or no fitting non-members has no
threshold of its own. By default it uses the global threshold fitted on all
classes pooled; with `reference_compatible=True` it uses 0, which is what
the paper's code does. Either way a :class:`ClassFallbackWarning` names the
class and its counts, and the result lists it in `fallback_classes`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Sequence

import numpy as np

from keras_mia import metrics as mia_metrics
from keras_mia.errors import ClassFallbackWarning, KerasMiaWarning
from keras_mia.risk import RiskSummary, fit_risk_model, summarize_risk
from keras_mia.signals import Signals
from keras_mia.thresholds import fit_thresholds

ATTACKS = ("correctness", "confidence", "entropy", "modified_entropy", "loss")
THRESHOLD_SOURCES = ("shadow", "cross_fit", "optimistic")
RISK_SIGNALS = ("modified_entropy", "entropy", "loss")


def attack_scores(signals: Signals, attack: str) -> np.ndarray:
    """The score an attack thresholds; higher = more member-like.

    Args:
        signals: Per-record signals.
        attack: One of :data:`ATTACKS`.

    Returns:
        Floats, shape `(n,)`: correctness as 0/1, `p_y`, `-H`, `-Mentr` or
        `-loss`.

    Raises:
        ValueError: If `attack` is unknown.
    """
    if attack == "correctness":
        return signals.correctness.astype(np.float64)
    if attack == "confidence":
        return signals.confidence
    if attack in ("entropy", "modified_entropy", "loss"):
        return -getattr(signals, attack)
    raise ValueError(
        f"Unknown attack {attack!r}; expected one of {list(ATTACKS)}."
    )


@dataclasses.dataclass(frozen=True)
class AttackResult:
    """Outcome of one attack on members vs non-members.

    Attributes:
        attack: The attack's name.
        threshold_source: Where thresholds came from (`None` for
            `correctness`, which has none).
        accuracy: Balanced attack accuracy `0.5 * (TPR + TNR)` of the
            attack's decisions (the paper's number); 0.5 = chance.
        auc: ROC AUC of the raw score; 0.5 = chance, higher = more leakage.
        advantage: `max(TPR - FPR)` over the raw score's ROC curve.
        tpr_at_fpr: TPR of the raw score at each target FPR.
        calibrated_auc: AUC of the class-calibrated score
            `score - threshold[class]` (`None` for global thresholds and
            `correctness`): threshold-free, but sees the per-class
            thresholds.
        ppv: Precision of the attack's "member" calls at
            `membership_prior`.
        membership_prior: Prior used for `ppv`.
        n_members: Members attacked.
        n_non_members: Non-members attacked.
        n_true_positives: Members called members.
        n_false_positives: Non-members called members.
        thresholds: Per-class thresholds fitted on all fitting data (score
            space: `p_y`, `-H`, `-Mentr`, `-loss`), `nan` where a class
            used the fallback; `None` for `correctness`. With `cross_fit`,
            each fold used its own thresholds; these are the thresholds a
            fit on all records gives.
        fallback_classes: Classes that used the fallback threshold.
        intervals: Bootstrap intervals by metric name (empty if disabled).
        confidence_level: Coverage of `intervals`.
        roc_false_positive_rates: FPR grid of the stored ROC curve.
        roc_true_positive_rates: The ROC curve's TPR at each grid FPR,
            linear between the curve's points.
    """

    attack: str
    threshold_source: str | None
    accuracy: float
    auc: float
    advantage: float
    tpr_at_fpr: dict[float, float]
    calibrated_auc: float | None
    ppv: float
    membership_prior: float
    n_members: int
    n_non_members: int
    n_true_positives: int
    n_false_positives: int
    thresholds: np.ndarray | None
    fallback_classes: tuple[int, ...]
    intervals: dict[str, tuple[float, float]]
    confidence_level: float
    roc_false_positive_rates: np.ndarray
    roc_true_positive_rates: np.ndarray

    def to_dict(self) -> dict:
        """JSON-safe dict (`nan` becomes `None`).

        Returns:
            A dict of plain Python values; `tpr_at_fpr` is keyed by the FPR
            as written (`"0.001"`).
        """
        return {
            "attack": self.attack,
            "threshold_source": self.threshold_source,
            "accuracy": _json_float(self.accuracy),
            "auc": _json_float(self.auc),
            "advantage": _json_float(self.advantage),
            "tpr_at_fpr": {
                f"{k:g}": _json_float(v) for k, v in self.tpr_at_fpr.items()
            },
            "calibrated_auc": _json_float(self.calibrated_auc),
            "ppv": _json_float(self.ppv),
            "membership_prior": self.membership_prior,
            "n_members": self.n_members,
            "n_non_members": self.n_non_members,
            "n_true_positives": self.n_true_positives,
            "n_false_positives": self.n_false_positives,
            "thresholds": None if self.thresholds is None else [
                _json_float(t) for t in self.thresholds
            ],
            "fallback_classes": list(self.fallback_classes),
            "intervals": {
                k: [_json_float(lo), _json_float(hi)]
                for k, (lo, hi) in self.intervals.items()
            },
            "confidence_level": self.confidence_level,
            "roc": {
                "false_positive_rates": [
                    _json_float(x) for x in self.roc_false_positive_rates
                ],
                "true_positive_rates": [
                    _json_float(x) for x in self.roc_true_positive_rates
                ],
            },
        }


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """All attacks and risk scores of one evaluation.

    Attributes:
        attacks: Results by attack name, in :data:`ATTACKS` order.
        threshold_source: `"shadow"`, `"cross_fit"` or `"optimistic"`.
        class_dependent: Whether thresholds were per class.
        reference_compatible: Whether the paper's code was reproduced bit
            for bit (tie rules, zero fallback, histogram details).
        n_classes: Number of classes.
        member_risk_scores: Risk score of each member (`None` if risk
            scores were disabled); higher = more likely a member.
        non_member_risk_scores: Risk score of each non-member.
        risk_summary: The high-risk tail (`None` if disabled).
        risk_fallback_classes: Classes whose histograms were pooled.
    """

    attacks: dict[str, AttackResult]
    threshold_source: str
    class_dependent: bool
    reference_compatible: bool
    n_classes: int
    member_risk_scores: np.ndarray | None
    non_member_risk_scores: np.ndarray | None
    risk_summary: RiskSummary | None
    risk_fallback_classes: tuple[int, ...]

    def strongest(self, metric: str = "advantage") -> AttackResult:
        """The attack with the largest value of a metric.

        Args:
            metric: An `AttackResult` float field, e.g. `"advantage"`,
                `"auc"` or `"accuracy"`. Defaults to `"advantage"`.

        Returns:
            The :class:`AttackResult` with the largest non-nan value (the
            first attack if all are nan).
        """
        best = None
        for result in self.attacks.values():
            value = getattr(result, metric)
            if value is None or math.isnan(value):
                continue
            if best is None or value > getattr(best, metric):
                best = result
        return best or next(iter(self.attacks.values()))

    def to_dict(self, include_records: bool = False) -> dict:
        """JSON-safe dict of the whole evaluation.

        Args:
            include_records: Also include per-record risk scores. Defaults
                to False.

        Returns:
            A dict of plain Python values (`nan` as `None`).
        """
        out = {
            "threshold_source": self.threshold_source,
            "class_dependent": self.class_dependent,
            "reference_compatible": self.reference_compatible,
            "n_classes": self.n_classes,
            "attacks": {k: v.to_dict() for k, v in self.attacks.items()},
        }
        if self.risk_summary is not None:
            s = self.risk_summary
            out["risk"] = {
                "levels": list(s.levels),
                "member_share": [_json_float(x) for x in s.member_share],
                "non_member_share": [
                    _json_float(x) for x in s.non_member_share
                ],
                "precision": [_json_float(x) for x in s.precision],
                "fallback_classes": list(self.risk_fallback_classes),
                "mean_member_score": _json_float(
                    np.mean(self.member_risk_scores)
                ),
                "mean_non_member_score": _json_float(
                    np.mean(self.non_member_risk_scores)
                ),
            }
            if include_records:
                out["risk"]["member_scores"] = [
                    float(x) for x in self.member_risk_scores
                ]
                out["risk"]["non_member_scores"] = [
                    float(x) for x in self.non_member_risk_scores
                ]
        return out

    def to_json(self, **kwargs) -> str:
        """`to_dict()` as strict JSON text.

        Args:
            **kwargs: Passed to :meth:`to_dict`.

        Returns:
            A JSON string (no NaN literals).
        """
        return json.dumps(self.to_dict(**kwargs), allow_nan=False, indent=2)

    def __str__(self) -> str:
        fprs = next(iter(self.attacks.values())).tpr_at_fpr.keys()
        header = ["attack", "accuracy", "auc", "advantage"] + [
            f"tpr@{f:g}" for f in fprs
        ] + ["fallback classes"]
        rows = [header]
        for r in self.attacks.values():
            rows.append(
                [r.attack, f"{r.accuracy:.4f}", f"{r.auc:.4f}",
                 f"{r.advantage:.4f}"]
                + [f"{v:.4f}" for v in r.tpr_at_fpr.values()]
                + [",".join(map(str, r.fallback_classes)) or "-"]
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = [
            f"Membership inference ({self.threshold_source} thresholds, "
            f"{'per class' if self.class_dependent else 'global'})"
        ]
        for i, row in enumerate(rows):
            cells = zip(row, widths, strict=True)
            lines.append("  ".join(c.ljust(w) for c, w in cells))
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        if self.risk_summary is not None:
            s = self.risk_summary
            parts = [
                f">= {lvl:g}: {share:.1%} of members (precision "
                + ("-" if math.isnan(prec) else f"{prec:.3f}") + ")"
                for lvl, share, prec in zip(
                    s.levels, s.member_share, s.precision, strict=True
                )
            ]
            lines.append("Privacy risk: " + "; ".join(parts))
        return "\n".join(lines)


def _json_float(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _stratified_folds(
    classes: np.ndarray, n_folds: int, rng: np.random.Generator
) -> np.ndarray:
    """Fold index per record, balanced within each class."""
    shuffled = rng.permutation(len(classes))
    order = shuffled[np.argsort(classes[shuffled], kind="stable")]
    folds = np.empty(len(classes), np.int64)
    ranks = np.arange(len(classes)) - np.searchsorted(
        classes[order], classes[order], side="left"
    )
    folds[order] = ranks % n_folds
    return folds


@dataclasses.dataclass
class _FittedThresholds:
    applied: np.ndarray
    reported: np.ndarray
    fallback: list[int]


def _fit_with_fallback(
    fit_in: np.ndarray,
    fit_in_classes: np.ndarray,
    fit_out: np.ndarray,
    fit_out_classes: np.ndarray,
    n_classes: int,
    class_dependent: bool,
    reference_compatible: bool,
) -> _FittedThresholds:
    if not class_dependent:
        fitted = fit_thresholds(
            fit_in, np.zeros(len(fit_in), np.int64), fit_out,
            np.zeros(len(fit_out), np.int64), 1,
            reference_compatible=reference_compatible,
        )
        value = fitted.thresholds[0]
        full = np.full(n_classes, value)
        return _FittedThresholds(full, full, [])
    fitted = fit_thresholds(
        fit_in, fit_in_classes, fit_out, fit_out_classes, n_classes,
        reference_compatible=reference_compatible,
    )
    applied = fitted.thresholds.copy()
    missing = np.flatnonzero(~fitted.fitted)
    if len(missing):
        if reference_compatible:
            applied[missing] = 0.0
        else:
            pooled = fit_thresholds(
                fit_in, np.zeros(len(fit_in), np.int64), fit_out,
                np.zeros(len(fit_out), np.int64), 1,
            )
            applied[missing] = pooled.thresholds[0]
    return _FittedThresholds(
        applied, fitted.thresholds, [int(c) for c in missing]
    )


def _warn_fallback(
    attack: str, classes: Sequence[int], counts: dict, reference: bool
) -> None:
    detail = ", ".join(
        f"class {c} ({counts[c][0]} members, {counts[c][1]} non-members)"
        for c in classes
    )
    rule = "threshold 0, as the paper's code" if reference else (
        "the global threshold of all classes pooled"
    )
    warnings.warn(
        f"{attack}: no own threshold for {detail} in the fitting data; "
        f"using {rule}.",
        ClassFallbackWarning,
        stacklevel=4,
    )


def _validate_pair(pair: object, name: str) -> tuple[Signals, Signals]:
    if (
        not isinstance(pair, tuple | list)
        or len(pair) != 2
        or not all(isinstance(p, Signals) for p in pair)
    ):
        raise ValueError(
            f"`{name}` must be a pair (members, non_members) of Signals; "
            f"received {type(pair).__name__}."
        )
    for part, label in zip(pair, ("members", "non-members"), strict=True):
        if len(part) == 0:
            raise ValueError(f"`{name}` has no {label}; both sets are needed.")
    return pair[0], pair[1]


def run_attacks(
    members: Signals,
    non_members: Signals,
    *,
    reference: tuple[Signals, Signals] | None = None,
    threshold_source: str | None = None,
    attacks: Sequence[str] = ATTACKS,
    class_dependent: bool = True,
    n_folds: int = 5,
    target_fprs: Sequence[float] = (0.001, 0.01),
    membership_prior: float = 0.5,
    n_bootstraps: int = 100,
    confidence_level: float = 0.95,
    risk_signal: str | None = "modified_entropy",
    n_risk_bins: int = 5,
    risk_levels: Sequence[float] = (0.5, 0.8, 0.9),
    reference_compatible: bool = False,
    seed: int = 0,
) -> EvaluationResult:
    """Run the membership-inference attacks and compute risk scores.

    Args:
        members: Signals of the records the model was trained on.
        non_members: Signals of records it was not trained on.
        reference: Optional `(members, non_members)` signals of reference
            data (e.g. a shadow model's training and held-out outputs), for
            `threshold_source="shadow"`.
        threshold_source: `"shadow"`, `"cross_fit"` or `"optimistic"`.
            Defaults to `"shadow"` when `reference` is given, else
            `"cross_fit"`.
        attacks: Attack names to run, from :data:`ATTACKS`. Defaults to all.
        class_dependent: One threshold per true class (the paper) or one
            global threshold. Defaults to True.
        n_folds: Folds for `cross_fit`, at least 2. Defaults to 5. Lowered
            to the size of the smaller set when that is smaller (with a
            warning); below 2 the source becomes `"optimistic"`.
        target_fprs: FPR levels in (0, 1) for TPR-at-FPR. Defaults to
            `(0.001, 0.01)`.
        membership_prior: Fraction of members assumed for PPV and risk
            scores, in (0, 1). Defaults to 0.5.
        n_bootstraps: Bootstrap resamples for intervals; 0 disables them.
            Defaults to 100.
        confidence_level: Interval coverage in (0, 1). Defaults to 0.95.
        risk_signal: Signal for risk scores, one of :data:`RISK_SIGNALS`,
            or None to skip risk scores. Defaults to `"modified_entropy"`.
        n_risk_bins: Log-spaced histogram bins per class. Defaults to 5.
        risk_levels: Risk levels for the high-risk summary. Defaults to
            `(0.5, 0.8, 0.9)`.
        reference_compatible: Reproduce the paper's code exactly (tie rule,
            threshold 0 fallback, histogram rounding). Defaults to False.
        seed: Seed for folds and bootstrap. Defaults to 0.

    Returns:
        An :class:`EvaluationResult`.

    Raises:
        ValueError: On an empty set, mismatched class counts, an unknown
            attack, source or risk signal, `"shadow"` without `reference`,
            or out-of-range options.
    """
    for value, name in ((members, "members"), (non_members, "non_members")):
        if not isinstance(value, Signals):
            raise ValueError(
                f"`{name}` must be a Signals (from keras_mia.compute_signals);"
                f" received {type(value).__name__}."
            )
        if len(value) == 0:
            raise ValueError(
                f"`{name}` holds no records; both sets are needed."
            )
    n_classes = members.n_classes
    if non_members.n_classes != n_classes:
        raise ValueError(
            "`members` and `non_members` must come from the same model "
            f"output; they have {n_classes} and {non_members.n_classes} "
            "classes."
        )
    if reference is not None:
        ref_in, ref_out = _validate_pair(reference, "reference")
        if {ref_in.n_classes, ref_out.n_classes} != {n_classes}:
            raise ValueError(
                f"`reference` must have {n_classes} classes like the "
                f"evaluated records; received {ref_in.n_classes} and "
                f"{ref_out.n_classes}."
            )
    if threshold_source is None:
        threshold_source = "shadow" if reference is not None else "cross_fit"
    if threshold_source not in THRESHOLD_SOURCES:
        raise ValueError(
            f"`threshold_source` must be one of {list(THRESHOLD_SOURCES)}; "
            f"received {threshold_source!r}."
        )
    if threshold_source == "shadow" and reference is None:
        raise ValueError(
            "threshold_source='shadow' needs `reference` (shadow members and "
            "non-members); pass reference=(members, non_members) or use "
            "'cross_fit'."
        )
    attacks = tuple(attacks)
    unknown = [a for a in attacks if a not in ATTACKS]
    if unknown or not attacks or len(set(attacks)) != len(attacks):
        raise ValueError(
            "`attacks` must be a non-empty list of distinct names from "
            f"{list(ATTACKS)}; received {list(attacks)}."
        )
    if risk_signal is not None and risk_signal not in RISK_SIGNALS:
        raise ValueError(
            f"`risk_signal` must be one of {list(RISK_SIGNALS)} or None; "
            f"received {risk_signal!r}."
        )
    if not isinstance(n_folds, int) or n_folds < 2:
        raise ValueError(
            f"`n_folds` must be an int >= 2; received {n_folds!r}."
        )
    if n_bootstraps < 0:
        raise ValueError(
            f"`n_bootstraps` must be >= 0; received {n_bootstraps}."
        )
    mia_metrics._check_fprs(target_fprs)
    if not 0.0 < membership_prior < 1.0:
        raise ValueError(
            "`membership_prior` must be in (0, 1); received "
            f"membership_prior={membership_prior}."
        )

    rng = np.random.default_rng(seed)
    n_in, n_out = len(members), len(non_members)
    folds_in = folds_out = None
    if threshold_source == "cross_fit":
        k = min(n_folds, n_in, n_out)
        if k < 2:
            warnings.warn(
                f"cross_fit needs at least 2 members and 2 non-members; "
                f"received {n_in} and {n_out}. Using 'optimistic' "
                "thresholds instead (an upper bound).",
                KerasMiaWarning,
                stacklevel=2,
            )
            threshold_source = "optimistic"
        else:
            if k < n_folds:
                warnings.warn(
                    f"n_folds={n_folds} exceeds the smaller set "
                    f"({min(n_in, n_out)} records); using {k} folds.",
                    KerasMiaWarning,
                    stacklevel=2,
                )
            folds_in = _stratified_folds(members.labels, k, rng)
            folds_out = _stratified_folds(non_members.labels, k, rng)

    # Fitting data and the records each fit decides, per fold.
    if threshold_source == "shadow":
        plans = [(reference[0], reference[1], slice(None), slice(None))]
    elif threshold_source == "optimistic":
        plans = [(members, non_members, slice(None), slice(None))]
    else:
        plans = [
            (members.take(folds_in != f), non_members.take(folds_out != f),
             folds_in == f, folds_out == f)
            for f in range(int(folds_in.max()) + 1)
        ]
    full_fit = (
        reference if threshold_source == "shadow" else (members, non_members)
    )

    results = {}
    for attack in attacks:
        results[attack] = _run_one(
            attack, members, non_members, plans, full_fit, n_classes,
            threshold_source, class_dependent, reference_compatible,
            target_fprs, membership_prior, n_bootstraps, confidence_level,
            seed,
        )

    member_risk = non_member_risk = risk_summary = None
    risk_fallback: tuple[int, ...] = ()
    if risk_signal is not None:
        member_risk = np.empty(n_in)
        non_member_risk = np.empty(n_out)
        fallback = set()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ClassFallbackWarning)
            for fit_in, fit_out, sel_in, sel_out in plans:
                model = fit_risk_model(
                    getattr(fit_in, risk_signal), fit_in.labels,
                    getattr(fit_out, risk_signal), fit_out.labels,
                    n_classes, n_bins=n_risk_bins,
                    membership_prior=membership_prior,
                    reference_compatible=reference_compatible,
                )
                fallback.update(model.fallback_classes)
                member_risk[sel_in] = model.score(
                    getattr(members, risk_signal)[sel_in],
                    members.labels[sel_in],
                )
                non_member_risk[sel_out] = model.score(
                    getattr(non_members, risk_signal)[sel_out],
                    non_members.labels[sel_out],
                )
        for w in caught:
            if not issubclass(w.category, ClassFallbackWarning):
                warnings.warn_explicit(
                    w.message, w.category, w.filename, w.lineno
                )
        present = set(np.unique(members.labels)) | set(
            np.unique(non_members.labels)
        )
        risk_fallback = tuple(sorted(int(c) for c in fallback & present))
        if risk_fallback:
            warnings.warn(
                f"Risk scores: classes {list(risk_fallback)} have no "
                "reference records; they use the pooled histogram.",
                ClassFallbackWarning,
                stacklevel=2,
            )
        risk_summary = summarize_risk(member_risk, non_member_risk, risk_levels)

    return EvaluationResult(
        attacks=results,
        threshold_source=threshold_source,
        class_dependent=class_dependent,
        reference_compatible=reference_compatible,
        n_classes=n_classes,
        member_risk_scores=member_risk,
        non_member_risk_scores=non_member_risk,
        risk_summary=risk_summary,
        risk_fallback_classes=risk_fallback,
    )


def _run_one(
    attack, members, non_members, plans, full_fit, n_classes,
    threshold_source, class_dependent, reference_compatible, target_fprs,
    prior, n_bootstraps, confidence_level, seed,
) -> AttackResult:
    score_in = attack_scores(members, attack)
    score_out = attack_scores(non_members, attack)
    thresholds = None
    fallback: list[int] = []
    calibrated_auc = None
    if attack == "correctness":
        flags_in, flags_out = members.correctness, non_members.correctness
        source = None
    else:
        source = threshold_source
        flags_in = np.zeros(len(members), bool)
        flags_out = np.zeros(len(non_members), bool)
        cal_in = np.empty(len(members))
        cal_out = np.empty(len(non_members))
        fallback_set = set()
        for fit_in, fit_out, sel_in, sel_out in plans:
            fitted = _fit_with_fallback(
                attack_scores(fit_in, attack), fit_in.labels,
                attack_scores(fit_out, attack), fit_out.labels,
                n_classes, class_dependent, reference_compatible,
            )
            fallback_set.update(fitted.fallback)
            t_in = fitted.applied[members.labels[sel_in]]
            t_out = fitted.applied[non_members.labels[sel_out]]
            flags_in[sel_in] = score_in[sel_in] >= t_in
            flags_out[sel_out] = score_out[sel_out] >= t_out
            cal_in[sel_in] = score_in[sel_in] - t_in
            cal_out[sel_out] = score_out[sel_out] - t_out
        # Only classes that occur among the evaluated records matter.
        present = set(np.unique(members.labels)) | set(
            np.unique(non_members.labels)
        )
        fallback = sorted(int(c) for c in fallback_set & present)
        if len(plans) == 1:
            thresholds = fitted.reported
        else:
            thresholds = _fit_with_fallback(
                attack_scores(full_fit[0], attack), full_fit[0].labels,
                attack_scores(full_fit[1], attack), full_fit[1].labels,
                n_classes, class_dependent, reference_compatible,
            ).reported
        if fallback:
            counts = {
                c: (
                    int(np.sum(full_fit[0].labels == c)),
                    int(np.sum(full_fit[1].labels == c)),
                )
                for c in fallback
            }
            _warn_fallback(attack, fallback, counts, reference_compatible)
        if class_dependent:
            calibrated_auc = mia_metrics.roc_summary(
                cal_in, cal_out, target_fprs
            ).auc

    roc = mia_metrics.roc_summary(score_in, score_out, target_fprs)
    n_tp = int(np.count_nonzero(flags_in))
    n_fp = int(np.count_nonzero(flags_out))
    tpr = n_tp / len(members)
    fpr = n_fp / len(non_members)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KerasMiaWarning)
        ppv = mia_metrics.positive_predictive_value(tpr, fpr, prior)
    intervals = {}
    if n_bootstraps:
        intervals = mia_metrics.bootstrap_intervals(
            score_in, score_out, flags_in, flags_out,
            target_fprs=target_fprs, n_bootstraps=n_bootstraps,
            confidence_level=confidence_level, seed=seed,
        ).intervals
    return AttackResult(
        attack=attack,
        threshold_source=source,
        accuracy=mia_metrics.balanced_accuracy(flags_in, flags_out),
        auc=roc.auc,
        advantage=roc.advantage,
        tpr_at_fpr=roc.tpr_at_fpr,
        calibrated_auc=calibrated_auc,
        ppv=ppv,
        membership_prior=prior,
        n_members=len(members),
        n_non_members=len(non_members),
        n_true_positives=n_tp,
        n_false_positives=n_fp,
        thresholds=thresholds,
        fallback_classes=tuple(fallback),
        intervals=intervals,
        confidence_level=confidence_level,
        roc_false_positive_rates=roc.false_positive_rates,
        roc_true_positive_rates=roc.true_positive_rates,
    )
