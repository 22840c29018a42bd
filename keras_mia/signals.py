"""Per-record signals that membership-inference attacks threshold.

Song & Mittal (USENIX Security 2021), Section 3, define four signals from a
model's output probabilities `p` and a record's true label `y`:

* correctness: `argmax(p) == y`;
* confidence: `p_y`;
* entropy: `H = -sum_i p_i log p_i` (Eq. 5);
* modified entropy (Eq. 6):
  `M = -(1 - p_y) log(p_y) - sum_{i != y} p_i log(1 - p_i)`.

keras-mia adds the cross-entropy loss `-log p_y`, the signal TensorFlow
Privacy's loss attack thresholds. For every signal except correctness, a
*lower* entropy, modified entropy or loss, and a *higher* confidence, look
more like a training member.

Logarithms are natural. Like the paper's code, `log` of a probability is
taken as `log(max(x, 1e-30))`, so a probability of exactly 0 contributes a
finite term. The loss uses TensorFlow Privacy's floor `1e-8` instead, so the
loss attack's AUC is comparable with TensorFlow Privacy's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

#: Floor under probabilities before taking logs (the paper's code uses it).
#: It keeps `0 * log(0)` at 0 and caps `-log(0)` at about 69.08.
SAFE_LOG_FLOOR = 1e-30
_LOG_SAFE_LOG_FLOOR = np.log(SAFE_LOG_FLOOR)

#: Floor under the true-class probability in the cross-entropy loss. It
#: matches TensorFlow Privacy, so losses above `-log(1e-8) ~ 18.42` tie.
LOSS_FLOOR = 1e-8
_MAX_LOSS = -np.log(LOSS_FLOOR)

#: How far a row of probabilities may sum from 1. Float32 softmax outputs are
#: within about 1e-6; logits passed by mistake are far outside.
PROBABILITY_SUM_ATOL = 1e-3

#: How far outside [0, 1] a probability may lie before it is rejected (float
#: rounding in the model's output layer); such values are clipped.
PROBABILITY_RANGE_ATOL = 1e-6

#: Output entries processed at a time (about 2 MB of float64), to bound the
#: memory of `(n, C)` temporaries and keep them in cache.
_CHUNK_ELEMENTS = 2**18

SIGNAL_NAMES = (
    "correctness",
    "confidence",
    "entropy",
    "modified_entropy",
    "loss",
)


@dataclasses.dataclass(frozen=True)
class Signals:
    """Per-record signals for one set of records.

    Attributes:
        labels: Integer true labels, shape `(n,)`, values in
            `[0, n_classes)`.
        correctness: Booleans, shape `(n,)`; True where the predicted class
            (lowest index among tied maxima) equals the label.
        confidence: Floats, shape `(n,)`: the true-class probability `p_y`.
            Higher = more member-like.
        entropy: Floats, shape `(n,)`: prediction entropy in nats. Lower =
            more member-like.
        modified_entropy: Floats, shape `(n,)`: Song & Mittal's Mentr in
            nats. Lower = more member-like.
        loss: Floats, shape `(n,)`: cross-entropy `-log(max(p_y, 1e-8))`.
            Lower = more member-like.
        n_classes: Number of classes `C` of the model output.
    """

    labels: np.ndarray
    correctness: np.ndarray
    confidence: np.ndarray
    entropy: np.ndarray
    modified_entropy: np.ndarray
    loss: np.ndarray
    n_classes: int

    def __post_init__(self) -> None:
        n = len(self.labels)
        for name in SIGNAL_NAMES:
            values = getattr(self, name)
            if np.shape(values) != (n,):
                raise ValueError(
                    f"`{name}` must have shape ({n},) like `labels`; "
                    f"received shape {np.shape(values)}."
                )
            if name != "correctness" and not np.all(np.isfinite(values)):
                raise ValueError(
                    f"`{name}` contains NaN or infinite values "
                    f"({int(np.sum(~np.isfinite(values)))} of {n})."
                )
        if self.n_classes < 2:
            raise ValueError(
                "`n_classes` must be at least 2; received "
                f"n_classes={self.n_classes}."
            )
        labels = np.asarray(self.labels)
        if n and (labels.min() < 0 or labels.max() >= self.n_classes):
            raise ValueError(
                f"`labels` must lie in [0, {self.n_classes}); received "
                f"values from {labels.min()} to {labels.max()}."
            )

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return (
            f"Signals(n_records={len(self)}, n_classes={self.n_classes}, "
            f"accuracy={np.mean(self.correctness) if len(self) else 0:.4f}, "
            f"mean_loss={np.mean(self.loss) if len(self) else 0:.4f})"
        )

    def take(self, indices: np.ndarray) -> Signals:
        """Select records by index or boolean mask.

        Args:
            indices: Integer indices or a boolean mask of shape `(n,)`.

        Returns:
            A new `Signals` holding the selected records in that order.
        """
        return dataclasses.replace(
            self,
            labels=self.labels[indices],
            **{name: getattr(self, name)[indices] for name in SIGNAL_NAMES},
        )

    @staticmethod
    def concatenate(parts: list[Signals]) -> Signals:
        """Join several `Signals` with the same `n_classes` end to end.

        Args:
            parts: A non-empty list of `Signals`.

        Returns:
            One `Signals` with the records of `parts` in order.

        Raises:
            ValueError: If `parts` is empty or the class counts differ.
        """
        if not parts:
            raise ValueError("`parts` must hold at least one Signals.")
        n_classes = {p.n_classes for p in parts}
        if len(n_classes) != 1:
            raise ValueError(
                f"All parts must have the same n_classes; received {n_classes}."
            )
        return Signals(
            labels=np.concatenate([p.labels for p in parts]),
            n_classes=parts[0].n_classes,
            **{
                name: np.concatenate([getattr(p, name) for p in parts])
                for name in SIGNAL_NAMES
            },
        )


def _describe(values: np.ndarray) -> str:
    return f"shape {values.shape}, dtype {values.dtype}"


def as_class_labels(
    labels: np.ndarray, n_classes: int, name: str = "labels"
) -> np.ndarray:
    """Turn any accepted label form into integer class indices.

    Args:
        labels: Integer labels of shape `(n,)` or `(n, 1)`, integer-valued
            floats of those shapes, or one-hot labels of shape
            `(n, n_classes)`. All forms give identical results.
        n_classes: Number of classes of the model output.
        name: Argument name used in error messages.

    Returns:
        An int64 array of shape `(n,)`.

    Raises:
        ValueError: If the labels have another shape, are not integers, are
            negative or not smaller than `n_classes`, or one-hot rows are not
            exactly one 1 and zeros.
    """
    arr = np.asarray(labels)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == bool
    ):
        raise ValueError(
            f"`{name}` must be numeric class labels; received {_describe(arr)}."
        )
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif arr.ndim == 2:
        if arr.shape[1] != n_classes:
            raise ValueError(
                f"`{name}` looks one-hot with width {arr.shape[1]}, but the "
                f"model outputs have {n_classes} classes; expected shape "
                f"(n,), (n, 1) or (n, {n_classes})."
            )
        valid = np.isin(arr, (0, 1)).all() and (arr.sum(axis=1) == 1).all()
        if not valid:
            raise ValueError(
                f"`{name}` has shape {arr.shape}, so it is read as one-hot, "
                "but its rows are not all a single 1 among zeros."
            )
        return np.argmax(arr, axis=1).astype(np.int64)
    elif arr.ndim != 1:
        raise ValueError(
            f"`{name}` must have shape (n,), (n, 1) or (n, {n_classes}); "
            f"received {_describe(arr)}."
        )
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"`{name}` contains NaN or infinite values.")
        if not np.all(arr == np.round(arr)):
            bad = arr[arr != np.round(arr)][0]
            raise ValueError(
                f"`{name}` must hold whole numbers (class indices); received "
                f"non-integer value {float(bad)!r}."
            )
    out = arr.astype(np.int64)
    if out.size and out.min() < 0:
        raise ValueError(
            f"`{name}` must be non-negative class indices; received "
            f"{int(out.min())}."
        )
    if out.size and out.max() >= n_classes:
        raise ValueError(
            f"`{name}` holds class {int(out.max())}, but the model outputs "
            f"have only {n_classes} classes (0..{n_classes - 1}). The output "
            "layer must be wide enough for the largest label."
        )
    return out


def _as_output_matrix(
    outputs: np.ndarray, name: str
) -> tuple[np.ndarray, bool]:
    """Check the outputs' type and shape; return a 2-D view and is-sigmoid.

    A sigmoid output (shape `(n,)` or `(n, 1)`) is returned as a column.
    Values are checked chunk by chunk later (:func:`_check_block`), so a
    large float32 array is never copied whole to float64.
    """
    arr = np.asarray(outputs)
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype == bool:
        raise ValueError(
            f"`{name}` must be a numeric array; received {_describe(arr)}."
        )
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(
            f"`{name}` must have shape (n, n_classes), (n, 1) or (n,); "
            f"received {_describe(arr)}."
        )
    if arr.shape[0] == 0:
        raise ValueError(f"`{name}` is empty; at least one record is needed.")
    return arr, arr.shape[1] == 1


def _check_block(
    block: np.ndarray, offset: int, from_logits: bool, name: str
) -> np.ndarray:
    """Validate one float64 chunk of outputs; return it (clipped)."""
    finite = np.isfinite(block)
    if not finite.all():
        row = offset + int(np.flatnonzero(~finite.all(axis=1))[0])
        raise ValueError(
            f"`{name}` contains NaN or infinite values (first in row {row})."
        )
    if from_logits:
        return block
    low, high = block.min(), block.max()
    if low < -PROBABILITY_RANGE_ATOL or high > 1 + PROBABILITY_RANGE_ATOL:
        raise ValueError(
            f"`{name}` must be probabilities in [0, 1] when "
            f"from_logits=False; received values from {low:.6g} to "
            f"{high:.6g}. Pass from_logits=True if these are logits."
        )
    if low < 0 or high > 1:
        block = np.clip(block, 0.0, 1.0)
    if block.shape[1] > 1:
        error = np.abs(block.sum(axis=1) - 1.0)
        if error.max() > PROBABILITY_SUM_ATOL:
            row = int(np.argmax(error))
            raise ValueError(
                f"Rows of `{name}` must sum to 1 when from_logits=False "
                f"(within {PROBABILITY_SUM_ATOL}); row {offset + row} sums "
                f"to {block[row].sum():.6g}. Pass from_logits=True if these "
                "are logits."
            )
    return block


def _chunks(n: int, n_columns: int) -> Iterator[slice]:
    step = max(1, _CHUNK_ELEMENTS // max(n_columns, 1))
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))


def _from_probabilities(
    probs: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Signals from probabilities, in the paper's order of operations.

    Every element-wise product and every row sum is the one the paper's
    code computes, so the results agree bit for bit on the same processor.
    One work buffer is reused in place to keep memory traffic low.
    """
    rows = np.arange(len(labels))
    p_y = probs[rows, labels]
    work = np.maximum(probs, SAFE_LOG_FLOOR)
    np.log(work, out=work)
    np.negative(work, out=work)  # -log p
    neg_log_p_y = work[rows, labels]
    np.multiply(probs, work, out=work)
    entropy = work.sum(axis=1)
    # Mentr: p_i * -log(1 - p_i) off the true class, (1 - p_y) * -log p_y on
    # it (Song & Mittal, Eq. 6).
    np.subtract(1.0, probs, out=work)
    np.maximum(work, SAFE_LOG_FLOOR, out=work)
    np.log(work, out=work)
    np.negative(work, out=work)
    np.multiply(probs, work, out=work)
    work[rows, labels] = (1.0 - p_y) * neg_log_p_y
    modified_entropy = work.sum(axis=1)
    correct = np.argmax(probs, axis=1) == labels
    loss = -np.log(np.maximum(p_y, LOSS_FLOOR))
    return correct, p_y, entropy, modified_entropy, loss


