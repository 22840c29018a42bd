"""Privacy risk scores: the posterior probability that a record is a member.

Song & Mittal (2021), Section 6, Eq. 7: given a record's signal value `v`
and true class `y`,

    r(v) = pi * P_in(v | y) / (pi * P_in(v | y) + (1 - pi) * P_out(v | y)),

where `P_in` and `P_out` are the signal's distributions on reference members
and non-members of class `y` and `pi` is the membership prior (0.5: equal
priors). As in the paper's code, the distributions are histograms with
log-spaced bins (5 by default) of the modified entropy, fitted per class on
the reference data. A score near 1 means the model's output on the record
looks like its output on training members: high risk.

Where both histograms are empty at a record's bin, the nearest non-empty
bin is used, looking one bin lower before one bin higher at each distance.

Two floating-point details of the paper's code are reproduced only with
`reference_compatible=True`; the default corrects them:

* Bin heights are sums of weights `1/n` there, counts divided by `n` here.
  The two differ in the last bits only.
* `np.logspace` rounds the outer bin edges, so the smallest or largest
  reference value can fall just outside them and be left out of every bin.
  The default sets the outer edges to the exact minimum and maximum, so
  every reference value is counted.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np

from keras_mia.errors import ClassFallbackWarning
from keras_mia.thresholds import class_slices

#: Floor under reference signal values before log-spaced binning; values at
#: or below it (a perfectly confident correct prediction has Mentr = 0) are
#: raised to it, as in the paper's code.
SIGNAL_FLOOR = 1e-10


@dataclasses.dataclass(frozen=True)
class RiskModel:
    """Per-class histograms that turn a signal value into a risk score.

    Attributes:
        bin_edges: Floats, shape `(n_classes, n_bins + 1)`.
        member_heights: Floats, shape `(n_classes, n_bins)`: fraction of
            the class's reference members in each bin.
        non_member_heights: Floats, shape `(n_classes, n_bins)`.
        score_table: Floats, shape `(n_classes, n_bins)`: the risk score of
            a record of that class landing in that bin (nearest-bin rule
            already applied).
        fallback_classes: Classes that used the pooled histogram of all
            classes because they lacked reference members and non-members.
        membership_prior: The prior `pi` used.
    """

    bin_edges: np.ndarray
    member_heights: np.ndarray
    non_member_heights: np.ndarray
    score_table: np.ndarray
    fallback_classes: tuple[int, ...]
    membership_prior: float

    def score(self, values: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Risk scores of records.

        Args:
            values: Signal values (modified entropy by default), shape
                `(n,)`; lower = more member-like.
            classes: True classes, ints of shape `(n,)`.

        Returns:
            Floats in [0, 1], shape `(n,)`; higher = more likely a member.
        """
        values = np.asarray(values, dtype=np.float64)
        classes = np.asarray(classes, dtype=np.int64)
        edges = self.bin_edges[classes]
        # Largest k with e_k <= v, counting e_1..e_last; values below e_0
        # go to bin 0 and values at or above the last edge to the last bin.
        n_bins = self.score_table.shape[1]
        bins = np.minimum(
            np.sum(edges[:, 1:] <= values[:, None], axis=1), n_bins - 1
        )
        return self.score_table[classes, bins]


