"""Access to the reference cases in `../shared/golden/`.

Every `*.npz` with a matching `*.json` there is a case, so cases added in the
same format are picked up without changing the tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

GOLDEN_DIR = Path(
    os.environ.get(
        "KERAS_MIA_GOLDEN_DIR",
        Path(__file__).resolve().parents[2] / "shared" / "golden",
    )
)
SETS = ("shadow_train", "shadow_test", "target_train", "target_test")


def case_names() -> list[str]:
    """Names of the golden cases found (empty if the folder is missing)."""
    if not GOLDEN_DIR.is_dir():
        return []
    return sorted(
        p.stem for p in GOLDEN_DIR.glob("*.npz")
        if p.with_suffix(".json").exists()
    )


def require_cases() -> list[str]:
    """Case names; in CI a missing golden folder is an error, not a skip."""
    names = case_names()
    if not names and os.environ.get("CI"):
        raise RuntimeError(f"No golden cases found in {GOLDEN_DIR}.")
    return names or [pytest.param("missing", marks=pytest.mark.skip(
        reason=f"golden folder {GOLDEN_DIR} not found"))]


def load_case(name: str) -> tuple[dict[str, np.ndarray], dict]:
    """The inputs (npz arrays) and expected outputs (parsed JSON) of a case."""
    with np.load(GOLDEN_DIR / f"{name}.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    with open(GOLDEN_DIR / f"{name}.json") as f:
        expected = json.load(f)
    return arrays, expected


def as_float_array(values: list) -> np.ndarray:
    """JSON list to float64 array (`null` becomes nan)."""
    return np.array([np.nan if v is None else v for v in values], float)
