"""Smoke tests of the benchmark scripts at tiny sizes.

Each script's `main` runs in this process with the arguments `run_all.py
--quick` uses, and writes its JSON into a temporary folder. The tests
check that the scripts run and that their results are complete; they
assert no timing (the numbers at these sizes mean nothing), only the
invariants a run must satisfy at any size: one trace of the inference
function, the same thresholds as the quadratic oracle.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import pytest

BENCHMARKS_DIR = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str):
    if str(BENCHMARKS_DIR) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS_DIR))
    return importlib.import_module(name)


def _run_quick(name: str, out: Path) -> tuple[dict, dict]:
    """Run one benchmark at its quick size; returns (result, JSON read back)."""
    run_all = _load("run_all")
    result = _load(name).main([*run_all.BENCHMARKS[name], "--out", str(out)])
    written = json.loads((out / f"{name}.json").read_text())
    assert written["benchmark"] == name
    assert set(written["machine"]) >= {"cpu_model", "cpus", "load_average"}
    return result, written


def _positive_finite(value: float) -> bool:
    return math.isfinite(value) and value > 0


def test_run_all_lists_every_script():
    run_all = _load("run_all")
    scripts = {
        p.stem for p in BENCHMARKS_DIR.glob("*.py")
        if p.stem not in ("common", "run_all")
    }
    assert set(run_all.BENCHMARKS) == scripts


def test_run_all_rejects_unknown_name(capsys):
    run_all = _load("run_all")
    with pytest.raises(SystemExit):
        run_all.main(["--only", "no_such_benchmark"])
    assert "no_such_benchmark" in capsys.readouterr().err


def test_engine_scale_quick(tmp_path):
    result, _ = _run_quick("engine_scale", tmp_path)
    assert [r["records_per_set"] for r in result["rows"]] == [1000, 2000]
    assert _positive_finite(result["rows"][1]["factor_per_doubling"])


def test_threshold_search_quick_matches_oracle(tmp_path):
    result, _ = _run_quick("threshold_search", tmp_path)
    assert all(r["same_thresholds"] for r in result["rows"])


@pytest.mark.slow
def test_callback_overhead_quick(tmp_path):
    result, written = _run_quick("callback_overhead", tmp_path)
    (row,) = written["rows"]
    assert row["model"] == "mlp"
    assert row["floor"] in ("tf_function", "predict_on_batch")
    assert set(row["ratios"]) == {"default"}
    assert all(_positive_finite(v) for v in row["ratios"].values())
    assert result["rows"][0]["records_per_set"] == 200


@pytest.mark.slow
def test_long_run_memory_quick_traces_once(tmp_path):
    result, _ = _run_quick("long_run_memory", tmp_path)
    assert result["evaluations"] == 5
    assert result["traces"] == 1
    assert len(result["rss_mb"]) == 5
    assert _positive_finite(result["rss_growth_ratio"])


@pytest.mark.slow
def test_training_overhead_quick(tmp_path):
    result, _ = _run_quick("training_overhead", tmp_path)
    (row,) = result["rows"]
    assert row["settings"] == "default"
    assert row["evaluations"] == 2
    assert _positive_finite(row["ratio"])
