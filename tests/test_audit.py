"""Tests of keras_mia.audit: the shadow-model protocol on real bundled data."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from keras_mia import cli
from keras_mia.audit import (
    audit,
    audit_from_outputs,
    digits_example,
    shadow_splits,
)
from keras_mia.errors import KerasMiaWarning

keras = pytest.importorskip("keras")

N_MEMBERS = 100
N_REFERENCE = 400  # 2 shadows x (100 members + 100 non-members)
SEED = 0


@pytest.fixture(scope="module")
def data():
    splits = digits_example(N_MEMBERS, N_MEMBERS, seed=0)
    x_ref, y_ref = splits["reference"]
    splits["reference"] = (x_ref[:N_REFERENCE], y_ref[:N_REFERENCE])
    return splits


def overfitting_mlp():
    """Wide MLP, no regularisation: memorises 100 digits."""
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss="sparse_categorical_crossentropy")
    return model


def regularised_linear():
    """Softmax regression with weight decay: little room to memorise."""
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(10, activation="softmax",
                           kernel_regularizer=keras.regularizers.L2(1e-2)),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss="sparse_categorical_crossentropy")
    return model


RECIPES = {
    "overfitting": (overfitting_mlp, 30),
    "regularised": (regularised_linear, 20),
}


def _run(data, recipe):
    build, epochs = RECIPES[recipe]
    return audit(
        build, data["members"], data["non_members"], data["reference"],
        epochs=epochs, n_shadows=2, n_bootstraps=20, seed=SEED, verbose=0,
    )


@pytest.fixture(scope="module")
def audits(data):
    return {recipe: _run(data, recipe) for recipe in RECIPES}


@pytest.mark.slow
def test_audit_overfitting_model_leaks_more_than_regularised(audits):
    over = audits["overfitting"].evaluation
    reg = audits["regularised"].evaluation
    for name in ("confidence", "entropy", "modified_entropy", "loss"):
        assert over.attacks[name].auc > reg.attacks[name].auc + 0.05, name
    assert over.attacks["loss"].intervals["auc"][0] > 0.6
    best_over = max(a.accuracy for a in over.attacks.values())
    best_reg = max(a.accuracy for a in reg.attacks.values())
    assert best_over > best_reg + 0.03
    assert np.mean(over.member_risk_scores) > np.mean(reg.member_risk_scores)
    assert (
        audits["overfitting"].empirical_epsilon.epsilon
        > audits["regularised"].empirical_epsilon.epsilon
    )


@pytest.mark.slow
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_audit_same_seed_gives_same_result(recipe, data, audits):
    again = _run(data, recipe)
    first = audits[recipe]
    assert again.to_dict() == first.to_dict()
    for name in first.outputs:
        np.testing.assert_array_equal(again.outputs[name], first.outputs[name])


@pytest.mark.slow
def test_audit_thresholds_match_keras_mia_evaluate(audits, tmp_path, capsys):
    result = audits["overfitting"]
    kind = "logits" if result.from_logits else "probs"
    labels = {
        "target_train": result.members.labels,
        "target_test": result.non_members.labels,
        "shadow_train": result.shadow_members.labels,
        "shadow_test": result.shadow_non_members.labels,
    }
    path = tmp_path / "outputs.npz"
    np.savez(path, **{f"{k}_{kind}": v for k, v in result.outputs.items()},
             **{f"{k}_labels": v for k, v in labels.items()})
    assert cli.main(["evaluate", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["threshold_source"] == "shadow"
    for name, attack in result.evaluation.attacks.items():
        got = report["attacks"][name]
        # The same records and thresholds: identical decisions.
        np.testing.assert_allclose(got["accuracy"], attack.accuracy, rtol=0)
        if attack.thresholds is not None:
            np.testing.assert_allclose(
                np.array(got["thresholds"], dtype=float), attack.thresholds,
                rtol=0,
            )


@pytest.mark.slow
def test_audit_shadow_models_learn_and_report_their_splits(audits):
    result = audits["overfitting"]
    assert len(result.shadows) == 2
    assert sum(s.n_members + s.n_non_members for s in result.shadows) == (
        N_REFERENCE
    )
    for shadow in result.shadows:
        assert shadow.train_accuracy == 1.0
        assert shadow.test_accuracy > 0.8
    assert result.settings["shadow_model"] == "overfitting_mlp"
    assert result.from_logits is False


@pytest.fixture(scope="module")
def saved_logits_model(data, tmp_path_factory):
    """A target with a linear output and a from_logits loss, saved."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(*data["members"], epochs=10, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("model") / "target.keras"
    model.save(path)
    return path


