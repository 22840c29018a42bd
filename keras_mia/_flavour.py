"""Keras flavours: Keras 3 (`keras`) and Keras 2 (`tf_keras`).

TensorFlow 2.16+ ships Keras 3, and `tf.keras` is Keras 3 unless the
environment sets `TF_USE_LEGACY_KERAS=1`, which makes `tf.keras` the
Keras 2 package `tf_keras`. The two `fit` loops drive callbacks through
different protocols: a Keras 3 callback object lacks the
`_implements_train_batch_hooks` methods that `tf_keras` calls, so it
fails there.

keras-mia keeps the logic of each callback in one class written for
Keras 3, and derives the Keras 2 class from it and from
`tf_keras.callbacks.Callback` on first use (:func:`flavoured_class`).
The flavour is chosen when the object is created (from
`TF_USE_LEGACY_KERAS`) and checked again when Keras hands it the model:
a `tf_keras` model switches the object to the Keras 2 class, before any
Keras 2 code asks for the missing methods. `tf_keras` is imported only
when one of these happens.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

#: Module names of the two flavours.
KERAS_3 = "keras"
TF_KERAS = "tf_keras"

_TRUE = ("1", "true", "yes")
_CLASSES: dict[tuple[type, str], type] = {}


def requested_flavour() -> str:
    """The flavour `tf.keras` resolves to in this process.

    Returns:
        :data:`TF_KERAS` when `TF_USE_LEGACY_KERAS` is set to a true value,
        else :data:`KERAS_3`.
    """
    legacy = os.environ.get("TF_USE_LEGACY_KERAS", "").strip().lower()
    return TF_KERAS if legacy in _TRUE else KERAS_3


def model_flavour(model: Any) -> str | None:
    """The flavour a model object belongs to.

    Args:
        model: Any object, usually the model Keras hands to a callback.

    Returns:
        :data:`TF_KERAS` or :data:`KERAS_3` from the package the model's
        classes come from, or None for anything else (e.g. None).
    """
    for klass in type(model).__mro__:
        root = klass.__module__.split(".", 1)[0]
        if root == TF_KERAS:
            return TF_KERAS
        if root == KERAS_3:
            return KERAS_3
    return None


def keras_module(flavour: str):
    """Import the Keras package of a flavour.

    Args:
        flavour: :data:`KERAS_3` or :data:`TF_KERAS`.

    Returns:
        The `keras` or `tf_keras` module.

    Raises:
        ImportError: If `tf_keras` is asked for and is not installed.
    """
    if flavour == KERAS_3:
        return importlib.import_module("keras")
    try:
        return importlib.import_module("tf_keras")
    except ImportError as err:
        raise ImportError(
            "TF_USE_LEGACY_KERAS is set (or the model is a tf_keras model), "
            "but the `tf_keras` package is not installed. Install the "
            "version that matches TensorFlow, without a second TensorFlow: "
            "`pip install --no-deps tf-keras==<your TensorFlow version>`."
        ) from err


def loaded_classes(path: str) -> tuple[type, ...]:
    """A class of every flavour already imported, for `isinstance`.

    Args:
        path: Attribute path below the package, e.g. `"callbacks.CSVLogger"`.

    Returns:
        The classes found in `keras` and, if it is imported, `tf_keras`.
    """
    found = []
    for name in (KERAS_3, TF_KERAS):
        module = sys.modules.get(name)
        for part in path.split("."):
            module = getattr(module, part, None)
        if isinstance(module, type):
            found.append(module)
    return tuple(found)


def flavoured_class(cls: type, flavour: str) -> type:
    """The concrete class of a keras-mia callback for a flavour.

    Args:
        cls: The public (Keras 3) callback class.
        flavour: :data:`KERAS_3` or :data:`TF_KERAS`.

    Returns:
        `cls` itself for Keras 3; for `tf_keras` a subclass of `cls` and of
        `tf_keras.callbacks.Callback`, made once and cached. It has the
        same name, so messages and `repr` read the same.
    """
    if flavour == KERAS_3:
        return cls
    key = (cls, flavour)
    if key not in _CLASSES:
        base = keras_module(flavour).callbacks.Callback
        _CLASSES[key] = type(cls.__name__, (cls, base), {
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
            "keras_flavour": flavour,
            # What tf_keras' CallbackList reads from every callback.
            "_supports_tf_logs": False,
            "_chief_worker_only": None,
        })
    return _CLASSES[key]


class FlavouredCallback:
    """Mixin: pick the Keras flavour of a callback object.

    Put it first among the bases of a Keras 3 callback class, whose
    logic must only use what both flavours provide (or look classes up
    with :func:`loaded_classes`).
    """

    #: The flavour of this object's class.
    keras_flavour = KERAS_3

    def __new__(cls, *args: Any, **kwargs: Any):
        """Creates the object with the class of the requested flavour."""
        public = _public_class(cls)
        return super().__new__(flavoured_class(public, requested_flavour()))

    def set_model(self, model: Any) -> None:
        """Switches to the model's flavour, then stores the model."""
        flavour = model_flavour(model)
        if flavour is not None and flavour != self.keras_flavour:
            self.__class__ = flavoured_class(
                _public_class(type(self)), flavour
            )
        super().set_model(model)


def _public_class(cls: type) -> type:
    if cls.keras_flavour == KERAS_3:
        return cls
    return cls.__mro__[1]


def print_line(message: str, log: logging.Logger) -> None:
    """Print a line where Keras prints its own progress.

    Follows `keras.config.is_interactive_logging_enabled()`: stdout when
    Keras prints interactively, else the given logger at INFO level.

    Args:
        message: The line, without a trailing newline.
        log: The logger to use when interactive logging is off.
    """
    import keras

    if keras.config.is_interactive_logging_enabled():
        sys.stdout.write(message + "\n")
        sys.stdout.flush()
    else:
        log.info(message)
