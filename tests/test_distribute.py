"""MembershipInferenceCallback under tf.distribute strategies.

Logical devices and cluster settings must be fixed before TensorFlow
initialises, so each scenario runs in a fresh process
(`tests/_workers/`), bounded in time; every process is killed if it
overruns.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow

WORKERS = os.path.join(os.path.dirname(__file__), "_workers")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_SECONDS = 240


def _env(**extra: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [ROOT] + [p for p in [env.get("PYTHONPATH")] if p]
    )
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra)
    return env


def _run_worker(script: str, *args: str, **env: str) -> dict:
    """Run one worker script; return the JSON of its last stdout line."""
    done = subprocess.run(
        [sys.executable, os.path.join(WORKERS, script), *args],
        env=_env(**env), capture_output=True, text=True,
        timeout=TIMEOUT_SECONDS, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_distribute_mirrored_matches_single_device(tmp_path):
    got = _run_worker("mirrored.py", str(tmp_path))
    assert got["replicas"] == 2
    assert sorted(got["mirrored"]) == ["0", "1", "2"]
    for epoch, metrics in got["mirrored"].items():
        assert len(metrics) > 20
        for key, value in metrics.items():
            # The same weights on one device: the same numbers.
            np.testing.assert_allclose(
                value, got["replay"][epoch][key], rtol=0, atol=1e-6,
                err_msg=f"replay {epoch} {key}",
            )
            # A single-device fit (float64, so the replicas' reduction
            # order does not flip ranks) reaches the same metrics.
            np.testing.assert_allclose(
                value, got["single"][epoch][key], rtol=0, atol=1e-6,
                err_msg=f"single {epoch} {key}",
            )
    events = glob.glob(str(tmp_path / "mirrored" / "privacy" / "events.*"))
    assert len(events) == 1
    records = glob.glob(str(tmp_path / "mirrored" / "privacy" / "records" /
                            "*"))
    assert len(records) == 3
