"""The attack runner: threshold sources, fallbacks, results, validation."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy.special import softmax

from keras_mia import ATTACKS, compute_signals, run_attacks
from keras_mia.errors import ClassFallbackWarning, KerasMiaWarning


def _leaky_signals(rng, n, n_classes=5, member=True, shift=2.0):
    """Outputs where members get a boosted true class."""
    labels = rng.integers(0, n_classes, n)
    logits = rng.normal(0, 1, (n, n_classes))
    logits[np.arange(n), labels] += shift * (2.0 if member else 1.0)
    return compute_signals(softmax(logits, axis=1), labels, from_logits=False)


@pytest.fixture
def rng():
    return np.random.default_rng(11)


@pytest.fixture
def target(rng):
    return _leaky_signals(rng, 400), _leaky_signals(rng, 300, member=False)


@pytest.fixture
def shadow(rng):
    return _leaky_signals(rng, 400), _leaky_signals(rng, 400, member=False)


def test_run_attacks_defaults_to_cross_fit_without_reference(target):
    result = run_attacks(*target, n_bootstraps=0)
    assert result.threshold_source == "cross_fit"
    assert list(result.attacks) == list(ATTACKS)
    assert result.attacks["correctness"].threshold_source is None
    assert result.attacks["loss"].threshold_source == "cross_fit"


def test_run_attacks_defaults_to_shadow_with_reference(target, shadow):
    result = run_attacks(*target, reference=shadow, n_bootstraps=0)
    assert result.threshold_source == "shadow"


def test_run_attacks_detects_leakage(target):
    result = run_attacks(*target, n_bootstraps=0)
    for name in ("confidence", "modified_entropy", "loss"):
        assert result.attacks[name].auc > 0.7
        assert result.attacks[name].accuracy > 0.6


def test_optimistic_is_an_upper_bound_of_cross_fit(target):
    cross = run_attacks(*target, n_bootstraps=0)
    optimistic = run_attacks(
        *target, threshold_source="optimistic", n_bootstraps=0
    )
    for name in ATTACKS[1:]:
        assert optimistic.attacks[name].accuracy >= cross.attacks[name].accuracy


def test_no_leakage_gives_chance_level(rng):
    members = _leaky_signals(rng, 2000, member=False)
    non_members = _leaky_signals(rng, 2000, member=False)
    result = run_attacks(members, non_members, n_bootstraps=0)
    for r in result.attacks.values():
        assert abs(r.auc - 0.5) < 0.05
        assert abs(r.accuracy - 0.5) < 0.05


def test_record_order_does_not_change_results(target, rng):
    a = run_attacks(*target, threshold_source="optimistic", n_bootstraps=0)
    m, o = target
    b = run_attacks(
        m.take(rng.permutation(len(m))), o.take(rng.permutation(len(o))),
        threshold_source="optimistic", n_bootstraps=0,
    )
    for name in ATTACKS:
        assert a.attacks[name].accuracy == b.attacks[name].accuracy
        assert a.attacks[name].auc == pytest.approx(
            b.attacks[name].auc, rel=1e-12
        )
        np.testing.assert_array_equal(
            a.attacks[name].thresholds if a.attacks[name].thresholds
            is not None else [], b.attacks[name].thresholds
            if b.attacks[name].thresholds is not None else [],
        )


def test_swapping_members_and_non_members_gives_one_minus_auc(target):
    a = run_attacks(*target, n_bootstraps=0, risk_signal=None)
    b = run_attacks(target[1], target[0], n_bootstraps=0, risk_signal=None)
    for name in ATTACKS:
        np.testing.assert_allclose(
            a.attacks[name].auc + b.attacks[name].auc, 1.0, rtol=1e-12
        )


def test_same_seed_same_result_and_intervals(target):
    a = run_attacks(*target, n_bootstraps=20, seed=1)
    b = run_attacks(*target, n_bootstraps=20, seed=1)
    assert a.to_dict(include_records=True) == b.to_dict(include_records=True)
    low, high = a.attacks["loss"].intervals["auc"]
    assert low <= a.attacks["loss"].auc <= high


def test_class_missing_from_reference_falls_back_to_global(target, shadow):
    ref_in, ref_out = shadow
    ref_out = ref_out.take(ref_out.labels != 3)
    pattern = r"class 3 \(\d+ members, 0 non"
    with pytest.warns(ClassFallbackWarning, match=pattern):
        result = run_attacks(*target, reference=(ref_in, ref_out),
                             n_bootstraps=0)
    conf = result.attacks["confidence"]
    assert conf.fallback_classes == (3,)
    assert np.isnan(conf.thresholds[3])
    assert not np.isnan(np.delete(conf.thresholds, 3)).any()
    # The fallback threshold is the pooled one, not a silent 0.
    global_only = run_attacks(
        *target, reference=(ref_in, ref_out), class_dependent=False,
        n_bootstraps=0,
    ).attacks["confidence"].thresholds[0]
    m = target[0]
    flagged_3 = m.confidence[m.labels == 3] >= global_only
    assert 0 < flagged_3.mean() < 1


def test_reference_compatible_fallback_is_zero_and_listed(target, shadow):
    ref_in, ref_out = shadow
    ref_out = ref_out.take(ref_out.labels != 3)
    with pytest.warns(ClassFallbackWarning, match="threshold 0"):
        result = run_attacks(*target, reference=(ref_in, ref_out),
                             reference_compatible=True, n_bootstraps=0)
    conf = result.attacks["confidence"]
    assert conf.fallback_classes == (3,)
    # Threshold 0 on confidence flags every class-3 record.
    m, o = target
    expected_tp = 0
    for c in range(5):
        t = 0.0 if c == 3 else conf.thresholds[c]
        expected_tp += int(np.sum(m.confidence[m.labels == c] >= t))
    assert conf.n_true_positives == expected_tp


def test_single_class_data(rng):
    labels = np.zeros(30, int)
    p_in = softmax(rng.normal(0, 1, (30, 3)) + [3, 0, 0], axis=1)
    p_out = softmax(rng.normal(0, 1, (30, 3)), axis=1)
    result = run_attacks(
        compute_signals(p_in, labels, from_logits=False),
        compute_signals(p_out, labels, from_logits=False),
        n_bootstraps=0,
    )
    # Classes 1 and 2 never occur, so nothing falls back.
    assert result.attacks["confidence"].fallback_classes == ()
    assert result.attacks["confidence"].auc > 0.5


def test_all_tied_scores_give_chance(rng):
    p = np.full((10, 2), 0.5)
    s = compute_signals(p, np.zeros(10, int), from_logits=False)
    result = run_attacks(s, s, n_bootstraps=5)
    for r in result.attacks.values():
        assert r.auc == 0.5 and r.advantage == 0.0


def test_tiny_sets_fall_back_to_optimistic_with_warning(rng):
    m = _leaky_signals(rng, 1)
    o = _leaky_signals(rng, 3, member=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_attacks(m, o, n_bootstraps=0)
    assert result.threshold_source == "optimistic"
    assert any(
        issubclass(w.category, KerasMiaWarning)
        and "optimistic" in str(w.message)
        for w in caught
    )
    # The one member's class lacks non-members or vice versa: listed.
    fallback = [
        w for w in caught if issubclass(w.category, ClassFallbackWarning)
    ]
    assert fallback
    assert result.attacks["loss"].fallback_classes


def test_to_dict_is_strict_json_with_documented_keys(target):
    result = run_attacks(*target, n_bootstraps=10)
    data = json.loads(result.to_json())
    for name in ATTACKS:
        entry = data["attacks"][name]
        for key in ("accuracy", "auc", "advantage", "tpr_at_fpr", "ppv"):
            assert key in entry
        assert set(entry["tpr_at_fpr"]) == {"0.001", "0.01"}
    assert data["attacks"]["correctness"]["thresholds"] is None
    assert len(data["attacks"]["loss"]["thresholds"]) == 5
    assert "member_scores" not in data["risk"]
    assert "Privacy risk" in str(result)


def test_strongest_attack_by_advantage(target):
    result = run_attacks(*target, n_bootstraps=0)
    best = result.strongest()
    assert best.advantage == max(r.advantage for r in result.attacks.values())


def test_cross_fit_risk_scores_cover_every_record(target):
    result = run_attacks(*target, n_bootstraps=0)
    assert result.member_risk_scores.shape == (400,)
    assert np.all((result.member_risk_scores >= 0)
                  & (result.member_risk_scores <= 1))
    assert (
        result.member_risk_scores.mean()
        > result.non_member_risk_scores.mean()
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"threshold_source": "shadow"}, "needs `reference`"),
        ({"threshold_source": "magic"}, "threshold_source"),
        ({"attacks": ["confidence", "bogus"]}, "attacks"),
        ({"attacks": []}, "attacks"),
        ({"attacks": ["loss", "loss"]}, "distinct"),
        ({"risk_signal": "confidence"}, "risk_signal"),
        ({"n_folds": 1}, "n_folds"),
        ({"target_fprs": [0.0]}, "target_fprs"),
        ({"membership_prior": 1.5}, "membership_prior"),
        ({"n_bootstraps": -1}, "n_bootstraps"),
        ({"reference": "shadow"}, "reference"),
    ],
    ids=lambda v: str(v) if isinstance(v, str) else None,
)
def test_run_attacks_rejects_bad_options(target, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_attacks(*target, **kwargs)


def test_run_attacks_rejects_empty_sets(target):
    m, _ = target
    empty = m.take(np.zeros(len(m), bool))
    with pytest.raises(ValueError, match="`non_members` holds no records"):
        run_attacks(m, empty)


def test_run_attacks_rejects_class_count_mismatch(rng):
    a = _leaky_signals(rng, 10, n_classes=3)
    b = _leaky_signals(rng, 10, n_classes=4, member=False)
    with pytest.raises(ValueError, match="3 and 4 classes"):
        run_attacks(a, b)


def test_no_unexpected_warnings_on_healthy_data(target, shadow):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_attacks(*target, reference=shadow, n_bootstraps=5)


def test_run_attacks_names_a_non_signals_argument(target):
    with pytest.raises(ValueError, match="`members` must be a Signals"):
        run_attacks(np.ones(3), target[1])
    with pytest.raises(ValueError, match="`non_members` .* received list"):
        run_attacks(target[0], [1, 2])
