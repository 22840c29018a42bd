"""`MembershipInferenceCallback`: membership-inference metrics during `fit`.

At the end of selected epochs the callback runs the model once, in
inference mode, on a fixed sample of members (training records) and
non-members (held-out records), computes the per-record signals of
:mod:`keras_mia.signals` inside a `tf.function`, runs the attacks of
:mod:`keras_mia.attacks`, and writes the metrics into `logs` (so History,
EarlyStopping, ModelCheckpoint, CSVLogger, ReduceLROnPlateau and Keras'
TensorBoard callback see them), into its own :attr:`history`, into
TensorBoard (:mod:`keras_mia.tensorboard.summary`) and into per-record
`.npz` files.

`logs` keys (Python floats; higher = more leakage, except that an AUC
below 0.5 is not "more private", see `mia_auc_distance`):

* headline, the largest value over the attacks: `mia_auc`,
  `mia_auc_distance` (`|AUC - 0.5|`), `mia_advantage`, `mia_accuracy`,
  `mia_tpr_at_0.1pct_fpr`, `mia_tpr_at_1pct_fpr`;
* per attack: `mia_<attack>_auc`, `mia_<attack>_advantage`,
  `mia_<attack>_accuracy`, `mia_<attack>_tpr_at_1pct_fpr`;
* `mia_risk_mean_member`: the mean risk score of the evaluated members.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import sys
import tempfile
import traceback
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_mia import _flavour
from keras_mia import dp as dp_module
from keras_mia._backend import require_tensorboard, require_tensorflow
from keras_mia.attacks import ATTACKS, THRESHOLD_SOURCES, run_attacks
from keras_mia.dp import DpSgdConfig
from keras_mia.errors import (
    CallbackOrderWarning,
    DataOverlapWarning,
    EvaluationFailedWarning,
    FromLogitsWarning,
)
from keras_mia.signals import (
    LOSS_FLOOR,
    SAFE_LOG_FLOOR,
    Signals,
    as_class_labels,
    compute_signals,
)
from keras_mia.tensorboard import summary as tb_summary

tf = require_tensorflow("MembershipInferenceCallback")
import keras  # noqa: E402  (after the TensorFlow check, for its message)

logger = logging.getLogger(__name__)

#: Prefix of every `logs` key the callback writes.
LOG_PREFIX = "mia_"

#: Per-attack metrics that go into `logs` (TensorBoard has all five).
ATTACK_LOG_METRICS = ("auc", "advantage", "accuracy", "tpr_at_1pct_fpr")

#: Records the probe forward pass in `on_train_begin` checks.
_PROBE_RECORDS = 32

#: A dataset of unknown cardinality may yield at most this many times
#: `max_samples` records before reading stops with an error.
UNKNOWN_CARDINALITY_FACTOR = 10

#: The same limit, in records, when `max_samples` is None.
UNKNOWN_CARDINALITY_MAX_RECORDS = 10_000_000


def unknown_cardinality_cap(max_samples: int | None) -> int:
    """Most records read from a dataset of unknown cardinality.

    A `tf.data.Dataset` whose cardinality TensorFlow cannot tell (after
    `filter`, or from a generator) might never end; reading stops with a
    `ValueError` once it has yielded more records than this.

    Args:
        max_samples: The callback's `max_samples`, or None.

    Returns:
        `UNKNOWN_CARDINALITY_FACTOR * max_samples` (100,000 for the default
        `max_samples=10000`), or `UNKNOWN_CARDINALITY_MAX_RECORDS`
        (10 million) when `max_samples` is None.
    """
    if max_samples is None:
        return UNKNOWN_CARDINALITY_MAX_RECORDS
    return UNKNOWN_CARDINALITY_FACTOR * max_samples


def log_keys(attacks: Sequence[str] = ATTACKS) -> tuple[str, ...]:
    """The `logs` keys an evaluation writes, in order.

    Args:
        attacks: The attacks that run. Defaults to all of
            :data:`keras_mia.ATTACKS`.

    Returns:
        The key names, e.g. `("mia_auc", ..., "mia_risk_mean_member")`.
    """
    keys = [f"{LOG_PREFIX}{m}" for m in tb_summary.METRICS]
    keys.insert(1, f"{LOG_PREFIX}auc_distance")
    for attack in attacks:
        keys += [f"{LOG_PREFIX}{attack}_{m}" for m in ATTACK_LOG_METRICS]
    keys.append(f"{LOG_PREFIX}risk_mean_member")
    return tuple(keys)


# --------------------------------------------------------------------------
# Records: reading, validating and subsampling the user's data.


@dataclasses.dataclass
class _Records:
    """One set of records, in canonical order (by id when ids are given)."""

    x: Any  # array or dict of arrays, numpy
    y: np.ndarray
    ids: np.ndarray
    n_given: int  # records given, before subsampling

    def __len__(self) -> int:
        return len(self.y)


def _is_dataset(data: object) -> bool:
    return isinstance(data, tf.data.Dataset)


def _is_py_dataset(data: object) -> bool:
    # Keras 3's PyDataset, or Keras 2's Sequence when tf_keras is in use.
    types = (keras.utils.PyDataset, *_flavour.loaded_classes("utils.Sequence"))
    return isinstance(data, types)


def _py_dataset_batches(data: Any) -> int | None:
    """Batches of a PyDataset (or Keras 2 Sequence); None if infinite."""
    if isinstance(data, keras.utils.PyDataset):
        n = data.num_batches
    else:
        n = len(data)
    if n is None or (isinstance(n, float) and math.isinf(n)):
        return None
    return int(n)


def _check_finite(data: object, name: str) -> None:
    """Refuse endless inputs, which would be read until memory runs out."""
    if _is_dataset(data):
        if int(data.cardinality()) == tf.data.INFINITE_CARDINALITY:
            raise ValueError(
                f"`{name}` is an infinite tf.data.Dataset (cardinality "
                "INFINITE, e.g. from `.repeat()`); the callback reads its "
                "records once, so it must end. Pass `dataset.take(n)` for "
                "n batches, or the dataset without `.repeat()`."
            )
    elif _is_py_dataset(data) and _py_dataset_batches(data) is None:
        raise ValueError(
            f"`{name}` is an infinite PyDataset (`num_batches` is None or "
            "inf); the callback reads its records once, so it must have a "
            "finite `num_batches` (or `__len__`)."
        )


def _check_data_form(data: object, name: str) -> None:
    """Cheap structural check done in `__init__`."""
    if data is None:
        raise ValueError(f"`{name}` is required; received None.")
    if _is_dataset(data) or _is_py_dataset(data):
        _check_finite(data, name)
        return
    if isinstance(data, Signals) and name.startswith("reference"):
        return
    if not isinstance(data, tuple | list) or len(data) not in (2, 3):
        raise ValueError(
            f"`{name}` must be (x, y), (x, y, ids), a tf.data.Dataset or a "
            "keras.utils.PyDataset yielding batches of those; received "
            f"{type(data).__name__}"
            + (f" of length {len(data)}" if isinstance(data, tuple | list)
               else "")
            + "."
        )


def _to_numpy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: np.asarray(v) for k, v in value.items()}
    return np.asarray(value)


def _concat(parts: list[Any]) -> Any:
    if isinstance(parts[0], dict):
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return np.concatenate(parts)


def _take(x: Any, index: np.ndarray) -> Any:
    if isinstance(x, dict):
        return {k: v[index] for k, v in x.items()}
    return x[index]


def _read_elements(
    data: Any, name: str, max_records: int | None = None
) -> tuple[Any, np.ndarray, Any]:
    """Read (x, y, ids or None) from any accepted form, as numpy.

    `max_records` caps a dataset of unknown cardinality (see
    :func:`unknown_cardinality_cap`); None reads without a cap.
    """
    if _is_dataset(data) or _is_py_dataset(data):
        _check_finite(data, name)
        if _is_dataset(data):
            batches = data.as_numpy_iterator()
            unknown = (
                int(data.cardinality()) == tf.data.UNKNOWN_CARDINALITY
            )
        else:
            batches = (data[i] for i in range(_py_dataset_batches(data)))
            unknown = False
        n_read = 0
        xs, ys, ids = [], [], []
        for element in batches:
            if not isinstance(element, tuple | list) or len(element) not in (
                2, 3,
            ):
                raise ValueError(
                    f"`{name}` must yield batches (x, y) or (x, y, ids); "
                    f"received an element of type {type(element).__name__}."
                )
            ys.append(np.asarray(element[1]))
            if ys[-1].ndim == 0:
                raise ValueError(
                    f"`{name}` yields single records (a label of shape "
                    "()); it must yield batches, e.g. dataset.batch(256)."
                )
            xs.append(_to_numpy(element[0]))
            if len(element) == 3:
                ids.append(np.asarray(element[2]))
            n_read += len(ys[-1])
            if unknown and max_records is not None and n_read > max_records:
                raise ValueError(
                    f"`{name}` has unknown cardinality and yielded more "
                    f"than {max_records} records (the cap is 10 x "
                    "max_samples, or 10 million when max_samples is None); "
                    "it may be endless. Pass `dataset.take(n)` for n "
                    "batches, remove `.repeat()`, or declare its size with "
                    "`dataset.apply(tf.data.experimental.assert_cardinality"
                    "(n))`."
                )
        if not xs:
            raise ValueError(f"`{name}` is empty; it yielded no batches.")
        if ids and len(ids) != len(xs):
            raise ValueError(
                f"`{name}` yields ids in some batches but not in others."
            )
        return _concat(xs), np.concatenate(ys), (
            np.concatenate(ids) if ids else None
        )
    x = _to_numpy(data[0])
    y = np.asarray(data[1])
    ids = np.asarray(data[2]) if len(data) == 3 else None
    return x, y, ids


def _prepare_records(
    data: Any, name: str, max_samples: int | None, seed: int, stream: int
) -> _Records:
    """Read, validate, order by id and subsample one set of records."""
    x, y, ids = _read_elements(
        data, name, unknown_cardinality_cap(max_samples)
    )
    n = len(y)
    if n == 0:
        raise ValueError(f"`{name}` holds no records; at least one is needed.")
    sizes = (
        {f"x[{k!r}]": len(v) for k, v in x.items()}
        if isinstance(x, dict) else {"x": len(x)}
    )
    sizes["y"] = n
    if ids is not None:
        sizes["ids"] = len(ids)
    if len(set(sizes.values())) != 1:
        raise ValueError(
            f"`{name}` parts must have the same number of records; "
            f"received {sizes}."
        )
    if ids is None:
        ids = np.arange(n)
        order = np.arange(n)
    else:
        if ids.ndim != 1:
            raise ValueError(
                f"`{name}` ids must have shape (n,); received {ids.shape}."
            )
        if len(np.unique(ids)) != n:
            raise ValueError(
                f"`{name}` ids must be unique; {n - len(np.unique(ids))} "
                "are repeated."
            )
        # Sorting by id makes the records' order, and so the cross-fit
        # folds and the subsample, independent of how a pipeline shuffles.
        order = np.argsort(ids, kind="stable")
    if max_samples is not None and n > max_samples:
        rng = np.random.default_rng([seed, stream])
        order = order[np.sort(rng.choice(n, max_samples, replace=False))]
    return _Records(_take(x, order), y[order], ids[order], n)


# --------------------------------------------------------------------------
# The model side: head selection, logits or probabilities, graph signals.


def _head_names(outputs: Any, model: keras.Model) -> list[str]:
    if isinstance(outputs, dict):
        return list(outputs)
    names = list(getattr(model, "output_names", None) or [])
    if len(names) != len(outputs):
        names = [str(i) for i in range(len(outputs))]
    return names


def _select_head(outputs: Any, model: keras.Model, output: str | int | None):
    """Return (head tensor, head name, head index or None)."""
    if not isinstance(outputs, dict | list | tuple):
        if output not in (None, 0) and output != _single_name(model):
            raise ValueError(
                "`output` names a head, but the model has a single output; "
                f"received output={output!r}. Leave it None."
            )
        return outputs, _single_name(model), 0
    names = _head_names(outputs, model)
    if len(names) == 1 and output is None:
        output = names[0]
    if output is None:
        raise ValueError(
            f"The model has {len(names)} outputs {names}; pass `output=` "
            "with the name (or index) of the classification head to attack."
        )
    if isinstance(output, int) and not isinstance(outputs, dict):
        if not 0 <= output < len(names):
            raise ValueError(
                f"`output` index must be in [0, {len(names)}); received "
                f"output={output}. Heads: {names}."
            )
        return outputs[output], names[output], output
    if output not in names:
        raise ValueError(
            f"`output` must be one of the model's heads {names}; received "
            f"output={output!r}."
        )
    index = names.index(output)
    if isinstance(outputs, dict):
        return outputs[output], output, index
    return outputs[index], output, index


def _single_name(model: keras.Model) -> str:
    names = list(getattr(model, "output_names", None) or [])
    return names[0] if len(names) == 1 else "output"


def _activation_name(model: keras.Model, index: int) -> str | None:
    """Name of the final activation of a head, or None if unknown."""
    try:
        tensor = model.outputs[index]
        layer = tensor._keras_history[0]
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    if isinstance(layer, _flavour.loaded_classes("layers.Softmax")):
        return "softmax"
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    return getattr(activation, "__name__", None)


def _loss_from_logits(model: keras.Model, head: str, index: int):
    """`from_logits` of the compiled loss of a head: True, False or None."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, dict):
        loss = loss.get(head)
    elif isinstance(loss, list | tuple):
        loss = loss[index] if index < len(loss) else None
    if loss is None:
        return None
    if isinstance(loss, str):
        return False if "crossentropy" in loss else None
    value = getattr(loss, "from_logits", None)
    return value if isinstance(value, bool) else None


