"""The demo: bundled real data, rising leakage, logs TensorBoard can read."""

from __future__ import annotations

import os
import shlex
import sys

import numpy as np
import pytest

from keras_mia import demo, demo_cli
from keras_mia.cli import CliError, main
from keras_mia.demo_cli import run_directory, tensorboard_command
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
    hint = f"{shlex.quote(tensorboard_command())} --logdir {tmp_path} "
    assert hint in out
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
             ["demo", "--budget", "0.1", "--no-gate"],
             ["demo", "--seed", "-1"]],
    ids=["zero-epochs", "unknown-dataset", "budget-and-no-gate",
         "negative-seed"],
)
def test_demo_cli_rejects_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


@pytest.fixture
def no_training(monkeypatch):
    """Fails the test if the demo gets as far as training."""

    def refuse(*args, **kwargs):
        raise AssertionError("the demo must stop before training")

    monkeypatch.setattr(demo, "run_demo", refuse)


def _tree(root) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, f), root)
        for d, dirs, files in os.walk(root) for f in files + dirs
    )


@pytest.mark.parametrize(
    "run_name",
    ["../victim", "VICTIM_ABS", "", ".", "..", "a/b", "a\\b", "sub/.."],
    ids=["parent", "absolute", "empty", "dot", "dot-dot", "slash",
         "backslash", "slash-dot-dot"],
)
def test_demo_cli_refuses_unsafe_run_name_before_touching_disk(
    run_name, tmp_path, capsys, no_training
):
    logs = tmp_path / "logs"
    (logs / "old").mkdir(parents=True)
    (logs / "old" / "events").write_text("keep")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data").write_text("keep")
    if run_name == "VICTIM_ABS":
        run_name = str(victim)
    before = _tree(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--log-dir", str(logs), "--run-name", run_name,
              "--overwrite"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "argument --run-name" in err
    assert "one plain directory name" in err and repr(run_name) in err
    assert _tree(tmp_path) == before


def test_demo_cli_overwrite_refuses_symlink_out_of_log_dir(
    tmp_path, capsys, no_training
):
    logs = tmp_path / "logs"
    logs.mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data").write_text("keep")
    os.symlink(victim, logs / "link")
    status = main(["demo", "--log-dir", str(logs), "--run-name", "link",
                   "--overwrite"])
    assert status == 2
    assert "refuses to delete" in capsys.readouterr().err
    assert (victim / "data").read_text() == "keep"


def test_demo_cli_overwrite_needs_run_name(tmp_path, capsys, no_training):
    status = main(["demo", "--log-dir", str(tmp_path / "logs"),
                   "--overwrite"])
    assert status == 2
    assert "--overwrite needs --run-name" in capsys.readouterr().err
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    "budget", ["-1", "0", "nan", "inf", "2", "lots"],
    ids=["negative", "zero", "nan", "inf", "above-one", "not-a-number"],
)
def test_demo_cli_rejects_bad_budget_without_creating_folder(
    budget, tmp_path, capsys, no_training
):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--log-dir", str(tmp_path / "logs"),
              f"--budget={budget}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --budget" in err and "(0, 1]" in err
    assert repr(budget) in err
    assert not (tmp_path / "logs").exists()


def test_demo_cli_unwritable_log_dir_is_one_line(tmp_path, capsys,
                                                 no_training):
    blocker = tmp_path / "file"
    blocker.write_text("")
    status = main(["demo", "--log-dir", str(blocker / "runs")])
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "cannot create run directory" in err


def test_demo_run_directory_overwrite_deletes_only_the_run(tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "events").write_text("keep")
    fixed = run_directory(str(tmp_path), "digits", "mine", False)
    open(os.path.join(fixed, "events"), "w").close()
    assert run_directory(str(tmp_path), "digits", "mine", True) == fixed
    assert os.listdir(fixed) == []
    assert (tmp_path / "other" / "events").read_text() == "keep"
    with pytest.raises(CliError, match="one plain directory name"):
        run_directory(str(tmp_path), "digits", "..", True)


def _fake_interpreter(tmp_path, monkeypatch, with_tensorboard=True):
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    tensorboard = bin_dir / (
        "tensorboard.exe" if os.name == "nt" else "tensorboard"
    )
    if with_tensorboard:
        tensorboard.write_text("#!/bin/sh\n")
        tensorboard.chmod(0o755)
    return str(tensorboard)


def test_demo_tensorboard_command_full_path_when_not_on_path(
    tmp_path, monkeypatch
):
    beside = _fake_interpreter(tmp_path, monkeypatch)
    monkeypatch.setattr(demo_cli.shutil, "which", lambda name: None)
    assert tensorboard_command() == beside
    monkeypatch.setattr(demo_cli.shutil, "which",
                        lambda name: "/usr/bin/tensorboard")
    assert tensorboard_command() == beside


def test_demo_tensorboard_command_plain_when_path_finds_it(
    tmp_path, monkeypatch
):
    beside = _fake_interpreter(tmp_path, monkeypatch)
    monkeypatch.setattr(demo_cli.shutil, "which", lambda name: beside)
    assert tensorboard_command() == "tensorboard"


def test_demo_tensorboard_command_plain_without_venv_executable(
    tmp_path, monkeypatch
):
    _fake_interpreter(tmp_path, monkeypatch, with_tensorboard=False)
    monkeypatch.setattr(demo_cli.shutil, "which", lambda name: None)
    assert tensorboard_command() == "tensorboard"
