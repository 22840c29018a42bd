"""Faults a long training run must survive: failed evaluations,
interrupts, resuming; and what files may contain (ids, never records)."""

from __future__ import annotations

import glob
import hashlib
import logging
import math
import os

import numpy as np
import pytest
from conftest import dense_classifier, make_blobs
from test_summary import read_run

from keras_mia.errors import EvaluationFailedWarning

pytestmark = pytest.mark.slow

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import keras_mia.callback as callback_module  # noqa: E402
from keras_mia.callback import MembershipInferenceCallback  # noqa: E402
from keras_mia.tensorboard import summary as tb_summary  # noqa: E402

X, Y = make_blobs(160, 16, 4, seed=11)
MEMBERS = (X[:80], Y[:80])
NON_MEMBERS = (X[80:], Y[80:])


def _records(log_dir):
    return sorted(
        os.path.basename(p)
        for p in glob.glob(os.path.join(log_dir, "privacy", "records", "*"))
    )


def _digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _fails_on_call(real, n_fail, error):
    """Wrap `real` so that its `n_fail`-th call raises `error`."""
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == n_fail:
            raise error
        return real(*args, **kwargs)

    return wrapper


# ------------------------------------------------ A failed evaluation


def test_faults_failed_evaluation_is_logged_and_skipped(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr(callback_module, "run_attacks", _fails_on_call(
        callback_module.run_attacks, 2, RuntimeError("injected failure")))
    callback = MembershipInferenceCallback(
        MEMBERS, NON_MEMBERS, log_dir=tmp_path, verbose=0
    )
    model = dense_classifier(keras, 16, 4, width=16)
    with caplog.at_level(logging.ERROR, logger="keras_mia.callback"):
        with pytest.warns(EvaluationFailedWarning, match="epoch 2 failed"):
            history = model.fit(*MEMBERS, epochs=3, batch_size=40, verbose=0,
                                callbacks=[callback])
    # Training went on; the failed epoch is nan in logs and history ...
    assert len(history.history["loss"]) == 3
    assert [math.isnan(v) for v in history.history["mia_auc"]] == [
        False, True, False
    ]
    assert callback.history[1]["error"] == "RuntimeError: injected failure"
    # ... logged with its traceback ...
    (record,) = [r for r in caplog.records if "failed" in r.getMessage()]
    assert "Traceback (most recent call last)" in record.getMessage()
    assert "RuntimeError: injected failure" in record.getMessage()
    # ... and missing (not zero) in TensorBoard and in the records folder.
    run = read_run(tmp_path / "privacy")
    assert sorted(step for step, _, _ in run["mia/auc"]) == [0, 2]
    assert _records(tmp_path) == ["epoch_0000.npz", "epoch_0002.npz"]


def test_faults_on_error_raise_stops_training(monkeypatch):
    monkeypatch.setattr(callback_module, "run_attacks", _fails_on_call(
        callback_module.run_attacks, 2, RuntimeError("injected failure")))
    callback = MembershipInferenceCallback(
        MEMBERS, NON_MEMBERS, on_error="raise", verbose=0
    )
    model = dense_classifier(keras, 16, 4, width=16)
    with pytest.raises(RuntimeError, match="injected failure"):
        model.fit(*MEMBERS, epochs=3, verbose=0, callbacks=[callback])
    assert sorted(callback.history) == [0]


# ------------------------------------------------------- Interrupts


def _partial_savez(real):
    calls = []

    def savez(file, **arrays):
        calls.append(1)
        if len(calls) == 2:
            file.write(b"PK\x03\x04 half a zip file")
            raise KeyboardInterrupt
        return real(file, **arrays)

    return savez


def _interrupt_events(real):
    calls = []

    def evaluation(result, step, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            tb_summary.scalars(result, step)  # some of the epoch's events
            raise KeyboardInterrupt
        return real(result, step, *args, **kwargs)

    return evaluation


@pytest.mark.parametrize("where", ["attacks", "event-write", "npz-write"])
def test_faults_interrupt_leaves_readable_files(where, tmp_path,
                                                monkeypatch):
    if where == "attacks":
        monkeypatch.setattr(callback_module, "run_attacks", _fails_on_call(
            callback_module.run_attacks, 2, KeyboardInterrupt()))
    elif where == "event-write":
        monkeypatch.setattr(tb_summary, "evaluation",
                            _interrupt_events(tb_summary.evaluation))
    else:
        monkeypatch.setattr(np, "savez", _partial_savez(np.savez))
    callback = MembershipInferenceCallback(
        MEMBERS, NON_MEMBERS, log_dir=tmp_path, verbose=0
    )
    model = dense_classifier(keras, 16, 4, width=16)
    with pytest.raises(KeyboardInterrupt):
        model.fit(*MEMBERS, epochs=3, verbose=0, callbacks=[callback])
    monkeypatch.undo()

    # The event file reads back whole, with the first evaluation in it.
    (events,) = glob.glob(str(tmp_path / "privacy" / "events.out.*"))
    run = read_run(tmp_path / "privacy")
    assert 0 in [step for step, _, _ in run["mia/auc"]]
    # TensorBoard's own loader reads it too.
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(events)
    accumulator.Reload()
    assert "mia/auc" in accumulator.Tags()["tensors"]
    # No partial or temporary artifact: only the complete first file.
    assert _records(tmp_path) == ["epoch_0000.npz"]
    with np.load(tmp_path / "privacy" / "records" / "epoch_0000.npz",
                 allow_pickle=False) as saved:
        assert len(saved["ids"]) == 160


# ------------------------------------------------------------ Resuming


def test_faults_resume_continues_steps_and_keeps_files(tmp_path):
    model = dense_classifier(keras, 16, 4, width=16)
    kwargs = dict(log_dir=tmp_path, every_n_batches=2, verbose=0)
    first = MembershipInferenceCallback(MEMBERS, NON_MEMBERS, **kwargs)
    model.fit(*MEMBERS, epochs=2, batch_size=20, verbose=0,
              callbacks=[first])
    before = {name: _digest(tmp_path / "privacy" / "records" / name)
              for name in _records(tmp_path)}
    assert sorted(before) == ["epoch_0000.npz", "epoch_0001.npz"]

    # A new process would build a new callback: resume at epoch 2.
    resumed = MembershipInferenceCallback(MEMBERS, NON_MEMBERS, **kwargs)
    model.fit(*MEMBERS, epochs=4, initial_epoch=2, batch_size=20, verbose=0,
              callbacks=[resumed])
    # Evaluating epoch 3 again (a second resume) adds a file.
    again = MembershipInferenceCallback(MEMBERS, NON_MEMBERS, **kwargs)
    model.fit(*MEMBERS, epochs=4, initial_epoch=3, batch_size=20, verbose=0,
              callbacks=[again])

    assert _records(tmp_path) == [
        "epoch_0000.npz", "epoch_0001.npz", "epoch_0002.npz",
        "epoch_0003.npz", "epoch_0003_1.npz",
    ]
    for name, digest in before.items():
        assert _digest(tmp_path / "privacy" / "records" / name) == digest
    run = read_run(tmp_path / "privacy")
    assert sorted(step for step, _, _ in run["mia/auc"]) == [0, 1, 2, 3, 3]
    # 4 batches per epoch, an evaluation every 2: the batch axis goes on
    # from the resumed epoch instead of starting again at 2.
    batch_steps = [step for step, _, _ in run["mia_batch/auc"]]
    assert batch_steps == [2, 4, 6, 8, 10, 12, 14, 16, 14, 16]
    assert [e["step"] for e in resumed.batch_history] == [10, 12, 14, 16]
    assert [e["epoch"] for e in resumed.batch_history] == [2, 2, 3, 3]


# ------------------------------------------------------------ Security


def test_faults_files_hold_ids_not_records(tmp_path):
    # Inputs and labels whose bytes are easy to find if they leak.
    x = np.full((60, 16), 1234.5678, np.float32)
    x += np.arange(60, dtype=np.float32)[:, None] * 1e-3
    x[:, 0] = make_blobs(60, 1, 4, seed=1)[0][:, 0]
    y = np.arange(60) % 4
    ids = np.array([f"patient-{i:03d}" for i in range(60)])
    model = dense_classifier(keras, 16, 4, width=16)
    callback = MembershipInferenceCallback(
        (x[:30], y[:30], ids[:30]), (x[30:], y[30:], ids[30:]),
        log_dir=tmp_path, verbose=0,
    )
    model.fit(x[:30], y[:30], epochs=1, verbose=0, callbacks=[callback])
    files = glob.glob(str(tmp_path / "privacy" / "**" / "*"), recursive=True)
    files = [f for f in files if os.path.isfile(f)]
    assert len(files) == 2  # one event file, one records file
    needles = [x[i, 1:].tobytes() for i in range(60)]
    needles += [x[i, 1:].astype(np.float64).tobytes() for i in range(60)]
    needles += [f"{v:.4f}".encode() for v in x[:, 1]]
    blobs = []
    for path in files:
        with open(path, "rb") as f:
            blobs.append(f.read())
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as saved:
                blobs += [saved[k].tobytes() for k in saved.files]
    for blob in blobs:
        assert not any(needle in blob for needle in needles)
    # The ids are there: records are named, never shown.
    assert any(b"patient-007" in blob for blob in blobs)
