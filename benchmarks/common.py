"""Helpers shared by the benchmark scripts: timing, memory, output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    """A short description of the machine the numbers come from."""
    return {
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of `repeats` calls of `fn`."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_megabytes(fn: Callable[[], object]) -> float:
    """Peak memory numpy and Python allocated during one call, in MB."""
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def print_table(title: str, header: list[str], rows: list[list]) -> None:
    """Print an aligned text table."""
    cells = [header] + [
        [f"{c:.3g}" if isinstance(c, float) else str(c) for c in row]
        for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for i, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def write_json(name: str, payload: dict, out_dir: Path | None = None) -> Path:
    """Write a benchmark's results as JSON and return the path."""
    out_dir = out_dir or RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    payload = {"machine": machine(), **payload}
    path.write_text(json.dumps(payload, indent=2))
    print(f"\nwrote {path}")
    return path


def synthetic_outputs(
    rng: np.random.Generator, n: int, n_classes: int, boost: float
) -> tuple[np.ndarray, np.ndarray]:
    """Float32 softmax outputs with the true class boosted by `boost`."""
    labels = rng.integers(0, n_classes, n)
    logits = rng.normal(0.0, 1.0, (n, n_classes)).astype(np.float32)
    logits[np.arange(n), labels] += boost
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    return probs, labels
