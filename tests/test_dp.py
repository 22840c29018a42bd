"""Tests of keras_mia.dp: theoretical epsilon and empirical lower bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from keras_mia import dp

dp_accounting = pytest.importorskip("dp_accounting")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def _accounting_directly(sigma, batch_size, n, epochs, delta, accountant):
    """dp-accounting without keras-mia: compose with a count, not an event."""
    steps = math.ceil(epochs * n / batch_size)
    ledger = (
        dp_accounting.rdp.RdpAccountant() if accountant == "rdp"
        else dp_accounting.pld.PLDAccountant()
    )
    step = dp_accounting.PoissonSampledDpEvent(
        batch_size / n, dp_accounting.GaussianDpEvent(sigma)
    )
    ledger.compose(step, steps)
    return ledger.get_epsilon(delta)


@pytest.mark.parametrize(
    "sigma, batch_size, n, epochs, delta, accountant",
    [
        (1.1, 256, 60000, 60, 1e-5, "rdp"),
        (1.0, 64, 5000, 3, 1e-5, "rdp"),
        (0.8, 32, 1000, 2.5, 1e-4, "rdp"),
        (1.0, 64, 5000, 3, 1e-5, "pld"),
    ],
    ids=["mnist-like-rdp", "small-rdp", "fractional-epochs-rdp", "small-pld"],
)
def test_theoretical_epsilon_matches_dp_accounting(
    sigma, batch_size, n, epochs, delta, accountant
):
    expected = _accounting_directly(sigma, batch_size, n, epochs, delta,
                                    accountant)
    got = dp.theoretical_epsilon(
        sigma, batch_size, n, epochs, delta, accountant=accountant
    )
    # Same library, different composition path: agreement to rounding.
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_theoretical_epsilon_pld_is_tighter_than_rdp():
    args = (1.1, 256, 60000, 60, 1e-5)
    rdp = dp.theoretical_epsilon(*args, accountant="rdp")
    pld = dp.theoretical_epsilon(*args, accountant="pld")
    assert 0 < pld < rdp


def test_theoretical_epsilon_grows_with_epochs_and_shrinks_with_noise():
    base = dp.theoretical_epsilon(1.0, 64, 5000, 3, 1e-5)
    assert dp.theoretical_epsilon(1.0, 64, 5000, 6, 1e-5) > base
    assert dp.theoretical_epsilon(2.0, 64, 5000, 3, 1e-5) < base


def test_theoretical_epsilon_without_noise_is_infinite():
    assert math.isinf(dp.theoretical_epsilon(0.0, 64, 5000, 3, 1e-5))


def test_dp_sgd_steps_uses_ceiling_of_epochs_times_batches():
    assert dp.dp_sgd_steps(60000, 256, 60) == 14063
    assert dp.dp_sgd_steps(100, 10, 1) == 10


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(noise_multiplier=-1.0), "noise_multiplier"),
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=6000), "batch_size"),
        (dict(n_train=0), "n_train"),
        (dict(epochs=0), "epochs"),
        (dict(delta=0.0), "delta"),
        (dict(delta=1.0), "delta"),
        (dict(accountant="moments"), "accountant"),
    ],
    ids=["negative-noise", "zero-batch", "batch-above-n", "no-data",
         "no-epochs", "zero-delta", "delta-one", "unknown-accountant"],
)
def test_theoretical_epsilon_rejects_bad_arguments(kwargs, match):
    args = dict(noise_multiplier=1.0, batch_size=64, n_train=5000, epochs=3,
                delta=1e-5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        dp.theoretical_epsilon(**args)


def test_dp_sgd_config_uses_member_count_when_n_train_missing():
    config = dp.DpSgdConfig(1.0, 64, 3, 1e-5)
    np.testing.assert_allclose(
        config.epsilon(n_train=5000),
        dp.theoretical_epsilon(1.0, 64, 5000, 3, 1e-5), rtol=1e-12,
    )
    with pytest.raises(ValueError, match="n_train"):
        config.epsilon()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(accountant="moments"),
         r"`accountant` must be one of \['rdp', 'pld'\]; received "
         r"accountant='moments'"),
        (dict(delta=0.0), r"`delta` must be in \(0, 1\); received delta=0.0"),
        (dict(delta=1.5), r"`delta` must be in \(0, 1\); received delta=1.5"),
        (dict(noise_multiplier=-0.5),
         r"`noise_multiplier` must be a finite number >= 0; received "
         r"noise_multiplier=-0.5"),
        (dict(noise_multiplier=float("nan")), r"noise_multiplier=nan"),
        (dict(batch_size=0),
         r"`batch_size` must be an int in \[1, n_train\]; received "
         r"batch_size=0"),
        (dict(batch_size=32.0), r"received batch_size=32.0"),
        (dict(epochs=0), r"`epochs` must be a finite number > 0; received "
         r"epochs=0"),
        (dict(epochs=-2.0), r"received epochs=-2.0"),
        (dict(n_train=0), r"`n_train` must be an int >= 1; received n_train=0"),
        (dict(n_train=16),
         r"`batch_size` must be an int in \[1, n_train=16\]; received "
         r"batch_size=32"),
    ],
    ids=["unknown-accountant", "zero-delta", "delta-above-one",
         "negative-noise", "nan-noise", "zero-batch", "float-batch",
         "zero-epochs", "negative-epochs", "zero-n-train",
         "n-train-below-batch"],
)
def test_dp_sgd_config_rejects_bad_settings_when_made(kwargs, match):
    args = dict(noise_multiplier=1.0, batch_size=32, epochs=3, delta=1e-5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        dp.DpSgdConfig(**args)


def test_dp_sgd_config_without_noise_is_valid_and_infinite():
    config = dp.DpSgdConfig(0.0, 32, 3, 1e-5, n_train=1000, accountant="pld")
    assert config.epsilon() == float("inf")


@pytest.mark.parametrize(
    "k, n", [(0, 10), (3, 10), (10, 10), (1, 1), (517, 1000)],
    ids=["none", "some", "all", "single", "large"],
)
def test_clopper_pearson_matches_scipy_exact_interval(k, n):
    alpha = 0.025
    ci = stats.binomtest(k, n).proportion_ci(1 - 2 * alpha, method="exact")
    low, high = dp.clopper_pearson(k, n, alpha)
    np.testing.assert_allclose([low, high], [ci.low, ci.high], rtol=1e-9,
                               atol=1e-15)


def _randomised_response(eps, n, rng):
    """Counts of a membership test that is exactly eps-DP."""
    p = math.exp(eps) / (1 + math.exp(eps))
    return rng.binomial(n, p), rng.binomial(n, 1 - p)


@pytest.mark.parametrize("eps", [0.5, 1.0, 2.0], ids=["eps0.5", "eps1", "eps2"])
def test_epsilon_lower_bound_holds_at_stated_confidence(eps, rng):
    n, n_trials, level = 500, 400, 0.95
    violations = 0
    for _ in range(n_trials):
        tp, fp = _randomised_response(eps, n, rng)
        bound = dp.epsilon_lower_bound(tp, n, fp, n, confidence_level=level)
        violations += bound.epsilon > eps
    # If the bound were valid only at a lower level, violations would
    # exceed this 99.9% quantile of Binomial(400, 0.05).
    assert violations <= stats.binom.ppf(0.999, n_trials, 1 - level)


@pytest.mark.parametrize("eps", [0.5, 1.0, 2.0], ids=["eps0.5", "eps1", "eps2"])
def test_epsilon_lower_bound_approaches_true_epsilon(eps):
    p = math.exp(eps) / (1 + math.exp(eps))
    bounds = []
    for n in (100, 1_000, 10_000, 1_000_000):
        tp, fp = round(p * n), round((1 - p) * n)
        bounds.append(dp.epsilon_lower_bound(tp, n, fp, n).epsilon)
    assert np.all(np.diff(bounds) > 0)
    assert bounds[-1] < eps
    np.testing.assert_allclose(bounds[-1], eps, atol=0.02)


def test_epsilon_lower_bound_matches_hand_computation():
    tp, n_in, fp, n_out, alpha = 80, 100, 10, 100, 0.05 / 2
    tpr_low = stats.beta.ppf(alpha, tp, n_in - tp + 1)
    fpr_high = stats.beta.ppf(1 - alpha, fp + 1, n_out - fp)
    expected = max(
        math.log(tpr_low / fpr_high), math.log((1 - fpr_high) / (1 - tpr_low))
    )
    got = dp.epsilon_lower_bound(tp, n_in, fp, n_out, confidence_level=0.95)
    np.testing.assert_allclose(got.epsilon, expected, rtol=1e-12)
    np.testing.assert_allclose(got.true_positive_rate_low, tpr_low, rtol=1e-12)


def test_epsilon_lower_bound_uses_symmetric_form():
    # Calls everyone but a few non-members "member": only the
    # (1 - FPR) / (1 - TPR) form proves anything.
    got = dp.epsilon_lower_bound(1000, 1000, 700, 1000)
    assert got.epsilon > 1.0
    forward = math.log(
        got.true_positive_rate_low / got.false_positive_rate_high
    )
    assert forward < 0.5


def test_epsilon_lower_bound_shrinks_with_delta_and_comparisons():
    base = dp.epsilon_lower_bound(300, 400, 40, 400).epsilon
    with_delta = dp.epsilon_lower_bound(300, 400, 40, 400, delta=0.05).epsilon
    corrected = dp.epsilon_lower_bound(
        300, 400, 40, 400, n_comparisons=10
    ).epsilon
    assert with_delta < base
    assert corrected < base


def test_epsilon_lower_bound_is_zero_for_a_useless_attack():
    assert dp.epsilon_lower_bound(50, 100, 50, 100).epsilon == 0.0


@pytest.mark.parametrize(
    "args, match",
    [
        ((101, 100, 0, 100), "n_true_positives"),
        ((0, 100, -1, 100), "n_false_positives"),
        ((0, 0, 0, 100), "n_true_positives"),
    ],
    ids=["too-many-tp", "negative-fp", "no-members"],
)
def test_epsilon_lower_bound_rejects_bad_counts(args, match):
    with pytest.raises(ValueError, match=match):
        dp.epsilon_lower_bound(*args)


def test_best_epsilon_threshold_separates_clean_scores():
    members = np.array([5.0, 6.0, 7.0, 8.0] * 50)
    non_members = np.array([0.0, 1.0, 2.0, 3.0] * 50)
    threshold = dp.best_epsilon_threshold(members, non_members)
    assert 3.0 < threshold <= 5.0


def test_best_epsilon_threshold_is_inf_without_signal(rng):
    scores = rng.normal(size=50)
    assert math.isinf(dp.best_epsilon_threshold(scores, scores))
