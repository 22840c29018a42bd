"""keras-mia against the paper's code and TensorFlow Privacy.

The expected values in `../shared/golden/` were produced by the paper's
evaluation code and by TensorFlow Privacy on fixed inputs. Tolerances follow
the golden README, section 7: per-record signals to rtol 1e-12 (numpy's
`log` may round differently on another processor), thresholds and
accuracies to 1e-12, risk scores to atol 1e-12, TensorFlow Privacy's AUC and
advantage to 1e-9.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

from golden import SETS, as_float_array, load_case, require_cases
from keras_mia import compute_signals, run_attacks
from keras_mia.attacks import attack_scores
from keras_mia.errors import ClassFallbackWarning
from keras_mia.metrics import roc_summary
from keras_mia.thresholds import fit_thresholds

CASES = require_cases()
PAPER_ATTACKS = ("confidence", "entropy", "modified_entropy")


@functools.cache
def _signals(case: str):
    arrays, _ = load_case(case)
    return {
        s: compute_signals(
            arrays[f"{s}_probs"], arrays[f"{s}_labels"], from_logits=False
        )
        for s in SETS
    }


@functools.cache
def _reference_result(case: str):
    sig = _signals(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClassFallbackWarning)
        return run_attacks(
            sig["target_train"],
            sig["target_test"],
            reference=(sig["shadow_train"], sig["shadow_test"]),
            reference_compatible=True,
            n_bootstraps=0,
        )


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("set_name", SETS)
def test_signals_match_paper_code(case, set_name):
    _, expected = load_case(case)
    per_sample = expected["song_mittal"]["per_sample"][set_name]
    got = _signals(case)[set_name]
    np.testing.assert_array_equal(
        got.correctness, np.asarray(per_sample["correct"], bool)
    )
    np.testing.assert_array_equal(
        got.confidence, as_float_array(per_sample["confidence"])
    )
    for name in ("entropy", "modified_entropy"):
        # atol: a few ulps of values far below any meaningful nats level.
        np.testing.assert_allclose(
            getattr(got, name), as_float_array(per_sample[name]),
            rtol=1e-12, atol=1e-15, err_msg=name,
        )


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("attack", PAPER_ATTACKS)
def test_shadow_thresholds_match_paper_code(case, attack):
    _, expected = load_case(case)
    result = _reference_result(case).attacks[attack]
    want = as_float_array(expected["song_mittal"]["thresholds"][attack])
    per_class = expected["song_mittal"]["threshold_search"][attack]["per_class"]
    zero_classes = [
        c for c, info in enumerate(per_class)
        if info["source"] == "default_zero"
    ]
    assert list(result.fallback_classes) == zero_classes
    fitted = np.ones(len(want), bool)
    fitted[zero_classes] = False
    assert np.all(np.isnan(result.thresholds[~fitted]))
    np.testing.assert_allclose(
        result.thresholds[fitted], want[fitted], rtol=1e-12, atol=0
    )


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("attack", ("correctness",) + PAPER_ATTACKS)
def test_attack_accuracy_matches_paper_code(case, attack):
    _, expected = load_case(case)
    want = expected["song_mittal"]["attack_accuracy"][attack]["value"]
    got = _reference_result(case).attacks[attack].accuracy
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    printed = expected["song_mittal"]["attack_accuracy"][attack]["printed"]
    assert f"{got:.3f}" == printed


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("set_name", ("target_train", "target_test"))
def test_risk_scores_match_paper_code(case, set_name):
    _, expected = load_case(case)
    want = as_float_array(
        expected["song_mittal"]["per_sample"][set_name]["risk_score"]
    )
    result = _reference_result(case)
    got = (
        result.member_risk_scores if set_name == "target_train"
        else result.non_member_risk_scores
    )
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(
    "tfp_attack, attack",
    [("THRESHOLD_ATTACK", "loss"),
     ("THRESHOLD_ENTROPY_ATTACK", "modified_entropy")],
    ids=["loss", "entropy"],
)
def test_auc_and_advantage_match_tf_privacy(case, tfp_attack, attack):
    _, expected = load_case(case)
    recommended = expected["tf_privacy"]["recommended"][tfp_attack]
    entire = recommended["entire_dataset"]
    result = _reference_result(case).attacks[attack]
    np.testing.assert_allclose(result.auc, entire["auc"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        result.advantage, entire["attacker_advantage"], rtol=0, atol=1e-9
    )
    # Per-class slices: the same ROC metrics on one class at a time.
    sig = _signals(case)
    members, non_members = sig["target_train"], sig["target_test"]
    for row in recommended["by_class"]:
        c = row["class"]
        roc = roc_summary(
            attack_scores(members, attack)[members.labels == c],
            attack_scores(non_members, attack)[non_members.labels == c],
        )
        np.testing.assert_allclose(roc.auc, row["auc"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(
            roc.advantage, row["attacker_advantage"], rtol=0, atol=1e-9
        )


@pytest.mark.parametrize("case", CASES)
def test_tf_privacy_mean_loss_matches(case):
    _, expected = load_case(case)
    meta = expected["tf_privacy"]["configs"]["probs"]["privacy_report_metadata"]
    sig = _signals(case)
    np.testing.assert_allclose(
        np.mean(sig["target_train"].loss), meta["loss_train"], rtol=1e-12
    )
    np.testing.assert_allclose(
        np.mean(sig["target_test"].loss), meta["loss_test"], rtol=1e-12
    )


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("attack", PAPER_ATTACKS)
def test_default_mode_fits_shadow_data_at_least_as_well(case, attack):
    """Exact comparisons never pick a worse shadow threshold than float64."""
    sig = _signals(case)
    shadow_in, shadow_out = sig["shadow_train"], sig["shadow_test"]
    args = (
        attack_scores(shadow_in, attack), shadow_in.labels,
        attack_scores(shadow_out, attack), shadow_out.labels,
        shadow_in.n_classes,
    )
    reference = fit_thresholds(*args, reference_compatible=True)
    default = fit_thresholds(*args)
    np.testing.assert_array_equal(default.fitted, reference.fitted)
    fitted = default.fitted
    assert np.all(
        default.fit_accuracies[fitted]
        >= reference.fit_accuracies[fitted] - 1e-12
    )
    # Threshold-free metrics do not depend on the tie rule at all.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClassFallbackWarning)
        result = run_attacks(
            sig["target_train"], sig["target_test"],
            reference=(shadow_in, shadow_out), attacks=[attack],
            n_bootstraps=0, risk_signal=None,
        )
    assert result.attacks[attack].auc == (
        _reference_result(case).attacks[attack].auc
    )
