"""Offline audit of a finished Keras model with shadow models.

Song & Mittal (USENIX Security 2021), Section 3.1, measure a model's
membership-inference leakage with *shadow models*: models built and trained
like the target, on disjoint data from the same distribution, whose own
members and non-members are known. Their outputs fix the class-dependent
thresholds of the threshold attacks and the histograms of the privacy risk
scores; the target is then attacked with these fixed rules, so no
information about the target's members goes into the attack.

:func:`audit` runs the whole protocol:

1. load the target (a `.keras` file, in Keras' safe mode, or a model), or
   build and train it with a model-building function;
2. split the reference records into `n_shadows` disjoint, class-stratified
   parts; each shadow model trains on one half of its part (its members)
   and holds out the other half (its non-members);
3. each shadow model is a fresh clone of the target's architecture
   compiled with the target's optimizer settings, loss and metrics
   (`keras.models.clone_model` and `compile_from_config`), or comes from
   the user's `build_model` function;
4. the shadow outputs of all shadows, concatenated, are the reference of
   :func:`keras_mia.run_attacks` (`threshold_source="shadow"`);
5. the empirical epsilon lower bound of :mod:`keras_mia.dp` and, for DP-SGD
   models, the theoretical epsilon are computed beside the attacks.

The Keras part is thin; :func:`audit_from_outputs` does the rest from saved
outputs with numpy only. Reports are written by :mod:`keras_mia.report`.

The module itself is callable and forwards to :func:`audit`, so
`keras_mia.audit(...)` runs an audit whether `keras_mia.audit` names this
module (once it has been imported) or the function.

Note: shadow models are only as good as the assumptions behind them. They
must be trained the way the target was (same epochs, batch size and data
size); keras-mia cannot read the epoch count from a saved model, so
`epochs` is a required argument. Reference records must come from the
target's data distribution and must not include the target's members.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import os
import sys
import types
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from keras_mia.attacks import (
    ATTACKS,
    EvaluationResult,
    attack_scores,
    run_attacks,
)
from keras_mia.cli import SETS
from keras_mia.dp import (
    DpSgdConfig,
    EpsilonLowerBound,
    best_epsilon_threshold,
    epsilon_lower_bound,
)
from keras_mia.errors import KerasMiaWarning
from keras_mia.signals import Signals, as_class_labels, compute_signals

logger = logging.getLogger(__name__)

#: Version of the JSON report format written by :mod:`keras_mia.report`.
SCHEMA_VERSION = 1

#: Keys of :attr:`AuditResult.outputs`, in the naming of `keras-mia evaluate`
#: (:data:`keras_mia.cli.SETS`).
OUTPUT_SETS = SETS

ArrayPair = tuple[np.ndarray, np.ndarray]


@dataclasses.dataclass(frozen=True)
class ShadowModelSummary:
    """How one shadow model was trained and how well it did.

    Attributes:
        index: 0-based position of the shadow model.
        n_members: Records it was trained on.
        n_non_members: Records it held out.
        train_accuracy: Its accuracy on its members.
        test_accuracy: Its accuracy on its non-members.
    """

    index: int
    n_members: int
    n_non_members: int
    train_accuracy: float
    test_accuracy: float


@dataclasses.dataclass(frozen=True)
class AuditResult:
    """Everything an audit measured.

    Attributes:
        evaluation: The attacks on the target with shadow thresholds.
        members: Signals of the target's members.
        non_members: Signals of the target's non-members.
        shadow_members: Signals of all shadow models' members, concatenated
            in shadow order.
        shadow_non_members: Signals of all shadow non-members, likewise.
        member_ids: Record ids of the members, shape `(n_members,)`.
        non_member_ids: Record ids of the non-members.
        outputs: Raw model outputs by set name (:data:`OUTPUT_SETS`):
            probabilities, or logits when `from_logits` is True.
        from_logits: Whether `outputs` are logits.
        shadows: One summary per shadow model.
        empirical_epsilon: The largest epsilon lower bound over the
            decision rules in `epsilon_rules`.
        epsilon_rules: The bound of every decision rule tried, each already
            corrected for their number.
        dp_config: The DP-SGD settings given, or None.
        theoretical_epsilon: Epsilon of those settings, or None.
        settings: The audit's options (seed, shadows, epochs, ...).
    """

    evaluation: EvaluationResult
    members: Signals
    non_members: Signals
    shadow_members: Signals
    shadow_non_members: Signals
    member_ids: np.ndarray
    non_member_ids: np.ndarray
    outputs: dict[str, np.ndarray]
    from_logits: bool
    shadows: tuple[ShadowModelSummary, ...]
    empirical_epsilon: EpsilonLowerBound
    epsilon_rules: tuple[EpsilonLowerBound, ...]
    dp_config: DpSgdConfig | None
    theoretical_epsilon: float | None
    settings: dict[str, Any]

    @functools.cached_property
    def per_class(self) -> list[dict]:
        """The per-class table (:func:`keras_mia.report.per_class_table`).

        Computed on first use and kept, so the JSON and HTML reports share
        it; treat it as read-only.

        Returns:
            One dict per class.
        """
        from keras_mia import report

        return report.per_class_table(self)

    def to_dict(self, include_records: bool = True) -> dict:
        """The JSON report as a dict (see :func:`keras_mia.report.to_dict`).

        Args:
            include_records: Include the per-record risk scores. Defaults
                to True.

        Returns:
            A dict of plain Python values.
        """
        from keras_mia import report

        return report.to_dict(self, include_records=include_records)

    def to_json(self, include_records: bool = True) -> str:
        """The JSON report as text.

        Args:
            include_records: Include the per-record risk scores. Defaults
                to True.

        Returns:
            Strict JSON (no NaN literals).
        """
        return json.dumps(
            self.to_dict(include_records), allow_nan=False, indent=2
        )

    def save_json(self, path: str | os.PathLike) -> None:
        """Write the JSON report.

        Args:
            path: Output file.
        """
        from keras_mia import report

        report.write_json(self, path)

    def save_html(
        self, path: str | os.PathLike, title: str | None = None
    ) -> None:
        """Write the self-contained HTML report.

        Args:
            path: Output file.
            title: Page title. Defaults to "keras-mia audit".
        """
        from keras_mia import report

        report.write_html(self, path, title=title)

    def save_predictions(self, path: str | os.PathLike) -> None:
        """Write the outputs in the `.npz` format of `keras-mia evaluate`.

        The keys are `{set}_probs` or `{set}_logits` and `{set}_labels` for
        the four sets of :data:`OUTPUT_SETS`, plus `target_train_ids` and
        `target_test_ids`. `keras-mia evaluate` on this file uses the same
        shadow thresholds and gives the same attack accuracies.

        Args:
            path: Output file (`.npz`).
        """
        kind = "logits" if self.from_logits else "probs"
        labels = {
            "target_train": self.members.labels,
            "target_test": self.non_members.labels,
            "shadow_train": self.shadow_members.labels,
            "shadow_test": self.shadow_non_members.labels,
        }
        arrays = {}
        for name in OUTPUT_SETS:
            arrays[f"{name}_{kind}"] = self.outputs[name]
            arrays[f"{name}_labels"] = labels[name]
        arrays["target_train_ids"] = _plain_ids(self.member_ids)
        arrays["target_test_ids"] = _plain_ids(self.non_member_ids)
        np.savez(path, **arrays)

    def __str__(self) -> str:
        lines = [str(self.evaluation)]
        eps = self.empirical_epsilon
        lines.append(
            f"Empirical epsilon lower bound: {eps.epsilon:.3f} (delta="
            f"{eps.delta:g}, {eps.confidence_level:.0%} confidence, best of "
            f"{eps.n_comparisons} rules: {eps.rule})"
        )
        if self.theoretical_epsilon is not None:
            lines.append(
                f"Theoretical DP-SGD epsilon: {self.theoretical_epsilon:.3f} "
                f"(delta={self.dp_config.delta:g})"
            )
        return "\n".join(lines)


def _plain_ids(ids: np.ndarray) -> np.ndarray:
    """Ids as an array `np.savez` stores without pickle (str for objects)."""
    arr = np.asarray(ids)
    if arr.dtype == object:
        arr = arr.astype(str)
    return arr


def _check_ids(ids: Sequence | None, n: int, name: str) -> np.ndarray:
    if ids is None:
        return np.arange(n)
    arr = np.asarray(ids)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(
            f"`{name}` must be a sequence of {n} record ids; received shape "
            f"{arr.shape}."
        )
    return arr


def _accuracy(signals: Signals) -> float:
    return float(np.mean(signals.correctness)) if len(signals) else math.nan


def _epsilon_rules(
    evaluation: EvaluationResult,
    members: Signals,
    non_members: Signals,
    shadow_members: Signals,
    shadow_non_members: Signals,
    delta: float,
    confidence_level: float,
) -> tuple[EpsilonLowerBound, ...]:
    """Epsilon bounds of every decision rule fixed on shadow data.

    Rules: each attack with its shadow thresholds, and each thresholded
    score with one global threshold chosen on the shadow outputs to give the
    largest bound there. All are fixed before the target's records are
    looked at; the Bonferroni factor is the number of rules.
    """
    names = list(evaluation.attacks)
    searchable = [a for a in names if a != "correctness"]
    n_rules = len(names) + len(searchable)
    counts = []
    for name in names:
        result = evaluation.attacks[name]
        rule = (
            f"{name} attack ({result.threshold_source} thresholds)"
            if result.threshold_source else f"{name} attack"
        )
        counts.append((rule, result.n_true_positives, result.n_false_positives))
    for name in searchable:
        threshold = best_epsilon_threshold(
            attack_scores(shadow_members, name),
            attack_scores(shadow_non_members, name),
            delta=delta, confidence_level=confidence_level,
            n_comparisons=n_rules,
        )
        tp = int(np.count_nonzero(attack_scores(members, name) >= threshold))
        fp = int(
            np.count_nonzero(attack_scores(non_members, name) >= threshold)
        )
        counts.append(
            (f"{name} score >= {threshold:.6g} (chosen on shadow data)", tp, fp)
        )
    return tuple(
        epsilon_lower_bound(
            tp, len(members), fp, len(non_members), delta=delta,
            confidence_level=confidence_level, n_comparisons=n_rules,
            rule=rule,
        )
        for rule, tp, fp in counts
    )


def audit_from_outputs(
    member_outputs: np.ndarray,
    member_labels: np.ndarray,
    non_member_outputs: np.ndarray,
    non_member_labels: np.ndarray,
    shadow_outputs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray,
                                   np.ndarray]],
    *,
    from_logits: bool,
    member_ids: Sequence | None = None,
    non_member_ids: Sequence | None = None,
    dp: DpSgdConfig | None = None,
    attacks: Sequence[str] = ATTACKS,
    target_fprs: Sequence[float] = (0.001, 0.01),
    n_bootstraps: int = 100,
    confidence_level: float = 0.95,
    seed: int = 0,
    settings: dict[str, Any] | None = None,
) -> AuditResult:
    """The audit's analysis, from model outputs already computed.

    Args:
        member_outputs: Target outputs on its members, shape
            `(n_members, n_classes)` (or `(n_members,)` for a sigmoid).
        member_labels: Their labels (integers or one-hot).
        non_member_outputs: Target outputs on its non-members.
        non_member_labels: Their labels.
        shadow_outputs: Per shadow model, `(member_outputs, member_labels,
            non_member_outputs, non_member_labels)` on its own members and
            non-members.
        from_logits: Whether all outputs are logits (True) or
            probabilities (False).
        member_ids: Record ids of the members, reported with their risk
            scores. Defaults to row indices.
        non_member_ids: Record ids of the non-members. Defaults to row
            indices.
        dp: DP-SGD settings of the target, for the theoretical epsilon;
            its `delta` is also the delta of the empirical bound. Defaults
            to None (empirical bound at delta 0).
        attacks: Attacks to run. Defaults to all of :data:`ATTACKS`.
        target_fprs: FPR levels for TPR-at-FPR. Defaults to
            `(0.001, 0.01)`.
        n_bootstraps: Bootstrap resamples for the intervals; 0 disables.
            Defaults to 100.
        confidence_level: Coverage of the intervals and of the epsilon
            bound. Defaults to 0.95.
        seed: Seed of the bootstrap. Defaults to 0.
        settings: Extra facts stored in the report. Defaults to None.

    Returns:
        An :class:`AuditResult`.

    Raises:
        ValueError: If outputs and labels do not match, or `shadow_outputs`
            is empty.
    """
    if len(shadow_outputs) == 0:
        raise ValueError(
            "`shadow_outputs` must hold at least one shadow model's outputs; "
            "received none."
        )
    members = compute_signals(
        member_outputs, member_labels, from_logits=from_logits,
        name="member_outputs",
    )
    non_members = compute_signals(
        non_member_outputs, non_member_labels, from_logits=from_logits,
        name="non_member_outputs",
    )
    shadow_in, shadow_out, summaries = [], [], []
    for i, (out_in, y_in, out_out, y_out) in enumerate(shadow_outputs):
        sig_in = compute_signals(
            out_in, y_in, from_logits=from_logits,
            name=f"shadow {i} member outputs",
        )
        sig_out = compute_signals(
            out_out, y_out, from_logits=from_logits,
            name=f"shadow {i} non-member outputs",
        )
        shadow_in.append(sig_in)
        shadow_out.append(sig_out)
        summaries.append(ShadowModelSummary(
            i, len(sig_in), len(sig_out), _accuracy(sig_in), _accuracy(sig_out)
        ))
    shadow_members = Signals.concatenate(shadow_in)
    shadow_non_members = Signals.concatenate(shadow_out)

    evaluation = run_attacks(
        members, non_members,
        reference=(shadow_members, shadow_non_members),
        threshold_source="shadow", attacks=attacks, target_fprs=target_fprs,
        n_bootstraps=n_bootstraps, confidence_level=confidence_level,
        seed=seed,
    )
    delta = dp.delta if dp is not None else 0.0
    rules = _epsilon_rules(
        evaluation, members, non_members, shadow_members,
        shadow_non_members, delta, confidence_level,
    )
    best = max(rules, key=lambda bound: bound.epsilon)
    theoretical = None
    if dp is not None:
        theoretical = dp.epsilon(n_train=len(members))

    def stack(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(p) for p in parts])

    outputs = {
        "target_train": np.asarray(member_outputs),
        "target_test": np.asarray(non_member_outputs),
        "shadow_train": stack([s[0] for s in shadow_outputs]),
        "shadow_test": stack([s[2] for s in shadow_outputs]),
    }
    return AuditResult(
        evaluation=evaluation,
        members=members,
        non_members=non_members,
        shadow_members=shadow_members,
        shadow_non_members=shadow_non_members,
        member_ids=_check_ids(member_ids, len(members), "member_ids"),
        non_member_ids=_check_ids(
            non_member_ids, len(non_members), "non_member_ids"
        ),
        outputs=outputs,
        from_logits=from_logits,
        shadows=tuple(summaries),
        empirical_epsilon=best,
        epsilon_rules=rules,
        dp_config=dp,
        theoretical_epsilon=theoretical,
        settings=dict(settings or {}),
    )


# ---------------------------------------------------------------------------
# Keras side.


def _keras():
    from keras_mia._backend import require_tensorflow

    require_tensorflow("keras_mia.audit")
    import keras

    return keras


def _class_indices(
    y: np.ndarray, n_classes: int | None = None, name: str = "labels"
) -> np.ndarray:
    """Checked integer classes (:func:`keras_mia.signals.as_class_labels`).

    With `n_classes` None (model width unknown) only the form is checked:
    one-hot rows of any width, or whole non-negative numbers.
    """
    arr = np.asarray(y)
    if n_classes is None:
        n_classes = (
            arr.shape[1] if arr.ndim == 2 and arr.shape[1] > 1
            else np.iinfo(np.int64).max
        )
    return as_class_labels(arr, n_classes, name=name)


def _output_classes(model: Any) -> int | None:
    """Classes of the model's output: its width, 2 for one sigmoid unit.

    None when the output shape is not known (a model not built yet).
    """
    try:
        shape = tuple(model.outputs[0].shape)
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    width = shape[-1] if len(shape) > 1 else 1
    return None if width is None else max(int(width), 2)


def shadow_splits(
    labels: np.ndarray, n_shadows: int, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Disjoint, class-stratified member/non-member splits of reference data.

    Records are shuffled with `numpy.random.default_rng(seed)`, then dealt
    class by class: the j-th record of a class goes to shadow `j % k`, and
    alternately to its members and its non-members. Every shadow therefore
    sees each class in about equal numbers on both sides.

    Args:
        labels: Reference labels, shape `(n,)` integers or `(n, C)` one-hot.
        n_shadows: Number of shadow models `k`, at least 1.
        seed: Seed of the shuffle. Defaults to 0.

    Returns:
        A list of `k` pairs `(member_indices, non_member_indices)` into the
        reference records, sorted; all `2k` index sets are disjoint.

    Raises:
        ValueError: If `n_shadows < 1`, there are fewer than `4 * k`
            records, or the labels are not whole non-negative numbers or
            one-hot rows.
    """
    classes = _class_indices(labels)
    n = len(classes)
    if not isinstance(n_shadows, int | np.integer) or n_shadows < 1:
        raise ValueError(
            "`n_shadows` must be an int >= 1; received "
            f"n_shadows={n_shadows!r}."
        )
    if n < 4 * n_shadows:
        raise ValueError(
            f"`reference` must hold at least 4 records per shadow model "
            f"({4 * n_shadows} for n_shadows={n_shadows}); received {n}."
        )
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(n)
    order = shuffled[np.argsort(classes[shuffled], kind="stable")]
    sorted_classes = classes[order]
    rank = np.arange(n) - np.searchsorted(
        sorted_classes, sorted_classes, side="left"
    )
    shadow = rank % n_shadows
    side = (rank // n_shadows) % 2
    return [
        (np.sort(order[(shadow == i) & (side == 0)]),
         np.sort(order[(shadow == i) & (side == 1)]))
        for i in range(n_shadows)
    ]


def _as_pair(pair: object, name: str) -> ArrayPair:
    if not isinstance(pair, tuple | list) or len(pair) != 2:
        raise ValueError(
            f"`{name}` must be a pair (x, y) of features and labels; "
            f"received {type(pair).__name__}."
        )
    x, y = np.asarray(pair[0]), np.asarray(pair[1])
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"`{name}` must hold the same non-zero number of features and "
            f"labels; received {len(x)} and {len(y)}."
        )
    return x, y