def _infer_from_logits(model: keras.Model, head: str, index: int) -> bool:
    activation = _activation_name(model, index)
    if activation in ("softmax", "sigmoid"):
        return False
    loss_logits = _loss_from_logits(model, head, index)
    if activation == "linear" and loss_logits is True:
        return True
    if activation is None and loss_logits is not None:
        return loss_logits
    raise ValueError(
        f"Cannot tell whether the head {head!r} outputs logits or "
        f"probabilities (final activation: {activation or 'unknown'}; "
        "compiled loss from_logits: "
        f"{'unknown' if loss_logits is None else loss_logits}). Pass "
        "from_logits=True or from_logits=False to "
        "MembershipInferenceCallback."
    )


def _log1p_exp_neg_abs(z):
    """`log(1 + exp(z))` as numpy's `logaddexp(0, z)` computes it."""
    return tf.maximum(z, 0.0) + tf.math.log1p(tf.exp(-tf.abs(z)))


def graph_signals(outputs, labels, from_logits: bool) -> dict[str, Any]:
    """Per-record signals in float64, inside a TensorFlow graph.

    The formulas and floors are those of
    :func:`keras_mia.signals.compute_signals`, in the same order of
    operations, so both agree to rounding (about 1e-15 relative).

    Args:
        outputs: Model outputs of one head, shape `(n, C)`, `(n, 1)` or
            `(n,)` (a single sigmoid unit, treated as two classes).
        labels: int64 class indices, shape `(n,)`, already validated.
        from_logits: Whether `outputs` are logits.

    Returns:
        A dict of tensors of shape `(n,)`: `correctness` (bool),
        `confidence`, `entropy`, `modified_entropy`, `loss` (float64), and
        `n_nonfinite` (rows with NaN or inf), `low`, `high` and
        `worst_sum_error` (for the probability checks) as scalars.
    """
    out = tf.cast(outputs, tf.float64)
    if out.shape.rank == 1:
        out = out[:, None]
    sigmoid = out.shape[-1] == 1
    n_nonfinite = tf.reduce_sum(
        tf.cast(~tf.reduce_all(tf.math.is_finite(out), axis=1), tf.int64)
    )
    low, high = tf.reduce_min(out), tf.reduce_max(out)
    log_floor = tf.constant(math.log(SAFE_LOG_FLOOR), tf.float64)
    if from_logits:
        if sigmoid:
            z = out[:, 0]
            log_probs = tf.stack(
                [-_log1p_exp_neg_abs(z), -_log1p_exp_neg_abs(-z)], axis=1
            )
            correct = tf.cast(z > 0, tf.int64) == labels
        else:
            # log-softmax as signals._log_softmax: log1p of the sum without
            # the top class keeps log p exact for confident rows.
            top = tf.argmax(out, axis=1)
            top_mask = tf.one_hot(top, tf.shape(out)[1], True, False)
            shifted = out - tf.gather(out, top[:, None], batch_dims=1)
            others = tf.where(top_mask, tf.zeros_like(out), tf.exp(shifted))
            log_probs = shifted - tf.math.log1p(
                tf.reduce_sum(others, axis=1, keepdims=True)
            )
            correct = top == labels
        n_classes = tf.shape(log_probs)[1]
        mask = tf.one_hot(labels, n_classes, on_value=True, off_value=False)
        probs = tf.exp(log_probs)
        neg_log_p = -tf.maximum(log_probs, log_floor)
        entropy = tf.reduce_sum(probs * neg_log_p, axis=1)
        log_p_y = tf.gather(log_probs, labels[:, None], batch_dims=1)[:, 0]
        p_y = tf.gather(probs, labels[:, None], batch_dims=1)[:, 0]
        weights = tf.where(mask, -tf.math.expm1(log_probs), probs)
        # log(1 - p): log1p(-p) for small p, log(-expm1(log p)) near 1.
        log_complement = tf.where(
            log_probs < -math.log(2.0),
            tf.math.log1p(-probs),
            tf.math.log(-tf.math.expm1(log_probs)),
        )
        log_terms = tf.where(
            mask, neg_log_p, -tf.maximum(log_complement, log_floor)
        )
        modified_entropy = tf.reduce_sum(weights * log_terms, axis=1)
        loss = tf.minimum(
            -log_p_y, tf.constant(-math.log(LOSS_FLOOR), tf.float64)
        )
        worst_sum_error = tf.constant(0.0, tf.float64)
    else:
        probs = tf.clip_by_value(out, 0.0, 1.0)
        if sigmoid:
            probs = tf.concat([1.0 - probs, probs], axis=1)
        worst_sum_error = tf.reduce_max(
            tf.abs(tf.reduce_sum(probs, axis=1) - 1.0)
        )
        n_classes = tf.shape(probs)[1]
        mask = tf.one_hot(labels, n_classes, on_value=True, off_value=False)
        p_y = tf.gather(probs, labels[:, None], batch_dims=1)[:, 0]
        neg_log_p = -tf.math.log(tf.maximum(probs, SAFE_LOG_FLOOR))
        entropy = tf.reduce_sum(probs * neg_log_p, axis=1)
        weights = tf.where(mask, 1.0 - p_y[:, None], probs)
        log_terms = tf.where(
            mask, neg_log_p,
            -tf.math.log(tf.maximum(1.0 - probs, SAFE_LOG_FLOOR)),
        )
        modified_entropy = tf.reduce_sum(weights * log_terms, axis=1)
        correct = tf.argmax(probs, axis=1) == labels
        loss = -tf.math.log(tf.maximum(p_y, LOSS_FLOOR))
    return {
        "correctness": correct,
        "confidence": p_y,
        "entropy": entropy,
        "modified_entropy": modified_entropy,
        "loss": loss,
        "n_nonfinite": n_nonfinite,
        "low": low,
        "high": high,
        "worst_sum_error": worst_sum_error,
    }


