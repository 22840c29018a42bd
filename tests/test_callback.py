"""MembershipInferenceCallback: fit with Keras' consumers, data forms, heads."""

from __future__ import annotations

import csv
import glob
import json
import math
import os
import warnings

import numpy as np
import pytest
from conftest import dense_classifier, make_blobs
from test_summary import documented_tags, read_run

import keras_mia
from keras_mia import compute_signals
from keras_mia.errors import EvaluationFailedWarning
from keras_mia.signals import SIGNAL_NAMES
from keras_mia.tensorboard import metadata

pytestmark = pytest.mark.slow

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from keras_mia.callback import (  # noqa: E402
    CallbackOrderWarning,
    MembershipInferenceCallback,
    log_keys,
)


def _drive(callback, model, epoch=0):
    """Run the hooks of one evaluated epoch by hand; return the logs."""
    callback.set_model(model)
    callback.set_params({"epochs": epoch + 1})
    callback.on_train_begin()
    logs = {}
    callback.on_epoch_end(epoch, logs)
    callback.on_train_end()
    return logs


def _privacy_tags(attacks=keras_mia.ATTACKS):
    return documented_tags(attacks)


# ---------------------------------------------------------------- Must show 1


def test_callback_fit_with_keras_consumers(blobs, tmp_path):
    (x_in, y_in), (x_out, y_out) = blobs["members"], blobs["non_members"]
    model = dense_classifier(keras, 16, 4, width=128)
    log_dir = str(tmp_path / "logs")
    callback = MembershipInferenceCallback(
        (x_in, y_in), (x_out, y_out), log_dir=log_dir, verbose=0
    )
    stopper = keras.callbacks.EarlyStopping(
        monitor="mia_advantage", mode="min", patience=100
    )
    checkpoint_path = str(tmp_path / "best.keras")
    checkpoint = keras.callbacks.ModelCheckpoint(
        checkpoint_path, monitor="mia_advantage", mode="min",
        save_best_only=True,
    )
    csv_path = str(tmp_path / "log.csv")
    seen = {}
    spy = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.update({epoch: dict(logs)})
    )
    history = model.fit(
        x_in, y_in, validation_data=(x_out, y_out), epochs=6, batch_size=16,
        verbose=0,
        callbacks=[
            callback, stopper, checkpoint, keras.callbacks.CSVLogger(csv_path),
            keras.callbacks.TensorBoard(log_dir, write_graph=False), spy,
        ],
    )
    keys = log_keys()

    # Leakage rises as the model memorises its training set.
    aucs = [callback.history[e]["mia_auc"] for e in range(6)]
    assert aucs[-1] > aucs[0] + 0.05
    assert history.history["loss"][-1] < history.history["val_loss"][-1]

    # Every consumer sees every key, as Python floats.
    assert set(keys) <= set(history.history)
    for epoch in range(6):
        assert all(type(seen[epoch][k]) is float for k in keys)
        for k in keys:
            assert seen[epoch][k] == callback.history[epoch][k]
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and set(keys) <= set(rows[0])
    np.testing.assert_allclose(
        [float(r["mia_auc"]) for r in rows], aucs, rtol=1e-6
    )
    advantages = [callback.history[e]["mia_advantage"] for e in range(6)]
    assert stopper.best == min(advantages)
    assert os.path.exists(checkpoint_path)
    train_tags = read_run(os.path.join(log_dir, "train"))
    assert {f"epoch_{k}" for k in keys} <= set(train_tags)

    # The privacy run holds exactly the documented tags.
    run = read_run(os.path.join(log_dir, "privacy"))
    assert set(run) == _privacy_tags()
    assert sorted(s for s, _, _ in run["mia/auc"]) == list(range(6))
    np.testing.assert_allclose(
        [float(v) for _, v, _ in sorted(run["mia/auc"], key=lambda t: t[0])],
        aucs, rtol=1e-6,
    )
    (_, config, meta), = run["mia_meta/config"]
    assert metadata.parse_plugin_metadata(meta.plugin_data.content)[
        "kind"] == "config"
    config = json.loads(config.item().decode())
    assert config["version"] == 1 and config["gate"] is None
    assert config["attacks"] == list(keras_mia.ATTACKS)
    assert config["threshold_source"] == "cross_fit"
    assert [s for s, _, _ in run["mia_records/member_ids"]] == [0]
    assert len(run["mia_records/member_scores"]) == 6

    # Per-record artifacts, one per evaluation, atomically written.
    files = sorted(glob.glob(os.path.join(log_dir, "privacy", "records",
                                          "*")))
    assert [os.path.basename(f) for f in files] == [
        f"epoch_{e:04d}.npz" for e in range(6)
    ]
    with np.load(files[-1]) as saved:
        assert set(saved.files) == {
            "epoch", "ids", "labels", "is_member", "risk_scores",
            *SIGNAL_NAMES,
        }
        assert int(saved["is_member"].sum()) == 200
        np.testing.assert_array_equal(saved["ids"][:200], np.arange(200))
        np.testing.assert_allclose(
            saved["risk_scores"][:200],
            callback.results[5].member_risk_scores, rtol=0, atol=0,
        )

    # The same callback object in a second fit, resuming at epoch 6.
    model.fit(
        x_in, y_in, epochs=8, initial_epoch=6, batch_size=16, verbose=0,
        callbacks=[callback],
    )
    assert sorted(callback.history) == list(range(8))
    files = glob.glob(os.path.join(log_dir, "privacy", "records", "*"))
    assert len(files) == 8