def infer_from_logits(model: Any) -> bool:
    """Whether a Keras model outputs logits, from its final activation.

    Args:
        model: A Keras model. Its last layer (in `model.layers`) decides:
            a softmax or sigmoid activation (or a `Softmax` layer) means
            probabilities, a linear activation means logits.

    Returns:
        True for logits, False for probabilities.

    Raises:
        ValueError: If the final activation is anything else; pass
            `from_logits` explicitly then.
    """
    layers = getattr(model, "layers", None) or []
    layer = layers[-1] if layers else None
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None)
    if type(layer).__name__ == "Softmax" or name in ("softmax", "sigmoid"):
        return False
    if name == "linear":
        return True
    raise ValueError(
        "Cannot tell whether the model outputs logits or probabilities: its "
        f"last layer {getattr(layer, 'name', layer)!r} has activation "
        f"{name or activation!r}. Pass from_logits=True or False explicitly."
    )


def load_target(
    path: str | os.PathLike, custom_objects: dict | None = None
) -> Any:
    """Load a `.keras` model in Keras' safe mode.

    Safe mode refuses to deserialise Python lambdas, so loading a file
    cannot run code stored in it.

    Args:
        path: A `.keras` file.
        custom_objects: Custom layers, losses, ... by name. Defaults to
            None.

    Returns:
        The compiled Keras model.

    Raises:
        ValueError: If `path` is not a `.keras` file.
        FileNotFoundError: If it does not exist.
    """
    keras = _keras()
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(
            "`model` must be a `.keras` file (Keras 3 format) when given as a "
            f"path; received {path!r}. Re-save it with model.save('x.keras')."
        )
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file not found: {path}")
    return keras.saving.load_model(
        path, custom_objects=custom_objects, compile=True, safe_mode=True
    )


