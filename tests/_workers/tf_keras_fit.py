"""Worker: the public callbacks in a Keras 2 (`tf_keras`) `fit`.

Run with `TF_USE_LEGACY_KERAS=1` as `python tf_keras_fit.py LOG_DIR`;
prints one JSON line. Started by tests/test_tf_keras.py.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
from _data import members_and_non_members  # noqa: E402

from keras_mia import compute_signals, run_attacks  # noqa: E402
from keras_mia.callback import MembershipInferenceCallback  # noqa: E402
from keras_mia.gate import PrivacyEarlyStopping  # noqa: E402
from keras_mia.tensorboard import summary  # noqa: E402


def _model():
    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([
        tf_keras.layers.Dense(64, activation="relu", input_shape=(16,)),
        tf_keras.layers.Dense(4, activation="softmax"),
    ])
    model.compile(tf_keras.optimizers.Adam(1e-2),
                  "sparse_categorical_crossentropy")
    return model


def _numpy_metrics(model, members, non_members):
    """The engine on the model's own outputs, as the callback runs it."""
    signals = [
        compute_signals(model(x, training=False).numpy(), y,
                        from_logits=False)
        for x, y in (members, non_members)
    ]
    result = run_attacks(*signals, target_fprs=summary.TARGET_FPRS,
                         n_bootstraps=0, seed=0)
    out = {f"mia_{k}": v for k, (v, _) in
           summary.headline_metrics(result).items()}
    for name, attack in result.attacks.items():
        out.update({f"mia_{name}_{k}": v for k, v in
                    summary.attack_metrics(attack).items()})
    out["mia_risk_mean_member"] = float(np.mean(result.member_risk_scores))
    return out


def main(log_dir: str) -> None:
    members, non_members = members_and_non_members()
    out = {"tf_keras_is_tf_keras": tf.keras.__name__.startswith("tf_keras")}

    # 1. Created while TF_USE_LEGACY_KERAS=1: the Keras 2 class at once.
    model = _model()
    callback = MembershipInferenceCallback(
        members, non_members, log_dir=log_dir, verbose=0
    )
    out["flavour_at_creation"] = callback.keras_flavour
    history = model.fit(*members, epochs=3, batch_size=20, verbose=0,
                        callbacks=[callback])
    out["history_keys"] = sorted(k for k in history.history
                                 if k.startswith("mia_"))
    out["callback"] = {k: v for k, v in callback.history[2].items()
                       if isinstance(v, float)}
    out["numpy"] = _numpy_metrics(model, members, non_members)

    # 2. Created as a Keras 3 object: it takes the model's flavour.
    os.environ.pop("TF_USE_LEGACY_KERAS")
    late = MembershipInferenceCallback(members, non_members, verbose=0)
    out["late_flavour_before_fit"] = late.keras_flavour
    # A Keras 2 CSVLogger before it does not see its keys: warned.
    csv_logger = tf_keras.callbacks.CSVLogger(os.path.join(log_dir, "l.csv"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _model().fit(*members, epochs=1, verbose=0,
                     callbacks=[csv_logger, late])
    out["late_warnings"] = [
        f"{w.category.__name__}: {w.message}" for w in caught
    ]
    out["late_flavour_after_fit"] = late.keras_flavour
    out["late_evaluated"] = sorted(late.history)

    # 3. The gate in Keras 2: any leakage is over a zero budget.
    gated = MembershipInferenceCallback(members, non_members, verbose=0)
    gate = PrivacyEarlyStopping("mia_advantage", budget=0.0,
                                utility_monitor=None, verbose=0)
    gate_history = _model().fit(*members, epochs=4, verbose=0,
                                callbacks=[gated, gate])
    out["gate_epochs_run"] = len(gate_history.history["loss"])
    out["gate_stopped_epoch"] = gate.stopped_epoch
    out["gate_flavour"] = gate.keras_flavour

    # 4. Why the flavours are needed: a Keras 3 callback fails here.
    import keras

    class Plain(keras.callbacks.Callback):
        pass

    try:
        _model().fit(*members, epochs=1, verbose=0, callbacks=[Plain()])
        out["keras3_callback_error"] = None
    except AttributeError as err:
        out["keras3_callback_error"] = str(err)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
