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

    slices_in = class_slices(c_in, n_classes)
    slices_out = class_slices(c_out, n_classes)
    for c in np.flatnonzero(fitted):
        # Scores of class c in list order (the grouping sort is stable).
        listed_in = s_in[slices_in[c]]
        listed_out = s_out[slices_out[c]]
        threshold, accuracy = _fit_one_class(
            listed_in, listed_out, reference_compatible
        )
        thresholds[c], fit_acc[c] = threshold, accuracy
    return result


def class_slices(classes: np.ndarray, n_classes: int) -> list[np.ndarray]:
    """Indices of each class's records, in their original order.

    Args:
        classes: Ints in `[0, n_classes)`, shape `(n,)`.
        n_classes: Number of classes.

    Returns:
        A list of `n_classes` int arrays; entry `c` holds the positions of
        class `c`, ascending.
    """
    # A stable sort of small integers is a linear-time radix sort in numpy.
    small = classes.astype(np.int16 if n_classes < 2**15 else np.int64)
    order = np.argsort(small, kind="stable")
    bounds = np.searchsorted(small[order], np.arange(n_classes + 1))
    return [order[bounds[c]:bounds[c + 1]] for c in range(n_classes)]


def _fit_one_class(
    listed_in: np.ndarray, listed_out: np.ndarray, reference_compatible: bool
) -> tuple[float, float]:
    """Best threshold of one class with members and non-members."""
    n_in, n_out = len(listed_in), len(listed_out)
    sorted_in, sorted_out = np.sort(listed_in), np.sort(listed_out)
    merged = np.sort(np.concatenate([sorted_in, sorted_out]))
    values = merged[np.concatenate([[True], merged[1:] != merged[:-1]])]
    members_at_or_above = n_in - np.searchsorted(sorted_in, values, "left")
    non_members_below = np.searchsorted(sorted_out, values, "left")
    if reference_compatible:
        # The reference's float64 expression, in its order of operations.
        key = 0.5 * (
            members_at_or_above / (n_in + 0.0)
            + non_members_below / (n_out + 0.0)
        )
    else:
        key = members_at_or_above * n_out + non_members_below * n_in
    maximising = np.flatnonzero(key == key.max())
    if reference_compatible:
        # First maximiser in list order (members, then non-members); the
        # listed value keeps its own sign of zero.
        listed = np.concatenate([listed_in, listed_out])
        first = np.flatnonzero(np.isin(listed, values[maximising]))[0]
        threshold = listed[first]
        k = maximising[np.searchsorted(values[maximising], threshold)]
    else:
        # Smallest maximiser, then halfway down to the next lower value.
        k = maximising[0]
        threshold = values[k]
        if k > 0:
            midpoint = values[k - 1] + (values[k] - values[k - 1]) / 2.0
            if values[k - 1] < midpoint <= values[k]:
                threshold = midpoint
    accuracy = 0.5 * (
        members_at_or_above[k] / n_in + non_members_below[k] / n_out
    )
    return float(threshold), float(accuracy)


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
