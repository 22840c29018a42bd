"""MembershipInferenceCallback on inputs a first user got wrong.

Endless pipelines, a wrong explicit `from_logits`, NaN in the inputs and
log directories TensorFlow cannot write: each fails (or warns) early, with
a message that names the argument and says what to do.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import dense_classifier, make_blobs

from keras_mia.errors import KerasMiaWarning

pytestmark = pytest.mark.slow

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from keras_mia.callback import (  # noqa: E402
    FromLogitsWarning,
    MembershipInferenceCallback,
    unknown_cardinality_cap,
)

X, Y = make_blobs(120, 16, 4, seed=3)
MEMBERS = (X[:60], Y[:60])
NON_MEMBERS = (X[60:], Y[60:])


@pytest.fixture(scope="module")
def model():
    """An untrained 16 -> 4 softmax classifier."""
    return dense_classifier(keras, 16, 4, width=16)


def _batches(x, y):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


class _EndlessPyDataset(keras.utils.PyDataset):
    """A PyDataset that declares itself infinite (`num_batches` None)."""

    @property
    def num_batches(self):
        return None

    def __getitem__(self, index):
        return X[:16], Y[:16]


# ------------------------------------------------------ Endless inputs


@pytest.mark.parametrize(
    "position, name",
    [("members", "members"), ("non_members", "non_members"),
     ("reference_0", r"reference\[0\]"), ("reference_1", r"reference\[1\]")],
    ids=["members", "non-members", "reference-members",
         "reference-non-members"],
)
def test_callback_inputs_repeated_dataset_raises_at_construction(
    position, name
):
    endless = _batches(*MEMBERS).repeat()
    args = {"members": _batches(*MEMBERS),
            "non_members": _batches(*NON_MEMBERS)}
    reference = [_batches(*MEMBERS), _batches(*NON_MEMBERS)]
    if position.startswith("reference"):
        reference[int(position[-1])] = endless
    else:
        args[position] = endless
    with pytest.raises(
        ValueError,
        match=rf"`{name}` is an infinite tf\.data\.Dataset.*\.take\(n\).*"
              r"\.repeat\(\)",
    ):
        MembershipInferenceCallback(
            args["members"], args["non_members"], reference=tuple(reference),
        )


def test_callback_inputs_infinite_py_dataset_raises_at_construction():
    with pytest.raises(ValueError,
                       match=r"`non_members` is an infinite PyDataset"):
        MembershipInferenceCallback(MEMBERS, _EndlessPyDataset())


def test_callback_inputs_unknown_cardinality_stops_at_the_cap(model):
    def endless():
        while True:
            yield X[:10], Y[:10]

    spec = (tf.TensorSpec((None, 16), tf.float32),
            tf.TensorSpec((None,), tf.int64))
    data = tf.data.Dataset.from_generator(endless, output_signature=spec)
    assert data.cardinality() == tf.data.UNKNOWN_CARDINALITY
    callback = MembershipInferenceCallback(
        data, NON_MEMBERS, max_samples=5, verbose=0
    )
    callback.set_model(model)
    with pytest.raises(ValueError, match=r"`members` has unknown "
                       r"cardinality and yielded more than 50 records"):
        callback.on_train_begin()


def test_callback_inputs_unknown_cardinality_below_the_cap_is_read(model):
    data = _batches(*MEMBERS).filter(lambda x, y: tf.shape(y)[0] > 0)
    assert data.cardinality() == tf.data.UNKNOWN_CARDINALITY
    callback = MembershipInferenceCallback(data, NON_MEMBERS, verbose=0)
    callback.set_model(model)
    callback.on_train_begin()
    assert len(callback.member_ids) == 60


@pytest.mark.parametrize(
    "max_samples, expected",
    [(5, 50), (10_000, 100_000), (None, 10_000_000)],
    ids=["small", "default", "none"],
)
def test_callback_inputs_unknown_cardinality_cap(max_samples, expected):
    assert unknown_cardinality_cap(max_samples) == expected


# --------------------------------------------------- Explicit from_logits


def test_callback_inputs_from_logits_true_on_softmax_warns_once(model):
    callback = MembershipInferenceCallback(
        MEMBERS, NON_MEMBERS, from_logits=True, verbose=0
    )
    callback.set_model(model)
    with pytest.warns(FromLogitsWarning,
                      match="final activation is softmax") as caught:
        callback.on_train_begin()
    assert issubclass(FromLogitsWarning, KerasMiaWarning)
    assert caught[0].filename == __file__
    # Explicit wins: the outputs are still read as logits.
    assert callback._resolved_from_logits is True
    # Once per callback, not at every fit.
    callback._signal_fn_model = None
    with warnings.catch_warnings():
        warnings.simplefilter("error", FromLogitsWarning)
        callback.on_train_begin()


@pytest.mark.parametrize("from_logits", [None, False],
                         ids=["auto", "explicit-false"])
def test_callback_inputs_consistent_from_logits_is_silent(
    from_logits, model
):
    callback = MembershipInferenceCallback(
        MEMBERS, NON_MEMBERS, from_logits=from_logits, verbose=0
    )
    callback.set_model(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FromLogitsWarning)
        callback.on_train_begin()


def test_callback_inputs_from_logits_false_on_logits_still_raises():
    logits = dense_classifier(keras, 16, 4, width=16, activation="linear")
    logits.set_weights([w * 10 for w in logits.get_weights()])
    callback = MembershipInferenceCallback(
        MEMBERS, NON_MEMBERS, from_logits=False, verbose=0
    )
    callback.set_model(logits)
    with pytest.raises(ValueError, match="from_logits"):
        callback.on_train_begin()


# ------------------------------------------------------ NaN in inputs


def _with_nan(x, rows):
    x = x.copy()
    x[rows, 2] = np.nan
    return x


@pytest.mark.parametrize(
    "dict_inputs", [False, True], ids=["array", "dict"]
)
def test_callback_inputs_nan_inputs_named_at_train_begin(dict_inputs):
    x = _with_nan(X[:60], [3, 7, 50])
    if dict_inputs:
        inputs = {"a": keras.Input((10,), name="a"),
                  "b": keras.Input((6,), name="b")}
        merged = keras.layers.Concatenate()([inputs["a"], inputs["b"]])
        net = keras.Model(
            inputs, keras.layers.Dense(4, activation="softmax")(merged)
        )
        members = ({"a": x[:, :10], "b": x[:, 10:]}, Y[:60])
        non_members = ({"a": X[60:, :10], "b": X[60:, 10:]}, Y[60:])
    else:
        net = dense_classifier(keras, 16, 4, width=16)
        members, non_members = (x, Y[:60]), NON_MEMBERS
    callback = MembershipInferenceCallback(members, non_members, verbose=0)
    callback.set_model(net)
    with pytest.raises(ValueError, match=r"`members` x contains NaN or "
                       r"infinite values in 3 records"):
        callback.on_train_begin()


def test_callback_inputs_nan_inputs_named_at_an_evaluation(model):
    non_members = (_with_nan(X[60:], [40]), Y[60:])
    callback = MembershipInferenceCallback(
        MEMBERS, non_members, verbose=0, on_error="raise"
    )
    callback.set_model(model)
    callback.set_params({"epochs": 1, "steps": 1})
    callback.on_train_begin()
    with pytest.raises(ValueError, match=r"`non_members` x contains NaN or "
                       r"infinite values in 1 records"):
        callback.on_epoch_end(0, {})


def test_callback_inputs_nan_weights_hint_at_divergence(model):
    diverged = keras.models.clone_model(model)
    diverged.set_weights([np.full_like(w, np.nan)
                          for w in model.get_weights()])
    callback = MembershipInferenceCallback(MEMBERS, NON_MEMBERS, verbose=0)
    callback.set_model(diverged)
    with pytest.raises(ValueError, match=r"contains NaN.*\(has the model "
                       r"diverged, or are the inputs out of range\?\)"):
        callback.on_train_begin()


# ------------------------------------------------------------ log_dir


@pytest.mark.parametrize(
    "log_dir",
    ["/proc/keras_mia_logs", "/proc/self/keras_mia", "under-a-file",
     "nofs://bucket/logs"],
    ids=["proc", "proc-self", "under-a-file", "unknown-scheme"],
)
def test_callback_inputs_unwritable_log_dir_raises_os_error(
    log_dir, tmp_path, model, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    if log_dir == "under-a-file":
        (tmp_path / "file").write_text("not a directory")
        log_dir = str(tmp_path / "file" / "logs")
    callback = MembershipInferenceCallback(
        MEMBERS, NON_MEMBERS, log_dir=log_dir, verbose=0
    )
    callback.set_model(model)
    with pytest.raises(OSError, match=r"`log_dir` must be a directory that "
                       r"can be created and written; received log_dir="):
        callback.on_train_begin()
    # Nothing is created locally for a path with a URL scheme.
    assert not list(tmp_path.glob("nofs*"))
    assert callback._writer is None
