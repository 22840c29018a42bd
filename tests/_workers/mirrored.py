"""Worker: the callback under MirroredStrategy on two logical CPUs.

Run as `python mirrored.py OUT_DIR`; prints one JSON line. The logical
devices must be configured before TensorFlow initialises, hence a fresh
process (see tests/test_distribute.py).
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _CPU, [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402

# float64 weights: the two replicas sum gradients in another order, and
# float32 rounding of that would flip a rank now and then.
keras.config.set_floatx("float64")

from _data import members_and_non_members  # noqa: E402

from keras_mia.callback import MembershipInferenceCallback  # noqa: E402

EPOCHS = 3


def _build():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((16,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(4, activation="softmax"),
    ])
    model.compile(keras.optimizers.SGD(0.05), "sparse_categorical_crossentropy")
    return model


def _fit(strategy, log_dir):
    members, non_members = members_and_non_members()
    with strategy.scope():
        model = _build()
    callback = MembershipInferenceCallback(
        members, non_members, log_dir=log_dir, verbose=0
    )
    weights = {}
    snapshot = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: weights.update(
            {epoch: model.get_weights()}
        )
    )
    model.fit(*members, epochs=EPOCHS, batch_size=40, shuffle=False,
              verbose=0, callbacks=[callback, snapshot])
    return _floats(callback.history), weights


def _replay(weights):
    """The callback on a plain model holding the given weights."""
    members, non_members = members_and_non_members()
    out = {}
    for epoch, values in weights.items():
        model = _build()
        model.set_weights(values)
        callback = MembershipInferenceCallback(members, non_members,
                                               verbose=0)
        callback.set_model(model)
        callback.set_params({"epochs": epoch + 1})
        callback.on_train_begin()
        callback.on_epoch_end(epoch, {})
        out[epoch] = callback.history[epoch]
    return _floats(out)


def _floats(history):
    return {
        str(epoch): {k: v for k, v in metrics.items() if isinstance(v, float)}
        for epoch, metrics in history.items()
    }


def main(out_dir: str) -> None:
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    history, weights = _fit(mirrored, os.path.join(out_dir, "mirrored"))
    single, _ = _fit(tf.distribute.get_strategy(),
                     os.path.join(out_dir, "single"))
    print(json.dumps({
        "replicas": mirrored.num_replicas_in_sync,
        "mirrored": history,
        "single": single,
        "replay": _replay(weights),
    }))


if __name__ == "__main__":
    main(sys.argv[1])
