"""Evaluation overhead: one callback evaluation against a bare forward pass.

An evaluation cannot cost less than one inference over its records, so the
floor is a bare compiled forward pass over the same members and
non-members, in the same batches. Two floors are timed and the faster one
is used:

* `tf_function`: a `tf.function` calling `model(x, training=False)` per
  batch, outputs fetched to numpy (what any consumer of the outputs pays);
* `predict_on_batch`: Keras' own `model.predict_on_batch` per batch.

One evaluation is `MembershipInferenceCallback.on_epoch_end` with a `logs`
dict, after `set_model` and `on_train_begin` (so tracing is not counted;
it happens once per `fit`). It is timed in three configurations:

* `default`: the callback's defaults (no bootstrap intervals, no log_dir);
* `log_dir`: the defaults plus TensorBoard summaries and `.npz` records;
* `log_dir+bootstrap`: the above plus `n_bootstraps=100`.

The breakdown splits the default evaluation into the forward pass with the
in-graph signals, the attacks with risk scores, and the rest (metrics,
`logs`); and times the TensorBoard writing alone.

Everything is measured side by side in one process, interleaved repeat by
repeat, and reported as medians and ratios to the floor.

Usage:
    python benchmarks/callback_overhead.py [--records 10000] [--repeats 5]
        [--models mlp,cnn] [--configs default,log_dir,log_dir+bootstrap]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import print_table, write_json  # noqa: E402

from keras_mia import run_attacks  # noqa: E402
from keras_mia.callback import MembershipInferenceCallback  # noqa: E402
from keras_mia.demo import build_demo_model  # noqa: E402
from keras_mia.tensorboard import summary as tb_summary  # noqa: E402

N_CLASSES = 10
BATCH_SIZE = 512  # the callback's default `batch_size`

CONFIGS = {
    "default": {},
    "log_dir": {"log_dir": True},
    "log_dir+bootstrap": {"log_dir": True, "n_bootstraps": 100},
}


def build_cnn(side: int = 28, seed: int = 0) -> keras.Model:
    """A small CNN on `side` x `side` x 1 inputs, 10 classes, compiled."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((side, side, 1)),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(N_CLASSES, activation="softmax"),
    ], name="bench_cnn")
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def make_model(kind: str) -> tuple[keras.Model, tuple[int, ...]]:
    """The model and its input shape (without the batch axis)."""
    if kind == "mlp":
        return build_demo_model(64, N_CLASSES), (64,)
    if kind == "cnn":
        return build_cnn(), (28, 28, 1)
    raise ValueError(f"`--models` entries must be mlp or cnn; got {kind!r}.")


def make_records(rng, n: int, shape: tuple[int, ...]):
    x = rng.normal(0.0, 1.0, (n, *shape)).astype(np.float32)
    y = rng.integers(0, N_CLASSES, n).astype(np.int64)
    return x, y


