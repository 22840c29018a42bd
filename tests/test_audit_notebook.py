"""The audit notebook runs top to bottom in the project's Python."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "audit.ipynb"
KERNEL = "keras-mia-audit-test"


@pytest.fixture
def kernel_of_this_python(tmp_path, monkeypatch):
    """A kernelspec that starts this interpreter (the project's .venv)."""
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f",
                 "{connection_file}"],
        "display_name": "keras-mia audit test",
        "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    return KERNEL


@pytest.mark.slow
def test_audit_notebook_executes(tmp_path, kernel_of_this_python):
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
    assert "Membership inference (shadow thresholds, per class)" in text
    assert "Shadow model 2/2: training on" in text
    assert "3 embedded figures in audit.html" in text
    assert "DP-SGD guarantee at noise multiplier 4.0" in text
    report = json.loads((work / "audit.json").read_text())
    assert len(report["records"]["members"]) == 100
    assert (work / "target.keras").exists()


def test_audit_notebook_defines_no_library_logic():
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
    # Stored without outputs: the test suite executes it.
    assert all(
        not c.get("outputs") for c in notebook.cells if c.cell_type == "code"
    )
