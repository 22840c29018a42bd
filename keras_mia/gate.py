"""`PrivacyEarlyStopping`: stop training when leakage passes a budget.

The gate reads a leakage key that :class:`keras_mia.MembershipInferenceCallback`
writes into `logs` (so it goes after that callback in the `callbacks`
list). When the value is above `budget` for `patience` evaluations in a
row, it stops training; at the end of training it restores the weights of
the best epoch whose evaluated leakage stayed within the budget, "best"
by a utility metric such as `val_loss`.

The stock alternative is Keras' own `EarlyStopping`:

    keras.callbacks.EarlyStopping(monitor="mia_advantage", mode="min")

It needs `mode="min"` (Keras cannot infer the direction of an unknown
metric and raises with `mode="auto"`); it stops when leakage stops
*decreasing*, not when it passes a budget; and on epochs the callback does
not evaluate it warns that the key is missing and does nothing, so its
`patience` counts evaluations, not epochs.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

from keras_mia import _flavour
from keras_mia._backend import require_tensorflow
from keras_mia.errors import KerasMiaWarning

require_tensorflow("PrivacyEarlyStopping")
import keras  # noqa: E402  (after the TensorFlow check, for its message)

logger = logging.getLogger(__name__)

#: Keys whose "more leaky" direction is not "larger", refused as monitors.
_TWO_SIDED_SUFFIX = "_auc"

#: Largest value a monitored key can take: a budget at or above it never
#: binds (`|AUC - 0.5|` is at most 0.5; rates and advantages at most 1).
_BUDGET_CEILINGS = {
    "mia_auc_distance": 0.5,
    "mia_advantage": 1.0,
    "mia_accuracy": 1.0,
    "mia_tpr_at_0.1pct_fpr": 1.0,
    "mia_tpr_at_1pct_fpr": 1.0,
}

#: Prefix of the `logs` keys MembershipInferenceCallback writes.
_LOG_PREFIX = "mia_"


class PrivacyEarlyStopping(
    _flavour.FlavouredCallback, keras.callbacks.Callback
):
    """Stops training when membership leakage exceeds a budget.

    Place it after :class:`~keras_mia.MembershipInferenceCallback` in the
    `callbacks` list. On each epoch end it reads `logs[monitor]`:

    * key absent (the epoch was not evaluated): nothing happens, and the
      epoch is not a candidate for restoring (its leakage is unknown). If
      the epoch has other `mia_` keys, it was evaluated and `monitor` is
      probably misspelt: a warning lists the available `mia_*` keys, once;
    * value `nan` (a failed evaluation): nothing happens either, with a
      warning the first time;
    * value above `budget`: one more consecutive exceedance; at `patience`
      of them in a row, training stops (`model.stop_training = True`);
    * value at or below `budget`: the count resets, and the epoch is a
      candidate; the best candidate by `utility_monitor` (the latest one
      when that key is missing) is remembered, with its weights when
      `restore_best_weights`.

    At the end of training, with `restore_best_weights=True`, the weights of
    the best candidate are restored unless they are the final weights
    already (as Keras' `EarlyStopping` does, also when the gate did not
    fire). If no evaluated epoch stayed within the budget, the final weights
    are kept and a warning says so. A one-line account is stored in
    :attr:`summary` and printed when `verbose`; it also says when every
    evaluation failed, and when another callback (such as Keras'
    `EarlyStopping`) stopped training before the planned epochs.

    Note: only evaluated epochs can be restored, so with `every_n_epochs`
    above 1 the restored epoch is one the callback evaluated.

    Multi-worker training (`MultiWorkerMirroredStrategy`, with `tf_keras`
    only): the chief alone evaluates, so at the end of every epoch each
    worker joins one all-reduce of two flags (stop, new best); every
    worker then stops at the chief's epoch and keeps and restores the
    same weights. The counts and values in :attr:`summary` are the
    chief's; the other workers know the epochs only.

    Args:
        monitor: The leakage key, larger = more leakage. Defaults to
            `"mia_advantage"`. Good choices: `"mia_advantage"`,
            `"mia_tpr_at_0.1pct_fpr"`, `"mia_tpr_at_1pct_fpr"`,
            `"mia_auc_distance"` (`|AUC - 0.5|`). Raw AUC keys are refused,
            since an AUC below 0.5 is not more private.
        budget: Largest acceptable value of `monitor`, a finite float >= 0
            (for advantage and TPR in [0, 1]; for `mia_auc_distance` in
            [0, 0.5]).
        patience: Consecutive evaluations above the budget that stop
            training, an int >= 1. Defaults to 1.
        restore_best_weights: Restore the best within-budget epoch at the
            end of training. Defaults to True.
        utility_monitor: The `logs` key that ranks within-budget epochs, or
            None to prefer the latest. Defaults to `"val_loss"`.
        utility_mode: `"min"` or `"max"`: whether smaller or larger
            `utility_monitor` is better. Defaults to `"min"`.
        verbose: 1 prints the summary line (and one line when it stops),
            0 is silent. Defaults to 1.

    Attributes:
        summary: The one-line account of the last `fit`, or None before.
        stopped_epoch: 0-based epoch after which the gate stopped training,
            or None.
        best_epoch: 0-based best within-budget epoch, or None.
        restored_epoch: 0-based epoch whose weights were restored, or None.
        exceeded_epochs: 0-based evaluated epochs above the budget.
        evaluations: `(epoch, value)` for every evaluated epoch seen.
        failed_evaluations: Evaluations whose `monitor` was `nan`.

    Raises:
        ValueError: On an invalid argument, including a raw AUC monitor.

    Warns:
        KerasMiaWarning: At construction, if `monitor` does not start with
            `mia_` (the callback never writes such a key).
    """

    def __init__(
        self,
        monitor: str = "mia_advantage",
        *,
        budget: float,
        patience: int = 1,
        restore_best_weights: bool = True,
        utility_monitor: str | None = "val_loss",
        utility_mode: str = "min",
        verbose: int = 1,
    ) -> None:
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(
                f"`monitor` must be a logs key; received monitor={monitor!r}."
            )
        if monitor.endswith(_TWO_SIDED_SUFFIX):
            raise ValueError(
                f"`monitor` may not be a raw AUC ({monitor!r}): an AUC below "
                "0.5 is not more private. Use 'mia_auc_distance' (|AUC - "
                "0.5|), 'mia_advantage' or 'mia_tpr_at_0.1pct_fpr'."
            )
        if not monitor.startswith(_LOG_PREFIX):
            warnings.warn(
                f"PrivacyEarlyStopping: monitor {monitor!r} does not start "
                f"with {_LOG_PREFIX!r}, so MembershipInferenceCallback never "
                "writes it and the gate may never act. Did you mean "
                "'mia_advantage'?",
                KerasMiaWarning,
                stacklevel=2,
            )
        if isinstance(budget, bool) or not isinstance(
            budget, int | float
        ) or not math.isfinite(budget) or budget < 0:
            raise ValueError(
                "`budget` must be a finite number >= 0 (the largest "
                f"acceptable {monitor}); received budget={budget!r}."
            )
        if isinstance(patience, bool) or not isinstance(patience, int) or (
            patience < 1
        ):
            raise ValueError(
                "`patience` must be an int >= 1; received "
                f"patience={patience!r}."
            )
        if utility_mode not in ("min", "max"):
            raise ValueError(
                "`utility_mode` must be 'min' or 'max'; received "
                f"utility_mode={utility_mode!r}."
            )
        if utility_monitor is not None and (
            not isinstance(utility_monitor, str) or not utility_monitor
        ):
            raise ValueError(
                "`utility_monitor` must be a logs key or None; received "
                f"utility_monitor={utility_monitor!r}."
            )
        if not isinstance(restore_best_weights, bool):
            raise ValueError(
                "`restore_best_weights` must be True or False; received "
                f"restore_best_weights={restore_best_weights!r}."
            )
        if verbose not in (0, 1, 2) or isinstance(verbose, bool):
            raise ValueError(
                f"`verbose` must be 0, 1 or 2; received verbose={verbose!r}."
            )
        ceiling = _BUDGET_CEILINGS.get(monitor)
        if ceiling is not None and budget >= ceiling:
            warnings.warn(
                f"PrivacyEarlyStopping: {monitor} never exceeds {ceiling}, so "
                f"budget={budget!r} can never be passed and the gate will "
                "not act.",
                KerasMiaWarning,
                stacklevel=2,
            )
        self.monitor = monitor
        self.budget = float(budget)
        self.patience = patience
        self.restore_best_weights = bool(restore_best_weights)
        self.utility_monitor = utility_monitor
        self.utility_mode = utility_mode
        self.verbose = int(verbose)
        self.outcome_listeners: list = []
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_epoch: int | None = None
        self.best_utility: float | None = None
        self.best_value: float | None = None
        self.best_weights: list | None = None
        self.restored_epoch: int | None = None
        self.exceeded_epochs: list[int] = []
        self.evaluations: list[tuple[int, float]] = []
        self.failed_evaluations = 0
        self._last_epoch: int | None = None
        self._planned_epochs: int | None = None
        self._available_keys: list[str] | None = None
        self._warned: set[str] = set()
        self.summary: str | None = None

    def describe(self, outcome: bool = False) -> dict[str, Any]:
        """The gate's settings (and outcome) as a JSON-safe dict.

        The callback writes this into TensorBoard (`mia_meta/config` and
        `mia_meta/gate`).

        Args:
            outcome: Also include the outcome of the current or last `fit`.
                Defaults to False.

        Returns:
            A dict of plain Python values.
        """
        out: dict[str, Any] = {
            "monitor": self.monitor,
            "budget": self.budget,
            "patience": self.patience,
            "utility_monitor": self.utility_monitor,
            "utility_mode": self.utility_mode,
            "restore_best_weights": self.restore_best_weights,
        }
        if outcome:
            out.update(
                stopped_epoch=self.stopped_epoch,
                best_epoch=self.best_epoch,
                restored_epoch=self.restored_epoch,
                exceeded_epochs=list(self.exceeded_epochs),
                summary=self._account(),
            )
        return out

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Resets the state, so one gate serves several `fit` calls."""
        self._reset()
        epochs = (self.params or {}).get("epochs")
        self._planned_epochs = epochs if isinstance(epochs, int) else None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Counts exceedances, tracks the best within-budget epoch.

        In a multi-worker run every worker joins one collective here, at
        every epoch, so that all of them stop at the same epoch and keep
        the same best weights as the chief, which alone evaluates.
        """
        self._local_epoch_end(epoch, logs or {})
        strategy = _multi_worker_strategy(self.model)
        if strategy is None:
            return
        new_stop = self.stopped_epoch == epoch
        new_best = self.best_epoch == epoch
        shared_stop, shared_best = _any_worker(strategy, (new_stop, new_best))
        if shared_stop and not new_stop:
            self.stopped_epoch = epoch
            self.model.stop_training = True
        if shared_best and not new_best:
            self.best_epoch = epoch
            self.best_value = self.best_utility = None
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()

    def _local_epoch_end(self, epoch: int, logs: dict) -> None:
        self._last_epoch = epoch
        value = logs.get(self.monitor)
        if value is None:
            self._check_monitor_present(epoch, logs)
            return
        value = float(value)
        if math.isnan(value):
            self.failed_evaluations += 1
            self._warn_once(
                "nan",
                f"PrivacyEarlyStopping: {self.monitor} is nan at epoch "
                f"{epoch + 1} (a failed evaluation); the epoch is skipped.",
            )
            return
        self.evaluations.append((epoch, value))
        if value > self.budget:
            self.wait += 1
            self.exceeded_epochs.append(epoch)
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                if self.verbose:
                    self._print(
                        f"Epoch {epoch + 1}: PrivacyEarlyStopping: "
                        f"{self.monitor}={value:.4f} above budget "
                        f"{self.budget:g} for {self.wait} evaluation(s); "
                        "stopping."
                    )
            return
        self.wait = 0
        utility = self._utility(logs)
        if self._is_better(utility):
            self.best_epoch = epoch
            self.best_utility = utility
            self.best_value = value
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()

    def _check_monitor_present(self, epoch: int, logs: dict) -> None:
        """Warns once if the epoch was evaluated but lacks the monitor.

        An epoch without any `mia_` key was not evaluated (sparse
        evaluations with `every_n_epochs`), which is expected. An epoch
        with `mia_` keys but no `monitor` means the monitor is misspelt or
        not logged, and the gate would silently never act.
        """
        available = sorted(k for k in logs if k.startswith(_LOG_PREFIX))
        if not available or self._available_keys is not None:
            return
        self._available_keys = available
        self._warn_once(
            "monitor",
            f"PrivacyEarlyStopping: monitor {self.monitor!r} is not in logs "
            f"at epoch {epoch + 1}, although the epoch was evaluated; the "
            "gate does nothing until it appears. Available mia_* keys: "
            f"{available}.",
            stacklevel=4,
        )

    def on_train_end(self, logs: dict | None = None) -> None:
        """Restores the best within-budget weights; writes the summary."""
        if (
            self.restore_best_weights
            and self.best_weights is not None
            and self.best_epoch != self._last_epoch
        ):
            self.model.set_weights(self.best_weights)
            self.restored_epoch = self.best_epoch
        if self.restore_best_weights and self.best_epoch is None and (
            self.evaluations
        ):
            warnings.warn(
                f"PrivacyEarlyStopping: no evaluated epoch kept {self.monitor} "
                f"within the budget {self.budget:g}; the final weights are "
                "kept.",
                KerasMiaWarning,
                stacklevel=2,
            )
        self.best_weights = None
        self.summary = self._account()
        if self.verbose:
            self._print(self.summary)
        # MembershipInferenceCallback registers here to log the outcome.
        listeners, self.outcome_listeners = self.outcome_listeners, []
        for listener in listeners:
            listener(self)

    def _utility(self, logs: dict) -> float | None:
        if self.utility_monitor is None:
            return None
        value = logs.get(self.utility_monitor)
        if value is None:
            self._warn_once(
                "utility",
                f"PrivacyEarlyStopping: utility_monitor "
                f"{self.utility_monitor!r} is not in logs; the latest "
                "within-budget epoch counts as best. Available keys: "
                f"{sorted(logs)}.",
            )
            return None
        return float(value)

    def _is_better(self, utility: float | None) -> bool:
        if utility is None or self.best_utility is None:
            return True
        if math.isnan(utility):
            return False
        if self.utility_mode == "min":
            return utility < self.best_utility
        return utility > self.best_utility

    def _account(self) -> str:
        head = f"PrivacyEarlyStopping ({self.monitor} <= {self.budget:g}): "
        n = len(self.evaluations)
        failed = self.failed_evaluations
        if not n:
            if failed:
                return head + (
                    f"{failed} evaluation(s), all failed (nan); nothing "
                    "restored."
                )
            if self._available_keys is not None:
                return head + (
                    f"{self.monitor} was never in logs (available mia_* "
                    f"keys: {', '.join(self._available_keys)}); nothing to "
                    "do."
                )
            return head + "no evaluation was seen; nothing to do."
        failed_note = f", {failed} failed (nan)" if failed else ""
        if self.stopped_epoch is not None:
            what = (
                f"above the budget for {self.wait} evaluation(s) in a row; "
                f"stopped after epoch {self.stopped_epoch + 1}"
            )
        else:
            what = (
                f"{len(self.exceeded_epochs)} of {n} evaluations above the "
                f"budget{failed_note}; " + self._how_training_ended()
            )
        if self.best_epoch is None:
            keep = "no epoch stayed within the budget, final weights kept"
        else:
            detail = f"{self.monitor}={self.best_value:.4f}"
            if self.best_utility is not None:
                detail += f", {self.utility_monitor}={self.best_utility:.4g}"
            verb = (
                "restored weights of" if self.restored_epoch is not None
                else "best within budget:"
            )
            keep = f"{verb} epoch {self.best_epoch + 1} ({detail})"
        return head + what + "; " + keep + "."

    def _how_training_ended(self) -> str:
        """How training ended when the gate did not stop it."""
        last, planned = self._last_epoch, self._planned_epochs
        if last is None or planned is None or last + 1 >= planned:
            return "training ran to the end"
        return (
            f"training stopped after epoch {last + 1} of {planned} without "
            "the gate firing (by another callback)"
        )

    def _warn_once(
        self, key: str, message: str, stacklevel: int = 3
    ) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        warnings.warn(message, KerasMiaWarning, stacklevel=stacklevel)

    def _print(self, message: str) -> None:
        _flavour.print_line(message, logger)


def _multi_worker_strategy(model: Any):
    """The model's strategy if it spans several workers, else None."""
    tf = require_tensorflow("PrivacyEarlyStopping")
    try:
        strategy = model.distribute_strategy
    except (AttributeError, ValueError, RuntimeError):
        return None
    kinds = (
        tf.distribute.MultiWorkerMirroredStrategy,
        tf.distribute.experimental.MultiWorkerMirroredStrategy,
    )
    if not isinstance(strategy, kinds):
        return None
    resolver = strategy.cluster_resolver
    spec = resolver.cluster_spec().as_dict() if resolver else {}
    return strategy if sum(map(len, spec.values())) > 1 else None


def _any_worker(strategy, flags: tuple[bool, ...]) -> tuple[bool, ...]:
    """Whether any worker raised each flag: one all-reduce, every worker.

    Every worker must call this at the same point (the end of each
    epoch); the collective pairs the calls up across workers.
    """
    tf = require_tensorflow("PrivacyEarlyStopping")
    local = tf.constant([float(flag) for flag in flags], tf.float32)
    per_replica = strategy.run(lambda: tf.identity(local))
    total = strategy.reduce(
        tf.distribute.ReduceOp.SUM, per_replica, axis=None
    )
    return tuple(bool(value > 0) for value in total.numpy())
