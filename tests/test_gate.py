"""PrivacyEarlyStopping: stops on the budget, restores the right weights."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import dense_classifier
from test_summary import read_run

from keras_mia.errors import KerasMiaWarning

pytestmark = pytest.mark.slow

keras = pytest.importorskip("keras")

from keras_mia.callback import MembershipInferenceCallback  # noqa: E402
from keras_mia.gate import PrivacyEarlyStopping  # noqa: E402


class ScriptedLeakage(keras.callbacks.Callback):
    """Writes scripted `mia_advantage` and utility values into `logs`.

    It stands in for the callback so that the gate's decisions are known in
    advance, and it snapshots the weights at each epoch end.
    """

    def __init__(self, leakage, utility):
        super().__init__()
        self.leakage, self.utility = leakage, utility
        self.snapshots = {}

    def on_epoch_end(self, epoch, logs=None):
        if self.leakage[epoch] is not None:
            logs["mia_advantage"] = self.leakage[epoch]
        logs["score"] = self.utility[epoch]
        self.snapshots[epoch] = self.model.get_weights()


def _fit(leakage, utility, **gate_kwargs):
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = dense_classifier(keras, 4, 2, width=8)
    script = ScriptedLeakage(leakage, utility)
    gate = PrivacyEarlyStopping(
        utility_monitor="score", verbose=0, **gate_kwargs
    )
    history = model.fit(x, y, epochs=len(leakage), batch_size=16, verbose=0,
                        callbacks=[script, gate])
    return model, script, gate, history


def _assert_weights(model, expected):
    for got, want in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_gate_stops_and_restores_best_within_budget():
    leakage = [0.10, 0.20, 0.15, 0.50, 0.60, 0.70, 0.80]
    utility = [3.0, 1.0, 2.0, 0.5, 0.4, 0.3, 0.2]
    model, script, gate, history = _fit(
        leakage, utility, budget=0.3, patience=2
    )
    # Epochs 4 and 5 (1-based) exceed the budget: stop after epoch 5.
    assert gate.stopped_epoch == 4
    assert len(history.history["loss"]) == 5
    assert gate.exceeded_epochs == [3, 4]
    # Best within budget by the utility (lower is better): epoch 2.
    assert gate.best_epoch == 1 and gate.restored_epoch == 1
    _assert_weights(model, script.snapshots[1])
    assert gate.summary == (
        "PrivacyEarlyStopping (mia_advantage <= 0.3): above the budget for "
        "2 evaluation(s) in a row; stopped after epoch 5; restored weights "
        "of epoch 2 (mia_advantage=0.2000, score=1)."
    )


def test_gate_patience_resets_and_skips_unevaluated_epochs():
    leakage = [0.1, 0.5, None, 0.2, 0.5, None, 0.6]
    utility = [1.0, 1.0, 0.1, 2.0, 1.0, 1.0, 1.0]
    model, script, gate, history = _fit(
        leakage, utility, budget=0.3, patience=2, utility_mode="max"
    )
    # 0.5 then a within-budget 0.2 resets the count; the unevaluated epoch 6
    # neither counts nor resets it, so epoch 7 is the second in a row.
    assert gate.stopped_epoch == 6
    assert gate.evaluations == [(0, 0.1), (1, 0.5), (3, 0.2), (4, 0.5),
                                (6, 0.6)]
    # Epoch 3 has the best utility but was not evaluated: not a candidate.
    assert gate.best_epoch == 3
    _assert_weights(model, script.snapshots[3])


def test_gate_never_fires_restores_like_keras():
    leakage = [0.1, 0.1, 0.1, 0.1]
    utility = [4.0, 2.0, 3.0, 5.0]
    model, script, gate, history = _fit(leakage, utility, budget=0.3)
    assert gate.stopped_epoch is None
    assert len(history.history["loss"]) == 4
    assert gate.restored_epoch == 1
    _assert_weights(model, script.snapshots[1])
    assert "0 of 4 evaluations above the budget" in gate.summary


def test_gate_budget_never_met_keeps_final_weights():
    leakage = [0.5, 0.6, 0.7]
    with pytest.warns(KerasMiaWarning, match="no evaluated epoch kept"):
        model, script, gate, _ = _fit(
            leakage, [1.0, 1.0, 1.0], budget=0.3, patience=5
        )
    assert gate.stopped_epoch is None and gate.best_epoch is None
    assert gate.restored_epoch is None
    _assert_weights(model, script.snapshots[2])
    assert "no epoch stayed within the budget" in gate.summary


def test_gate_nan_evaluation_is_skipped():
    leakage = [0.1, math.nan, 0.5]
    with pytest.warns(KerasMiaWarning, match="is nan at epoch 2"):
        _, _, gate, _ = _fit(leakage, [1.0, 1.0, 1.0], budget=0.3,
                             patience=1)
    assert gate.evaluations == [(0, 0.1), (2, 0.5)]
    assert gate.stopped_epoch == 2


def test_gate_missing_utility_prefers_latest():
    x = np.zeros((8, 4), "float32")
    model = dense_classifier(keras, 4, 2, width=4)
    script = ScriptedLeakage([0.1, 0.1, 0.9], [0.0, 0.0, 0.0])
    gate = PrivacyEarlyStopping(budget=0.3, verbose=0)  # val_loss missing
    with pytest.warns(KerasMiaWarning, match="'val_loss' is not in logs"):
        model.fit(x, np.zeros(8, "int64"), epochs=3, verbose=0,
                  callbacks=[script, gate])
    assert gate.best_epoch == 1 and gate.restored_epoch == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"monitor": "mia_auc", "budget": 0.1}, "may not be a raw AUC"),
        ({"monitor": "mia_loss_auc", "budget": 0.1}, "may not be a raw AUC"),
        ({"budget": -0.1}, "`budget` must be a finite number >= 0"),
        ({"budget": math.inf}, "`budget` must be a finite number"),
        ({"budget": 0.1, "patience": 0}, "`patience` must be an int >= 1"),
        ({"budget": 0.1, "utility_mode": "auto"}, "`utility_mode` must be"),
        ({"budget": 0.1, "restore_best_weights": "no"},
         "`restore_best_weights` must be True or False"),
        ({"budget": 0.1, "utility_monitor": ""}, "`utility_monitor` must be"),
        ({"budget": 0.1, "verbose": 5}, "`verbose` must be 0, 1 or 2"),
    ],
    ids=["auc", "attack-auc", "negative-budget", "infinite-budget",
         "patience", "utility-mode", "restore-string", "utility-empty",
         "verbose-5"],
)
def test_gate_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PrivacyEarlyStopping(**kwargs)


@pytest.mark.parametrize(
    "monitor, budget",
    [("mia_advantage", 1.0), ("mia_advantage", 2.0),
     ("mia_auc_distance", 0.5)],
    ids=["advantage-1", "advantage-2", "auc-distance-half"],
)
def test_gate_warns_when_budget_can_never_be_passed(monitor, budget):
    with pytest.warns(KerasMiaWarning, match="can never be passed"):
        PrivacyEarlyStopping(monitor, budget=budget)


def test_gate_accepts_auc_distance():
    gate = PrivacyEarlyStopping("mia_auc_distance", budget=0.1)
    assert gate.monitor == "mia_auc_distance"


def test_gate_with_callback_writes_its_config(blobs, tmp_path):
    model = dense_classifier(keras, 16, 4, width=128)
    callback = MembershipInferenceCallback(
        blobs["members"], blobs["non_members"], log_dir=str(tmp_path),
        verbose=0,
    )
    # The script overrides the callback's mia_advantage, so the gate's
    # decisions are known: stop after epoch 2, restore epoch 1.
    script = ScriptedLeakage([0.1, 0.9, 0.9], [1.0, 1.0, 1.0])
    gate = PrivacyEarlyStopping(budget=0.5, patience=1, verbose=0)
    model.fit(*blobs["members"], validation_data=blobs["non_members"],
              epochs=3, verbose=0, callbacks=[callback, script, gate])
    assert gate.stopped_epoch == 1 and gate.restored_epoch == 0
    _assert_weights(model, script.snapshots[0])
    run = read_run(tmp_path / "privacy")
    (_, config, _), = run["mia_meta/config"]
    assert json.loads(config.item())["gate"] == {
        "monitor": "mia_advantage", "budget": 0.5, "patience": 1,
        "utility_monitor": "val_loss", "utility_mode": "min",
        "restore_best_weights": True,
    }
    (step, outcome, meta), = run["mia_meta/gate"]
    outcome = json.loads(outcome.item())
    assert step == 1
    assert outcome["version"] == 1
    assert outcome["stopped_epoch"] == 1 and outcome["restored_epoch"] == 0
    assert outcome["best_epoch"] == 0 and outcome["exceeded_epochs"] == [1]
    assert outcome["summary"] == gate.summary
    assert "restored weights of epoch 1" in gate.summary


def test_gate_single_process_strategies_share_nothing():
    from keras_mia.gate import _multi_worker_strategy

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert _multi_worker_strategy(model) is None
    assert _multi_worker_strategy(object()) is None


class RenamedLeakage(keras.callbacks.Callback):
    """Writes `mia_*` keys on the scripted epochs (None: not evaluated)."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        if self.values[epoch] is not None:
            logs["mia_advantage"] = self.values[epoch]
            logs["mia_auc"] = 0.5 + self.values[epoch] / 2


