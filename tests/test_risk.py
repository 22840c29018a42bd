"""Privacy risk scores."""

from __future__ import annotations

import numpy as np
import pytest

from keras_mia.errors import ClassFallbackWarning
from keras_mia.risk import fit_risk_model, summarize_risk


def _model(m_in, m_out, c_in=None, c_out=None, n_classes=1, **kw):
    m_in, m_out = np.asarray(m_in, float), np.asarray(m_out, float)
    c_in = np.zeros(len(m_in), int) if c_in is None else np.asarray(c_in)
    c_out = np.zeros(len(m_out), int) if c_out is None else np.asarray(c_out)
    return fit_risk_model(m_in, c_in, m_out, c_out, n_classes, **kw)


def test_risk_score_hand_example():
    # Edges: logspace(log10(1), log10(10000), 5 + 1) -> 1, 6.3, 39.8, 251,
    # 1585, 10000. Members fill bin 0 twice and bin 1 once; non-members fill
    # bin 1 once and bin 4 twice.
    model = _model([1.0, 2.0, 10.0], [20.0, 5000.0, 10000.0])
    np.testing.assert_allclose(
        model.member_heights[0], [2 / 3, 1 / 3, 0, 0, 0], atol=1e-15
    )
    np.testing.assert_allclose(
        model.non_member_heights[0], [0, 1 / 3, 0, 0, 2 / 3], atol=1e-15
    )
    scores = model.score(np.array([1.5, 15.0, 8000.0]), np.zeros(3, int))
    np.testing.assert_allclose(scores, [1.0, 0.5, 0.0], atol=1e-15)


def test_risk_score_nearest_bin_looks_lower_first():
    # Bins 2 and 3 are empty on both sides. Bin 2 takes bin 1 (one lower,
    # tried first); bin 3 takes bin 4 (one higher; bin 2 is empty).
    model = _model([1.0, 2.0, 10.0], [20.0, 5000.0, 10000.0])
    scores = model.score(np.array([100.0, 1000.0]), np.zeros(2, int))
    np.testing.assert_allclose(scores, [0.5, 0.0], atol=1e-15)


def test_risk_score_prior_shifts_posterior():
    model = _model([1.0, 20.0], [20.0, 10000.0], membership_prior=0.2)
    # Bin 1 holds one member (1/2) and one non-member (1/2).
    score = model.score(np.array([20.0]), np.zeros(1, int))[0]
    assert score == pytest.approx(0.2, abs=1e-12)


def test_risk_score_class_without_non_members_scores_one():
    model = _model([1.0, 2.0], [5.0], c_in=[1, 1], c_out=[0], n_classes=2)
    np.testing.assert_array_equal(
        model.score(np.array([1.0, 1.5, 3.0]), np.ones(3, int)), 1.0
    )


def test_risk_score_class_without_any_reference_uses_pooled_histogram():
    with pytest.warns(ClassFallbackWarning, match=r"\[2\]"):
        model = _model(
            [1.0, 2.0], [5.0, 9.0], c_in=[0, 1], c_out=[0, 1], n_classes=3
        )
    assert model.fallback_classes == (2,)
    pooled = _model([1.0, 2.0], [5.0, 9.0])
    values = np.array([1.0, 4.0, 9.0])
    np.testing.assert_array_equal(
        model.score(values, np.full(3, 2)),
        pooled.score(values, np.zeros(3, int)),
    )


def test_risk_score_all_equal_values_use_last_bin():
    model = _model([0.0, 0.0], [0.0])
    assert model.member_heights[0, -1] == 1.0
    # A value of 0 lies below the clamped edge 1e-10: bin 0 is empty on both
    # sides, so it takes the score of the last bin.
    assert model.score(np.array([0.0]), np.zeros(1, int))[0] == pytest.approx(
        0.5, abs=1e-15
    )


def test_risk_score_default_counts_extreme_values_reference_may_drop():
    # Pick a maximum whose rounded log-space edge lands below it.
    rng = np.random.default_rng(0)
    for _ in range(2000):
        lo, hi = np.exp(rng.uniform(-5, 5, 2))
        lo, hi = min(lo, hi), max(lo, hi)
        edges = np.logspace(np.log10(lo), np.log10(hi), 6)
        if edges[-1] < hi or edges[0] > lo:
            break
    else:
        pytest.skip("no rounding example found")
    reference = _model([lo], [hi], reference_compatible=True)
    default = _model([lo], [hi])
    assert default.member_heights.sum() == 1.0
    assert default.non_member_heights.sum() == 1.0
    assert (
        reference.member_heights.sum() < 1.0
        or reference.non_member_heights.sum() < 1.0
    )


def test_risk_model_does_not_modify_inputs():
    m_in = np.array([0.0, 1e-12, 2.0])
    copy = m_in.copy()
    _model(m_in, [3.0])
    np.testing.assert_array_equal(m_in, copy)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"n_bins": 0}, "n_bins"),
     ({"membership_prior": 0.0}, "membership_prior")],
)
def test_fit_risk_model_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _model([1.0], [2.0], **kwargs)


def test_summarize_risk_shares_and_precision():
    summary = summarize_risk(
        np.array([0.95, 0.85, 0.6, 0.1]), np.array([0.9, 0.2]),
        levels=(0.5, 0.9),
    )
    assert summary.member_share == (0.75, 0.25)
    assert summary.non_member_share == (0.5, 0.5)
    assert summary.precision == (0.75, 0.5)
