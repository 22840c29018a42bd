"""The `keras-mia evaluate` command."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from golden import GOLDEN_DIR, as_float_array, load_case, require_cases
from keras_mia.attacks import ATTACKS
from keras_mia.cli import main

CASES = require_cases()


def _run_json(capsys, *args):
    assert main(["evaluate", *args, "--json", "--n-bootstraps", "0"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("case", CASES)
def test_evaluate_reference_compatible_matches_paper(case, capsys):
    _, expected = load_case(case)
    out = _run_json(
        capsys, str(GOLDEN_DIR / f"{case}.npz"), "--reference-compatible"
    )
    assert out["threshold_source"] == "shadow"
    for attack in ("correctness", "confidence", "entropy", "modified_entropy"):
        want = expected["song_mittal"]["attack_accuracy"][attack]["value"]
        assert out["attacks"][attack]["accuracy"] == pytest.approx(
            want, abs=1e-12
        )
    for attack in ("confidence", "entropy", "modified_entropy"):
        got = as_float_array(out["attacks"][attack]["thresholds"])
        want = as_float_array(expected["song_mittal"]["thresholds"][attack])
        fallback = out["attacks"][attack]["fallback_classes"]
        assert np.isnan(got[fallback]).all()
        keep = np.setdiff1d(np.arange(len(want)), fallback)
        np.testing.assert_allclose(got[keep], want[keep], rtol=1e-12)
    for attack in ATTACKS:
        entry = out["attacks"][attack]
        assert set(entry["tpr_at_fpr"]) == {"0.001", "0.01"}
        for key in ("auc", "advantage"):
            assert 0.0 <= entry[key] <= 1.0


def test_evaluate_writes_risk_scores(tmp_path, capsys):
    case = CASES[0]
    _, expected = load_case(case)
    out_path = tmp_path / "risk.npz"
    main(["evaluate", str(GOLDEN_DIR / f"{case}.npz"), "--reference-compatible",
          "--risk-scores", str(out_path), "--n-bootstraps", "0"])
    capsys.readouterr()
    with np.load(out_path) as data:
        for name in ("target_train", "target_test"):
            want = as_float_array(
                expected["song_mittal"]["per_sample"][name]["risk_score"]
            )
            np.testing.assert_allclose(data[name], want, atol=1e-12, rtol=0)


def test_evaluate_without_shadow_uses_cross_fit(tmp_path, capsys):
    arrays, _ = load_case(CASES[0])
    path = tmp_path / "target_only.npz"
    np.savez(path, **{k: v for k, v in arrays.items() if "target" in k})
    out = _run_json(capsys, str(path))
    assert out["threshold_source"] == "cross_fit"


def test_evaluate_accepts_logits(tmp_path, capsys):
    rng = np.random.default_rng(0)
    logits = {s: rng.normal(0, 2, (60, 3)) for s in ("train", "test")}
    logits["train"][:, 0] += 2
    path = tmp_path / "logits.npz"
    np.savez(
        path,
        target_train_logits=logits["train"],
        target_train_labels=np.zeros(60, int),
        target_test_logits=logits["test"],
        target_test_labels=np.zeros(60, int),
    )
    out = _run_json(capsys, str(path))
    assert out["attacks"]["confidence"]["auc"] > 0.6


def _error_line(capsys, *argv):
    status = main(["evaluate", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    return status, err


def test_evaluate_missing_key_lists_keys_found(tmp_path, capsys):
    path = tmp_path / "partial.npz"
    np.savez(path, target_train_probs=np.full((2, 2), 0.5),
             target_train_labels=np.zeros(2, int))
    status, err = _error_line(capsys, str(path))
    assert status == 2 and len(err) == 1
    assert "target_test_labels" in err[0]
    assert "target_train_labels" in err[0] and "target_train_probs" in err[0]


def test_evaluate_refuses_pickled_arrays(tmp_path, capsys):
    path = tmp_path / "objects.npz"
    np.savez(path, target_train_probs=np.array([object()], dtype=object))
    status, err = _error_line(capsys, str(path))
    assert status == 2 and "pickle" in err[0]


def test_evaluate_missing_file(tmp_path, capsys):
    status, err = _error_line(capsys, str(tmp_path / "nope.npz"))
    assert status == 2 and "not found" in err[0]


def test_evaluate_bad_probabilities_name_the_key(tmp_path, capsys):
    path = tmp_path / "bad.npz"
    np.savez(
        path,
        target_train_probs=np.array([[0.9, 0.9]]),
        target_train_labels=np.zeros(1, int),
        target_test_probs=np.array([[0.5, 0.5]]),
        target_test_labels=np.zeros(1, int),
    )
    status, err = _error_line(capsys, str(path))
    assert status == 2
    assert "target_train_probs" in err[0] and "sum to 1" in err[0]


def test_evaluate_unknown_attack(capsys):
    status, err = _error_line(
        capsys, str(GOLDEN_DIR / f"{CASES[0]}.npz"), "--attacks", "magic"
    )
    assert status == 2 and "magic" in err[-1]


@pytest.mark.slow
def test_evaluate_runs_without_tensorflow(tmp_path):
    """The console entry point must not import TensorFlow or Keras."""
    code = (
        "import sys, runpy; sys.argv = ['keras-mia', 'evaluate', "
        f"{str(GOLDEN_DIR / (CASES[0] + '.npz'))!r}, '--n-bootstraps', '0'];"
        "import keras_mia.cli as c; status = c.main(sys.argv[1:]);"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported';"
        "assert 'keras' not in sys.modules, 'keras imported';"
        "sys.exit(status)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Membership inference" in proc.stdout


def test_evaluate_rejects_a_file_that_is_not_npz(tmp_path, capsys):
    path = tmp_path / "notes.npz"
    path.write_text("not numpy")
    status, err = _error_line(capsys, str(path))
    assert status == 2 and "is not an .npz file" in err[0]


def test_evaluate_names_the_labels_key_on_length_mismatch(tmp_path, capsys):
    arrays, _ = load_case(CASES[0])
    arrays = {k: v for k, v in arrays.items() if "target" in k}
    arrays["target_train_labels"] = arrays["target_train_labels"][:-1]
    path = tmp_path / "short.npz"
    np.savez(path, **arrays)
    status, err = _error_line(capsys, str(path))
    assert status == 2 and "`target_train_labels` has" in err[0]


def test_evaluate_unwritable_risk_scores_path(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    status, err = _error_line(
        capsys, str(GOLDEN_DIR / f"{CASES[0]}.npz"), "--n-bootstraps", "0",
        "--risk-scores", str(blocker / "risk.npz"),
    )
    assert status == 2 and "does not exist" in err[-1]


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--risk-scores", "{tmp}"], "is a directory"),
        (["--risk-scores", "{tmp}/missing/risk.npz"], "does not exist"),
        (["--risk-scores", "{tmp}/risk"], "must end in .npz"),
        (["--attacks", ""], "names no attack"),
    ],
    ids=["risk-dir", "risk-missing-folder", "risk-no-suffix", "no-attacks"],
)
def test_evaluate_rejects_bad_options_before_work(argv, match, tmp_path,
                                                  capsys):
    argv = [a.format(tmp=tmp_path) for a in argv]
    status, err = _error_line(
        capsys, str(GOLDEN_DIR / f"{CASES[0]}.npz"), *argv
    )
    assert status == 2 and match in err[-1]


def test_evaluate_negative_seed_is_an_argument_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(GOLDEN_DIR / f"{CASES[0]}.npz"), "--seed", "-1"])
    assert exit_info.value.code == 2
    assert "--seed: expected an integer >= 0" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_json_into_a_closed_pipe_is_quiet():
    code = (
        "import sys; sys.argv = ['keras-mia', 'evaluate', "
        f"{str(GOLDEN_DIR / (CASES[0] + '.npz'))!r}, '--json',"
        " '--n-bootstraps', '0'];"
        "import keras_mia.cli as c; sys.exit(c.main(sys.argv[1:]))"
    )
    proc = subprocess.run(
        f"{sys.executable} -c \"{code}\" | head -c 10",
        shell=True, capture_output=True, text=True, timeout=120,
    )
    assert "Traceback" not in proc.stderr
