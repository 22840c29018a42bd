"""The quickstart notebook runs top to bottom in the project's Python."""

from __future__ import annotations

import ast
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"
KERNEL = "keras-mia-test"


@pytest.fixture
def kernel_of_this_python(tmp_path, monkeypatch):
    """A kernelspec that starts this interpreter (the project's .venv)."""
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f",
                 "{connection_file}"],
        "display_name": "keras-mia test",
        "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    return KERNEL


@pytest.mark.slow
def test_quickstart_notebook_executes(tmp_path, kernel_of_this_python):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    work = tmp_path / "work"
    work.mkdir()
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name=kernel_of_this_python,
        resources={"metadata": {"path": str(work)}},
    )
    client.execute()

    text = "\n".join(
        output.get("text", "")
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert "members (training records)" in text
    assert "PrivacyEarlyStopping (mia_advantage <= 0.25)" in text
    assert "Membership inference (cross_fit thresholds" in text
    assert "epoch_0000.npz" in text
    runs = os.listdir(work / "runs")
    assert len(runs) == 1 and runs[0].startswith("quickstart-")
    assert {"train", "validation", "privacy"} <= set(
        os.listdir(work / "runs" / runs[0])
    )


def test_quickstart_notebook_defines_no_library_logic():
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    source = "\n".join(
        c.source for c in notebook.cells if c.cell_type == "code"
    )
    definitions = [
        node for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Lambda)
    ]
    assert definitions == []
    assert "import keras_mia" in source