def make_callback(model, members, non_members, log_dir=None, **kwargs):
    """A callback through `on_train_begin`, ready to evaluate."""
    callback = MembershipInferenceCallback(
        members, non_members, max_samples=None, verbose=0, log_dir=log_dir,
        **kwargs,
    )
    callback.set_model(model)
    callback.on_train_begin()
    return callback


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(
    kind: str, n: int, repeats: int, tmp: str, configs: list[str]
) -> dict:
    """Time the floors, the configurations and the breakdown for a model."""
    rng = np.random.default_rng(0)
    model, shape = make_model(kind)
    members = make_records(rng, n, shape)
    non_members = make_records(rng, n, shape)
    all_x = np.concatenate([members[0], non_members[0]])
    batches = [
        tf.convert_to_tensor(all_x[i:i + BATCH_SIZE])
        for i in range(0, len(all_x), BATCH_SIZE)
    ]
    numpy_batches = [b.numpy() for b in batches]

    @tf.function(
        input_signature=[tf.TensorSpec((None, *shape), tf.float32)]
    )
    def bare(x):
        return model(x, training=False)

    def floor_tf_function():
        for b in batches:
            bare(b).numpy()

    def floor_predict_on_batch():
        for b in numpy_batches:
            model.predict_on_batch(b)

    callbacks = {}
    for name in configs:
        config = CONFIGS[name]
        log_dir = os.path.join(tmp, f"{kind}_{name}") if config.get(
            "log_dir"
        ) else None
        callbacks[name] = make_callback(
            model, members, non_members, log_dir=log_dir,
            n_bootstraps=config.get("n_bootstraps", 0),
        )
    default = callbacks["default"]
    writer = make_callback(
        model, members, non_members, log_dir=os.path.join(tmp, f"{kind}_w")
    )
    # Warm-up: first calls build Keras' predict function and caches.
    floor_tf_function()
    floor_predict_on_batch()
    for callback in callbacks.values():
        callback.on_epoch_end(0, {})

    def forward_signals():
        return default._signals("members"), default._signals("non_members")

    signals = forward_signals()

    def attacks():
        return run_attacks(
            signals[0], signals[1], threshold_source=default.threshold_source,
            attacks=default.attacks, target_fprs=tb_summary.TARGET_FPRS,
            n_bootstraps=default.n_bootstraps, seed=default.seed,
        )

    result = attacks()
    writer._last_signals = signals
    times: dict[str, list[float]] = {}
    for r in range(repeats):
        epoch = r + 1
        steps = {
            "floor_tf_function": floor_tf_function,
            "floor_predict_on_batch": floor_predict_on_batch,
            "forward_signals": forward_signals,
            "attacks_risk": attacks,
            "tensorboard_write": lambda e=epoch: writer._write_outputs(
                result, 1000 + e, {}
            ),
        }
        for name, callback in callbacks.items():
            steps[f"eval_{name}"] = (
                lambda c=callback, e=epoch: c.on_epoch_end(e, {})
            )
        for step, fn in steps.items():
            times.setdefault(step, []).append(timed(fn))
    for callback in [*callbacks.values(), writer]:
        callback.on_train_end()
    medians = {k: statistics.median(v) for k, v in times.items()}
    floor_name = min(
        ("floor_tf_function", "floor_predict_on_batch"), key=medians.get
    )
    floor = medians[floor_name]
    default_s = medians["eval_default"]
    return {
        "model": kind,
        "parameters": int(model.count_params()),
        "records_per_set": n,
        "batch_size": BATCH_SIZE,
        "floor": floor_name.removeprefix("floor_"),
        "median_s": medians,
        "ratios": {
            name: medians[f"eval_{name}"] / floor for name in configs
        },
        "breakdown_default": {
            "forward_signals_s": medians["forward_signals"],
            "attacks_risk_s": medians["attacks_risk"],
            "rest_s": default_s - medians["forward_signals"]
            - medians["attacks_risk"],
        },
        "forward_signals_vs_floor": medians["forward_signals"] / floor,
        "tensorboard_write_s": medians["tensorboard_write"],
        "all_s": times,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000,
                        help="members, and as many non-members")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument(
        "--configs", default=",".join(CONFIGS),
        help="comma-separated names from: " + ", ".join(CONFIGS),
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    configs = ["default"] + [
        c for c in args.configs.split(",") if c != "default"
    ]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}; known: {list(CONFIGS)}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.models.split(","):
            row = measure(kind, args.records, args.repeats, tmp, configs)
            rows.append(row)
            print(f"  {kind}: done", flush=True)
    print_table(
        f"Evaluation overhead, {args.records} + {args.records} records "
        f"(median of {args.repeats}; ratio = evaluation / floor)",
        ["model", "params", "floor", "floor s", "default s"]
        + [f"x {c}" for c in configs],
        [[r["model"], r["parameters"], r["floor"],
          r["median_s"][f"floor_{r['floor']}"], r["median_s"]["eval_default"]]
         + [r["ratios"][c] for c in configs] for r in rows],
    )
    print_table(
        "Where the default evaluation's time goes (median seconds)",
        ["model", "forward+signals", "x floor", "attacks+risk", "rest",
         "TensorBoard write"],
        [[r["model"], r["breakdown_default"]["forward_signals_s"],
          r["forward_signals_vs_floor"],
          r["breakdown_default"]["attacks_risk_s"],
          r["breakdown_default"]["rest_s"], r["tensorboard_write_s"]]
         for r in rows],
    )
    payload = {"benchmark": "callback_overhead", "repeats": args.repeats,
               "target_ratio": 1.10, "rows": rows}
    write_json("callback_overhead", payload, args.out)
    return payload


if __name__ == "__main__":
    main()
