"""MembershipInferenceCallback under tf.distribute strategies.

Logical devices and cluster settings must be fixed before TensorFlow
initialises, so each scenario runs in a fresh process
(`tests/_workers/`), bounded in time; every process is killed if it
overruns.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow

WORKERS = os.path.join(os.path.dirname(__file__), "_workers")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Install it without a second TensorFlow:
# pip install --no-deps tf-keras==<TensorFlow's version>
NEEDS_TF_KERAS = pytest.mark.skipif(
    importlib.util.find_spec("tf_keras") is None,
    reason="tf_keras is not installed",
)
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@NEEDS_TF_KERAS
def test_distribute_multi_worker_tf_keras_shares_the_stop(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{_free_port()}" for _ in range(2)]}
    processes = []
    try:
        for index in range(2):
            config = {"cluster": cluster,
                      "task": {"type": "worker", "index": index}}
            processes.append(subprocess.Popen(
                [sys.executable, os.path.join(WORKERS, "multi_worker.py"),
                 str(tmp_path), "0.4"],
                env=_env(TF_CONFIG=json.dumps(config),
                         TF_USE_LEGACY_KERAS="1"),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            ))
        outputs = [p.communicate(timeout=TIMEOUT_SECONDS) for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-3000:]
    chief, other = (json.loads(out.strip().splitlines()[-1])
                    for out, _ in outputs)
    assert (chief["task"], other["task"]) == ("worker:0", "worker:1")
    assert chief["flavour"] == other["flavour"] == "tf_keras"

    # Only the chief evaluates; it stops at its first epoch over budget.
    assert other["evaluated"] == [] and other["advantages"] == []
    over = [a > 0.4 for a in chief["advantages"]]
    assert over.index(True) == chief["stopped_epoch"] == len(over) - 1
    # Every worker stops at that epoch and restores the same weights.
    for key in ("epochs_run", "stopped_epoch", "best_epoch",
                "restored_epoch"):
        assert other[key] == chief[key], key
    assert chief["epochs_run"] == chief["stopped_epoch"] + 1 < 8
    np.testing.assert_allclose(other["weights_sum"], chief["weights_sum"],
                               rtol=0, atol=1e-6)
    # Only the chief writes: one event file (with its pid), its records.
    (events,) = glob.glob(str(tmp_path / "privacy" / "events.*"))
    assert f".{chief['pid']}." in os.path.basename(events)
    records = os.listdir(tmp_path / "privacy" / "records")
    assert len(records) == len(chief["evaluated"])
