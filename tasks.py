#!/usr/bin/env python3
"""Set-up and entry points for a fresh clone.

Usage:
    python3 tasks.py demo [demo options]   # set up .venv, run the demo
    python3 tasks.py test [pytest options] # set up .venv, run every test
    python3 tasks.py bench [options]       # set up .venv, run the benchmarks

Each command creates `.venv` on first use and installs keras-mia into it in
editable mode with its test extras. It reinstalls only when `setup.cfg` or
`pyproject.toml` changed, so running a command twice is cheap. Set
`KERAS_MIA_TF_EXTRA=tensorflow` to install the full `tensorflow` wheel instead
of `tensorflow-cpu`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".keras-mia-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


_TF_VERSION = """
import importlib.metadata as md
for name in ("tensorflow", "tensorflow-cpu"):
    try:
        print(md.version(name))
        break
    except md.PackageNotFoundError:
        pass
"""


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("setup.cfg", "pyproject.toml", "tasks.py"):
        digest.update((ROOT / name).read_bytes())
    digest.update(os.environ.get("KERAS_MIA_TF_EXTRA", "").encode())
    return digest.hexdigest()


def _run(*args: str | os.PathLike) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT)


def ensure_venv() -> None:
    """Create `.venv` and install keras-mia with test extras if needed."""
    fingerprint = _fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    if sys.version_info < (3, 11):  # noqa: UP036 (runs before the venv)
        sys.exit("keras-mia needs Python 3.11 or newer.")
    if not PYTHON.exists():
        print(f"Creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    extra = os.environ.get("KERAS_MIA_TF_EXTRA", "tensorflow-cpu")
    _run(PYTHON, "-m", "pip", "install", "--upgrade", "pip", "-q")
    _run(PYTHON, "-m", "pip", "install", "-q", "-e", f".[{extra},test]")
    # tf_keras (Keras 2) for the compatibility tests, without a second
    # TensorFlow: pin it to the installed TensorFlow's version.
    tf_version = subprocess.run(
        [str(PYTHON), "-c", _TF_VERSION], check=True, capture_output=True,
        text=True, cwd=ROOT,
    ).stdout.strip()
    _run(PYTHON, "-m", "pip", "install", "-q", "--no-deps",
         f"tf-keras=={tf_version}")
    STAMP.write_text(fingerprint)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "bench", "setup"}:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_venv()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    if command == "setup":
        return 0
    if command == "demo":
        args = [str(BIN / "keras-mia"), "demo", *rest]
    elif command == "test":
        args = [str(PYTHON), "-m", "pytest", *rest]
    else:
        args = [str(PYTHON), str(ROOT / "benchmarks" / "run_all.py"), *rest]
    return subprocess.run(args, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
