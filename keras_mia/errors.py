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
