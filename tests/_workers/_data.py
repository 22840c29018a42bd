"""The worker scripts' data: the test suite's class blobs, split in two."""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from conftest import make_blobs  # noqa: E402


def members_and_non_members() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """120 members and 120 non-members of a 4-class, 16-feature problem."""
    x, y = make_blobs(240, 16, 4, seed=5)
    return (x[:120], y[:120]), (x[120:], y[120:])
