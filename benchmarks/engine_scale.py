"""Engine scale: time and peak memory of signals, attacks and risk scores.

For each number of classes and records per set, the four sets of the
paper's protocol (target members/non-members, shadow members/non-members)
are generated, then timed in two stages:

* `signals`: `compute_signals` on all four sets' softmax outputs;
* `attacks`: `run_attacks` with shadow thresholds, all five attacks and
  risk scores, from the signals (no bootstrap intervals).

It prints the median time of each stage, the peak memory, and the cost
factor per doubling of the records.

Usage:
    python benchmarks/engine_scale.py [--sizes 10000,...] [--classes 10,100]
        [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    median_seconds,
    peak_megabytes,
    print_table,
    synthetic_outputs,
    write_json,
)

from keras_mia import compute_signals, run_attacks  # noqa: E402

SETS = {"members": 4.0, "non_members": 2.0, "ref_in": 4.0, "ref_out": 2.0}


def measure(n: int, n_classes: int, repeats: int, seed: int = 0) -> dict:
    """Time both stages for one size; returns a result row."""
    rng = np.random.default_rng(seed)
    outputs = {
        name: synthetic_outputs(rng, n, n_classes, boost)
        for name, boost in SETS.items()
    }

    def signals():
        return {
            name: compute_signals(p, y, from_logits=False)
            for name, (p, y) in outputs.items()
        }

    sig = signals()

    def attacks():
        return run_attacks(
            sig["members"], sig["non_members"],
            reference=(sig["ref_in"], sig["ref_out"]), n_bootstraps=0,
        )

    return {
        "records_per_set": n,
        "n_classes": n_classes,
        "signals_s": median_seconds(signals, repeats),
        "attacks_s": median_seconds(attacks, repeats),
        "signals_peak_mb": peak_megabytes(signals),
        "attacks_peak_mb": peak_megabytes(attacks),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="12500,25000,50000,100000,200000,400000,800000",
        help="records per set, comma-separated (doublings give the factor)",
    )
    parser.add_argument("--classes", default="10,100")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for n_classes in (int(c) for c in args.classes.split(",")):
        previous = None
        for n in sizes:
            row = measure(n, n_classes, args.repeats)
            total = row["signals_s"] + row["attacks_s"]
            if previous is not None and n == 2 * previous["records_per_set"]:
                row["factor_per_doubling"] = total / (
                    previous["signals_s"] + previous["attacks_s"]
                )
            rows.append(row)
            previous = row
            print(
                f"  {n_classes} classes, {n} per set: signals "
                f"{row['signals_s']:.3f}s, attacks {row['attacks_s']:.3f}s",
                flush=True,
            )
    print_table(
        "Engine scale (4 sets of the given size; median seconds)",
        ["classes", "per set", "signals s", "attacks+risk s", "total s",
         "x per doubling", "peak MB"],
        [
            [r["n_classes"], r["records_per_set"], r["signals_s"],
             r["attacks_s"], r["signals_s"] + r["attacks_s"],
             r.get("factor_per_doubling", float("nan")),
             max(r["signals_peak_mb"], r["attacks_peak_mb"])]
            for r in rows
        ],
    )
    payload = {"benchmark": "engine_scale", "repeats": args.repeats,
               "rows": rows}
    write_json("engine_scale", payload, args.out)
    return payload


if __name__ == "__main__":
    main()