def test_callback_sparse_epochs_and_stock_early_stopping(blobs, tmp_path):
    model = dense_classifier(keras, 16, 4)
    callback = MembershipInferenceCallback(
        blobs["members"], blobs["non_members"], every_n_epochs=3, verbose=0
    )
    stopper = keras.callbacks.EarlyStopping(
        monitor="mia_advantage", mode="min", patience=10
    )
    csv_path = str(tmp_path / "log.csv")
    with pytest.warns(UserWarning, match="mia_advantage` which is not"):
        history = model.fit(
            *blobs["members"], epochs=5, batch_size=32, verbose=0,
            callbacks=[callback, stopper,
                       keras.callbacks.CSVLogger(csv_path)],
        )
    # First epoch, multiples of 3 and the last epoch are evaluated.
    assert sorted(callback.history) == [0, 3, 4]
    assert len(history.history["mia_auc"]) == 3
    assert len(history.history["loss"]) == 5
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert [r["mia_auc"] == "NA" for r in rows] == [
        False, True, True, False, False
    ]
    # EarlyStopping's wait (what patience is compared with) counts
    # evaluations since the best one, not epochs.
    advantages = [callback.history[e]["mia_advantage"] for e in (0, 3, 4)]
    best = int(np.argmin(advantages))
    assert stopper.wait == 2 - best
    assert stopper.best == advantages[best]


def test_callback_stock_early_stopping_auto_mode_raises(blobs):
    model = dense_classifier(keras, 16, 4)
    callback = MembershipInferenceCallback(
        blobs["members"], blobs["non_members"], verbose=0
    )
    with pytest.raises(ValueError, match="Pass `mode='max'`"):
        model.fit(
            *blobs["members"], epochs=1, verbose=0,
            callbacks=[callback,
                       keras.callbacks.EarlyStopping(monitor="mia_advantage")],
        )


def test_callback_warns_when_placed_after_a_consumer(blobs, tmp_path):
    model = dense_classifier(keras, 16, 4)
    callback = MembershipInferenceCallback(
        blobs["members"], blobs["non_members"], verbose=0
    )
    with pytest.warns(CallbackOrderWarning, match="CSVLogger comes before"):
        model.fit(
            *blobs["members"], epochs=1, verbose=0,
            callbacks=[keras.callbacks.CSVLogger(str(tmp_path / "l.csv")),
                       callback],
        )


# ---------------------------------------------------------------- Must show 3


