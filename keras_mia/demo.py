"""The keras-mia demo: watch an overfitting model start to leak membership.

A small dense network is trained, far too long and without
regularisation, on a small training split of a real data set bundled with
scikit-learn (no download): the handwritten digits (`"digits"`, 10
classes, 8x8 images as 64 features) or the Wisconsin breast-cancer set
(`"breast_cancer"`, 2 classes, 30 features, a single sigmoid unit). The
training split are the members; a held-out split of the same size are the
non-members. :class:`~keras_mia.MembershipInferenceCallback` evaluates
every epoch, Keras' TensorBoard callback logs the loss next to it, and an
optional :class:`~keras_mia.PrivacyEarlyStopping` gate stops training when
the attack advantage passes a budget.

The tests, the quickstart notebook and `keras-mia demo` all call
:func:`run_demo`, so they tell the same story.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import numpy as np

from keras_mia._backend import require_tensorflow

DATASETS = ("digits", "breast_cancer")

#: Records per split (members and non-members each), by data set.
_SPLIT_SIZES = {"digits": 250, "breast_cancer": 200}


@dataclasses.dataclass(frozen=True)
class DemoData:
    """A member/non-member split of a bundled data set.

    Attributes:
        name: `"digits"` or `"breast_cancer"`.
        x_members: float32 features of the training records, shape
            `(n_members, n_features)`, standardised with the members'
            statistics.
        y_members: int64 labels, shape `(n_members,)`.
        ids_members: Row indices in the original data set, shape
            `(n_members,)`.
        x_non_members: float32 features of held-out records.
        y_non_members: int64 labels.
        ids_non_members: Row indices in the original data set.
        n_classes: Number of classes.
    """

    name: str
    x_members: np.ndarray
    y_members: np.ndarray
    ids_members: np.ndarray
    x_non_members: np.ndarray
    y_non_members: np.ndarray
    ids_non_members: np.ndarray
    n_classes: int


@dataclasses.dataclass
class DemoResult:
    """What :func:`run_demo` produced.

    Attributes:
        data: The split that was used.
        model: The trained Keras model (weights restored by the gate, if it
            restored any).
        history: Keras' `History.history` (`mia_*` lists hold evaluated
            epochs only; every epoch is evaluated in the demo).
        callback: The :class:`~keras_mia.MembershipInferenceCallback`, with
            its `history` and `results`.
        gate: The :class:`~keras_mia.PrivacyEarlyStopping`, or None.
        log_dir: The run directory, or None.
        seconds: Wall time of data loading, model building and `fit`.
    """

    data: DemoData
    model: Any
    history: dict[str, list]
    callback: Any
    gate: Any
    log_dir: str | None
    seconds: float


def load_demo_data(dataset: str = "digits", seed: int = 0) -> DemoData:
    """Load a bundled data set and split it into members and non-members.

    Args:
        dataset: `"digits"` or `"breast_cancer"`. Defaults to `"digits"`.
        seed: Seed of the random split. Defaults to 0.

    Returns:
        A :class:`DemoData` with equal-size, class-stratified splits.

    Raises:
        ValueError: If `dataset` is unknown.
    """
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    if dataset not in DATASETS:
        raise ValueError(
            f"`dataset` must be one of {list(DATASETS)}; received "
            f"dataset={dataset!r}."
        )
    loader = {
        "digits": datasets.load_digits,
        "breast_cancer": datasets.load_breast_cancer,
    }[dataset]
    x, y = loader(return_X_y=True)
    ids = np.arange(len(y))
    n = _SPLIT_SIZES[dataset]
    ids_in, rest = train_test_split(
        ids, train_size=n, stratify=y, random_state=seed
    )
    ids_out, _ = train_test_split(
        rest, train_size=n, stratify=y[rest], random_state=seed
    )
    ids_in, ids_out = np.sort(ids_in), np.sort(ids_out)
    mean = x[ids_in].mean(axis=0)
    scale = x[ids_in].std(axis=0)
    scale[scale == 0] = 1.0

    def features(rows: np.ndarray) -> np.ndarray:
        return ((x[rows] - mean) / scale).astype(np.float32)

    return DemoData(
        name=dataset,
        x_members=features(ids_in),
        y_members=y[ids_in].astype(np.int64),
        ids_members=ids_in,
        x_non_members=features(ids_out),
        y_non_members=y[ids_out].astype(np.int64),
        ids_non_members=ids_out,
        n_classes=int(y.max()) + 1,
    )


def build_demo_model(
    n_features: int, n_classes: int, seed: int = 0, width: int = 256
):
    """A deliberately overfitting dense classifier, compiled.

    Two hidden ReLU layers, no dropout or weight decay. A softmax head for
    more than two classes; a single sigmoid unit for two.

    Args:
        n_features: Input width.
        n_classes: Number of classes.
        seed: Seed of the weight initialisation. Defaults to 0.
        width: Units per hidden layer. Defaults to 256.

    Returns:
        A compiled `keras.Sequential` model.
    """
    require_tensorflow("the keras-mia demo")
    import keras

    keras.utils.set_random_seed(seed)
    binary = n_classes == 2
    model = keras.Sequential(
        [
            keras.Input((n_features,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(
                1 if binary else n_classes,
                activation="sigmoid" if binary else "softmax",
            ),
        ],
        name=f"demo_{'binary' if binary else 'multiclass'}",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=(
            "binary_crossentropy" if binary
            else "sparse_categorical_crossentropy"
        ),
        metrics=["accuracy"],
    )
    return model


def run_demo(
    dataset: str = "digits",
    epochs: int = 15,
    log_dir: str | os.PathLike | None = None,
    seed: int = 0,
    budget: float | None = None,
    patience: int = 2,
    batch_size: int = 16,
    verbose: int = 0,
) -> DemoResult:
    """Train the demo model with the callback attached.

    Deterministic for a given `seed` on one machine (it calls
    `keras.utils.set_random_seed`, which seeds Python, numpy and
    TensorFlow for the whole process).

    Args:
        dataset: `"digits"` or `"breast_cancer"`. Defaults to `"digits"`.
        epochs: Training epochs, each evaluated. Defaults to 15.
        log_dir: Run directory for TensorBoard logs (Keras' `train` and
            `validation` runs and keras-mia's `privacy` run), written as
            given; None writes nothing. Defaults to None.
        seed: Seed of the split, the weights and the attacks. Defaults to 0.
        budget: If given, a :class:`~keras_mia.PrivacyEarlyStopping` on
            `mia_advantage` with this budget stops training (and restores
            the best within-budget epoch by `val_loss`). Defaults to None.
        patience: Patience of the gate, in evaluations. Defaults to 2.
        batch_size: Training batch size. Defaults to 16.
        verbose: Passed to the callbacks (`fit` itself is always silent).
            Defaults to 0.

    Returns:
        A :class:`DemoResult`.

    Raises:
        ValueError: If `dataset` is unknown or `epochs` is not positive.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"`epochs` must be an int >= 1; received {epochs!r}.")
    require_tensorflow("the keras-mia demo")
    import keras

    from keras_mia.callback import MembershipInferenceCallback
    from keras_mia.gate import PrivacyEarlyStopping

    start = time.perf_counter()
    data = load_demo_data(dataset, seed)
    model = build_demo_model(data.x_members.shape[1], data.n_classes, seed)
    log_dir = None if log_dir is None else os.fspath(log_dir)
    callback = MembershipInferenceCallback(
        (data.x_members, data.y_members, data.ids_members),
        (data.x_non_members, data.y_non_members, data.ids_non_members),
        log_dir=log_dir,
        seed=seed,
        verbose=verbose,
    )
    callbacks: list = [callback]
    gate = None
    if budget is not None:
        gate = PrivacyEarlyStopping(
            "mia_advantage", budget=budget, patience=patience,
            verbose=verbose,
        )
        callbacks.append(gate)
    if log_dir is not None:
        callbacks.append(
            keras.callbacks.TensorBoard(log_dir, write_graph=False)
        )
    fit = model.fit(
        data.x_members,
        data.y_members,
        validation_data=(data.x_non_members, data.y_non_members),
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        callbacks=callbacks,
        verbose=0,
    )
    return DemoResult(
        data=data,
        model=model,
        history=fit.history,
        callback=callback,
        gate=gate,
        log_dir=log_dir,
        seconds=time.perf_counter() - start,
    )


