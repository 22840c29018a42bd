"""Memory over a long run: process RSS across many evaluations of a CNN.

A small CNN trains for `--evaluations` epochs of a few steps each with
:class:`~keras_mia.MembershipInferenceCallback` evaluating every epoch on
`--records` members and as many non-members (20 000 evaluation records by
default). A second callback, placed after it, records the resident set
size of the process (`VmRSS` from /proc/self/status, after a garbage
collection) and the number of times the callback's inference
`tf.function` has been traced.

Targets: RSS after the last evaluation within 10 % of RSS after
evaluation 5 (allocators and TensorFlow's caches settle in the first
few), and exactly one trace of the inference function for the whole run.

Usage:
    python benchmarks/long_run_memory.py [--records 10000]
        [--evaluations 30] [--side 16]
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras  # noqa: E402
from callback_overhead import N_CLASSES, build_cnn  # noqa: E402
from common import print_table, write_json  # noqa: E402

from keras_mia.callback import MembershipInferenceCallback  # noqa: E402

#: The evaluation RSS is compared against (1-based).
CHECK_AT = 5
TRAIN_RECORDS = 512
TRAIN_BATCH = 128


def rss_megabytes() -> float:
    """Current resident set size of this process, in MB.

    Reads /proc/self/status; where that is missing (not Linux), falls
    back to the peak RSS from `getrusage`, which can only grow.
    """
    gc.collect()
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 1024)


class Recorder(keras.callbacks.Callback):
    """Records RSS and the inference function's traces after each epoch."""

    def __init__(self, watched: MembershipInferenceCallback) -> None:
        super().__init__()
        self.watched = watched
        self.rss_mb: list[float] = []
        self.traces: list[int] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.rss_mb.append(rss_megabytes())
        self.traces.append(
            self.watched._signal_fn.experimental_get_tracing_count()
        )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000,
                        help="members, and as many non-members")
    parser.add_argument("--evaluations", type=int, default=30)
    parser.add_argument("--side", type=int, default=16,
                        help="input images are side x side x 1")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.evaluations < CHECK_AT:
        parser.error(f"--evaluations must be at least {CHECK_AT}")

    rng = np.random.default_rng(0)
    shape = (args.side, args.side, 1)

    def records(n):
        x = rng.normal(0.0, 1.0, (n, *shape)).astype(np.float32)
        return x, rng.integers(0, N_CLASSES, n).astype(np.int64)

    members, non_members = records(args.records), records(args.records)
    model = build_cnn(args.side)
    callback = MembershipInferenceCallback(
        members, non_members, max_samples=None, verbose=0
    )
    recorder = Recorder(callback)
    rss_start = rss_megabytes()
    # Training on a slice of the members keeps each epoch short; the
    # weights still change between evaluations, as in a real run.
    model.fit(
        members[0][:TRAIN_RECORDS], members[1][:TRAIN_RECORDS],
        batch_size=TRAIN_BATCH, epochs=args.evaluations,
        callbacks=[callback, recorder], verbose=0,
    )
    evaluated = len(callback.history)
    rss_check = recorder.rss_mb[CHECK_AT - 1]
    rss_last = recorder.rss_mb[-1]
    result = {
        "benchmark": "long_run_memory",
        "evaluation_records": 2 * args.records,
        "input_shape": list(shape),
        "evaluations": evaluated,
        "rss_start_mb": rss_start,
        "rss_mb": recorder.rss_mb,
        f"rss_after_evaluation_{CHECK_AT}_mb": rss_check,
        "rss_after_last_evaluation_mb": rss_last,
        "rss_growth_ratio": rss_last / rss_check,
        "traces": recorder.traces[-1],
        "targets": {"rss_growth_ratio": 1.10, "traces": 1},
    }
    print_table(
        f"Memory over {evaluated} evaluations of a CNN, "
        f"{2 * args.records} evaluation records",
        ["RSS start MB", f"RSS eval {CHECK_AT} MB",
         f"RSS eval {evaluated} MB", "growth", "traces"],
        [[rss_start, rss_check, rss_last, result["rss_growth_ratio"],
          result["traces"]]],
    )
    write_json("long_run_memory", result, args.out)
    return result


if __name__ == "__main__":
    main()