@pytest.mark.slow
def test_audit_of_saved_model_clones_target_and_reads_logits(
    data, saved_logits_model
):
    result = audit(
        saved_logits_model, data["members"], data["non_members"],
        data["reference"], epochs=10, n_shadows=2, n_bootstraps=0, verbose=0,
    )
    assert result.from_logits is True
    assert result.settings["shadow_model"] == "clone of the target"
    assert result.settings["model"] == os.fspath(saved_logits_model)
    # Clones trained with the copied SGD settings learn the digits.
    for shadow in result.shadows:
        assert shadow.test_accuracy > 0.7


@pytest.mark.slow
def test_audit_cli_writes_reports(data, saved_logits_model, tmp_path, capsys):
    arrays = {}
    for name in ("members", "non_members", "reference"):
        arrays[f"{name}_x"], arrays[f"{name}_y"] = data[name]
    arrays["members_ids"] = np.array([f"digit-{i}" for i in range(N_MEMBERS)])
    np.savez(tmp_path / "data.npz", **arrays)
    out = {k: tmp_path / f"report.{k}" for k in ("json", "html")}
    status = cli.main([
        "audit", str(saved_logits_model), str(tmp_path / "data.npz"),
        "--epochs", "10", "--shadows", "2", "--n-bootstraps", "0",
        "--verbose", "0", "--json", str(out["json"]), "--html",
        str(out["html"]), "--predictions", str(tmp_path / "p.npz"),
        "--dp-noise-multiplier", "1.0", "--dp-batch-size", "32",
        "--dp-epochs", "10", "--dp-delta", "1e-3",
    ])
    assert status == 0
    assert "Empirical epsilon lower bound" in capsys.readouterr().out
    report = json.loads(out["json"].read_text())
    assert report["records"]["members"][0]["id"] == "digit-0"
    assert report["privacy_budget"]["theoretical_epsilon"]["epsilon"] > 0
    assert "digit-" in out["html"].read_text(encoding="utf-8")
    with np.load(tmp_path / "p.npz") as saved:
        assert "shadow_train_logits" in saved.files


def test_audit_cli_reports_bad_data_file(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", members_x=np.zeros((2, 2)))
    status = cli.main(["audit", "m.keras", str(tmp_path / "d.npz"),
                       "--epochs", "1"])
    assert status == 2
    assert "missing keys" in capsys.readouterr().err


def test_audit_cli_reports_plain_text_data_file(tmp_path, capsys):
    path = tmp_path / "DATA.npz"
    path.write_text("members_x,members_y\n1,2\n")
    status = cli.main(["audit", "m.keras", str(path), "--epochs", "1"])
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{path} is not an .npz file" in err


def test_audit_cli_reports_bad_dp_settings(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", members_x=np.zeros((2, 2)))
    status = cli.main([
        "audit", "m.keras", str(tmp_path / "d.npz"), "--epochs", "1",
        "--dp-noise-multiplier", "1", "--dp-batch-size", "32",
        "--dp-epochs", "2", "--dp-delta", "2",
    ])
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "`delta` must be in (0, 1); received delta=2.0" in err


@pytest.mark.parametrize(
    "output_layer, expected",
    [
        (lambda: keras.layers.Dense(3, activation="softmax"), False),
        (lambda: keras.layers.Dense(1, activation="sigmoid"), False),
        (lambda: keras.layers.Softmax(), False),
        (lambda: keras.layers.Dense(3), True),
    ],
    ids=["softmax", "sigmoid", "softmax-layer", "linear"],
)
def test_infer_from_logits_reads_final_activation(output_layer, expected):
    from keras_mia.audit import infer_from_logits

    model = keras.Sequential([keras.Input((4,)), output_layer()])
    assert infer_from_logits(model) is expected


def test_infer_from_logits_refuses_other_activations():
    from keras_mia.audit import infer_from_logits

    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="relu")]
    )
    with pytest.raises(ValueError, match="from_logits"):
        infer_from_logits(model)


