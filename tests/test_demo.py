"""The demo: bundled real data, rising leakage, logs TensorBoard can read."""

from __future__ import annotations

import os

import numpy as np
import pytest

from keras_mia import demo
from keras_mia.cli import CliError, main
from keras_mia.demo_cli import run_directory
from keras_mia.errors import KerasMiaWarning


@pytest.mark.parametrize(
    "dataset, n_classes, n_features",
    [("digits", 10, 64), ("breast_cancer", 2, 30)],
    ids=["digits", "breast-cancer"],
)
def test_demo_load_data_splits(dataset, n_classes, n_features):
    data = demo.load_demo_data(dataset, seed=0)
    assert data.n_classes == n_classes
    assert data.x_members.shape[1] == n_features
    assert data.x_members.dtype == np.float32
    assert len(data.y_members) == len(data.y_non_members)
    assert not set(data.ids_members) & set(data.ids_non_members)
    # Stratified: every class on both sides.
    assert set(data.y_members) == set(data.y_non_members) == set(
        range(n_classes)
    )
    np.testing.assert_allclose(data.x_members.mean(axis=0), 0, atol=1e-5)
    again = demo.load_demo_data(dataset, seed=0)
    np.testing.assert_array_equal(again.ids_members, data.ids_members)
    other = demo.load_demo_data(dataset, seed=1)
    assert not np.array_equal(other.ids_members, data.ids_members)


def test_demo_rejects_unknown_dataset():
    with pytest.raises(ValueError, match="`dataset` must be one of"):
        demo.load_demo_data("mnist")


def _tensor_tags(run_dir) -> set[str]:
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(
        str(run_dir), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    return set(accumulator.Tags()["tensors"])


@pytest.mark.slow
def test_demo_leakage_rises_and_logs_are_readable(tmp_path):
    result = demo.run_demo("digits", epochs=5, log_dir=tmp_path, seed=0)
    history = result.callback.history
    assert sorted(history) == list(range(5))
    advantages = [history[e]["mia_advantage"] for e in range(5)]
    aucs = [history[e]["mia_auc"] for e in range(5)]
    assert advantages[-1] > advantages[0] + 0.05
    assert aucs[-1] > aucs[0] + 0.02
    assert result.history["loss"][-1] < result.history["val_loss"][-1]

    assert {"epoch_loss", "epoch_mia_auc"} <= _tensor_tags(tmp_path / "train")
    assert "epoch_loss" in _tensor_tags(tmp_path / "validation")
    privacy = _tensor_tags(tmp_path / "privacy")
    assert {"mia/auc", "mia/advantage", "mia_roc/loss", "mia_pr/loss",
            "mia_risk/members", "mia_top_risk", "mia_meta/config",
            "mia_records/member_scores"} <= privacy
    records = sorted(os.listdir(tmp_path / "privacy" / "records"))
    assert records == [f"epoch_{e:04d}.npz" for e in range(5)]

    table = demo.epoch_table(result).splitlines()
    assert table[0].split()[:3] == ["epoch", "loss", "val_loss"]
    assert len(table) == 2 + 5
    text = demo.summary_text(result)
    assert "Leakage by attack, epoch 1 -> epoch 5" in text
    assert "Privacy gate: none" in text


@pytest.mark.slow
def test_demo_same_seed_same_numbers_and_binary_head(tmp_path):
    first = demo.run_demo("breast_cancer", epochs=2, seed=3)
    second = demo.run_demo("breast_cancer", epochs=2, seed=3)
    assert first.callback._resolved_from_logits is False
    assert first.callback.history[1]["mia_auc"] == pytest.approx(
        second.callback.history[1]["mia_auc"], rel=1e-12
    )
    with pytest.warns(KerasMiaWarning, match="no evaluated epoch kept"):
        gated = demo.run_demo("breast_cancer", epochs=3, seed=3, budget=0.0,
                              patience=1)
    assert gated.gate.stopped_epoch == 0
    assert "Privacy gate fired" in demo.summary_text(gated)


@pytest.mark.slow
def test_demo_cli_prints_table_summary_and_next_step(tmp_path, capsys):
    status = main(["demo", "--epochs", "2", "--log-dir", str(tmp_path),
                   "--run-name", "r1"])
    out = capsys.readouterr().out
    assert status == 0
    assert "epoch     loss  val_loss" in out
    assert "Leakage by attack" in out and "Riskiest training records" in out
    assert "Privacy gate" in out
    assert f"tensorboard --logdir {tmp_path}" in out
    assert os.path.isdir(tmp_path / "r1" / "privacy")

    status = main(["demo", "--epochs", "1", "--log-dir", str(tmp_path),
                   "--run-name", "r1"])
    assert status == 2
    assert "pass --overwrite" in capsys.readouterr().err


def test_demo_run_directory_is_unique_or_refused(tmp_path):
    first = run_directory(str(tmp_path), "digits", None, False)
    second = run_directory(str(tmp_path), "digits", None, False)
    assert first != second and os.path.isdir(second)
    assert os.path.basename(first).startswith("digits-")

    fixed = run_directory(str(tmp_path), "digits", "mine", False)
    open(os.path.join(fixed, "events"), "w").close()
    with pytest.raises(CliError, match="exists and is not empty"):
        run_directory(str(tmp_path), "digits", "mine", False)
    assert run_directory(str(tmp_path), "digits", "mine", True) == fixed
    assert os.listdir(fixed) == []


@pytest.mark.parametrize(
    "argv", [["demo", "--epochs", "0"], ["demo", "--dataset", "mnist"],
             ["demo", "--budget", "0.1", "--no-gate"]],
    ids=["zero-epochs", "unknown-dataset", "budget-and-no-gate"],
)
def test_demo_cli_rejects_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