def _class_histogram(
    members: np.ndarray,
    non_members: np.ndarray,
    n_bins: int,
    reference_compatible: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    members = np.maximum(members, SIGNAL_FLOOR)
    non_members = np.maximum(non_members, SIGNAL_FLOOR)
    both = np.concatenate([members, non_members])
    low, high = both.min(), both.max()
    edges = np.logspace(np.log10(low), np.log10(high), n_bins + 1)
    if not reference_compatible:
        # Exact outer edges; interior edges clipped so they stay monotone
        # when low and high are (nearly) equal.
        edges = np.clip(edges, low, high)
        edges[0], edges[-1] = low, high
    heights = []
    for values in (members, non_members):
        if len(values) == 0:
            heights.append(np.zeros(n_bins))
        elif reference_compatible:
            weights = np.ones_like(values) / len(values)
            heights.append(np.histogram(values, edges, weights=weights)[0])
        else:
            heights.append(np.histogram(values, edges)[0] / len(values))
    return edges, heights[0], heights[1]


def _score_table(
    member_heights: np.ndarray, non_member_heights: np.ndarray, prior: float
) -> np.ndarray:
    """Posterior per bin, with the nearest-non-empty-bin rule."""
    weighted_in = prior * member_heights
    total = weighted_in + (1.0 - prior) * non_member_heights
    n_classes, n_bins = total.shape
    table = np.full((n_classes, n_bins), np.nan)
    for k in range(n_bins):
        # Distance 0, then k-1, k+1, k-2, k+2, ...
        candidates = [k] + [
            j for d in range(1, n_bins) for j in (k - d, k + d)
            if 0 <= j < n_bins
        ]
        for j in candidates:
            todo = np.isnan(table[:, k]) & (total[:, j] != 0)
            table[todo, k] = weighted_in[todo, j] / total[todo, j]
    return table


def fit_risk_model(
    member_values: np.ndarray,
    member_classes: np.ndarray,
    non_member_values: np.ndarray,
    non_member_classes: np.ndarray,
    n_classes: int,
    *,
    n_bins: int = 5,
    membership_prior: float = 0.5,
    reference_compatible: bool = False,
) -> RiskModel:
    """Fit per-class risk-score histograms on reference records.

    Args:
        member_values: Signal of reference members, shape `(n_in,)`; lower =
            more member-like (modified entropy, entropy or loss).
        member_classes: Their true classes, ints of shape `(n_in,)`.
        non_member_values: Signal of reference non-members, `(n_out,)`.
        non_member_classes: Their true classes, ints of shape `(n_out,)`.
        n_classes: Number of classes.
        n_bins: Log-spaced bins per class. Defaults to 5 (the paper's code).
        membership_prior: Prior probability `pi` that a record is a member,
            in (0, 1). Defaults to 0.5 (equal priors, as in the paper).
        reference_compatible: Reproduce the paper's code bit for bit,
            including its floating-point details (module docstring).
            Defaults to False.

    Returns:
        A :class:`RiskModel`. A class with neither reference members nor
        non-members uses the histogram of all classes pooled, with a
        :class:`ClassFallbackWarning`. A class with only one side keeps its
        histogram, as in the paper: its scores are 1 (members only) or 0.

    Raises:
        ValueError: If `n_bins < 1`, `membership_prior` is not in (0, 1),
            both reference sets are empty, or values are not finite.
    """
    if n_bins < 1:
        raise ValueError(f"`n_bins` must be at least 1; received {n_bins}.")
    if not 0.0 < membership_prior < 1.0:
        raise ValueError(
            "`membership_prior` must be in (0, 1); received "
            f"membership_prior={membership_prior}."
        )
    v_in = np.asarray(member_values, dtype=np.float64)
    v_out = np.asarray(non_member_values, dtype=np.float64)
    c_in = np.asarray(member_classes, dtype=np.int64)
    c_out = np.asarray(non_member_classes, dtype=np.int64)
    if len(v_in) + len(v_out) == 0:
        raise ValueError(
            "Risk scores need reference records; both reference sets are "
            "empty."
        )
    if not (np.all(np.isfinite(v_in)) and np.all(np.isfinite(v_out))):
        raise ValueError("Risk-score signal values must be finite.")

    edges = np.empty((n_classes, n_bins + 1))
    h_in = np.zeros((n_classes, n_bins))
    h_out = np.zeros((n_classes, n_bins))
    slices_in = class_slices(c_in, n_classes)
    slices_out = class_slices(c_out, n_classes)
    fallback = []
    for c in range(n_classes):
        members = v_in[slices_in[c]]
        non_members = v_out[slices_out[c]]
        if len(members) + len(non_members) == 0:
            fallback.append(c)
            members, non_members = v_in, v_out
        edges[c], h_in[c], h_out[c] = _class_histogram(
            members, non_members, n_bins, reference_compatible
        )
    if fallback:
        warnings.warn(
            f"Classes {fallback} have no reference records, so their risk "
            "scores use the histogram of all classes pooled.",
            ClassFallbackWarning,
            stacklevel=2,
        )
    return RiskModel(
        bin_edges=edges,
        member_heights=h_in,
        non_member_heights=h_out,
        score_table=_score_table(h_in, h_out, membership_prior),
        fallback_classes=tuple(fallback),
        membership_prior=membership_prior,
    )


@dataclasses.dataclass(frozen=True)
class RiskSummary:
    """The high-risk tail of a set of risk scores.

    Attributes:
        levels: The risk levels examined, e.g. `(0.5, 0.8, 0.9)`.
        member_share: For each level, the fraction of members whose score
            is at or above it.
        non_member_share: The same for non-members.
        precision: For each level, the fraction of members among all
            records at or above it (`nan` if there are none).
    """

    levels: tuple[float, ...]
    member_share: tuple[float, ...]
    non_member_share: tuple[float, ...]
    precision: tuple[float, ...]


def summarize_risk(
    member_scores: np.ndarray,
    non_member_scores: np.ndarray,
    levels: Sequence[float] = (0.5, 0.8, 0.9),
) -> RiskSummary:
    """Share of records at high risk, and how often they are members.

    Args:
        member_scores: Risk scores of members, shape `(n_members,)`.
        non_member_scores: Risk scores of non-members.
        levels: Risk levels in [0, 1]. Defaults to `(0.5, 0.8, 0.9)`.

    Returns:
        A :class:`RiskSummary`.

    Raises:
        ValueError: If a level is outside [0, 1].
    """
    levels = tuple(float(x) for x in levels)
    if any(not 0.0 <= x <= 1.0 for x in levels):
        raise ValueError(
            f"`levels` must lie in [0, 1]; received {list(levels)}."
        )
    m = np.asarray(member_scores)
    o = np.asarray(non_member_scores)
    share_in, share_out, precision = [], [], []
    for level in levels:
        k_in = int(np.count_nonzero(m >= level))
        k_out = int(np.count_nonzero(o >= level))
        share_in.append(k_in / len(m) if len(m) else float("nan"))
        share_out.append(k_out / len(o) if len(o) else float("nan"))
        total = k_in + k_out
        precision.append(k_in / total if total else float("nan"))
    return RiskSummary(
        levels, tuple(share_in), tuple(share_out), tuple(precision)
    )