def _fit_with(callbacks, epochs):
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = dense_classifier(keras, 4, 2, width=4)
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0,
              callbacks=callbacks)
    return model


def test_gate_misspelt_monitor_warns_once_with_available_keys():
    gate = PrivacyEarlyStopping("mia_advantge", budget=0.05, verbose=0,
                                utility_monitor=None)
    with pytest.warns(KerasMiaWarning) as record:
        _fit_with([RenamedLeakage([None, 0.9, 0.9, 0.9]), gate], epochs=4)
    messages = [str(w.message) for w in record
                if "is not in logs" in str(w.message)]
    assert len(messages) == 1
    assert "'mia_advantge'" in messages[0] and "epoch 2" in messages[0]
    assert "['mia_advantage', 'mia_auc']" in messages[0]
    assert "mia_advantge was never in logs" in gate.summary
    assert "mia_advantage, mia_auc" in gate.summary


def test_gate_sparse_evaluations_do_not_warn_about_monitor(recwarn):
    gate = PrivacyEarlyStopping(budget=0.5, verbose=0, utility_monitor=None)
    _fit_with([RenamedLeakage([0.1, None, None, 0.2]), gate], epochs=4)
    assert not [w for w in recwarn if "not in logs" in str(w.message)]
    assert gate.evaluations == [(0, 0.1), (3, 0.2)]


