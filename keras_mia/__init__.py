"""keras-mia: membership-inference privacy metrics for Keras models.

The numpy engine (signals, attacks, thresholds, risk scores) imports
without TensorFlow. The Keras callback and the TensorBoard summaries load
TensorFlow when first used.
"""

from keras_mia.attacks import (
    ATTACKS,
    THRESHOLD_SOURCES,
    AttackResult,
    EvaluationResult,
    attack_scores,
    run_attacks,
)
from keras_mia.errors import (
    CallbackOrderWarning,
    ClassFallbackWarning,
    DataOverlapWarning,
    EvaluationFailedWarning,
    FromLogitsWarning,
    KerasMiaWarning,
    UndefinedMetricWarning,
)
from keras_mia.metrics import (
    balanced_accuracy,
    bootstrap_intervals,
    positive_predictive_value,
    roc_summary,
)
from keras_mia.risk import RiskModel, fit_risk_model, summarize_risk
from keras_mia.signals import Signals, compute_signals
from keras_mia.thresholds import fit_thresholds

__version__ = "0.1.0"

_LAZY = {
    "MembershipInferenceCallback": "keras_mia.callback",
    "PrivacyEarlyStopping": "keras_mia.gate",
    "audit": "keras_mia.audit",
    "audit_from_outputs": "keras_mia.audit",
    "AuditResult": "keras_mia.audit",
    "DpSgdConfig": "keras_mia.dp",
    "theoretical_epsilon": "keras_mia.dp",
    "epsilon_lower_bound": "keras_mia.dp",
}


def __getattr__(name: str):
    """Load Keras-facing and optional parts on first use.

    The callback, gate and audit import Keras and TensorFlow; the DP
    helpers import dp-accounting. The numpy engine needs none of them.
    """
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'keras_mia' has no attribute {name!r}")


__all__ = [
    "ATTACKS",
    "AuditResult",
    "CallbackOrderWarning",
    "DpSgdConfig",
    "THRESHOLD_SOURCES",
    "AttackResult",
    "ClassFallbackWarning",
    "DataOverlapWarning",
    "EvaluationFailedWarning",
    "EvaluationResult",
    "FromLogitsWarning",
    "KerasMiaWarning",
    "MembershipInferenceCallback",
    "PrivacyEarlyStopping",
    "RiskModel",
    "Signals",
    "UndefinedMetricWarning",
    "attack_scores",
    "audit",
    "audit_from_outputs",
    "balanced_accuracy",
    "bootstrap_intervals",
    "compute_signals",
    "epsilon_lower_bound",
    "fit_risk_model",
    "fit_thresholds",
    "positive_predictive_value",
    "roc_summary",
    "run_attacks",
    "summarize_risk",
    "theoretical_epsilon",
]
