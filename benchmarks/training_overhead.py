"""Training overhead: the demo's `fit` with the callback against without.

The demo's training (`keras_mia.demo`: digits, 250 members and 250
non-members, the dense model, batch 16, 15 epochs, validation on the
non-members) is run without any callback and with
:class:`~keras_mia.MembershipInferenceCallback` in several settings,
interleaved repeat by repeat in one process. Each `fit` starts from a
freshly built model with the same seed; the timed span is the callback's
construction and `fit` (which includes its `on_train_begin`: reading the
records and tracing the inference function).

Settings: `default` (every epoch, all attacks, no log_dir, as the demo),
then fewer evaluations (`every_n_epochs`; the first and last epoch are
always evaluated) and fewer attacks, to show what it takes to reach the
target ratio of 1.10.

Keras compiles the demo model's training step with XLA (`jit_compile=
"auto"`), a fixed cost of each `fit` that both sides pay. The steady
state is reported too: the median epoch after the first, with and
without the callback, from epoch-end timestamps taken by a callback that
runs last (so an evaluating epoch includes its evaluation).

Usage:
    python benchmarks/training_overhead.py [--epochs 15] [--repeats 5]
        [--settings default,...] [--no-warmup]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_table, write_json  # noqa: E402

from keras_mia.callback import MembershipInferenceCallback  # noqa: E402
from keras_mia.demo import build_demo_model, load_demo_data  # noqa: E402

#: Callback settings by name; None is the fit without the callback.
SETTINGS = {
    "none": None,
    "default": {},
    "every_n_epochs=5": {"every_n_epochs": 5},
    "attacks=loss+every_n_epochs=5": {
        "attacks": ("loss",), "every_n_epochs": 5,
    },
}
BATCH_SIZE = 16  # the demo's


class EpochClock(keras.callbacks.Callback):
    """Takes a timestamp at each epoch end; runs after the other callbacks."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.stamps.append(time.perf_counter())

    def steady_epoch_seconds(self) -> float:
        """Median epoch duration after the first (compiling) one."""
        gaps = list(np.diff(self.stamps))
        return statistics.median(gaps) if gaps else float("nan")


def evaluations(epochs: int, every_n_epochs: int) -> int:
    """Evaluations in one fit: first, last and every n-th epoch."""
    return len({0, epochs - 1} | set(range(0, epochs, every_n_epochs)))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--settings", default=",".join(SETTINGS),
        help="comma-separated names from: " + ", ".join(SETTINGS),
    )
    parser.add_argument("--no-warmup", action="store_true",
                        help="skip the two warm-up fits (quick checks)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    names = ["none"] + [n for n in args.settings.split(",") if n != "none"]
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        parser.error(f"unknown settings {unknown}; known: {list(SETTINGS)}")
    settings_run = {n: SETTINGS[n] for n in names}
    data = load_demo_data("digits", seed=0)
    members = (data.x_members, data.y_members, data.ids_members)
    non_members = (data.x_non_members, data.y_non_members,
                   data.ids_non_members)

    def fit(settings: dict | None) -> tuple[float, float]:
        model = build_demo_model(data.x_members.shape[1], data.n_classes)
        start = time.perf_counter()
        clock = EpochClock()
        callbacks = []
        if settings is not None:
            callbacks.append(MembershipInferenceCallback(
                members, non_members, seed=0, verbose=0, **settings
            ))
        callbacks.append(clock)
        model.fit(
            data.x_members, data.y_members,
            validation_data=(data.x_non_members, data.y_non_members),
            epochs=args.epochs, batch_size=BATCH_SIZE, shuffle=True,
            callbacks=callbacks, verbose=0,
        )
        return time.perf_counter() - start, clock.steady_epoch_seconds()

    if not args.no_warmup:
        fit(None)  # warm-up: first-use costs of TensorFlow and Keras
        fit({})
    times: dict[str, list[float]] = {name: [] for name in settings_run}
    epoch_times: dict[str, list[float]] = {name: [] for name in settings_run}
    for _ in range(args.repeats):
        for name, settings in settings_run.items():
            fit_s, epoch_s = fit(settings)
            times[name].append(fit_s)
            epoch_times[name].append(epoch_s)
    medians = {k: statistics.median(v) for k, v in times.items()}
    epoch_medians = {k: statistics.median(v) for k, v in epoch_times.items()}
    base = medians["none"]
    rows = []
    for name, settings in settings_run.items():
        if settings is None:
            continue
        n_eval = evaluations(args.epochs, settings.get("every_n_epochs", 1))
        rows.append({
            "settings": name,
            "callback_args": {k: list(v) if isinstance(v, tuple) else v
                              for k, v in settings.items()},
            "evaluations": n_eval,
            "fit_s": medians[name],
            "ratio": medians[name] / base,
            "seconds_per_evaluation": (medians[name] - base) / n_eval,
            "steady_epoch_s": epoch_medians[name],
            "steady_epoch_ratio": epoch_medians[name] / epoch_medians["none"],
        })
    print_table(
        f"Demo fit ({args.epochs} epochs, {len(data.y_members)} + "
        f"{len(data.y_non_members)} records), median of {args.repeats}; "
        f"without the callback {base:.3g} s",
        ["settings", "evaluations", "fit s", "ratio", "s per evaluation",
         "epoch s", "epoch ratio"],
        [[r["settings"], r["evaluations"], r["fit_s"], r["ratio"],
          r["seconds_per_evaluation"], r["steady_epoch_s"],
          r["steady_epoch_ratio"]] for r in rows],
    )
    print(f"(steady epoch = median epoch after the first; without the "
          f"callback {epoch_medians['none']:.3g} s)")
    payload = {
        "benchmark": "training_overhead", "epochs": args.epochs,
        "repeats": args.repeats, "fit_without_callback_s": base,
        "target_ratio": 1.10, "rows": rows, "all_s": times,
        "all_steady_epoch_s": epoch_times,
    }
    write_json("training_overhead", payload, args.out)
    return payload


if __name__ == "__main__":
    main()