# --------------------------------------------------------------------------
# The callback.


def _check_positive_int(value: object, name: str, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        domain = "a positive int or None" if allow_none else "a positive int"
        raise ValueError(
            f"`{name}` must be {domain}; received {name}={value!r}."
        )


class MembershipInferenceCallback(
    _flavour.FlavouredCallback, keras.callbacks.Callback
):
    """Measures membership-inference leakage of the model while it trains.

    Put it **first** in the `callbacks` list: Keras hands one `logs` dict to
    the callbacks in list order, so only callbacks after it see the
    `mia_*` keys. It warns (:class:`CallbackOrderWarning`) when a
    CSVLogger, a TensorBoard callback or a callback monitoring a `mia_*`
    key comes before it.

    When it evaluates: at the end of the first epoch of every `fit` call,
    of every epoch whose 0-based index is a multiple of `every_n_epochs`,
    and of the last epoch of `fit`; optionally every `every_n_batches`
    training batches as well. On the other epochs the `mia_*` keys are
    **absent** from `logs`. Consequences, by consumer:

    * `History`: `history.history["mia_auc"]` has one entry per evaluated
      epoch, not per epoch, so it does not line up with `history.epoch`;
      use this callback's :attr:`history` (`{epoch: metrics}`) instead.
    * `CSVLogger`: its columns come from the first epoch, which is always
      evaluated; on other epochs the `mia_*` cells read `NA`.
    * `EarlyStopping` / `ReduceLROnPlateau` / `ModelCheckpoint` on a
      `mia_*` key: on epochs without the key they warn that the metric is
      missing and do nothing, so their `patience` counts evaluations, not
      epochs. Pass `mode="min"`: Keras cannot infer the direction of an
      unknown metric and raises with `mode="auto"`.

    A failed evaluation (any exception in it) is logged with its traceback,
    warned about with :class:`~keras_mia.EvaluationFailedWarning`, and
    recorded as `nan` for every key in `logs` and :attr:`history`
    (with the error text under `"error"`); TensorBoard and the records
    folder get nothing for that step (the point is missing, not zero);
    training continues. Pass `on_error="raise"` to re-raise instead. A
    model whose outputs turn NaN or infinite (a diverged model) makes
    the evaluation fail in this way, with the count of bad rows in the
    message, or, when the set's inputs hold NaN or infinite values, the
    count of such records; NaN outputs already at `on_train_begin` raise
    there. A
    `KeyboardInterrupt` during an evaluation flushes and closes the
    TensorBoard writer and is re-raised; a records file is written under
    a temporary name (`*.npz.tmp`, removed on an exception or interrupt)
    and renamed when complete, so no partial `.npz` file is ever left,
    even after a hard kill.

    Resuming (a new callback, the same `log_dir`, `fit(initial_epoch=k)`)
    continues the step axes: epoch steps are the absolute epoch index,
    and the batch steps of `every_n_batches` start at `k * steps`. A
    records file never replaces an existing one: a second evaluation of
    an epoch is saved as `epoch_<NNNN>_1.npz` and so on.

    Keras 2: the same class works in `tf_keras` `fit` (see
    :mod:`keras_mia._flavour`): the object takes the flavour of the
    model Keras hands it. Distribution: under a `MirroredStrategy` the
    evaluation runs the model's plain forward pass on one device. Under
    a `MultiWorkerMirroredStrategy` (only with `tf_keras`: Keras 3.15's
    `fit` does not run it, keras-team/keras#20585) every worker reads and
    checks the data at `on_train_begin`, so a bad input fails on all of
    them alike; then only the chief evaluates, with plain forward passes
    (no collectives, which would pair with the other workers' training
    all-reduce), and only the chief writes TensorBoard events and
    records files. On the other workers the `mia_*` keys are absent from
    `logs`; a :class:`~keras_mia.PrivacyEarlyStopping` shares the chief's
    decision with them.

    Note: the model runs in inference mode (`training=False`): dropout is
    off and batch normalisation uses its moving statistics, as for any
    deployed model. Dataset inputs are read once, at the first
    `on_train_begin`, into host memory, and the same records (the seeded
    `max_samples` subsample) are used at every evaluation of the
    callback's lifetime, including later `fit` calls. So a dataset must
    end: an infinite one (`.repeat()`, or a PyDataset whose
    `num_batches` is None) is refused in `__init__`, and one of unknown
    cardinality (after `filter`, or from a generator) is read only up to
    :func:`unknown_cardinality_cap` records (10 x `max_samples`, or 10
    million when `max_samples` is None) and refused beyond it; a larger
    finite dataset of unknown size must declare its size with
    `tf.data.experimental.assert_cardinality`. Only the
    TensorFlow backend of Keras 3, and Keras 2 (`tf_keras`), are
    supported.

    Args:
        members: Records the model trains on: `(x, y)`, `(x, y, ids)`, a
            `tf.data.Dataset` or a `keras.utils.PyDataset` yielding
            batches of those. `x` is an array or a dict of arrays (named
            model inputs); `y` holds integer labels of shape `(n,)` or
            `(n, 1)`, or one-hot labels; `ids` are unique ints or strings
            that name records in the outputs (defaults to the position).
            Labels are read from the same elements as the inputs, so a
            shuffled pipeline cannot misalign them; give ids with a
            shuffled pipeline, since positions then change between reads.
        non_members: Records the model never trains on, in the same forms.
        reference: Optional `(reference_members, reference_non_members)`
            for `"shadow"` thresholds: either data in the forms above
            (evaluated with the model at each evaluation: a disjoint part
            of the training data and of the held-out data), or two
            :class:`~keras_mia.Signals` computed elsewhere (e.g. from a
            shadow model). Defaults to None.
        threshold_source: `"shadow"`, `"cross_fit"` or `"optimistic"`.
            Defaults to `"shadow"` with `reference`, else `"cross_fit"`.
        attacks: Attacks to run, from :data:`keras_mia.ATTACKS`. Defaults
            to all five.
        every_n_epochs: Evaluate every this many epochs (see above).
            Defaults to 1.
        every_n_batches: Also evaluate every this many training batches,
            or None. Defaults to None. Setting it turns off Keras' async
            batch dispatch for the whole `fit`.
        max_samples: Largest number of records used per set (members,
            non-members, each reference set): a seeded subsample, the same
            at every evaluation. None uses all. Defaults to 10000.
        batch_size: Records per forward pass. Defaults to 512.
        output: Name or index of the head to attack for a model with
            several outputs. Defaults to None (single-output models).
        from_logits: Whether the head outputs logits. Defaults to None:
            probabilities if its final activation is softmax or sigmoid,
            logits if it is linear and the compiled loss has
            `from_logits=True`; any other case raises and asks for it. An
            explicit value is used as given; `True` on a head whose final
            activation is softmax or sigmoid warns
            (:class:`FromLogitsWarning`), since such outputs are
            probabilities and reading them as logits under-reports the
            leakage.
        log_dir: Directory for TensorBoard logs, usually the `log_dir` of
            Keras' TensorBoard callback. The callback writes the run
            `<log_dir>/privacy` and the files
            `<log_dir>/privacy/records/epoch_<NNNN>.npz`. Defaults to None
            (no files).
        top_k: Rows of the riskiest-records table in TensorBoard and of
            :meth:`top_risk_records`. Defaults to 10.
        n_bootstraps: Bootstrap resamples for the intervals of each
            attack (kept in :attr:`results`, not in `logs`): 0 for none, or
            at least 2. Defaults to 0.
        seed: Seed of the subsample and of the cross-fit folds. Defaults
            to 0.
        verbose: 1 prints one line per evaluation, 0 is silent. Defaults
            to 1.
        on_error: `"warn"` or `"raise"`, see above. Defaults to `"warn"`.
        dp: A :class:`~keras_mia.DpSgdConfig` when the model trains with
            DP-SGD. Each evaluation then also logs `mia_dp_epsilon`, the
            theoretical epsilon after the epochs trained so far (computed
            with `dp-accounting`; `n_train` defaults to the number of
            members given), and `mia_empirical_epsilon`, the epsilon lower
            bound implied by the attacks' member/non-member calls (the best
            of the attacks, Bonferroni-corrected for their number, at
            `dp.delta` and 95 % confidence). The lower bound assumes each
            decision rule was fitted without the records it judges; that
            holds for `"shadow"` and `"cross_fit"` thresholds, not for
            `"optimistic"` ones, where it is refused. Defaults to None.
        check_overlap: Hash the inputs of every evaluated member and
            non-member at `on_train_begin` and warn
            (:class:`~keras_mia.errors.DataOverlapWarning`, with the
            count) when some are identical; such records make the
            measured leakage an underestimate. Costs one pass over the
            inputs. Defaults to False.

    Attributes:
        history: `{epoch: metrics}` for every epoch evaluated, 0-based.
            The metrics are the `logs` keys plus, for each headline metric,
            the attack it came from under `"<key>_attack"` (for example
            `history[3]["mia_auc_attack"] == "loss"`). Kept across `fit`
            calls; an epoch evaluated again replaces its entry.
        batch_history: One dict per batch-frequency evaluation, with
            `"epoch"`, `"batch"`, `"step"` and the headline keys.
        results: `{epoch: EvaluationResult}` of the evaluations.

    Raises:
        ValueError: On an invalid argument or an infinite dataset (in
            `__init__`), or invalid data (in `on_train_begin`, before the
            first epoch).
        ImportError: If `log_dir` is given and TensorBoard is missing
            (in `__init__`).
        OSError: If `log_dir` cannot be created or written (in
            `on_train_begin`).
        NotImplementedError: If Keras does not use the TensorFlow backend.
    """

    def __init__(
        self,
        members: Any,
        non_members: Any,
        *,
        reference: tuple[Any, Any] | None = None,
        threshold_source: str | None = None,
        attacks: Sequence[str] = ATTACKS,
        every_n_epochs: int = 1,
        every_n_batches: int | None = None,
        max_samples: int | None = 10_000,
        batch_size: int = 512,
        output: str | int | None = None,
        from_logits: bool | None = None,
        log_dir: str | os.PathLike | None = None,
        top_k: int = 10,
        n_bootstraps: int = 0,
        seed: int = 0,
        verbose: int = 1,
        on_error: str = "warn",
        check_overlap: bool = False,
        dp: DpSgdConfig | None = None,
    ) -> None:
        super().__init__()
        if keras.backend.backend() != "tensorflow":
            raise NotImplementedError(
                "MembershipInferenceCallback supports the TensorFlow backend "
                f"of Keras only; the active backend is "
                f"{keras.backend.backend()!r}."
            )
        _check_data_form(members, "members")
        _check_data_form(non_members, "non_members")
        if reference is not None:
            if not isinstance(reference, tuple | list) or len(reference) != 2:
                raise ValueError(
                    "`reference` must be a pair (members, non_members); "
                    f"received {type(reference).__name__}."
                )
            _check_data_form(reference[0], "reference[0]")
            _check_data_form(reference[1], "reference[1]")
        if threshold_source is not None and (
            threshold_source not in THRESHOLD_SOURCES
        ):
            raise ValueError(
                f"`threshold_source` must be one of {list(THRESHOLD_SOURCES)} "
                f"or None; received threshold_source={threshold_source!r}."
            )
        if threshold_source == "shadow" and reference is None:
            raise ValueError(
                "threshold_source='shadow' needs `reference`; pass "
                "reference=(members, non_members) or leave threshold_source "
                "None for 'cross_fit'."
            )
        if isinstance(attacks, str):
            raise ValueError(
                "`attacks` must be a list of attack names, not a string; "
                f"received attacks={attacks!r}. Use attacks=[{attacks!r}]."
            )
        attacks = tuple(attacks)
        unknown = [a for a in attacks if a not in ATTACKS]
        if not attacks or unknown or len(set(attacks)) != len(attacks):
            raise ValueError(
                f"`attacks` must be distinct names from {list(ATTACKS)}; "
                f"received attacks={list(attacks)}."
            )
        _check_positive_int(every_n_epochs, "every_n_epochs", False)
        _check_positive_int(every_n_batches, "every_n_batches", True)
        _check_positive_int(max_samples, "max_samples", True)
        _check_positive_int(batch_size, "batch_size", False)
        _check_positive_int(top_k, "top_k", False)
        if isinstance(n_bootstraps, bool) or not isinstance(
            n_bootstraps, int
        ) or n_bootstraps < 0 or n_bootstraps == 1:
            raise ValueError(
                "`n_bootstraps` must be 0 (no intervals) or an int >= 2; "
                f"received n_bootstraps={n_bootstraps!r}."
            )
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(
                f"`seed` must be an int >= 0; received seed={seed!r}."
            )
        if from_logits is not None and not isinstance(from_logits, bool):
            raise ValueError(
                "`from_logits` must be True, False or None; received "
                f"from_logits={from_logits!r}."
            )
        if output is not None and (
            isinstance(output, bool) or not isinstance(output, str | int)
        ):
            raise ValueError(
                "`output` must be a head name, an index or None; received "
                f"output={output!r}."
            )
        if on_error not in ("warn", "raise"):
            raise ValueError(
                "`on_error` must be 'warn' or 'raise'; received "
                f"on_error={on_error!r}."
            )
        if not isinstance(check_overlap, bool):
            raise ValueError(
                "`check_overlap` must be True or False; received "
                f"check_overlap={check_overlap!r}."
            )
        if verbose not in (0, 1, 2) and not isinstance(verbose, bool):
            raise ValueError(
                f"`verbose` must be 0, 1 or 2; received verbose={verbose!r}."
            )
        if log_dir is not None:
            if not isinstance(log_dir, str | os.PathLike) or not (
                os.fspath(log_dir)
            ):
                raise ValueError(
                    "`log_dir` must be a directory path or None; received "
                    f"log_dir={log_dir!r}."
                )
            require_tensorboard("MembershipInferenceCallback(log_dir=...)")
            log_dir = os.fspath(log_dir)

        if dp is not None:
            if not isinstance(dp, DpSgdConfig):
                raise ValueError(
                    "`dp` must be a keras_mia.DpSgdConfig or None; received "
                    f"{type(dp).__name__}."
                )
            if threshold_source == "optimistic":
                raise ValueError(
                    "`dp` needs thresholds fitted without the records they "
                    "judge for a valid epsilon lower bound; received "
                    "threshold_source='optimistic'. Use 'cross_fit' or "
                    "'shadow'."
                )
            dp_module.require_dp_accounting()
        self._data = {"members": members, "non_members": non_members}
        if reference is not None:
            self._data["reference_members"] = reference[0]
            self._data["reference_non_members"] = reference[1]
        self.threshold_source = threshold_source
        self.attacks = attacks
        self.every_n_epochs = every_n_epochs
        self.every_n_batches = every_n_batches
        self.max_samples = max_samples
        self.batch_size = batch_size
        self.output = output
        self.from_logits = from_logits
        self.log_dir = log_dir
        self.top_k = top_k
        self.n_bootstraps = n_bootstraps
        self.seed = seed
        self.verbose = int(verbose)
        self.on_error = on_error
        self.check_overlap = check_overlap
        self.dp = dp

        self.history: dict[int, dict[str, Any]] = {}
        self.batch_history: list[dict[str, Any]] = []
        self.results: dict[int, Any] = {}
        self._records: dict[str, _Records | Signals] | None = None
        self._tensors: dict[str, list[tuple[Any, Any]]] = {}
        self._int_labels: dict[str, np.ndarray] = {}
        self._signal_fn = None
        self._signal_fn_model = None
        self._resolved_from_logits: bool | None = None
        self._n_classes: int | None = None
        self._writer = None
        self._gate = None
        self._fit_first_epoch = True
        self._record_info_written = False
        self._train_ended = False
        self._gate_reported = False
        self._last_epoch: int | None = None
        self._last_signals: tuple[Signals, Signals] | None = None
        self._global_batch = 0
        self._epoch = 0
        self._chief = True
        self._warned: set[tuple[type, str]] = set()
        if every_n_batches is not None:
            # An instance attribute, so that Keras sees a batch hook (and
            # turns off async dispatch) only when batch evaluation is on.
            self.on_train_batch_end = self._on_train_batch_end

    # -- Keras hooks --------------------------------------------------------

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Reads and checks the data, builds the forward pass, opens logs."""
        self._fit_first_epoch = True
        self._record_info_written = False
        self._last_epoch = None
        callbacks = self._sibling_callbacks()
        self._warn_about_order(callbacks)
        self._gate = _find_gate(callbacks)
        self._train_ended = self._gate_reported = False
        if self._gate is not None:
            self._gate.outcome_listeners = [self._write_gate_outcome]
        if self._records is None:
            self._records = {
                name: data if isinstance(data, Signals) else _prepare_records(
                    data, name, self.max_samples, self.seed, stream
                )
                for stream, (name, data) in enumerate(self._data.items())
            }
            self._check_set_sizes()
            if self.check_overlap:
                self._warn_about_overlap()
        if self._signal_fn_model is not self.model:
            self._build_forward_pass()
        if self.dp is not None:
            # The DP budget needs a valid config for this data: fail now
            # rather than as a failed evaluation at every epoch.
            n_train = self.dp.n_train or self._records["members"].n_given
            if self.dp.batch_size > n_train:
                raise ValueError(
                    f"`dp.batch_size` ({self.dp.batch_size}) must not exceed "
                    f"the training-set size ({n_train}: `dp.n_train`, or the "
                    "number of members given)."
                )
        self._chief = _is_chief(self.model)
        if self.log_dir is not None and self._chief:
            run_dir = os.path.join(self.log_dir, tb_summary.RUN_NAME)
            self._writer = _open_writer(run_dir, self.log_dir)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Notes the epoch; on a resumed `fit`, moves the batch steps on."""
        if self._fit_first_epoch and self._global_batch == 0 and epoch:
            steps = (self.params or {}).get("steps") or 0
            self._global_batch = epoch * int(steps)
        self._epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Evaluates on the selected epochs and writes into `logs`."""
        first, self._fit_first_epoch = self._fit_first_epoch, False
        self._last_epoch = epoch
        last = epoch == (self.params or {}).get("epochs", 0) - 1
        if not (first or last or epoch % self.every_n_epochs == 0):
            return
        if not self._chief:
            # Other workers of a multi-worker run: the chief evaluates.
            return
        metrics = self._evaluate(epoch)
        if logs is not None:
            logs.update({k: v for k, v in metrics.items()
                         if isinstance(v, float)})

    def on_train_end(self, logs: dict | None = None) -> None:
        """Closes the TensorBoard writer (after the gate's outcome)."""
        self._train_ended = True
        self._close_writer_when_done()

    def _write_gate_outcome(self, gate) -> None:
        """Called by the gate at the end of its `on_train_end`."""
        if self._writer is not None and self._last_epoch is not None:
            with self._writer.as_default():
                tb_summary.json_text(
                    "mia_meta/gate", "gate", gate.describe(outcome=True),
                    step=self._last_epoch,
                )
        self._gate_reported = True
        self._close_writer_when_done()

    def _close_writer_when_done(self) -> None:
        # A gate reports in its own on_train_end, which Keras may call
        # after this callback's: the writer stays open until both ran.
        waiting = self._gate is not None and not self._gate_reported
        if self._train_ended and not waiting:
            self._close_writer()

    def _close_writer(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.flush()
            writer.close()

    def _on_train_batch_end(self, batch: int, logs: dict | None = None):
        self._global_batch += 1
        if self._global_batch % self.every_n_batches or not self._chief:
            return
        epoch = self._epoch
        try:
            result = self._run_attacks()
        except Exception as err:  # noqa: BLE001 - see on_error
            self._handle_failure(err, f"batch {batch + 1}")
            return
        headline = tb_summary.headline_metrics(result)
        entry = {"epoch": epoch, "batch": batch, "step": self._global_batch}
        entry.update({f"{LOG_PREFIX}{k}": v for k, (v, _) in headline.items()})
        self.batch_history.append(entry)
        if self._writer is not None:
            with self._writer.as_default():
                tb_summary.scalars(result, self._global_batch, "mia_batch")

    # -- Evaluation ---------------------------------------------------------

    def evaluate_now(self) -> Any:
        """Runs one evaluation of the current model outside the hooks.

        The callback must have been through `on_train_begin` (a `fit`
        call, or a direct call with `set_model`).

        Returns:
            The :class:`~keras_mia.EvaluationResult`.
        """
        return self._run_attacks()

    def member_signals(self) -> Signals:
        """Signals of the evaluated members under the current weights.

        Returns:
            A :class:`~keras_mia.Signals` in the callback's record order
            (see :attr:`member_ids`).
        """
        return self._signals("members")

    @property
    def member_ids(self) -> np.ndarray:
        """Ids of the evaluated members, in the order of every output."""
        return self._records["members"].ids

    def top_risk_records(self, epoch: int | None = None) -> list[dict]:
        """The `top_k` members with the highest risk score at an epoch.

        Args:
            epoch: A 0-based evaluated epoch. Defaults to the latest.

        Returns:
            Dicts with `id`, `label` and `risk_score`, riskiest first.
        """
        if not self.results:
            return []
        epoch = max(self.results) if epoch is None else epoch
        scores = self.results[epoch].member_risk_scores
        members = self._records["members"]
        order = np.argsort(-scores, kind="stable")[: self.top_k]
        labels = self._labels("members")
        return [
            {"id": members.ids[i].item(), "label": int(labels[i]),
             "risk_score": float(scores[i])}
            for i in order
        ]

    def _evaluate(self, epoch: int) -> dict:
        try:
            result = self._run_attacks()
            metrics = self._metrics(result, epoch)
            self.results[epoch] = result
            self._write_outputs(result, epoch, metrics)
        except Exception as err:  # noqa: BLE001 - see on_error
            self._handle_failure(err, f"epoch {epoch + 1}")
            metrics = {k: math.nan for k in self._log_keys()}
            metrics["error"] = f"{type(err).__name__}: {err}"
        except BaseException:
            # An interrupt: keep what the event file holds readable.
            self._close_writer()
            raise
        self.history[epoch] = metrics
        if self.verbose and "error" not in metrics:
            self._print(
                f"Epoch {epoch + 1}: MembershipInferenceCallback "
                f"auc={metrics['mia_auc']:.4f} "
                f"advantage={metrics['mia_advantage']:.4f} "
                f"tpr@1%fpr={metrics['mia_tpr_at_1pct_fpr']:.4f} "
                f"(strongest: {metrics['mia_advantage_attack']}) "
                f"mean member risk={metrics['mia_risk_mean_member']:.4f}"
            )
        return metrics

    def _handle_failure(self, err: Exception, where: str) -> None:
        if self.on_error == "raise":
            raise err
        logger.error(
            "MembershipInferenceCallback: evaluation at %s failed; "
            "recording nan and continuing training.\n%s",
            where, "".join(traceback.format_exception(err)),
        )
        warnings.warn(
            f"MembershipInferenceCallback: evaluation at {where} failed "
            f"({type(err).__name__}: {err}); its metrics are nan. Pass "
            "on_error='raise' to stop training instead.",
            EvaluationFailedWarning,
            stacklevel=3,
        )

    def _run_attacks(self):
        signals = {name: self._signals(name) for name in self._records}
        self._last_signals = (signals["members"], signals["non_members"])
        reference = None
        if "reference_members" in signals:
            reference = (
                signals["reference_members"], signals["reference_non_members"]
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = run_attacks(
                signals["members"],
                signals["non_members"],
                reference=reference,
                threshold_source=self.threshold_source,
                attacks=self.attacks,
                target_fprs=tb_summary.TARGET_FPRS,
                n_bootstraps=self.n_bootstraps,
                seed=self.seed,
            )
        for w in caught:
            self._warn_once(w)
        return result

    def _warn_once(self, w: warnings.WarningMessage) -> None:
        """Re-emit an engine warning, once per category and text."""
        key = (w.category, str(w.message))
        if key in self._warned:
            logger.debug("Repeated warning: %s", w.message)
            return
        self._warned.add(key)
        warnings.warn_explicit(
            w.message, w.category, w.filename, w.lineno,
        )

    def _metrics(self, result, epoch: int) -> dict[str, Any]:
        metrics: dict[str, Any] = {}
        headline = tb_summary.headline_metrics(result)
        for key in log_keys(self.attacks):
            name = key[len(LOG_PREFIX):]
            if name in headline:
                metrics[key] = headline[name][0]
        for name, attack in result.attacks.items():
            values = tb_summary.attack_metrics(attack)
            for metric in ATTACK_LOG_METRICS:
                metrics[f"{LOG_PREFIX}{name}_{metric}"] = values[metric]
        metrics[f"{LOG_PREFIX}risk_mean_member"] = float(
            np.mean(result.member_risk_scores)
        )
        for name, (_, attack) in headline.items():
            metrics[f"{LOG_PREFIX}{name}_attack"] = attack
        if self.dp is not None:
            metrics.update(self._dp_metrics(result, epoch))
        return metrics

    def _dp_metrics(self, result, epoch: int) -> dict[str, float]:
        """Theoretical and empirical epsilon after `epoch + 1` epochs."""
        dp = self.dp
        theoretical = dataclasses.replace(dp, epochs=epoch + 1).epsilon(
            n_train=self._records["members"].n_given
        )
        bounds = [
            dp_module.epsilon_lower_bound(
                a.n_true_positives, a.n_members, a.n_false_positives,
                a.n_non_members, delta=dp.delta,
                n_comparisons=len(result.attacks), rule=a.attack,
            ).epsilon
            for a in result.attacks.values()
        ]
        return {
            f"{LOG_PREFIX}dp_epsilon": float(theoretical),
            f"{LOG_PREFIX}empirical_epsilon": float(max(bounds)),
        }

    # -- Forward pass ---------------------------------------------------------

    def _labels(self, name: str) -> np.ndarray:
        """Integer labels of a set, validated once per forward-pass build."""
        if name not in self._int_labels:
            self._int_labels[name] = as_class_labels(
                self._records[name].y, self._n_classes, name=f"{name} labels"
            )
        return self._int_labels[name]

    def _build_forward_pass(self) -> None:
        """Probes the model, resolves head and logits, traces the function."""
        self._int_labels = {}
        members = self._records["members"]
        n_probe = min(_PROBE_RECORDS, len(members))
        probe_x = _take(members.x, np.arange(n_probe))
        try:
            outputs = self.model(probe_x, training=False)
        except Exception as err:
            raise ValueError(
                "MembershipInferenceCallback could not run the model on the "
                f"first {n_probe} member records: {type(err).__name__}: "
                f"{err}. Check that `members` x matches the model inputs."
            ) from err
        head, head_name, index = _select_head(outputs, self.model, self.output)
        from_logits = self.from_logits
        if from_logits is None:
            from_logits = _infer_from_logits(self.model, head_name, index)
        elif from_logits:
            self._warn_about_explicit_logits(head_name, index)
        head = np.asarray(head)
        n_bad = int(np.sum(~np.isfinite(head.reshape(n_probe, -1)).all(1)))
        if n_bad:
            raise ValueError(self._nonfinite_message(
                "members", f"`outputs of head {head_name!r}`", n_bad,
                f"the first {n_probe} member",
            ))
        n_classes = 2 if head.ndim == 1 or head.shape[-1] == 1 else (
            head.shape[-1]
        )
        # The engine's own checks, on a few real outputs: wrong
        # `from_logits`, labels beyond the output width.
        # Labels are checked whole first, so messages name the set.
        member_labels = as_class_labels(
            members.y, n_classes, name="members labels"
        )
        compute_signals(
            head, member_labels[:n_probe],
            from_logits=from_logits, name=f"outputs of head {head_name!r}",
        )
        self._n_classes = n_classes
        self._resolved_from_logits = from_logits
        self._tensors = {}
        for name, records in self._records.items():
            if isinstance(records, Signals):
                if records.n_classes != n_classes:
                    raise ValueError(
                        f"`{name}` Signals have {records.n_classes} classes; "
                        f"the model head {head_name!r} has {n_classes}."
                    )
                continue
            x = tf.nest.map_structure(tf.convert_to_tensor, records.x)
            labels = tf.convert_to_tensor(self._labels(name))
            # Batches are cut once here: slicing eagerly at every
            # evaluation costs about a third of a small model's forward pass.
            self._tensors[name] = [
                (tf.nest.map_structure(lambda t, r=rows: t[r], x), labels[rows])
                for rows in (
                    slice(start, start + self.batch_size)
                    for start in range(0, len(records), self.batch_size)
                )
            ]

        model, select = self.model, self.output

        def spec(array):
            return tf.TensorSpec((None,) + array.shape[1:], array.dtype)

        x_spec = tf.nest.map_structure(spec, self._tensors["members"][0][0])

        @tf.function(input_signature=[x_spec, tf.TensorSpec([None], tf.int64)])
        def forward(x, labels):
            raw = model(x, training=False)
            selected, _, _ = _select_head(raw, model, select)
            return graph_signals(selected, labels, from_logits)

        self._signal_fn = forward
        self._signal_fn_model = self.model

    def _signals(self, name: str) -> Signals:
        records = self._records[name]
        if isinstance(records, Signals):
            return records
        parts = [
            self._signal_fn(batch_x, batch_labels)
            for batch_x, batch_labels in self._tensors[name]
        ]
        got = {k: np.concatenate([np.atleast_1d(p[k].numpy()) for p in parts])
               for k in parts[0]}
        self._check_outputs(got, name)
        return Signals(
            labels=self._labels(name),
            correctness=got["correctness"],
            confidence=got["confidence"],
            entropy=got["entropy"],
            modified_entropy=got["modified_entropy"],
            loss=got["loss"],
            n_classes=self._n_classes,
        )

    def _warn_about_explicit_logits(self, head: str, index: int) -> None:
        """Warns once when from_logits=True meets a softmax/sigmoid head."""
        activation = _activation_name(self.model, index)
        key = (FromLogitsWarning, head)
        if activation not in ("softmax", "sigmoid") or key in self._warned:
            return
        self._warned.add(key)
        warnings.warn(
            f"from_logits=True was passed, but the final activation is "
            f"{activation} for head {head!r}, so its outputs are "
            "probabilities, not logits. Reading them as logits flattens "
            "the signals and under-reports the leakage. Pass "
            "from_logits=False, or leave it None to detect it; the "
            "explicit value is used.",
            FromLogitsWarning,
            stacklevel=_user_stacklevel(),
        )

    def _nonfinite_message(
        self, name: str, what: str, n_bad: int, rows: str
    ) -> str:
        """Why outputs are NaN/inf: the inputs of `name`, or the model."""
        records = self._records[name]
        n_inputs = _count_nonfinite_records(records.x)
        if n_inputs:
            return (
                f"`{name}` x contains NaN or infinite values in {n_inputs} "
                f"records (of the {len(records)} evaluated), so the model's "
                "outputs on them are not finite. Drop or impute those "
                "records."
            )
        return (
            f"{what} contains NaN or infinite values in {n_bad} of "
            f"{rows} rows (has the model diverged, or are the inputs out "
            "of range?)."
        )

    def _check_outputs(self, got: dict, name: str) -> None:
        n_bad = int(got["n_nonfinite"].sum())
        if n_bad:
            raise ValueError(self._nonfinite_message(
                name, f"The model's output on {name}", n_bad,
                str(len(got["loss"])),
            ))
        if self._resolved_from_logits:
            return
        from keras_mia import signals as mia_signals

        low, high = got["low"].min(), got["high"].max()
        tol = mia_signals.PROBABILITY_RANGE_ATOL
        if low < -tol or high > 1 + tol:
            raise ValueError(
                f"The model's outputs on {name} range from {low:.6g} to "
                f"{high:.6g}, outside [0, 1], but from_logits=False."
            )
        worst = got["worst_sum_error"].max()
        if worst > mia_signals.PROBABILITY_SUM_ATOL:
            raise ValueError(
                f"Rows of the model's outputs on {name} sum to 1 +- "
                f"{worst:.3g}, but from_logits=False."
            )

    # -- Outputs --------------------------------------------------------------

    def _write_outputs(self, result, epoch: int, metrics: dict) -> None:
        if self._writer is None:
            return
        members = self._records["members"]
        labels = self._labels("members")
        # Config, ids and labels: once per fit, at its first good evaluation.
        include_record_info = not self._record_info_written
        with self._writer.as_default():
            if include_record_info:
                tb_summary.json_text(
                    "mia_meta/config", "config", self._config(result), epoch
                )
            tb_summary.evaluation(
                result, epoch, members.ids, labels, self.top_k,
                include_record_info=include_record_info,
            )
            if self.dp is not None:
                tb_summary.dp_scalars(
                    metrics[f"{LOG_PREFIX}dp_epsilon"],
                    metrics[f"{LOG_PREFIX}empirical_epsilon"],
                    epoch,
                )
        self._writer.flush()
        self._record_info_written = True
        self._save_records(result, epoch)

    def _config(self, result) -> dict:
        return {
            "attacks": list(self.attacks),
            "threshold_source": result.threshold_source,
            "max_samples": self.max_samples,
            "every_n_epochs": self.every_n_epochs,
            "every_n_batches": self.every_n_batches,
            "n_members": len(result.member_risk_scores),
            "n_non_members": len(result.non_member_risk_scores),
            "n_classes": result.n_classes,
            "top_k": self.top_k,
            "gate": None if self._gate is None else self._gate.describe(),
        }

    def _save_records(self, result, epoch: int) -> str:
        folder = os.path.join(self.log_dir, tb_summary.RUN_NAME, "records")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"epoch_{epoch:04d}.npz")
        k = 0
        while os.path.exists(path):
            k += 1
            path = os.path.join(folder, f"epoch_{epoch:04d}_{k}.npz")
        members, non_members = self._last_signals
        arrays = {
            "epoch": np.int64(epoch),
            "ids": _as_saveable(np.concatenate([
                self._records["members"].ids, self._records["non_members"].ids,
            ])),
            "labels": np.concatenate([members.labels, non_members.labels]),
            "is_member": np.concatenate([
                np.ones(len(members), bool), np.zeros(len(non_members), bool),
            ]),
            "risk_scores": np.concatenate([
                result.member_risk_scores, result.non_member_risk_scores,
            ]),
        }
        for signal in ("correctness", "confidence", "entropy",
                       "modified_entropy", "loss"):
            arrays[signal] = np.concatenate([
                getattr(members, signal), getattr(non_members, signal),
            ])
        handle, tmp = tempfile.mkstemp(dir=folder, suffix=".npz.tmp")
        try:
            with os.fdopen(handle, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        return path

    def _print(self, message: str) -> None:
        _flavour.print_line(message, logger)

    # -- Checks ---------------------------------------------------------------

    def _check_set_sizes(self) -> None:
        for name in ("members", "non_members"):
            if len(self._records[name]) < 2:
                raise ValueError(
                    f"`{name}` has {len(self._records[name])} record; at "
                    "least 2 are needed for the attacks."
                )

    def _warn_about_overlap(self) -> None:
        members = set(_row_hashes(self._records["members"].x))
        non_members = _row_hashes(self._records["non_members"].x)
        n_shared = sum(digest in members for digest in non_members)
        if n_shared:
            warnings.warn(
                f"{n_shared} of the {len(non_members)} evaluated non-members "
                "have the same inputs as an evaluated member (check_overlap="
                "True). A record on both sides hides leakage, so the "
                "metrics are an underestimate; remove the shared records "
                "from `non_members`.",
                DataOverlapWarning,
                stacklevel=3,
            )

    def _sibling_callbacks(self) -> list:
        """The callbacks of the running `fit`, found from the call stack.

        Keras calls `on_train_begin` from its `CallbackList`, which is not
        reachable from the model, so the list is looked up in the calling
        frames. Returns [] when the hooks are driven by hand.
        """
        frame = sys._getframe(1)
        for _ in range(6):
            if frame is None:
                break
            owner = frame.f_locals.get("self")
            lists = _flavour.loaded_classes("callbacks.CallbackList")
            if isinstance(owner, lists) and any(
                cb is self for cb in owner.callbacks
            ):
                return list(owner.callbacks)
            frame = frame.f_back
        logger.debug("MembershipInferenceCallback: no CallbackList found.")
        return []

    def _log_keys(self) -> tuple[str, ...]:
        """The `logs` keys of this callback's evaluations."""
        keys = log_keys(self.attacks)
        if self.dp is not None:
            keys += (
                f"{LOG_PREFIX}dp_epsilon",
                f"{LOG_PREFIX}empirical_epsilon",
            )
        return keys

    def _warn_about_order(self, callbacks: list) -> None:
        keys = set(self._log_keys())
        for callback in callbacks:
            if callback is self:
                return
            monitor = getattr(callback, "monitor", None)
            readers = _flavour.loaded_classes("callbacks.CSVLogger") + (
                _flavour.loaded_classes("callbacks.TensorBoard")
            )
            reads = isinstance(callback, readers) or monitor in keys
            if reads:
                warnings.warn(
                    f"{type(callback).__name__} comes before "
                    "MembershipInferenceCallback in `callbacks`, so it does "
                    "not see the mia_* keys of the epoch's logs"
                    + (f" (it monitors {monitor!r})" if monitor in keys
                       else "")
                    + ". Put MembershipInferenceCallback first.",
                    CallbackOrderWarning,
                    stacklevel=3,
                )


def _is_chief(model: Any) -> bool:
    """Whether this process writes files: False on non-chief workers."""
    try:
        resolver = model.distribute_strategy.cluster_resolver
    except (AttributeError, ValueError, RuntimeError):
        return True
    task_type = getattr(resolver, "task_type", None)
    if task_type in (None, "chief"):
        return True
    if task_type != "worker" or resolver.task_id != 0:
        return False
    return "chief" not in resolver.cluster_spec().as_dict()


def _log_dir_error(run_dir: str, log_dir: str, err: Exception) -> OSError:
    reason = (
        getattr(err, "strerror", None) or getattr(err, "message", None)
        or str(err)
    )
    return OSError(
        "`log_dir` must be a directory that can be created and written; "
        f"received log_dir={log_dir!r}, and writing in {run_dir!r} "
        f"failed: {type(err).__name__}: {reason}. Pass another log_dir, or "
        "log_dir=None for no files."
    )


def _check_writable(run_dir: str, log_dir: str) -> None:
    """Create the run directory and prove a file can be written in it.

    A path with a URL scheme (`gs://...`) goes through TensorFlow's file
    systems, and only the directory is created.
    """
    try:
        if "://" in run_dir:
            tf.io.gfile.makedirs(run_dir)
            return
        os.makedirs(run_dir, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=run_dir, prefix=".write_check")
        os.close(handle)
        os.remove(probe)
    except (OSError, tf.errors.OpError) as err:
        raise _log_dir_error(run_dir, log_dir, err) from err


def _open_writer(run_dir: str, log_dir: str):
    """A TensorBoard file writer, with TensorFlow's errors as OSError."""
    _check_writable(run_dir, log_dir)
    try:
        return tf.summary.create_file_writer(run_dir)
    except tf.errors.OpError as err:
        raise _log_dir_error(run_dir, log_dir, err) from err


def _count_nonfinite_records(x: Any) -> int:
    """Records with a NaN or infinite value in any numeric input."""
    arrays = list(x.values()) if isinstance(x, dict) else [x]
    bad = None
    for array in arrays:
        array = np.asarray(array)
        if not (np.issubdtype(array.dtype, np.floating)
                or np.issubdtype(array.dtype, np.complexfloating)):
            continue
        rows = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1)
        bad = rows if bad is None else bad | rows
    return 0 if bad is None else int(bad.sum())


def _user_stacklevel() -> int:
    """`stacklevel` of the first frame outside keras-mia, Keras and TF.

    To be called by the function that calls `warnings.warn`.
    """
    packages = [sys.modules[__package__]]
    packages += [sys.modules[name] for name in ("keras", "tensorflow",
                                                "tf_keras")
                 if name in sys.modules]
    prefixes = tuple(
        os.path.dirname(module.__file__) + os.sep for module in packages
        if getattr(module, "__file__", None)
    )
    frame, level = sys._getframe(2), 2
    while frame is not None and frame.f_code.co_filename.startswith(prefixes):
        frame, level = frame.f_back, level + 1
    return level if frame is not None else 2


def _row_hashes(x: Any) -> list[bytes]:
    """A 16-byte digest of each record's inputs (all named inputs)."""
    arrays = [x[k] for k in sorted(x)] if isinstance(x, dict) else [x]
    n = len(arrays[0])
    rows = [np.ascontiguousarray(a).reshape(n, -1) for a in arrays]
    digests = []
    for i in range(n):
        digest = hashlib.blake2b(digest_size=16)
        for array in rows:
            row = array[i]
            digest.update(
                repr(row.tolist()).encode() if row.dtype == object
                else row.tobytes()
            )
        digests.append(digest.digest())
    return digests


def _find_gate(callbacks: list):
    from keras_mia.gate import PrivacyEarlyStopping

    for callback in callbacks:
        if isinstance(callback, PrivacyEarlyStopping):
            return callback
    return None


def _as_saveable(ids: np.ndarray) -> np.ndarray:
    """Ids as an array `np.savez` stores without pickle."""
    if ids.dtype == object:
        return ids.astype(str)
    return ids


__all__ = [
    "CallbackOrderWarning",
    "FromLogitsWarning",
    "MembershipInferenceCallback",
    "graph_signals",
    "log_keys",
]