def _from_log_probabilities(
    log_probs: np.ndarray, labels: np.ndarray, correct: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Signals from exact log-probabilities (the logits path).

    `1 - p` and `log(1 - p)` are computed without cancellation, so they keep
    full precision when `p` is close to 0 or 1.
    """
    rows = np.arange(len(labels))
    probs = np.exp(log_probs)
    neg_log_p = -np.maximum(log_probs, _LOG_SAFE_LOG_FLOOR)
    entropy = np.sum(np.multiply(probs, neg_log_p), axis=1)
    p_y = probs[rows, labels]
    weights = probs.copy()
    weights[rows, labels] = -np.expm1(log_probs[rows, labels])
    with np.errstate(divide="ignore"):
        # log(1 - p): log1p(-p) is exact for small p, log(-expm1(log p))
        # for p near 1.
        log_complement = np.where(
            log_probs < -np.log(2.0),
            np.log1p(-probs),
            np.log(-np.expm1(log_probs)),
        )
    log_terms = -np.maximum(log_complement, _LOG_SAFE_LOG_FLOOR)
    log_terms[rows, labels] = neg_log_p[rows, labels]
    modified_entropy = np.sum(np.multiply(weights, log_terms), axis=1)
    loss = np.minimum(-log_probs[rows, labels], _MAX_LOSS)
    return correct, p_y, entropy, modified_entropy, loss


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """Stable log-softmax, exact for the top class of confident rows.

    `log(sum(exp(z - max)))` is computed as `log1p` of the sum without the
    top entry, so `log p` of a class with `p = 1 - 1e-17` is not rounded
    to 0.
    """
    top = np.argmax(logits, axis=1)
    rows = np.arange(len(logits))
    shifted = logits - logits[rows, top][:, None]
    others = np.exp(shifted)
    others[rows, top] = 0.0
    return shifted - np.log1p(np.sum(others, axis=1, keepdims=True))


def compute_signals(
    outputs: np.ndarray,
    labels: np.ndarray,
    *,
    from_logits: bool,
    name: str = "outputs",
    labels_name: str = "labels",
) -> Signals:
    """Compute every attack signal for a set of records.

    Args:
        outputs: Model outputs, shape `(n, n_classes)` for a softmax head or
            `(n, 1)` / `(n,)` for a single sigmoid unit. A sigmoid output is
            treated as two classes: probability `p` becomes `[1 - p, p]`,
            and a logit `z` becomes log-probabilities
            `[log_sigmoid(-z), log_sigmoid(z)]`, exact at both ends (unlike
            `[1 - sigmoid(z), sigmoid(z)]`, which rounds to `[0, 1]` for
            `z > ~37`).
        labels: True labels: shape `(n,)` or `(n, 1)` integers or
            integer-valued floats, or one-hot `(n, n_classes)`.
        from_logits: Whether `outputs` are logits (True) or probabilities
            (False). It is never guessed from the data.
        name: Name of `outputs` in error messages. Defaults to
            `"outputs"`.
        labels_name: Name of `labels` in error messages. Defaults to
            `"labels"`.

    Returns:
        A :class:`Signals` with float64 signals.

    Raises:
        ValueError: If `outputs` are not finite, are not probabilities when
            `from_logits=False` (outside [0, 1], or rows not summing to 1),
            have the wrong shape, or do not match the labels.
    """
    if not isinstance(from_logits, bool):
        raise ValueError(
            "`from_logits` must be True or False; received "
            f"from_logits={from_logits!r}."
        )
    matrix, sigmoid = _as_output_matrix(outputs, name)
    n_classes = 2 if sigmoid else matrix.shape[1]
    if n_classes < 2:
        raise ValueError(f"`{name}` must have at least 2 classes.")
    y = as_class_labels(labels, n_classes, name=labels_name)
    if len(y) != matrix.shape[0]:
        raise ValueError(
            f"`{labels_name}` has {len(y)} records but `{name}` has "
            f"{matrix.shape[0]}; they must have the same length."
        )

    parts: list[tuple[np.ndarray, ...]] = []
    for rows in _chunks(len(y), n_classes):
        block = _check_block(
            matrix[rows].astype(np.float64), rows.start, from_logits, name
        )
        block_labels = y[rows]
        if sigmoid and from_logits:
            z = block[:, 0]
            log_probs = np.stack(
                [-np.logaddexp(0.0, z), -np.logaddexp(0.0, -z)], axis=1
            )
            correct = (z > 0).astype(np.int64) == block_labels
            parts.append(
                _from_log_probabilities(log_probs, block_labels, correct)
            )
        elif from_logits:
            correct = np.argmax(block, axis=1) == block_labels
            parts.append(
                _from_log_probabilities(
                    _log_softmax(block), block_labels, correct
                )
            )
        else:
            if sigmoid:
                block = np.concatenate([1.0 - block, block], axis=1)
            parts.append(_from_probabilities(block, block_labels))
    columns = [np.concatenate(column) for column in zip(*parts, strict=True)]
    return Signals(labels=y, n_classes=n_classes, **dict(
        zip(SIGNAL_NAMES, columns, strict=True)
    ))