def _clone_compiled(target: Any) -> Any:
    keras = _keras()
    config = target.get_compile_config() if hasattr(
        target, "get_compile_config") else None
    if not config:
        raise ValueError(
            "The target model has no compile settings to copy (it was saved "
            "or built without `compile`); pass `build_model`, a function "
            "that returns a compiled model like the target."
        )
    clone = keras.models.clone_model(target)
    clone.compile_from_config(config)
    return clone


def _check_built(
    model: Any, keras: Any, source: str, compiled: bool = True
) -> Any:
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"{source} must return a keras.Model; received "
            f"{type(model).__name__}."
        )
    if compiled and getattr(model, "optimizer", None) is None:
        raise ValueError(
            f"{source} must return a compiled model (call model.compile "
            "before returning it)."
        )
    outputs = getattr(model, "outputs", None)
    if outputs is not None and len(outputs) != 1:
        raise NotImplementedError(
            f"Models with {len(outputs)} outputs are not supported; the audit "
            "needs one classification output."
        )
    return model


#: `fit` arguments that need arrays; with any of them, training takes the
#: arrays directly instead of a `tf.data` pipeline.
_ARRAY_ONLY_FIT_ARGS = frozenset(
    {"validation_split", "sample_weight", "shuffle", "steps_per_epoch"}
)


