"""DP budgets in the callback: theoretical epsilon beside measured leakage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import dense_classifier
from test_summary import read_run

import keras_mia
from keras_mia import dp

pytestmark = pytest.mark.slow

keras = pytest.importorskip("keras")
dp_accounting = pytest.importorskip("dp_accounting")

from keras_mia.callback import MembershipInferenceCallback  # noqa: E402

CONFIG = keras_mia.DpSgdConfig(
    noise_multiplier=1.1, batch_size=20, epochs=3, delta=1e-5
)


def _accountant_epsilon(n_train: int, epochs: int) -> float:
    """The DP-SGD guarantee computed with dp-accounting directly."""
    steps = math.ceil(epochs * n_train / CONFIG.batch_size)
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(
            CONFIG.batch_size / n_train,
            dp_accounting.GaussianDpEvent(CONFIG.noise_multiplier),
        ),
        steps,
    )
    accountant = dp_accounting.rdp.RdpAccountant()
    accountant.compose(event)
    return accountant.get_epsilon(CONFIG.delta)


def test_callback_logs_dp_budget_beside_leakage(blobs, tmp_path):
    (x_in, y_in), (x_out, y_out) = blobs["members"], blobs["non_members"]
    model = dense_classifier(keras, 16, 4, width=64)
    log_dir = str(tmp_path / "logs")
    callback = MembershipInferenceCallback(
        (x_in, y_in), (x_out, y_out), log_dir=log_dir, verbose=0, dp=CONFIG
    )
    history = model.fit(
        x_in, y_in, epochs=3, batch_size=20, verbose=0, callbacks=[callback]
    )
    theoretical = history.history["mia_dp_epsilon"]
    empirical = history.history["mia_empirical_epsilon"]
    for epoch in range(3):
        np.testing.assert_allclose(
            theoretical[epoch], _accountant_epsilon(len(x_in), epoch + 1),
            rtol=1e-9,
        )
        result = callback.results[epoch]
        bounds = [
            dp.epsilon_lower_bound(
                a.n_true_positives, a.n_members, a.n_false_positives,
                a.n_non_members, delta=CONFIG.delta, n_comparisons=5,
            ).epsilon
            for a in result.attacks.values()
        ]
        assert empirical[epoch] == max(bounds)
    # The guarantee only weakens as training goes on.
    assert theoretical[0] < theoretical[1] < theoretical[2]
    tags = read_run(f"{log_dir}/privacy")
    for tag in ("mia/dp/theoretical_epsilon",
                "mia/dp/empirical_epsilon_lower_bound"):
        assert sorted(step for step, _, _ in tags[tag]) == [0, 1, 2]


@pytest.mark.parametrize(
    "kwargs, match",
    [({"dp": {"noise_multiplier": 1.0}}, "DpSgdConfig"),
     ({"dp": CONFIG, "threshold_source": "optimistic"}, "optimistic")],
    ids=["not-a-config", "optimistic-thresholds"],
)
def test_callback_rejects_bad_dp_options(blobs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        MembershipInferenceCallback(
            blobs["members"], blobs["non_members"], **kwargs
        )


def test_callback_rejects_dp_batch_larger_than_training_set(blobs):
    model = dense_classifier(keras, 16, 4, width=16)
    big = keras_mia.DpSgdConfig(
        noise_multiplier=1.0, batch_size=500, epochs=1, delta=1e-5
    )
    callback = MembershipInferenceCallback(
        blobs["members"], blobs["non_members"], verbose=0, dp=big
    )
    callback.set_model(model)
    with pytest.raises(ValueError, match=r"`dp.batch_size` \(500\)"):
        callback.on_train_begin()
