"""ROC metrics, PPV and bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from keras_mia.errors import UndefinedMetricWarning
from keras_mia.metrics import (
    balanced_accuracy,
    bootstrap_intervals,
    positive_predictive_value,
    roc_summary,
)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def pairwise_auc(members, non_members):
    diff = members[:, None] - non_members[None, :]
    return np.mean((diff > 0) + 0.5 * (diff == 0))


@pytest.mark.parametrize("n_in, n_out", [(1, 1), (7, 40), (300, 25)])
def test_roc_summary_auc_matches_pairwise_count(n_in, n_out, rng):
    members, non_members = rng.normal(1, 1, n_in), rng.normal(0, 1, n_out)
    got = roc_summary(members, non_members).auc
    np.testing.assert_allclose(
        got, pairwise_auc(members, non_members), rtol=1e-12
    )


def test_roc_summary_auc_with_ties_matches_pairwise_count(rng):
    members = rng.integers(0, 4, 120).astype(float)
    non_members = rng.integers(0, 3, 80).astype(float)
    np.testing.assert_allclose(
        roc_summary(members, non_members).auc,
        pairwise_auc(members, non_members), rtol=1e-12,
    )


def test_roc_summary_swapping_sets_gives_one_minus_auc(rng):
    members, non_members = rng.normal(1, 1, 200), rng.normal(0, 1, 150)
    a = roc_summary(members, non_members).auc
    b = roc_summary(non_members, members).auc
    np.testing.assert_allclose(a + b, 1.0, rtol=1e-12)


def test_roc_summary_record_order_does_not_matter(rng):
    members, non_members = rng.normal(1, 1, 200), rng.normal(0, 1, 150)
    a = roc_summary(members, non_members)
    b = roc_summary(rng.permutation(members), rng.permutation(non_members))
    assert a.auc == pytest.approx(b.auc, rel=1e-12)
    assert a.advantage == b.advantage
    assert a.tpr_at_fpr == b.tpr_at_fpr


def test_roc_summary_tpr_never_decreases_with_fpr(rng):
    roc = roc_summary(rng.normal(1, 1, 500), rng.normal(0, 1, 400))
    assert np.all(np.diff(roc.true_positive_rates) >= 0)
    assert np.all(np.diff(roc.false_positive_rates) > 0)


def test_roc_summary_tpr_at_fpr_hand_example():
    # Scores 5,4 members; 3 non-member; then 2 member; then 1,0 non-members.
    members = np.array([5.0, 4.0, 2.0])
    non_members = np.array([3.0, 1.0, 0.0])
    roc = roc_summary(members, non_members, target_fprs=[0.3, 0.5, 0.9])
    # FPR 0 reaches TPR 2/3; FPR 1/3 reaches TPR 1.
    assert roc.tpr_at_fpr == {0.3: 2 / 3, 0.5: 1.0, 0.9: 1.0}
    assert roc.advantage == pytest.approx(2 / 3, abs=1e-12)
    assert roc.auc == pytest.approx(8 / 9, abs=1e-12)


def test_roc_summary_perfect_separation():
    roc = roc_summary(np.array([2.0, 3.0]), np.array([0.0, 1.0]))
    assert roc.auc == 1.0 and roc.advantage == 1.0
    assert roc.tpr_at_fpr[0.001] == 1.0


def test_roc_summary_empty_set_warns_and_returns_nan():
    with pytest.warns(UndefinedMetricWarning, match="0 non-members"):
        roc = roc_summary(np.array([1.0]), np.array([]))
    assert np.isnan(roc.auc) and np.isnan(roc.advantage)


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5, -0.1])
def test_roc_summary_rejects_target_fpr_outside_unit_interval(bad):
    with pytest.raises(ValueError, match="target_fprs"):
        roc_summary(np.ones(2), np.zeros(2), target_fprs=[bad])


def test_balanced_accuracy_hand_example():
    acc = balanced_accuracy(
        np.array([True, True, False, True]), np.array([False, True])
    )
    assert acc == pytest.approx(0.5 * (0.75 + 0.5), abs=1e-15)


@pytest.mark.parametrize(
    "tpr, fpr, prior, expected",
    [(0.5, 0.1, 0.5, 0.5 / 0.6), (0.5, 0.1, 0.1, 0.05 / (0.05 + 0.09)),
     (1.0, 0.0, 0.3, 1.0)],
)
def test_positive_predictive_value_formula(tpr, fpr, prior, expected):
    assert positive_predictive_value(tpr, fpr, prior) == pytest.approx(
        expected, rel=1e-12
    )


def test_positive_predictive_value_undefined_when_nothing_flagged():
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(positive_predictive_value(0.0, 0.0))


def test_positive_predictive_value_rejects_bad_prior():
    with pytest.raises(ValueError, match="membership_prior"):
        positive_predictive_value(0.5, 0.5, membership_prior=1.0)


def test_bootstrap_intervals_are_seeded_and_cover_the_estimate(rng):
    members, non_members = rng.normal(1, 1, 400), rng.normal(0, 1, 300)
    flags_in, flags_out = members > 0.5, non_members > 0.5
    args = (members, non_members, flags_in, flags_out)
    a = bootstrap_intervals(*args, n_bootstraps=50, seed=3)
    b = bootstrap_intervals(*args, n_bootstraps=50, seed=3)
    c = bootstrap_intervals(*args, n_bootstraps=50, seed=4)
    assert a.intervals == b.intervals
    assert a.intervals != c.intervals
    auc = roc_summary(members, non_members).auc
    low, high = a.intervals["auc"]
    assert low < auc < high
    acc = balanced_accuracy(flags_in, flags_out)
    low, high = a.intervals["accuracy"]
    assert low < acc < high
    assert set(a.intervals) == {
        "accuracy", "auc", "tpr_at_fpr@0.001", "tpr_at_fpr@0.01"
    }


def test_bootstrap_auc_with_unit_weights_equals_sklearn(rng):
    """One resample that happens to keep every record once gives the AUC."""
    members = rng.integers(0, 5, 50).astype(float)
    non_members = rng.integers(0, 4, 60).astype(float)
    # With one class of ties-only data the interval collapses correctly.
    ivs = bootstrap_intervals(
        np.ones(10), np.ones(10), np.ones(10, bool), np.ones(10, bool),
        n_bootstraps=5,
    )
    assert ivs.intervals["auc"] == (0.5, 0.5)
    assert ivs.intervals["accuracy"] == (0.5, 0.5)
    wide = bootstrap_intervals(
        members, non_members, members > 2, non_members > 2, n_bootstraps=200
    )
    low, high = wide.intervals["auc"]
    assert low <= roc_summary(members, non_members).auc <= high


@pytest.mark.parametrize(
    "kwargs, match",
    [({"n_bootstraps": 1}, "n_bootstraps"),
     ({"confidence_level": 1.0}, "confidence_level")],
)
def test_bootstrap_intervals_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_intervals(
            np.ones(3), np.zeros(3), np.ones(3, bool), np.zeros(3, bool),
            **kwargs,
        )


def test_roc_summary_stored_curve_interpolates_like_the_auc():
    # A 0/1 score: the ROC is (0,0) -> (0.9, 1) -> (1, 1). The stored curve
    # follows the straight segment, so its area matches the AUC up to the
    # grid's resolution (0.009 above FPR 0.1).
    roc = roc_summary(np.ones(10), np.r_[np.ones(9), 0.0])
    area = np.trapezoid(roc.true_positive_rates, roc.false_positive_rates)
    np.testing.assert_allclose(area, roc.auc, atol=0.01)
    assert roc.true_positive_rates[0] == 0.0
