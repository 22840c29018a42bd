"""The fast threshold search against a brute-force scan."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from golden import GOLDEN_DIR
from keras_mia.thresholds import apply_thresholds, fit_thresholds


@pytest.fixture
def rng():
    return np.random.default_rng(20210811)


def quadratic_scan(members, non_members):
    """The paper's search, written out: every candidate, recounted."""
    best_t, best_acc = 0.0, 0.0
    for t in list(members) + list(non_members):
        acc = 0.5 * (
            np.sum(members >= t) / (len(members) + 0.0)
            + np.sum(non_members < t) / (len(non_members) + 0.0)
        )
        if acc > best_acc:
            best_t, best_acc = t, acc
    return best_t


def exact_maximisers(members, non_members):
    """All candidate values reaching the largest exact balanced accuracy."""
    accs = {}
    for t in set(members) | set(non_members):
        accs[t] = Fraction(int(np.sum(members >= t)), len(members)) + Fraction(
            int(np.sum(non_members < t)), len(non_members)
        )
    best = max(accs.values())
    return sorted(t for t, a in accs.items() if a == best), best / 2


def _random_scores(rng, n_in, n_out, n_levels):
    # Few distinct levels make ties between candidates frequent.
    members = rng.integers(0, n_levels, n_in) / n_levels + 0.1
    non_members = rng.integers(0, n_levels, n_out) / n_levels
    return members.astype(float), non_members.astype(float)


@pytest.mark.parametrize("trial", range(300))
def test_fit_thresholds_reference_mode_equals_quadratic_scan(trial, rng):
    rng = np.random.default_rng(trial)
    n_in, n_out = rng.integers(1, 25, size=2)
    members, non_members = _random_scores(rng, n_in, n_out, rng.integers(2, 9))
    fitted = fit_thresholds(
        members, np.zeros(n_in, int), non_members, np.zeros(n_out, int), 1,
        reference_compatible=True,
    )
    assert fitted.thresholds[0] == quadratic_scan(members, non_members)


@pytest.mark.parametrize("trial", range(150))
def test_fit_thresholds_default_mode_is_an_exact_maximiser(trial):
    rng = np.random.default_rng(10_000 + trial)
    n_in, n_out = rng.integers(1, 25, size=2)
    members, non_members = _random_scores(rng, n_in, n_out, rng.integers(2, 9))
    fitted = fit_thresholds(
        members, np.zeros(n_in, int), non_members, np.zeros(n_out, int), 1
    )
    maximisers, best = exact_maximisers(members, non_members)
    t = fitted.thresholds[0]
    # The midpoint threshold classifies the fitting data exactly like the
    # smallest maximiser does.
    smallest = maximisers[0]
    np.testing.assert_array_equal(members >= t, members >= smallest)
    np.testing.assert_array_equal(non_members >= t, non_members >= smallest)
    assert fitted.fit_accuracies[0] == pytest.approx(float(best), abs=1e-12)


def test_fit_thresholds_per_class_equals_separate_fits(rng):
    n_classes = 7
    c_in = rng.integers(0, n_classes, 400)
    c_out = rng.integers(0, n_classes, 300)
    s_in = np.round(rng.normal(1, 1, 400), 1)
    s_out = np.round(rng.normal(0, 1, 300), 1)
    together = fit_thresholds(
        s_in, c_in, s_out, c_out, n_classes, reference_compatible=True
    )
    for c in range(n_classes):
        alone = quadratic_scan(s_in[c_in == c], s_out[c_out == c])
        assert together.thresholds[c] == alone


def test_fit_thresholds_first_in_list_order_on_exact_tie():
    # 0.5 and 0.9 both reach balanced accuracy 0.75; 0.5 is listed first.
    fitted = fit_thresholds(
        np.array([0.5, 0.9]), np.zeros(2, int),
        np.array([0.1, 0.7]), np.zeros(2, int), 1,
        reference_compatible=True,
    )
    assert fitted.thresholds[0] == 0.5


def test_fit_thresholds_reproduces_float_rounding_choice():
    probes = json.loads((GOLDEN_DIR / "reference_probes.json").read_text()) if (
        GOLDEN_DIR / "reference_probes.json"
    ).exists() else None
    if probes is None:
        pytest.skip("reference probes not available")
    probe = probes["probes"]["song_mittal_thre_setting_float_rounding"]
    members = np.array(probe["inputs"]["members"])
    non_members = np.array(probe["inputs"]["nonmembers"])
    args = (members, np.zeros(len(members), int), non_members,
            np.zeros(len(non_members), int), 1)
    reference = fit_thresholds(*args, reference_compatible=True)
    assert reference.thresholds[0] == probe["reference_threshold"]["value"]
    # In exact arithmetic both candidates tie; the default takes the
    # smaller one and a midpoint below it.
    maximisers, _ = exact_maximisers(members, non_members)
    assert probe["first_in_order_with_exact_arithmetic"] in maximisers
    default = fit_thresholds(*args)
    assert default.thresholds[0] <= min(maximisers)


@pytest.mark.parametrize(
    "n_in, n_out", [(0, 5), (5, 0), (0, 0)], ids=["no-members",
                                                 "no-non-members", "empty"]
)
def test_fit_thresholds_degenerate_class_is_unfitted(n_in, n_out):
    fitted = fit_thresholds(
        np.ones(n_in), np.zeros(n_in, int), np.zeros(n_out),
        np.zeros(n_out, int), 2,
    )
    assert not fitted.fitted.any()
    assert np.isnan(fitted.thresholds).all()


def test_fit_thresholds_all_tied_scores():
    fitted = fit_thresholds(
        np.full(5, 0.3), np.zeros(5, int), np.full(4, 0.3), np.zeros(4, int),
        1,
    )
    assert fitted.thresholds[0] == 0.3
    assert fitted.fit_accuracies[0] == 0.5


def test_fit_thresholds_order_of_records_does_not_matter_by_default(rng):
    s_in, s_out = rng.normal(1, 1, 200), rng.normal(0, 1, 150)
    c_in, c_out = rng.integers(0, 3, 200), rng.integers(0, 3, 150)
    a = fit_thresholds(s_in, c_in, s_out, c_out, 3)
    p, q = rng.permutation(200), rng.permutation(150)
    b = fit_thresholds(s_in[p], c_in[p], s_out[q], c_out[q], 3)
    np.testing.assert_array_equal(a.thresholds, b.thresholds)


def test_apply_thresholds_uses_the_record_class():
    flags = apply_thresholds(
        np.array([0.5, 0.5, 0.2]), np.array([0, 1, 1]), np.array([0.4, 0.6])
    )
    np.testing.assert_array_equal(flags, [True, False, False])


def test_fit_thresholds_rejects_nan_scores():
    with pytest.raises(ValueError, match="finite"):
        fit_thresholds(
            np.array([np.nan]), np.zeros(1, int), np.ones(1),
            np.zeros(1, int), 1,
        )
