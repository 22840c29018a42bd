"""Lazy access to TensorFlow, with an error that says how to install it.

The numpy engine and the `keras-mia evaluate` command do not need
TensorFlow. The callback, the TensorBoard summaries and the demo do; they
call :func:`require_tensorflow` before they touch it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

INSTALL_HINT = (
    "Install it with `pip install keras-mia[tensorflow]` or, for a CPU-only "
    "machine, `pip install keras-mia[tensorflow-cpu]` (or install the "
    "TensorFlow distribution you already use)."
)


def require_tensorflow(feature: str) -> ModuleType:
    """Import TensorFlow or fail with an installation hint.

    Args:
        feature: What needs TensorFlow, named in the error message (for
            example `"MembershipInferenceCallback"`).

    Returns:
        The imported `tensorflow` module.

    Raises:
        ImportError: If TensorFlow cannot be imported.
    """
    try:
        return importlib.import_module("tensorflow")
    except ImportError as err:
        raise ImportError(
            f"{feature} needs TensorFlow 2.16 or newer, which is not "
            f"installed. {INSTALL_HINT}"
        ) from err


def require_tensorboard(feature: str) -> ModuleType:
    """Import TensorBoard or fail with an installation hint.

    Args:
        feature: What needs TensorBoard, named in the error message.

    Returns:
        The imported `tensorboard` module.

    Raises:
        ImportError: If TensorBoard cannot be imported.
    """
    try:
        return importlib.import_module("tensorboard")
    except ImportError as err:
        raise ImportError(
            f"{feature} needs the `tensorboard` package, which is not "
            "installed. Install it with `pip install tensorboard` (keras-mia "
            "declares it as a dependency, so reinstalling keras-mia also "
            "brings it)."
        ) from err
