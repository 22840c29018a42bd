"""Keras 2 (`tf_keras`): the same public callbacks in a tf_keras `fit`.

`TF_USE_LEGACY_KERAS=1` must be set before TensorFlow is imported, so the
fit runs in a fresh process (`tests/_workers/tf_keras_fit.py`). The
flavour helpers are tested here in-process, without importing tf_keras.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_mia import _flavour

WORKERS = os.path.join(os.path.dirname(__file__), "_workers")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Install it without a second TensorFlow:
# pip install --no-deps tf-keras==<TensorFlow's version>
NEEDS_TF_KERAS = pytest.mark.skipif(
    importlib.util.find_spec("tf_keras") is None,
    reason="tf_keras is not installed",
)


@pytest.mark.parametrize(
    "value, expected",
    [(None, "keras"), ("0", "keras"), ("", "keras"), ("1", "tf_keras"),
     ("True", "tf_keras"), ("yes", "tf_keras")],
    ids=["unset", "zero", "empty", "one", "true", "yes"],
)
def test_tf_keras_requested_flavour_follows_environment(
    value, expected, monkeypatch
):
    if value is None:
        monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    else:
        monkeypatch.setenv("TF_USE_LEGACY_KERAS", value)
    assert _flavour.requested_flavour() == expected


@pytest.mark.slow
def test_tf_keras_keras3_objects_stay_keras3(monkeypatch):
    keras = pytest.importorskip("keras")
    from keras_mia.callback import MembershipInferenceCallback

    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    x = np.zeros((4, 3), np.float32)
    callback = MembershipInferenceCallback((x, [0, 1, 0, 1]),
                                           (x, [0, 1, 0, 1]))
    assert type(callback) is MembershipInferenceCallback
    assert callback.keras_flavour == "keras"
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert _flavour.model_flavour(model) == "keras"
    assert _flavour.model_flavour(None) is None
    callback.set_model(model)
    assert type(callback) is MembershipInferenceCallback
    assert "tf_keras" not in sys.modules


@NEEDS_TF_KERAS
@pytest.mark.slow
def test_tf_keras_fit_matches_numpy_engine(tmp_path):
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1",
               TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join(
        [ROOT] + [p for p in [env.get("PYTHONPATH")] if p]
    )
    done = subprocess.run(
        [sys.executable, os.path.join(WORKERS, "tf_keras_fit.py"),
         str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=240, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])

    assert got["tf_keras_is_tf_keras"]
    assert got["flavour_at_creation"] == "tf_keras"
    from keras_mia.callback import log_keys

    assert got["history_keys"] == sorted(log_keys())
    assert set(got["callback"]) == set(log_keys())
    for key, value in got["callback"].items():
        # Graph signals vs numpy agree to ~1e-15; ranks and so AUCs match.
        np.testing.assert_allclose(value, got["numpy"][key], rtol=1e-9,
                                   atol=1e-12, err_msg=key)
    # A Keras 3 object becomes a Keras 2 one when tf_keras hands it a model.
    assert got["late_flavour_before_fit"] == "keras"
    assert got["late_flavour_after_fit"] == "tf_keras"
    assert got["late_evaluated"] == [0]
    assert any(w.startswith("CallbackOrderWarning: CSVLogger comes before")
               for w in got["late_warnings"]), got["late_warnings"]
    # The gate works in tf_keras: it stops after the first epoch.
    assert got["gate_flavour"] == "tf_keras"
    assert (got["gate_epochs_run"], got["gate_stopped_epoch"]) == (1, 0)
    # The reason for the flavours: a Keras 3 callback fails in tf_keras.
    assert "_implements_train_batch_hooks" in got["keras3_callback_error"]
    assert sorted(os.listdir(tmp_path / "privacy" / "records")) == [
        f"epoch_{e:04d}.npz" for e in range(3)
    ]