def _fit(
    net: Any,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    verbose: int | str,
    fit_kwargs: dict[str, Any],
    seed: int,
    keras: Any,
) -> None:
    """Train like `fit(x, y, shuffle=True)`, faster on small data.

    With the TensorFlow backend the arrays go through a seeded, per-epoch
    reshuffled `tf.data` pipeline: the same batches-of-a-shuffle schedule
    as Keras' own, but without rebuilding the input pipeline every epoch,
    which dominates the time of small models.
    """
    if keras.backend.backend() == "tensorflow" and not (
        _ARRAY_ONLY_FIT_ARGS & set(fit_kwargs)
    ):
        import tensorflow as tf

        data = (
            tf.data.Dataset.from_tensor_slices((x, y))
            .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size)
        )
        net.fit(
            data, epochs=epochs, verbose=verbose, shuffle=False, **fit_kwargs
        )
    else:
        net.fit(
            x, y, epochs=epochs, batch_size=batch_size, verbose=verbose,
            **fit_kwargs,
        )


def audit(
    model: str | os.PathLike | Any | Callable[[], Any],
    members: ArrayPair,
    non_members: ArrayPair,
    reference: ArrayPair,
    *,
    epochs: int,
    batch_size: int = 32,
    n_shadows: int = 4,
    build_model: Callable[[], Any] | None = None,
    from_logits: bool | None = None,
    fit_kwargs: dict[str, Any] | None = None,
    member_ids: Sequence | None = None,
    non_member_ids: Sequence | None = None,
    dp: DpSgdConfig | None = None,
    attacks: Sequence[str] = ATTACKS,
    target_fprs: Sequence[float] = (0.001, 0.01),
    n_bootstraps: int = 100,
    confidence_level: float = 0.95,
    seed: int = 0,
    verbose: int | str = "auto",
    custom_objects: dict | None = None,
) -> AuditResult:
    """Audit a finished model with shadow models (Song & Mittal's protocol).

    Args:
        model: The target: a path to a `.keras` file (loaded in safe mode),
            a compiled `keras.Model`, or a function returning a fresh
            compiled model, which the audit then trains on `members` with
            `epochs`, `batch_size` and `fit_kwargs`, seeded with `seed`.
        members: `(x, y)`: the records the target was trained on.
        non_members: `(x, y)`: records from the same distribution it was
            not trained on.
        reference: `(x, y)`: further records from the same distribution,
            disjoint from both, for the shadow models. Each shadow trains on
            `len(reference) / (2 * n_shadows)` of them; to mimic the target,
            provide about `2 * n_shadows * len(members)` records.
        epochs: Epochs of shadow training; use the target's.
        batch_size: Batch size of shadow training and of inference; use
            the target's. Defaults to 32.
        n_shadows: Number of shadow models, at least 1. Defaults to 4.
        build_model: Function returning a fresh compiled model for each
            shadow. Defaults to a clone of the target compiled with its
            compile settings, or `model` itself when that is a function.
        from_logits: Whether the model outputs logits. Defaults to None:
            read from the final activation (softmax/sigmoid = probabilities,
            linear = logits), or an error when that is ambiguous.
        fit_kwargs: Extra `fit` arguments for shadow (and target)
            training, e.g. `{"callbacks": [...]}`. Defaults to None.
        member_ids: Ids of the members, for the per-record report.
            Defaults to row indices.
        non_member_ids: Ids of the non-members. Defaults to row indices.
        dp: DP-SGD settings of the target, to report the theoretical
            epsilon; `dp.n_train` defaults to `len(members)`. Defaults to
            None.
        attacks: Attacks to run. Defaults to all of :data:`ATTACKS`.
        target_fprs: FPR levels for TPR-at-FPR. Defaults to
            `(0.001, 0.01)`.
        n_bootstraps: Bootstrap resamples for intervals; 0 disables.
            Defaults to 100.
        confidence_level: Coverage of intervals and of the epsilon bound.
            Defaults to 0.95.
        seed: Seeds the splits (numpy), each model's initialisation and
            shuffling (`keras.utils.set_random_seed(seed + i)`), and the
            bootstrap. The same seed gives the same result on the same
            machine, library versions and thread settings. Note: this
            resets the global Python, numpy and backend seeds of the
            session. Defaults to 0.
        verbose: Keras' `verbose` for `fit` and `predict` (0 silent, 1
            progress bar, 2 one line per epoch, "auto"). Defaults to
            "auto".
        custom_objects: Passed to `keras.saving.load_model`. Defaults to
            None.

    Returns:
        An :class:`AuditResult`; write reports with its `save_json` and
        `save_html`.

    Raises:
        ValueError: On malformed data (labels are checked against the
            model's output width before any training), too little
            reference data, a model without compile settings and no
            `build_model`, or an ambiguous output activation without
            `from_logits`.
        NotImplementedError: For models with several outputs.
    """
    keras = _keras()
    x_in, y_in = _as_pair(members, "members")
    x_out, y_out = _as_pair(non_members, "non_members")
    x_ref, y_ref = _as_pair(reference, "reference")
    if not isinstance(epochs, int | np.integer) or epochs < 1:
        raise ValueError(f"`epochs` must be an int >= 1; received {epochs!r}.")
    fit_kwargs = dict(fit_kwargs or {})

    def train(net: Any, x: np.ndarray, y: np.ndarray, fit_seed: int) -> None:
        _fit(net, x, y, int(epochs), batch_size, verbose, fit_kwargs,
             fit_seed, keras)

    # The target: load, take, or build (and train below).
    train_target = False
    if isinstance(model, keras.Model):
        target, source = model, "keras.Model"
    elif isinstance(model, str | os.PathLike):
        target = load_target(model, custom_objects)
        source = os.fspath(model)
    elif callable(model):
        keras.utils.set_random_seed(seed)
        target = _check_built(model(), keras, "`model`")
        train_target = True
        build_model = build_model or model
        source = getattr(model, "__name__", "model-building function")
    else:
        raise ValueError(
            "`model` must be a .keras path, a keras.Model or a function "
            f"returning a compiled model; received {type(model).__name__}."
        )
    _check_built(target, keras, "`model`", compiled=False)

    # Check every label set against the output width before any training,
    # so a mistake is not found only after all models have trained.
    n_classes = _output_classes(target)
    _class_indices(y_in, n_classes, "members labels")
    _class_indices(y_out, n_classes, "non_members labels")
    classes_ref = _class_indices(y_ref, n_classes, "reference labels")
    splits = shadow_splits(classes_ref, n_shadows, seed)
    if from_logits is None:
        from_logits = infer_from_logits(target)
    if train_target:
        logger.info("Target model: training on %d records", len(x_in))
        train(target, x_in, y_in, seed)

    n_shadow_train = len(splits[0][0])
    if n_shadow_train < 0.5 * len(x_in):
        warnings.warn(
            f"Each shadow model trains on about {n_shadow_train} records, "
            f"less than half the target's {len(x_in)}; shadow models that "
            "see less data overfit more, which skews the thresholds. Give "
            f"about {2 * n_shadows * len(x_in)} reference records or fewer "
            "shadow models.",
            KerasMiaWarning,
            stacklevel=2,
        )

    def predict(net: Any, x: np.ndarray) -> np.ndarray:
        outputs = net.predict(x, batch_size=batch_size, verbose=verbose)
        return np.asarray(outputs)

    shadow_outputs = []
    for i, (idx_in, idx_out) in enumerate(splits):
        logger.info(
            "Shadow model %d/%d: training on %d records, holding out %d",
            i + 1, n_shadows, len(idx_in), len(idx_out),
        )
        keras.utils.set_random_seed(seed + 1 + i)
        if build_model is not None:
            shadow = _check_built(build_model(), keras, "`build_model`")
        else:
            shadow = _clone_compiled(target)
        train(shadow, x_ref[idx_in], y_ref[idx_in], seed + 1 + i)
        logger.info("Shadow model %d/%d: inference", i + 1, n_shadows)
        shadow_outputs.append((
            predict(shadow, x_ref[idx_in]), y_ref[idx_in],
            predict(shadow, x_ref[idx_out]), y_ref[idx_out],
        ))
        del shadow
    logger.info("Target model: inference on %d members and %d non-members",
                len(x_in), len(x_out))
    out_in, out_out = predict(target, x_in), predict(target, x_out)

    settings = {
        "model": source,
        "shadow_model": (
            getattr(build_model, "__name__", "build_model")
            if build_model is not None else "clone of the target"
        ),
        "n_shadows": int(n_shadows),
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "seed": int(seed),
        "n_members": len(x_in),
        "n_non_members": len(x_out),
        "n_reference": len(x_ref),
        "keras_version": keras.__version__,
        "keras_backend": keras.backend.backend(),
    }
    return audit_from_outputs(
        out_in, y_in, out_out, y_out, shadow_outputs,
        from_logits=from_logits, member_ids=member_ids,
        non_member_ids=non_member_ids, dp=dp, attacks=attacks,
        target_fprs=target_fprs, n_bootstraps=n_bootstraps,
        confidence_level=confidence_level, seed=seed, settings=settings,
    )


