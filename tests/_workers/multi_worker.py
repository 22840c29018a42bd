"""Worker: one task of a two-worker MultiWorkerMirroredStrategy fit.

Run with `TF_CONFIG` (the cluster and this task) and
`TF_USE_LEGACY_KERAS=1` as `python multi_worker.py LOG_DIR BUDGET`;
prints one JSON line. Keras 3's `fit` cannot run this strategy
(keras-team/keras#20585), so the model is a `tf_keras` one. Started by
tests/test_distribute.py, which kills both workers if either overruns.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

STRATEGY = tf.distribute.MultiWorkerMirroredStrategy()

import tf_keras  # noqa: E402
from _data import members_and_non_members  # noqa: E402

from keras_mia.callback import MembershipInferenceCallback  # noqa: E402
from keras_mia.gate import PrivacyEarlyStopping  # noqa: E402

EPOCHS = 8


def main(log_dir: str, budget: float) -> None:
    members, non_members = members_and_non_members()
    tf_keras.utils.set_random_seed(0)
    with STRATEGY.scope():
        model = tf_keras.Sequential([
            tf_keras.layers.Dense(128, activation="relu", input_shape=(16,)),
            tf_keras.layers.Dense(4, activation="softmax"),
        ])
        model.compile(tf_keras.optimizers.Adam(1e-2),
                      "sparse_categorical_crossentropy")
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    train = tf.data.Dataset.from_tensor_slices(members).batch(20)
    callback = MembershipInferenceCallback(
        members, non_members, log_dir=log_dir, verbose=0
    )
    gate = PrivacyEarlyStopping(
        "mia_advantage", budget=budget, utility_monitor=None, verbose=0
    )
    history = model.fit(train.with_options(options), epochs=EPOCHS,
                        verbose=0, callbacks=[callback, gate])
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    print(json.dumps({
        "task": f"{task['type']}:{task['index']}",
        "pid": os.getpid(),
        "flavour": type(callback).keras_flavour,
        "epochs_run": len(history.history["loss"]),
        "evaluated": sorted(callback.history),
        "advantages": [callback.history[e]["mia_advantage"]
                       for e in sorted(callback.history)],
        "stopped_epoch": gate.stopped_epoch,
        "best_epoch": gate.best_epoch,
        "restored_epoch": gate.restored_epoch,
        "weights_sum": float(sum(np.sum(w) for w in model.get_weights())),
    }))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