def epoch_table(result: DemoResult) -> str:
    """The per-epoch table: utility next to leakage.

    Args:
        result: A :func:`run_demo` result.

    Returns:
        Plain-text table, one row per evaluated epoch (1-based).
    """
    history = result.history
    header = (
        f"{'epoch':>5}  {'loss':>7}  {'val_loss':>8}  {'acc':>6}  "
        f"{'val_acc':>7}  {'mia_auc':>7}  {'advantage':>9}  "
        f"{'tpr@1%fpr':>9}  strongest attack"
    )
    lines = [header, "-" * len(header)]
    for i, epoch in enumerate(sorted(result.callback.history)):
        m = result.callback.history[epoch]
        lines.append(
            f"{epoch + 1:>5}  {history['loss'][i]:>7.4f}  "
            f"{history['val_loss'][i]:>8.4f}  "
            f"{history['accuracy'][i]:>6.3f}  "
            f"{history['val_accuracy'][i]:>7.3f}  "
            f"{m['mia_auc']:>7.4f}  {m['mia_advantage']:>9.4f}  "
            f"{m['mia_tpr_at_1pct_fpr']:>9.4f}  "
            f"{m.get('mia_advantage_attack', '-')}"
        )
    return "\n".join(lines)


def summary_text(result: DemoResult, n_records: int = 5) -> str:
    """The final summary: leakage by attack, riskiest records, the gate.

    Args:
        result: A :func:`run_demo` result.
        n_records: Riskiest members to list. Defaults to 5.

    Returns:
        Plain text of several lines.
    """
    callback = result.callback
    epochs = sorted(callback.results)
    first, last = epochs[0], epochs[-1]
    lines = [
        f"Leakage by attack, epoch {first + 1} -> epoch {last + 1} "
        f"({callback.results[last].threshold_source} thresholds):",
    ]
    for name, attack in callback.results[last].attacks.items():
        before = callback.results[first].attacks[name]
        lines.append(
            f"  {name:<17} auc {before.auc:.3f} -> {attack.auc:.3f}   "
            f"advantage {before.advantage:.3f} -> {attack.advantage:.3f}"
        )
    lines.append(
        f"Riskiest training records at epoch {last + 1} (id = row of the "
        f"{result.data.name} data set):"
    )
    for row in callback.top_risk_records(last)[:n_records]:
        lines.append(
            f"  id {row['id']:>5}  class {row['label']}  risk score "
            f"{row['risk_score']:.3f}"
        )
    if result.gate is None:
        lines.append("Privacy gate: none (pass a budget to add one).")
    else:
        fired = result.gate.stopped_epoch is not None
        lines.append(
            f"Privacy gate {'fired' if fired else 'did not fire'}: "
            f"{result.gate.summary}"
        )
    return "\n".join(lines)