def test_callback_numpy_and_shuffled_dataset_agree(blobs):
    (x_in, y_in), (x_out, y_out) = blobs["members"], blobs["non_members"]
    model = dense_classifier(keras, 16, 4)
    model.fit(x_in, y_in, epochs=3, verbose=0)
    ids_in = np.arange(len(y_in)) + 1000
    ids_out = np.arange(len(y_out)) + 5000

    def dataset(x, y, ids, seed):
        return tf.data.Dataset.from_tensor_slices((x, y, ids)).shuffle(
            len(y), seed=seed
        ).batch(32)

    kwargs = dict(max_samples=150, seed=5, verbose=0)
    from_numpy = MembershipInferenceCallback(
        (x_in, y_in, ids_in), (x_out, y_out, ids_out), **kwargs
    )
    from_pipeline = MembershipInferenceCallback(
        dataset(x_in, y_in, ids_in, 1), dataset(x_out, y_out, ids_out, 2),
        **kwargs,
    )
    logs_numpy = _drive(from_numpy, model)
    logs_pipeline = _drive(from_pipeline, model)
    np.testing.assert_array_equal(
        from_numpy.member_ids, from_pipeline.member_ids
    )
    assert len(from_numpy.member_ids) == 150
    assert set(logs_numpy) == set(log_keys())
    for key in logs_numpy:
        np.testing.assert_allclose(
            logs_pipeline[key], logs_numpy[key], rtol=1e-12, err_msg=key
        )
    # The same seed gives the same numbers; another seed another sample.
    again = _drive(MembershipInferenceCallback(
        (x_in, y_in, ids_in), (x_out, y_out, ids_out), **kwargs), model)
    assert again == logs_numpy
    other = MembershipInferenceCallback(
        (x_in, y_in, ids_in), (x_out, y_out, ids_out),
        **{**kwargs, "seed": 6},
    )
    _drive(other, model)
    assert not np.array_equal(other.member_ids, from_numpy.member_ids)


def test_callback_py_dataset_and_dict_inputs(blobs):
    (x_in, y_in), (x_out, y_out) = blobs["members"], blobs["non_members"]
    inputs = {
        "a": keras.Input((10,), name="a"), "b": keras.Input((6,), name="b")
    }
    hidden = keras.layers.Dense(32, activation="relu")(
        keras.layers.Concatenate()([inputs["a"], inputs["b"]])
    )
    outputs = keras.layers.Dense(4, activation="softmax")(hidden)
    model = keras.Model(inputs, outputs)

    def split(x):
        return {"a": x[:, :10], "b": x[:, 10:]}

    class Batches(keras.utils.PyDataset):
        def __init__(self, x, y):
            super().__init__()
            self.x, self.y = x, y

        def __len__(self):
            return math.ceil(len(self.y) / 50)

        def __getitem__(self, i):
            rows = slice(50 * i, 50 * (i + 1))
            return split(self.x[rows]), self.y[rows]

    from_arrays = _drive(MembershipInferenceCallback(
        (split(x_in), y_in), (split(x_out), y_out), verbose=0), model)
    from_py = _drive(MembershipInferenceCallback(
        Batches(x_in, y_in), Batches(x_out, y_out), verbose=0), model)
    assert from_py == from_arrays


# ---------------------------------------------------------------- Must show 4