def digits_example(
    n_members: int = 300, n_non_members: int = 300, seed: int = 0
) -> dict[str, ArrayPair]:
    """Members, non-members and reference records from `load_digits`.

    scikit-learn's bundled 8x8 digits (1797 records, 10 classes; no
    download). Pixels are scaled to [0, 1] as float32; labels are int64.

    Args:
        n_members: Target training records. Defaults to 300.
        n_non_members: Target held-out records. Defaults to 300.
        seed: Seed of the shuffle. Defaults to 0.

    Returns:
        A dict with `(x, y)` pairs under `"members"`, `"non_members"` and
        `"reference"` (all remaining records).

    Raises:
        ValueError: If the two sets need more records than there are.
    """
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    if n_members < 1 or n_non_members < 1 or n_members + n_non_members >= len(
        x
    ):
        raise ValueError(
            f"`n_members` and `n_non_members` must be >= 1 and leave "
            f"reference records out of {len(x)}; received {n_members} and "
            f"{n_non_members}."
        )
    order = np.random.default_rng(seed).permutation(len(x))
    x = (x[order] / 16.0).astype(np.float32)
    y = y[order].astype(np.int64)
    cut = n_members + n_non_members
    return {
        "members": (x[:n_members], y[:n_members]),
        "non_members": (x[n_members:cut], y[n_members:cut]),
        "reference": (x[cut:], y[cut:]),
    }


class _CallableModule(types.ModuleType):
    """This module's type: calling the module calls :func:`audit`."""

    def __call__(self, *args: Any, **kwargs: Any) -> AuditResult:
        return audit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
