"""The bad-input matrix of MembershipInferenceCallback.

Every case goes through the public callback and either raises a clear
error (naming the argument, the expectation and the value received) at
construction or in `on_train_begin`, before the first epoch, or warns and
proceeds in the documented way.
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import pytest
from conftest import dense_classifier, make_blobs

from keras_mia import compute_signals
from keras_mia.errors import (
    CallbackOrderWarning,
    ClassFallbackWarning,
    DataOverlapWarning,
    EvaluationFailedWarning,
)

pytestmark = pytest.mark.slow

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from keras_mia.callback import MembershipInferenceCallback  # noqa: E402

X, Y = make_blobs(120, 16, 4, seed=3)
MEMBERS = (X[:60], Y[:60])
NON_MEMBERS = (X[60:], Y[60:])


@pytest.fixture(scope="module")
def model():
    """An untrained 16 -> 4 softmax classifier (enough for the checks)."""
    return dense_classifier(keras, 16, 4, width=16)


def _drive(callback, model, epoch=0):
    """Run the hooks of one evaluated epoch by hand; return the logs."""
    callback.set_model(model)
    callback.set_params({"epochs": epoch + 1, "steps": 1})
    callback.on_train_begin()
    logs = {}
    callback.on_epoch_end(epoch, logs)
    callback.on_train_end()
    return logs


def _two_head_model():
    inputs = keras.Input((16,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, {
        "a": keras.layers.Dense(4, activation="softmax", name="a")(hidden),
        "b": keras.layers.Dense(3, activation="softmax", name="b")(hidden),
    })
    return model


# ------------------------------------------------- Errors at construction


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((None, NON_MEMBERS), {}, r"`members` is required; received None"),
        (("x.npz", NON_MEMBERS), {},
         r"`members` must be \(x, y\).*received str"),
        (((X,), NON_MEMBERS), {}, r"`members` must be .* of length 1"),
        (((X, Y, Y, Y), NON_MEMBERS), {}, r"`members` .* of length 4"),
        ((MEMBERS, {"x": X, "y": Y}), {}, r"`non_members` must be .*dict"),
        ((MEMBERS, NON_MEMBERS), {"attacks": "loss"},
         r"`attacks` must be a list of attack names, not a string"),
        ((MEMBERS, NON_MEMBERS), {"n_bootstraps": 1},
         r"`n_bootstraps` must be 0 \(no intervals\) or an int >= 2"),
        ((MEMBERS, NON_MEMBERS), {"seed": "a"},
         r"`seed` must be an int >= 0; received seed='a'"),
        ((MEMBERS, NON_MEMBERS), {"seed": -1},
         r"`seed` must be an int >= 0; received seed=-1"),
        ((MEMBERS, NON_MEMBERS), {"attacks": ["../loss"]},
         r"`attacks` must be distinct names from .*\['\.\./loss'\]"),
        ((MEMBERS, NON_MEMBERS), {"attacks": []},
         r"`attacks` must be distinct .*received attacks=\[\]"),
        ((MEMBERS, NON_MEMBERS), {"attacks": ["loss", "loss"]},
         r"`attacks` must be distinct"),
        ((MEMBERS, NON_MEMBERS), {"batch_size": 0},
         r"`batch_size` must be a positive int; received batch_size=0"),
        ((MEMBERS, NON_MEMBERS), {"top_k": True},
         r"`top_k` must be a positive int; received top_k=True"),
        ((MEMBERS, NON_MEMBERS), {"every_n_epochs": "2"},
         r"`every_n_epochs` must be a positive int; received .*'2'"),
        ((MEMBERS, NON_MEMBERS), {"n_bootstraps": -1},
         r"`n_bootstraps` must be 0 \(no intervals\) or an int >= 2; "
         r"received n_bootstraps=-1"),
        ((MEMBERS, NON_MEMBERS), {"output": 1.5},
         r"`output` must be a head name, an index or None; .*1\.5"),
        ((MEMBERS, NON_MEMBERS), {"verbose": 3},
         r"`verbose` must be 0, 1 or 2; received verbose=3"),
        ((MEMBERS, NON_MEMBERS), {"check_overlap": "yes"},
         r"`check_overlap` must be True or False; .*'yes'"),
        ((MEMBERS, NON_MEMBERS), {"log_dir": 42},
         r"`log_dir` must be a directory path or None; .*log_dir=42"),
        ((MEMBERS, NON_MEMBERS), {"reference": (MEMBERS,) * 3},
         r"`reference` must be a pair"),
        ((MEMBERS, NON_MEMBERS), {"on_error": "ignore"},
         r"`on_error` must be 'warn' or 'raise'; .*'ignore'"),
    ],
    ids=["members-none", "members-path-string", "members-1-tuple",
         "members-4-tuple", "non-members-dict", "attacks-string",
         "n-bootstraps-one", "seed-string", "seed-negative",
         "attack-path-chars",
         "attacks-empty", "attacks-repeated", "batch-size-zero", "top-k-bool",
         "every-n-epochs-string", "n-bootstraps-negative", "output-float",
         "verbose-3", "check-overlap-string", "log-dir-int",
         "reference-triple", "on-error"],
)
def test_bad_input_init_raises(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        MembershipInferenceCallback(*args, **kwargs)


def test_bad_input_missing_tensorboard_raises_at_construction(
    tmp_path, monkeypatch
):
    # A None entry makes `import tensorboard` fail, as if not installed.
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match="needs the `tensorboard` package"):
        MembershipInferenceCallback(
            MEMBERS, NON_MEMBERS, log_dir=str(tmp_path)
        )
    # Without log_dir TensorBoard is not needed.
    MembershipInferenceCallback(MEMBERS, NON_MEMBERS)


# ------------------------------------------- Errors at on_train_begin


def _nan_inputs():
    x = X[:60].copy()
    x[5] = np.nan
    return x, Y[:60]


def _one_hot(labels, width):
    return np.eye(width, dtype=np.float32)[labels]


def _data_cases():
    x, y = MEMBERS
    two_ones = _one_hot(y, 4)
    two_ones[3, (y[3] + 1) % 4] = 1.0
    batches = tf.data.Dataset.from_tensor_slices((x, y))
    return [
        pytest.param((x[:, :5], y), "could not run the model on the first 32",
                     id="x-wrong-width"),
        pytest.param((x.reshape(60, 4, 4), y), "could not run the model",
                     id="x-wrong-rank"),
        pytest.param((x, y[:50]), r"same number of records; received "
                     r"\{'x': 60, 'y': 50\}", id="x-y-lengths"),
        pytest.param((x, y, np.arange(59)), r"'ids': 59",
                     id="ids-length"),
        pytest.param((x, y, np.arange(60).reshape(60, 1)),
                     r"ids must have shape \(n,\); received \(60, 1\)",
                     id="ids-2d"),
        pytest.param((x, y, np.zeros(60)), "ids must be unique; 59 are",
                     id="ids-repeated"),
        pytest.param((x, y.reshape(60, 1, 1)),
                     r"`members labels` must have shape \(n,\), \(n, 1\) "
                     r"or \(n, 4\); received shape \(60, 1, 1\)",
                     id="labels-3d"),
        pytest.param((x, _one_hot(y % 3, 3)),
                     "`members labels` looks one-hot with width 3",
                     id="one-hot-too-narrow"),
        pytest.param((x, two_ones), "not all a single 1 among zeros",
                     id="one-hot-two-ones"),
        pytest.param((x, y + 0.5),
                     r"`members labels` must hold whole numbers .*value "
                     r".*1\.5", id="labels-fractional"),
        pytest.param((x, y - 1),
                     "`members labels` must be non-negative class indices; "
                     "received -1", id="labels-negative"),
        pytest.param((x, np.where(y == 2, 4, y)),
                     "`members labels` holds class 4, but the model "
                     "outputs have only 4", id="label-equal-to-n-outputs"),
        pytest.param((x, y.astype(str)), "must be numeric class labels",
                     id="labels-strings"),
        pytest.param((x, np.where(y == 1, np.nan, y)), "NaN or infinite",
                     id="labels-nan"),
        pytest.param((x[:0], y[:0]), "`members` holds no records",
                     id="members-empty"),
        pytest.param((x[:1], y[:1]), "`members` has 1 record; at least 2",
                     id="members-single"),
        pytest.param(batches.take(0).batch(8),
                     "`members` is empty; it yielded no batches",
                     id="dataset-empty"),
        pytest.param(batches, r"must yield batches, e\.g\.",
                     id="dataset-unbatched"),
        pytest.param(_nan_inputs(), r"contains NaN or infinite values",
                     id="nan-outputs-at-start"),
    ]


@pytest.mark.parametrize("members, match", _data_cases())
def test_bad_input_train_begin_raises(members, match, model):
    callback = MembershipInferenceCallback(members, NON_MEMBERS, verbose=0)
    callback.set_model(model)
    with pytest.raises(ValueError, match=match):
        callback.on_train_begin()


def test_bad_input_empty_non_members_raises(model):
    callback = MembershipInferenceCallback(
        MEMBERS, (X[:0], Y[:0]), verbose=0
    )
    callback.set_model(model)
    with pytest.raises(ValueError, match="`non_members` holds no records"):
        callback.on_train_begin()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, r"The model has 2 outputs \['a', 'b'\]; pass `output=`"),
        ({"output": "c"},
         r"`output` must be one of the model's heads \['a', 'b'\]; "
         r"received output='c'"),
        ({"output": 5}, r"`output` must be one of .*received output=5"),
    ],
    ids=["no-head-chosen", "unknown-head", "head-index-out-of-range"],
)
def test_bad_input_multi_output_head(kwargs, match):
    callback = MembershipInferenceCallback(
        MEMBERS, NON_MEMBERS, verbose=0, **kwargs
    )
    callback.set_model(_two_head_model())
    with pytest.raises(ValueError, match=match):
        callback.on_train_begin()


def test_bad_input_head_name_on_single_output_model(model):
    callback = MembershipInferenceCallback(
        MEMBERS, NON_MEMBERS, output="logits", verbose=0
    )
    callback.set_model(model)
    with pytest.raises(ValueError, match="single output; received output="):
        callback.on_train_begin()


def test_bad_input_single_sigmoid_head():
    x, y = make_blobs(80, 16, 2, seed=4)
    sigmoid = dense_classifier(keras, 16, 1, width=16, activation="sigmoid")
    ok = MembershipInferenceCallback((x[:40], y[:40]), (x[40:], y[40:]),
                                     verbose=0)
    logs = _drive(ok, sigmoid)
    assert ok._n_classes == 2 and math.isfinite(logs["mia_auc"])
    # A third class does not fit a single sigmoid unit.
    bad = MembershipInferenceCallback(
        (x[:40], np.where(y[:40] == 1, 2, 0)), (x[40:], y[40:]), verbose=0
    )
    bad.set_model(sigmoid)
    with pytest.raises(ValueError, match="holds class 2, .* only 2 classes"):
        bad.on_train_begin()


def test_bad_input_reference_signals_with_other_class_count(model):
    probs = np.full((10, 3), 1 / 3)
    ref = compute_signals(probs, np.arange(10) % 3, from_logits=False)
    callback = MembershipInferenceCallback(
        MEMBERS, NON_MEMBERS, reference=(ref, ref), verbose=0
    )
    callback.set_model(model)
    with pytest.raises(ValueError, match="Signals have 3 classes; the model"):
        callback.on_train_begin()


def test_bad_input_dict_inputs_missing_a_key():
    inputs = {"a": keras.Input((10,), name="a"),
              "b": keras.Input((6,), name="b")}
    merged = keras.layers.Concatenate()([inputs["a"], inputs["b"]])
    model = keras.Model(
        inputs, keras.layers.Dense(4, activation="softmax")(merged)
    )
    good = MembershipInferenceCallback(
        ({"a": X[:60, :10], "b": X[:60, 10:]}, Y[:60]),
        ({"a": X[60:, :10], "b": X[60:, 10:]}, Y[60:]), verbose=0,
    )
    assert math.isfinite(_drive(good, model)["mia_auc"])
    uneven = MembershipInferenceCallback(
        ({"a": X[:60, :10], "b": X[:50, 10:]}, Y[:60]), NON_MEMBERS,
        verbose=0,
    )
    uneven.set_model(model)
    with pytest.raises(ValueError, match=r"\"x\['b'\]\": 50"):
        uneven.on_train_begin()
    missing = MembershipInferenceCallback(
        ({"a": X[:60, :10]}, Y[:60]), NON_MEMBERS, verbose=0
    )
    missing.set_model(model)
    with pytest.raises(ValueError, match="could not run the model"):
        missing.on_train_begin()


# ------------------------------------------------------- log_dir


def test_bad_input_log_dir_under_a_file(tmp_path, model):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    callback = MembershipInferenceCallback(
        MEMBERS, NON_MEMBERS, log_dir=blocker / "logs", verbose=0
    )
    callback.set_model(model)
    with pytest.raises(OSError, match="`log_dir` must be a directory that "
                       "can be created and written; received log_dir="):
        callback.on_train_begin()


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root writes into read-only directories",
)
def test_bad_input_log_dir_read_only(tmp_path, model):
    tmp_path.chmod(0o500)
    try:
        callback = MembershipInferenceCallback(
            MEMBERS, NON_MEMBERS, log_dir=tmp_path / "logs", verbose=0
        )
        callback.set_model(model)
        with pytest.raises(OSError, match="PermissionError"):
            callback.on_train_begin()
    finally:
        tmp_path.chmod(0o700)


# ------------------------------------------- Legitimate: warn and proceed


@pytest.mark.parametrize(
    "form",
    ["int-n", "int-n1", "float-n", "float-n1", "one-hot-int",
     "one-hot-float"],
)
def test_bad_input_label_forms_give_identical_results(form, model):
    def convert(labels):
        return {
            "int-n": labels,
            "int-n1": labels[:, None],
            "float-n": labels.astype(np.float32),
            "float-n1": labels[:, None].astype(np.float64),
            "one-hot-int": np.eye(4, dtype=np.int64)[labels],
            "one-hot-float": np.eye(4, dtype=np.float32)[labels],
        }[form]

    plain = _drive(MembershipInferenceCallback(
        MEMBERS, NON_MEMBERS, verbose=0), model)
    converted = _drive(MembershipInferenceCallback(
        (X[:60], convert(Y[:60])), (X[60:], convert(Y[60:])), verbose=0),
        model)
    assert set(converted) == set(plain)
    for key in plain:
        np.testing.assert_allclose(converted[key], plain[key], rtol=0,
                                   atol=0, err_msg=key)


@pytest.mark.parametrize("side", ["members", "non_members"])
def test_bad_input_class_missing_on_one_side_warns(side, model):
    keep = Y != 3
    sets = {"members": MEMBERS, "non_members": NON_MEMBERS}
    x, y = sets[side]
    sets[side] = (x[keep[:60] if side == "members" else keep[60:]],
                  y[keep[:60] if side == "members" else keep[60:]])
    callback = MembershipInferenceCallback(
        sets["members"], sets["non_members"], verbose=0,
    )
    with pytest.warns(ClassFallbackWarning, match="class 3"):
        logs = _drive(callback, model)
    assert all(math.isfinite(v) for v in logs.values())


def test_bad_input_overlap_check_warns_with_count(model):
    non_members = (np.concatenate([X[60:115], X[:5]]),
                   np.concatenate([Y[60:115], Y[:5]]))
    callback = MembershipInferenceCallback(
        MEMBERS, non_members, check_overlap=True, verbose=0
    )
    with pytest.warns(DataOverlapWarning,
                      match="5 of the 60 evaluated non-members"):
        logs = _drive(callback, model)
    assert math.isfinite(logs["mia_auc"])


def test_bad_input_overlap_check_silent_without_overlap(model, recwarn):
    _drive(MembershipInferenceCallback(
        MEMBERS, NON_MEMBERS, check_overlap=True, verbose=0), model)
    assert not [w for w in recwarn if w.category is DataOverlapWarning]


def test_bad_input_callback_after_a_monitor_warns(model):
    callback = MembershipInferenceCallback(MEMBERS, NON_MEMBERS, verbose=0)
    stopper = keras.callbacks.EarlyStopping(monitor="mia_advantage",
                                            mode="min")
    callbacks = keras.callbacks.CallbackList(
        [stopper, callback], model=model, epochs=1, steps=1
    )
    with pytest.warns(CallbackOrderWarning,
                      match="EarlyStopping comes before .*monitors "
                            "'mia_advantage'"):
        callbacks.on_train_begin()


@pytest.mark.parametrize("on_error", ["warn", "raise"])
def test_bad_input_nan_outputs_at_an_evaluation(on_error, model):
    diverging = keras.models.clone_model(model)
    diverging.set_weights(model.get_weights())
    callback = MembershipInferenceCallback(
        MEMBERS, NON_MEMBERS, verbose=0, on_error=on_error
    )
    callback.set_model(diverging)
    callback.set_params({"epochs": 2, "steps": 1})
    callback.on_train_begin()
    # The model diverges during training: its weights become NaN.
    diverging.set_weights([np.full_like(w, np.nan)
                           for w in diverging.get_weights()])
    logs = {}
    if on_error == "raise":
        with pytest.raises(ValueError, match="in 60 of 60 rows"):
            callback.on_epoch_end(0, logs)
        return
    with pytest.warns(EvaluationFailedWarning,
                      match=r"NaN or infinite values in 60 of 60 rows"):
        callback.on_epoch_end(0, logs)
    assert math.isnan(logs["mia_auc"])
    assert "has the model diverged" in callback.history[0]["error"]