def test_callback_signals_use_inference_mode(blobs):
    (x_in, y_in), (x_out, y_out) = blobs["members"], blobs["non_members"]
    keras.utils.set_random_seed(1)
    model = keras.Sequential([
        keras.Input((16,)),
        keras.layers.Dense(64),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(4, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x_in, y_in, epochs=2, verbose=0)
    callback = MembershipInferenceCallback(
        (x_in, y_in), (x_out, y_out), verbose=0
    )
    _drive(callback, model)
    got = callback.member_signals()
    expected = compute_signals(
        model(x_in, training=False).numpy(), y_in, from_logits=False
    )
    np.testing.assert_array_equal(got.labels, expected.labels)
    np.testing.assert_array_equal(got.correctness, expected.correctness)
    for name in ("confidence", "entropy", "modified_entropy", "loss"):
        np.testing.assert_allclose(
            getattr(got, name), getattr(expected, name), rtol=1e-12,
            atol=1e-12, err_msg=name,
        )
    # Training mode (dropout on, batch statistics) gives other numbers.
    training = compute_signals(
        model(x_in, training=True).numpy(), y_in, from_logits=False
    )
    assert np.max(np.abs(training.confidence - got.confidence)) > 1e-3


@pytest.mark.parametrize(
    "n_classes, activation, from_logits",
    [(2, "sigmoid", False), (2, "linear", True), (4, "softmax", False),
     (4, "linear", True)],
    ids=["sigmoid-probs", "sigmoid-logits", "softmax-probs",
         "softmax-logits"],
)
def test_callback_signals_match_engine_per_head(n_classes, activation,
                                               from_logits):
    x, y = make_blobs(300, 8, n_classes, seed=2)
    width = 1 if activation == "sigmoid" or (
        n_classes == 2 and from_logits) else n_classes
    model = dense_classifier(keras, 8, width, activation=activation)
    if width == 1:
        model.compile("adam", keras.losses.BinaryCrossentropy(
            from_logits=from_logits))
    model.fit(x[:150], y[:150], epochs=3, verbose=0)
    callback = MembershipInferenceCallback(
        (x[:150], y[:150]), (x[150:], y[150:]), verbose=0
    )
    logs = _drive(callback, model)
    assert callback._resolved_from_logits is from_logits
    got = callback.member_signals()
    expected = compute_signals(
        model(x[:150], training=False).numpy(), y[:150],
        from_logits=from_logits,
    )
    assert got.n_classes == n_classes
    for name in SIGNAL_NAMES:
        np.testing.assert_allclose(
            getattr(got, name).astype(float),
            getattr(expected, name).astype(float),
            rtol=1e-12, atol=1e-12, err_msg=name,
        )
    assert all(math.isfinite(v) for v in logs.values())


# ---------------------------------------------------------------- Must show 5


def test_callback_logits_and_softmax_heads_agree(blobs):
    (x_in, y_in), (x_out, y_out) = blobs["members"], blobs["non_members"]
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16,))
    hidden = keras.layers.Dense(64, activation="relu", dtype="float64")(
        inputs)
    logits = keras.layers.Dense(4, name="logits", dtype="float64")(hidden)
    probs = keras.layers.Softmax(name="probs", dtype="float64")(logits)
    model = keras.Model(inputs, {"logits": logits, "probs": probs})
    model.compile("adam", {
        "probs": "sparse_categorical_crossentropy", "logits": None})
    model.fit(x_in, {"probs": y_in, "logits": y_in}, epochs=4, verbose=0)

    heads = r"2 outputs \[.logits., .probs.\]; pass `output=`"
    with pytest.raises(ValueError, match=heads):
        _drive(MembershipInferenceCallback(
            (x_in, y_in), (x_out, y_out), verbose=0), model)
    via_logits = _drive(MembershipInferenceCallback(
        (x_in, y_in), (x_out, y_out), output="logits", from_logits=True,
        verbose=0), model)
    via_probs_cb = MembershipInferenceCallback(
        (x_in, y_in), (x_out, y_out), output="probs", verbose=0)
    via_probs = _drive(via_probs_cb, model)
    assert via_probs_cb._resolved_from_logits is False
    for key in via_logits:
        np.testing.assert_allclose(
            via_probs[key], via_logits[key], rtol=1e-9, atol=1e-12,
            err_msg=key,
        )