def test_gate_monitor_without_prefix_warns_at_init():
    with pytest.warns(KerasMiaWarning, match="does not start with 'mia_'"):
        PrivacyEarlyStopping("advantage", budget=0.1)


def test_gate_summary_names_another_callback_stopping_training():
    gate = PrivacyEarlyStopping(budget=0.5, verbose=0, utility_monitor=None)
    stopper = keras.callbacks.EarlyStopping(monitor="mia_advantage",
                                            mode="min", patience=1)
    values = [0.1, 0.2, 0.3, 0.4] + [0.4] * 26
    _fit_with([RenamedLeakage(values), gate, stopper], epochs=30)
    assert gate.stopped_epoch is None
    assert "training ran to the end" not in gate.summary
    assert (
        "training stopped after epoch 2 of 30 without the gate firing"
        in gate.summary
    )


def test_gate_summary_all_evaluations_failed():
    gate = PrivacyEarlyStopping(budget=0.5, verbose=0, utility_monitor=None)
    with pytest.warns(KerasMiaWarning, match="is nan at epoch 1"):
        _fit_with([RenamedLeakage([math.nan] * 4), gate], epochs=4)
    assert gate.summary == (
        "PrivacyEarlyStopping (mia_advantage <= 0.5): 4 evaluation(s), all "
        "failed (nan); nothing restored."
    )
