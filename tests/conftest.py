"""Shared test set-up: quiet TensorFlow, seeded generators, tiny models.

TensorFlow is imported at most once per test process, by the first test
that needs it; the fixtures here that build models import it lazily, so
engine-only test runs stay TensorFlow-free.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded numpy generator (tests that define their own keep it)."""
    return np.random.default_rng(1234)


def make_blobs(
    n: int, n_features: int, n_classes: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Noisy Gaussian class blobs: easy to memorise, hard to generalise.

    Args:
        n: Records.
        n_features: Input width.
        n_classes: Classes.
        seed: Seed.

    Returns:
        float32 features `(n, n_features)` and int64 labels `(n,)`.
    """
    gen = np.random.default_rng(seed)
    centres = gen.normal(0.0, 1.0, (n_classes, n_features))
    y = gen.integers(0, n_classes, n)
    x = centres[y] + gen.normal(0.0, 2.0, (n, n_features))
    return x.astype(np.float32), y.astype(np.int64)


@pytest.fixture(scope="session")
def blobs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Members and non-members of a 4-class problem that overfits fast."""
    x, y = make_blobs(400, 16, 4, seed=7)
    return {"members": (x[:200], y[:200]), "non_members": (x[200:], y[200:])}


@pytest.fixture(scope="session")
def keras_module():
    """Keras with the TensorFlow backend (imported once per process)."""
    import keras

    return keras


def dense_classifier(
    keras, n_features: int, n_classes: int, *, seed: int = 0,
    width: int = 64, activation: str = "softmax",
):
    """A compiled two-layer dense classifier.

    Args:
        keras: The keras module.
        n_features: Input width.
        n_classes: Output width (1 for a single sigmoid unit).
        seed: Weight seed.
        width: Hidden units.
        activation: Final activation (`"softmax"`, `"sigmoid"`, `"linear"`).

    Returns:
        A compiled `keras.Sequential`.
    """
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((n_features,)),
        keras.layers.Dense(width, activation="relu"),
        keras.layers.Dense(n_classes, activation=activation),
    ])
    if activation == "sigmoid":
        loss = keras.losses.BinaryCrossentropy()
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(
            from_logits=activation == "linear"
        )
    model.compile(keras.optimizers.Adam(3e-3), loss, metrics=["accuracy"])
    return model
