"""Class-dependent thresholds that maximise balanced attack accuracy.

Song & Mittal (2021), Section 3.2: for each true class `c`, the attacker
picks the threshold `t_c` that maximises the balanced accuracy

    acc(t) = 0.5 * (#{members with score >= t} / n_in
                    + #{non-members with score < t} / n_out)

on reference data (a shadow model's members and non-members), with scores
oriented so that higher means "member". The paper's code scans every
candidate value and recounts, which costs O(n^2) per class. Here the search
sorts once and reads the counts from cumulative sums: O(n log n) in total,
for all classes at once.

Two tie rules are available:

* `reference_compatible=True` reproduces the paper's code bit for bit: the
  balanced accuracy is computed in float64 in the same order of operations,
  and among the candidates reaching its largest float64 value, the one that
  comes first in the candidate list (members in order, then non-members)
  wins. Float rounding can make one of two exactly tied candidates win.
* The default compares accuracies exactly (integer arithmetic), takes the
  smallest maximising score, and places the threshold halfway between it and
  the next lower score seen in fitting. Both choices classify the fitting
  data identically; the midpoint leaves a margin on both sides for records
  that were not in the fitting data.

A class without fitting members or without fitting non-members has no
threshold of its own; see :func:`fit_thresholds` for what happens then.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class ClassThresholds:
    """Per-class thresholds found by :func:`fit_thresholds`.

    Attributes:
        thresholds: Floats, shape `(n_classes,)`. Class `c` flags a record
            as a member when its score is `>= thresholds[c]`. `nan` where
            the class could not be fitted (see `fitted`).
        fitted: Booleans, shape `(n_classes,)`; False for classes that had
            no fitting members or no fitting non-members.
        fit_accuracies: Floats, shape `(n_classes,)`: the balanced accuracy
            each threshold reaches on the fitting data (`nan` if unfitted).
        n_members: Ints, shape `(n_classes,)`: fitting members per class.
        n_non_members: Ints, shape `(n_classes,)`: fitting non-members per
            class.
    """

    thresholds: np.ndarray
    fitted: np.ndarray
    fit_accuracies: np.ndarray
    n_members: np.ndarray
    n_non_members: np.ndarray


def fit_thresholds(
    member_scores: np.ndarray,
    member_classes: np.ndarray,
    non_member_scores: np.ndarray,
    non_member_classes: np.ndarray,
    n_classes: int,
    *,
    reference_compatible: bool = False,
) -> ClassThresholds:
    """Find, per class, the threshold with the best balanced accuracy.

    Args:
        member_scores: Floats, shape `(n_in,)`; higher = more member-like.
        member_classes: Ints in `[0, n_classes)`, shape `(n_in,)`. Pass
            zeros for one global threshold.
        non_member_scores: Floats, shape `(n_out,)`, same orientation.
        non_member_classes: Ints in `[0, n_classes)`, shape `(n_out,)`.
        n_classes: Number of classes; classes without data are unfitted.
        reference_compatible: Reproduce the paper's code exactly (float64
            accuracies, first maximiser in list order, threshold equal to a
            candidate). Defaults to False (exact comparison, smallest
            maximiser, midpoint threshold).

    Returns:
        A :class:`ClassThresholds`.

    Raises:
        ValueError: If scores are not finite or shapes disagree.
    """
    s_in = np.asarray(member_scores, dtype=np.float64)
    s_out = np.asarray(non_member_scores, dtype=np.float64)
    c_in = np.asarray(member_classes, dtype=np.int64)
    c_out = np.asarray(non_member_classes, dtype=np.int64)
    if s_in.shape != c_in.shape or s_out.shape != c_out.shape:
        raise ValueError(
            "Scores and classes must have the same shape; received "
            f"{s_in.shape}/{c_in.shape} and {s_out.shape}/{c_out.shape}."
        )
    if not (np.all(np.isfinite(s_in)) and np.all(np.isfinite(s_out))):
        raise ValueError("Threshold scores must be finite.")

    n_in = np.bincount(c_in, minlength=n_classes)[:n_classes]
    n_out = np.bincount(c_out, minlength=n_classes)[:n_classes]
    thresholds = np.full(n_classes, np.nan)
    fit_acc = np.full(n_classes, np.nan)
    fitted = (n_in > 0) & (n_out > 0)
    result = ClassThresholds(thresholds, fitted, fit_acc, n_in, n_out)
    if not fitted.any():
        return result

    # Candidates in the reference's list order: members, then non-members.
    scores = np.concatenate([s_in, s_out])
    classes = np.concatenate([c_in, c_out])
    is_member = np.concatenate(
        [np.ones(len(s_in), bool), np.zeros(len(s_out), bool)]
    )
    keep = fitted[classes]
    position = np.flatnonzero(keep)
    scores, classes, is_member = scores[keep], classes[keep], is_member[keep]

    # Sort by class, then score; stable, so equal values keep list order.
    order = np.argsort(scores, kind="stable")
    order = order[np.argsort(classes[order], kind="stable")]
    s, c, m = scores[order], classes[order], is_member[order]

    # One group per distinct (class, value); counts strictly below it.
    starts = np.flatnonzero(
        np.concatenate([[True], (s[1:] != s[:-1]) | (c[1:] != c[:-1])])
    )
    cum_in = np.concatenate([[0], np.cumsum(m)])
    cum_out = np.concatenate([[0], np.cumsum(~m)])
    class_begin = np.searchsorted(c, np.arange(n_classes), side="left")
    g_class = c[starts]
    in_below = cum_in[starts] - cum_in[class_begin[g_class]]
    out_below = cum_out[starts] - cum_out[class_begin[g_class]]
    members_at_or_above = n_in[g_class] - in_below

    if reference_compatible:
        # Exactly the reference's float64 expression.
        key = 0.5 * (
            members_at_or_above / (n_in[g_class] + 0.0)
            + out_below / (n_out[g_class] + 0.0)
        )
        # First occurrence in list order of each group's value.
        tie_rank = position[order[starts]]
    else:
        key = (
            members_at_or_above * n_out[g_class].astype(np.int64)
            + out_below * n_in[g_class].astype(np.int64)
        )
        tie_rank = np.arange(len(starts))  # ascending score within class

    # Per class: largest key, then smallest tie rank among the maximisers.
    class_groups = np.flatnonzero(
        np.concatenate([[True], g_class[1:] != g_class[:-1]])
    )
    best_key = np.maximum.reduceat(key, class_groups)
    group_class_index = np.repeat(
        np.arange(len(class_groups)),
        np.diff(np.append(class_groups, len(starts))),
    )
    is_max = key == best_key[group_class_index]
    rank = np.where(is_max, tie_rank, np.iinfo(np.int64).max)
    best_rank = np.minimum.reduceat(rank, class_groups)
    chosen = np.flatnonzero(is_max & (rank == best_rank[group_class_index]))

    chosen_class = g_class[chosen]
    # The stable sort puts each group's first-listed candidate first, so
    # this is the candidate itself (with its sign of zero as listed).
    values = s[starts[chosen]]
    if not reference_compatible:
        has_lower = (chosen > 0) & (
            g_class[np.maximum(chosen - 1, 0)] == chosen_class
        )
        lower = s[starts[np.maximum(chosen - 1, 0)]]
        midpoint = lower + (values - lower) / 2.0
        use_mid = has_lower & (midpoint > lower) & (midpoint <= values)
        values = np.where(use_mid, midpoint, values)
    thresholds[chosen_class] = values
    accuracy = 0.5 * (
        members_at_or_above[chosen] / n_in[chosen_class]
        + out_below[chosen] / n_out[chosen_class]
    )
    fit_acc[chosen_class] = accuracy
    return result


def apply_thresholds(
    scores: np.ndarray, classes: np.ndarray, thresholds: np.ndarray
) -> np.ndarray:
    """Flag records whose score reaches their class threshold.

    Args:
        scores: Floats, shape `(n,)`; higher = more member-like.
        classes: Ints, shape `(n,)`, indexing `thresholds`.
        thresholds: Floats, shape `(n_classes,)`, no `nan`.

    Returns:
        Booleans, shape `(n,)`: True where `scores >= thresholds[classes]`.
    """
    return np.asarray(scores) >= np.asarray(thresholds)[classes]