def test_shadow_splits_are_disjoint_stratified_and_seeded():
    labels = np.repeat(np.arange(5), 40)
    splits = shadow_splits(labels, 3, seed=1)
    used = np.concatenate([np.concatenate(pair) for pair in splits])
    assert len(used) == len(np.unique(used)) == 200
    for members, non_members in splits:
        for part in (members, non_members):
            counts = np.bincount(labels[part], minlength=5)
            assert counts.max() - counts.min() <= 1
    again = shadow_splits(labels, 3, seed=1)
    for (a, b), (c, d) in zip(splits, again, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_shadow_splits_need_enough_records():
    with pytest.raises(ValueError, match="at least 4 records per shadow"):
        shadow_splits(np.zeros(7), 2)


def test_audit_rejects_non_keras_file(data):
    with pytest.raises(ValueError, match=r"\.keras"):
        audit("model.h5", data["members"], data["non_members"],
              data["reference"], epochs=1)


def _tiny_model():
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="softmax")]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


class _FitRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.fits = 0

    def on_train_begin(self, logs=None):
        self.fits += 1


def _bad_labels(kind, n):
    y = np.arange(n) % 3
    if kind == "fraction":
        return np.where(np.arange(n) == 1, 1.5, y.astype(float))
    if kind == "onehot-two-ones":
        onehot = np.eye(3)[y]
        onehot[1, 0] = 1.0
        return onehot
    return np.eye(4)[y]  # one-hot wider than the model's 3 outputs


@pytest.mark.parametrize("target", ["function", "model"])
@pytest.mark.parametrize(
    "where, kind, match",
    [
        ("members", "fraction", r"`members labels` must hold whole numbers"),
        ("non_members", "fraction",
         r"`non_members labels` must hold whole numbers"),
        ("reference", "fraction",
         r"`reference labels` must hold whole numbers"),
        ("reference", "onehot-two-ones", r"not all a single 1 among zeros"),
        ("members", "onehot-too-wide", r"width 4.*3 classes"),
    ],
    ids=["members-fraction", "non-members-fraction", "reference-fraction",
         "reference-bad-onehot", "members-onehot-too-wide"],
)
def test_audit_checks_labels_before_any_training(where, kind, match, target):
    rng = np.random.default_rng(0)
    sets = {
        name: (rng.random((n, 4), dtype=np.float32), np.arange(n) % 3)
        for name, n in (("members", 8), ("non_members", 8),
                        ("reference", 16))
    }
    x, _ = sets[where]
    sets[where] = (x, _bad_labels(kind, len(x)))
    recorder = _FitRecorder()
    with pytest.raises(ValueError, match=match):
        audit(
            _tiny_model if target == "function" else _tiny_model(),
            sets["members"], sets["non_members"], sets["reference"],
            epochs=1, n_shadows=1, n_bootstraps=0, verbose=0,
            fit_kwargs={"callbacks": [recorder]},
        )
    assert recorder.fits == 0


def test_audit_from_outputs_needs_shadow_outputs():
    probs = np.full((4, 2), 0.5)
    with pytest.raises(ValueError, match="shadow_outputs"):
        audit_from_outputs(probs, np.zeros(4), probs, np.zeros(4), [],
                           from_logits=False)


@pytest.mark.slow
def test_audit_warns_when_shadows_train_on_little_data(data):
    x_ref, y_ref = data["reference"]
    with pytest.warns(KerasMiaWarning, match="less than half"):
        audit(
            regularised_linear, data["members"], data["non_members"],
            (x_ref[:120], y_ref[:120]), epochs=1, n_shadows=2,
            n_bootstraps=0, verbose=0,
        )


def test_audit_cli_checks_report_paths_before_training(tmp_path, capsys):
    path = tmp_path / "DATA.npz"
    path.write_text("never read")
    status = cli.main([
        "audit", "m.keras", str(path), "--epochs", "1",
        "--html", str(tmp_path / "missing" / "a.html"),
    ])
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--html" in err and "does not exist" in err
