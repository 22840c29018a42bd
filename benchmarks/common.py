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


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or the platform's guess."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or None where unknown."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine() -> dict:
    """A short description of the machine the numbers come from.

    The load average is read when the results are written: other processes
    on a shared machine slow every measurement, so it says how far to
    trust the absolute times (the ratios are measured side by side).
    """
    return {
        "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "load_average": load_average(),
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