# ------------------------------------------------------- Errors and failures


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"every_n_epochs": 0}, "`every_n_epochs` must be a positive int"),
        ({"every_n_batches": 1.5}, "`every_n_batches` must be a positive"),
        ({"max_samples": -1}, "`max_samples` must be"),
        ({"attacks": ["loss", "magic"]}, "`attacks` must be distinct"),
        ({"threshold_source": "shadow"}, "needs `reference`"),
        ({"threshold_source": "best"}, "`threshold_source` must be one of"),
        ({"on_error": "ignore"}, "`on_error` must be 'warn' or 'raise'"),
        ({"from_logits": "yes"}, "`from_logits` must be True, False"),
        ({"reference": ("a",)}, "`reference` must be a pair"),
    ],
    ids=["every-n-epochs", "every-n-batches", "max-samples", "attacks",
         "shadow-without-reference", "threshold-source", "on-error",
         "from-logits", "reference"],
)
def test_callback_init_rejects_bad_arguments(blobs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        MembershipInferenceCallback(
            blobs["members"], blobs["non_members"], **kwargs
        )


@pytest.mark.parametrize(
    "members, match",
    [
        ("not data", "`members` must be"),
        ((np.zeros((3, 16)),), "`members` must be"),
    ],
    ids=["string", "one-element-tuple"],
)
def test_callback_init_rejects_bad_data_form(blobs, members, match):
    with pytest.raises(ValueError, match=match):
        MembershipInferenceCallback(members, blobs["non_members"])


def _bad_data_cases():
    x, y = make_blobs(20, 16, 4, seed=0)
    return [
        pytest.param((x, y + 4), "holds class 7", id="label-beyond-width"),
        pytest.param((x[:0], y[:0]), "holds no records", id="empty"),
        pytest.param((x, y[:10]), "same number of records", id="lengths"),
        pytest.param((x, y, np.zeros(20)), "ids must be unique",
                     id="repeated-ids"),
        pytest.param((x[:, :5], y), "could not run the model",
                     id="wrong-width"),
    ]


@pytest.mark.parametrize("members, match", _bad_data_cases())
def test_callback_train_begin_rejects_bad_data(blobs, members, match):
    model = dense_classifier(keras, 16, 4)
    callback = MembershipInferenceCallback(
        members, blobs["non_members"], verbose=0
    )
    callback.set_model(model)
    with pytest.raises(ValueError, match=match):
        callback.on_train_begin()


def test_callback_train_begin_rejects_wrong_from_logits(blobs):
    model = dense_classifier(keras, 16, 4, activation="linear")
    callback = MembershipInferenceCallback(
        blobs["members"], blobs["non_members"], from_logits=False
    )
    callback.set_model(model)
    with pytest.raises(ValueError, match="from_logits=True"):
        callback.on_train_begin()


def test_callback_ambiguous_head_asks_for_from_logits(blobs):
    model = dense_classifier(keras, 16, 4, activation="linear")
    model.compile("adam", "sparse_categorical_crossentropy")
    callback = MembershipInferenceCallback(
        blobs["members"], blobs["non_members"]
    )
    callback.set_model(model)
    with pytest.raises(ValueError, match="Pass from_logits=True or"):
        callback.on_train_begin()


def test_callback_failed_evaluation_warns_and_training_continues(
    blobs, monkeypatch
):
    import keras_mia.callback as module

    calls = {"n": 0}
    real = module.run_attacks

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("injected failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "run_attacks", flaky)
    model = dense_classifier(keras, 16, 4)
    callback = MembershipInferenceCallback(
        blobs["members"], blobs["non_members"], verbose=0
    )
    with pytest.warns(EvaluationFailedWarning, match="injected failure"):
        history = model.fit(*blobs["members"], epochs=3, verbose=0,
                            callbacks=[callback])
    assert len(history.history["loss"]) == 3
    assert math.isnan(history.history["mia_auc"][1])
    assert math.isnan(callback.history[1]["mia_advantage"])
    assert "injected failure" in callback.history[1]["error"]
    assert math.isfinite(callback.history[2]["mia_auc"])

    calls["n"] = 0
    strict = MembershipInferenceCallback(
        blobs["members"], blobs["non_members"], verbose=0, on_error="raise"
    )
    with pytest.raises(RuntimeError, match="injected failure"):
        model.fit(*blobs["members"], epochs=3, verbose=0, callbacks=[strict])


def test_callback_batch_frequency(blobs, tmp_path):
    model = dense_classifier(keras, 16, 4)
    callback = MembershipInferenceCallback(
        blobs["members"], blobs["non_members"], every_n_batches=3,
        every_n_epochs=10, log_dir=str(tmp_path), verbose=0,
    )
    plain = MembershipInferenceCallback(
        blobs["members"], blobs["non_members"]
    )
    # Only a callback that evaluates per batch has a batch hook of its own
    # (so plain ones keep Keras' async batch dispatch).
    assert "on_train_batch_end" in vars(callback)
    assert "on_train_batch_end" not in vars(plain)
    assert getattr(plain.on_train_batch_end, "_is_default", False)
    model.fit(*blobs["members"], epochs=2, batch_size=50, verbose=0,
              callbacks=[callback])
    # 4 batches per epoch, 8 in all: evaluations after batches 3 and 6.
    assert [(e["epoch"], e["batch"], e["step"])
            for e in callback.batch_history] == [(0, 2, 3), (1, 1, 6)]
    assert all(0.0 <= e["mia_auc"] <= 1.0 for e in callback.batch_history)
    run = read_run(tmp_path / "privacy")
    assert sorted(s for s, _, _ in run["mia_batch/auc"]) == [3, 6]


def test_callback_verbose_line(blobs, capsys):
    model = dense_classifier(keras, 16, 4)
    callback = MembershipInferenceCallback(
        blobs["members"], blobs["non_members"], verbose=1
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _drive(callback, model, epoch=2)
    out = capsys.readouterr().out
    assert out.startswith("Epoch 3: MembershipInferenceCallback auc=")
    assert "advantage=" in out


def test_callback_log_dir_needs_no_existing_directory(blobs, tmp_path):
    model = dense_classifier(keras, 16, 4)
    callback = MembershipInferenceCallback(
        blobs["members"], blobs["non_members"], verbose=0,
        log_dir=tmp_path / "new" / "dir",
    )
    _drive(callback, model)
    assert os.path.exists(
        tmp_path / "new" / "dir" / "privacy" / "records" / "epoch_0000.npz"
    )
    # Evaluating epoch 0 again keeps the earlier file.
    _drive(callback, model)
    assert sorted(os.listdir(tmp_path / "new" / "dir" / "privacy" /
                             "records")) == [
        "epoch_0000.npz", "epoch_0000_1.npz"
    ]


def test_callback_unbatched_dataset_is_refused(blobs):
    x, y = blobs["members"]
    callback = MembershipInferenceCallback(
        tf.data.Dataset.from_tensor_slices((x, y)), blobs["non_members"],
    )
    callback.set_model(dense_classifier(keras, 16, 4))
    with pytest.raises(ValueError, match=r"must yield batches, e\.g\."):
        callback.on_train_begin()


def test_callback_log_dir_without_tensorboard(blobs, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match="needs the `tensorboard` package"):
        MembershipInferenceCallback(
            blobs["members"], blobs["non_members"], log_dir=str(tmp_path)
        )


def test_callback_reference_data_and_signals_give_shadow_thresholds(blobs):
    (x_in, y_in), (x_out, y_out) = blobs["members"], blobs["non_members"]
    model = dense_classifier(keras, 16, 4)
    model.fit(x_in, y_in, epochs=2, verbose=0)
    as_data = MembershipInferenceCallback(
        (x_in[100:], y_in[100:]), (x_out[100:], y_out[100:]),
        reference=((x_in[:100], y_in[:100]), (x_out[:100], y_out[:100])),
        verbose=0,
    )
    logs = _drive(as_data, model)
    assert as_data.results[0].threshold_source == "shadow"

    def signals(x, y):
        return compute_signals(model(x, training=False).numpy(), y,
                               from_logits=False)

    as_signals = MembershipInferenceCallback(
        (x_in[100:], y_in[100:]), (x_out[100:], y_out[100:]),
        reference=(signals(x_in[:100], y_in[:100]),
                   signals(x_out[:100], y_out[:100])),
        verbose=0,
    )
    logs_from_signals = _drive(as_signals, model)
    for key in logs:
        np.testing.assert_allclose(logs_from_signals[key], logs[key],
                                   rtol=1e-9, atol=1e-12, err_msg=key)


def test_callback_failed_first_evaluation_writes_ids_later(
    blobs, tmp_path, monkeypatch
):
    import keras_mia.callback as module

    real, calls = module.run_attacks, []

    def fails_first(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first evaluation fails")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "run_attacks", fails_first)
    callback = MembershipInferenceCallback(
        blobs["members"], blobs["non_members"], log_dir=str(tmp_path),
        verbose=0,
    )
    with pytest.warns(EvaluationFailedWarning):
        dense_classifier(keras, 16, 4).fit(
            *blobs["members"], epochs=2, verbose=0, callbacks=[callback]
        )
    run = read_run(tmp_path / "privacy")
    assert [s for s, _, _ in run["mia_records/member_ids"]] == [1]
    assert [s for s, _, _ in run["mia_meta/config"]] == [1]
    assert [s for s, _, _ in run["mia_records/member_scores"]] == [1]
