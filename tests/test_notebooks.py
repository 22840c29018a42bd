"""The notebooks run top to bottom in the project's Python."""

from __future__ import annotations

import ast
import json
import os
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KERNEL = "keras-mia-test"


@pytest.fixture
def run_notebook(tmp_path, monkeypatch):
    """Execute a notebook in a fresh folder with a kernel of this Python."""
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

    def run(name: str) -> tuple[str, Path]:
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        work = tmp_path / "work"
        work.mkdir()
        nbclient.NotebookClient(
            notebook, timeout=300, kernel_name=KERNEL,
            resources={"metadata": {"path": str(work)}},
        ).execute()
        text = "\n".join(
            output.get("text", "")
            for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.outputs
        )
        return text, work

    return run


@pytest.mark.slow
def test_quickstart_notebook_executes(run_notebook):
    text, work = run_notebook("quickstart.ipynb")
    assert "members (training records)" in text
    assert "PrivacyEarlyStopping (mia_advantage <= 0.25)" in text
    assert "Membership inference (cross_fit thresholds" in text
    assert "epoch_0000.npz" in text
    runs = os.listdir(work / "runs")
    assert len(runs) == 1 and runs[0].startswith("quickstart-")
    assert {"train", "validation", "privacy"} <= set(
        os.listdir(work / "runs" / runs[0])
    )


@pytest.mark.slow
def test_audit_notebook_executes(run_notebook):
    text, work = run_notebook("audit.ipynb")
    assert "Membership inference (shadow thresholds, per class)" in text
    assert "Shadow model 2/2: training on" in text
    assert "3 embedded figures in audit.html" in text
    assert "DP-SGD guarantee at noise multiplier 4.0" in text
    report = json.loads((work / "audit.json").read_text())
    assert len(report["records"]["members"]) == 100
    assert (work / "target.keras").exists()


@pytest.mark.parametrize("name", ["quickstart.ipynb", "audit.ipynb"])
def test_notebook_defines_no_library_logic(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
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
