"""The engine's threshold search against the paper's quadratic scan.

The paper's code tries every candidate value and recounts both sets for
each, O(n^2) per class. keras-mia sorts once per class. This script
reimplements the quadratic scan as an oracle, checks that both choose the
same thresholds (reference-compatible mode), and prints the speed ratio.

Usage:
    python benchmarks/threshold_search.py [--sizes 20000,50000]
        [--classes 10] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import median_seconds, print_table, write_json  # noqa: E402

from keras_mia.thresholds import fit_thresholds  # noqa: E402


def quadratic_scan(members: np.ndarray, non_members: np.ndarray) -> float:
    """The paper's per-class search: every candidate, counted afresh."""
    best_threshold, best_accuracy = 0.0, 0.0
    n_in, n_out = len(members) + 0.0, len(non_members) + 0.0
    for t in np.concatenate([members, non_members]):
        accuracy = 0.5 * (
            np.sum(members >= t) / n_in + np.sum(non_members < t) / n_out
        )
        if accuracy > best_accuracy:
            best_threshold, best_accuracy = t, accuracy
    return best_threshold


def measure(n: int, n_classes: int, repeats: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    c_in, c_out = rng.integers(0, n_classes, (2, n))
    # Scores rounded to 4 decimals, so ties occur as in real outputs.
    s_in = np.round(rng.beta(5, 1, n), 4)
    s_out = np.round(rng.beta(3, 1, n), 4)

    def fast():
        return fit_thresholds(
            s_in, c_in, s_out, c_out, n_classes, reference_compatible=True
        ).thresholds

    def quadratic():
        return np.array([
            quadratic_scan(s_in[c_in == c], s_out[c_out == c])
            for c in range(n_classes)
        ])

    same = bool(np.array_equal(fast(), quadratic()))
    fast_s = median_seconds(fast, repeats)
    # The oracle is slow; fewer repeats keep the script short.
    quadratic_s = median_seconds(quadratic, max(1, min(repeats, 3)))
    return {
        "records_per_set": n, "n_classes": n_classes, "fast_s": fast_s,
        "quadratic_s": quadratic_s, "speedup": quadratic_s / fast_s,
        "same_thresholds": same,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,50000")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = [
        measure(int(n), args.classes, args.repeats)
        for n in args.sizes.split(",")
    ]
    print_table(
        f"Threshold search, {args.classes} classes (median seconds)",
        ["per set", "keras-mia s", "quadratic s", "speed-up", "same"],
        [[r["records_per_set"], r["fast_s"], r["quadratic_s"], r["speedup"],
          r["same_thresholds"]] for r in rows],
    )
    if not all(r["same_thresholds"] for r in rows):
        raise SystemExit("thresholds differ from the quadratic scan")
    payload = {"benchmark": "threshold_search", "rows": rows}
    write_json("threshold_search", payload, args.out)
    return payload


if __name__ == "__main__":
    main()
