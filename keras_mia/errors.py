"""Warning classes raised by keras-mia.

All keras-mia warnings derive from :class:`KerasMiaWarning`, so users can
silence or escalate them together with `warnings.filterwarnings`.
"""

from __future__ import annotations


class KerasMiaWarning(UserWarning):
    """Base class for every warning keras-mia emits."""


class UndefinedMetricWarning(KerasMiaWarning):
    """A metric is undefined for the given data and was returned as `nan`.

    Raised, for example, when there are no non-members to compute a false
    positive rate from.
    """


class ClassFallbackWarning(KerasMiaWarning):
    """A class had too little data for its own threshold or histogram.

    The class used the documented fallback instead; the result lists it in
    `fallback_classes`.
    """


class EvaluationFailedWarning(KerasMiaWarning):
    """A privacy evaluation raised inside training and was skipped."""


class CallbackOrderWarning(KerasMiaWarning):
    """A callback that reads keras-mia's `logs` keys runs before it.

    Keras hands one `logs` dict to the callbacks in list order, so a
    callback placed before :class:`~keras_mia.MembershipInferenceCallback`
    sees the epoch's logs without the `mia_*` keys.
    """


class DataOverlapWarning(KerasMiaWarning):
    """Some members and non-members are the same record.

    A record that is both a member and a non-member gets the same signals
    on both sides, so the attacks see less difference than there is: the
    measured leakage is an underestimate.
    """


class FromLogitsWarning(KerasMiaWarning):
    """`from_logits=True` was passed for a head that ends in softmax/sigmoid.

    The head's outputs are then probabilities; reading them as logits
    squashes the per-record signals and under-reports the leakage. The
    explicit value is still used.
    """
