"""The `keras-mia demo` subcommand: the demo of :mod:`keras_mia.demo`.

Each run writes its TensorBoard logs into a new directory
`<log-dir>/<dataset>-<YYYYmmdd-HHMMSS>` (with `-2`, `-3`, ... appended if
that exists), so runs never overwrite each other and TensorBoard shows
them side by side. `--run-name NAME` uses `<log-dir>/NAME` instead and
refuses a non-empty directory unless `--overwrite` is given. `NAME` must
be one plain directory name (no path separators, not `.` or `..`), and
`--overwrite` only ever deletes that directory inside `--log-dir`.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import shutil
import sys
import time

from keras_mia.cli import non_negative_int

#: Advantage budget of the demo's privacy gate, per data set: the digits
#: model passes it after a few epochs, so the gate visibly fires.
DEFAULT_BUDGETS = {"digits": 0.25, "breast_cancer": 0.1}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `demo` subcommand.

    Args:
        subparsers: The `keras-mia` subparser collection.
    """
    parser = subparsers.add_parser(
        "demo",
        help="train an overfitting model on bundled real data and watch "
        "its membership leakage grow",
        description=(
            "Train a deliberately overfitting Keras model on a data set "
            "bundled with scikit-learn (no download), with "
            "MembershipInferenceCallback evaluating every epoch and a "
            "PrivacyEarlyStopping gate on the attack advantage. Prints a "
            "per-epoch table and a summary, and writes TensorBoard logs."
        ),
    )
    parser.add_argument(
        "--dataset", choices=("digits", "breast_cancer"), default="digits",
        help="handwritten digits (10 classes, default) or breast cancer "
        "(2 classes, a sigmoid head)",
    )
    parser.add_argument(
        "--epochs", type=_positive_int, default=15,
        help="training epochs, each evaluated (default 15)",
    )
    parser.add_argument(
        "--log-dir", default="runs",
        help="parent directory of the run's TensorBoard logs (default runs)",
    )
    parser.add_argument(
        "--run-name", type=_run_name, default=None,
        help="fixed run directory name under --log-dir instead of "
        "<dataset>-<timestamp>: one plain name, no path separators",
    )
    parser.add_argument(
        "--overwrite", action="store_true",
        help="with --run-name: delete an existing run directory first",
    )
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, help="random seed"
    )
    gate = parser.add_mutually_exclusive_group()
    gate.add_argument(
        "--budget", type=_budget, default=None,
        help="mia_advantage budget of the privacy gate (default "
        + ", ".join(f"{k} {v}" for k, v in DEFAULT_BUDGETS.items()) + ")",
    )
    gate.add_argument(
        "--no-gate", action="store_true",
        help="train all epochs without the privacy gate",
    )
    parser.add_argument(
        "--patience", type=_positive_int, default=2,
        help="evaluations above the budget before the gate stops (default 2)",
    )
    parser.set_defaults(handler=_run)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text!r}"
        )
    return value


def _budget(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 < value <= 1:
        raise argparse.ArgumentTypeError(
            "expected a finite number in (0, 1] (an advantage budget), got "
            f"{text!r}"
        )
    return value


def _run_name_problem(name: str) -> str | None:
    """Why `name` is not one plain directory name, or None if it is."""
    if not name:
        return "it is empty"
    if "/" in name or "\\" in name or (os.altsep and os.altsep in name):
        return "it contains a path separator"
    if name in (".", ".."):
        return f"{name!r} is not a directory name"
    if os.path.isabs(name) or os.path.splitdrive(name)[0]:
        return "it is an absolute path"
    if "\0" in name:
        return "it contains a NUL character"
    return None


def _run_name(text: str) -> str:
    problem = _run_name_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(
            "expected one plain directory name (no '/' or '\\', not '.' or "
            f"'..', not empty), got {text!r}: {problem}"
        )
    return text


def tensorboard_command() -> str:
    """The command that starts TensorBoard, for the demo's last hint.

    A virtual environment's `bin` directory is often not on `PATH` (the
    demo may run as `.venv/bin/keras-mia` or through `tasks.py`), so when a
    `tensorboard` executable sits next to the running interpreter and
    `PATH` finds another one or none, its full path is returned.

    Returns:
        `"tensorboard"` or the full path of the executable.
    """
    name = "tensorboard.exe" if os.name == "nt" else "tensorboard"
    beside = os.path.join(os.path.dirname(sys.executable), name)
    if not (os.path.isfile(beside) and os.access(beside, os.X_OK)):
        return "tensorboard"
    found = shutil.which("tensorboard")
    if found is not None and os.path.realpath(found) == os.path.realpath(
        beside
    ):
        return "tensorboard"
    return beside


def run_directory(
    parent: str, dataset: str, run_name: str | None, overwrite: bool
) -> str:
    """Choose (and create) the run directory of one demo run.

    Args:
        parent: The `--log-dir` value.
        dataset: The data set name, used in the default run name.
        run_name: A fixed name, or None for `<dataset>-<timestamp>`.
        overwrite: Delete an existing non-empty `run_name` directory.

    Returns:
        The path of an empty directory.

    Raises:
        keras_mia.cli.CliError: If `run_name` is not one plain directory
            name; if `overwrite` is given without `run_name`; if
            `run_name` exists, is not empty and `overwrite` is False; if
            `--overwrite` would delete anything but a directory strictly
            inside `parent`; or if the directory cannot be deleted or
            created.
    """
    from keras_mia.cli import CliError

    if overwrite and run_name is None:
        raise CliError(
            "--overwrite needs --run-name (a timestamped run directory is "
            "always new, so there is nothing to overwrite)"
        )
    if run_name is not None:
        problem = _run_name_problem(run_name)
        if problem is not None:
            raise CliError(
                "--run-name must be one plain directory name; received "
                f"{run_name!r} ({problem})"
            )
        path = os.path.join(parent, run_name)
        if os.path.isdir(path) and os.listdir(path):
            if not overwrite:
                raise CliError(
                    f"run directory {path} exists and is not empty; pass "
                    "--overwrite to replace it, or omit --run-name for a "
                    "new timestamped directory"
                )
            _remove_run(parent, path)
    else:
        base = os.path.join(
            parent, f"{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
        )
        path, k = base, 1
        while os.path.exists(path):
            k += 1
            path = f"{base}-{k}"
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise CliError(
            f"cannot create run directory {path}: "
            f"{err.strerror or err}"
        ) from err
    return path


def _remove_run(parent: str, path: str) -> None:
    """Deletes `path` if it resolves strictly inside `parent`."""
    from keras_mia.cli import CliError

    root = os.path.realpath(parent)
    target = os.path.realpath(path)
    if os.path.islink(path) or os.path.dirname(target) != root:
        raise CliError(
            f"--overwrite refuses to delete {path}: it does not resolve to "
            f"a directory directly inside --log-dir {parent}"
        )
    try:
        shutil.rmtree(target)
    except OSError as err:
        raise CliError(
            f"cannot delete run directory {path}: {err.strerror or err}"
        ) from err


def _run(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from keras_mia import demo

    budget = None
    if not args.no_gate:
        budget = (
            args.budget if args.budget is not None
            else DEFAULT_BUDGETS[args.dataset]
        )
    log_dir = run_directory(
        args.log_dir, args.dataset, args.run_name, args.overwrite
    )
    print(
        f"keras-mia demo: {args.dataset}, {args.epochs} epochs, seed "
        f"{args.seed}"
        + (f", gate: mia_advantage <= {budget:g}" if budget is not None
           else ", no gate")
        + f"; logs in {log_dir}",
        flush=True,
    )
    result = demo.run_demo(
        args.dataset,
        epochs=args.epochs,
        log_dir=log_dir,
        seed=args.seed,
        budget=budget,
        patience=args.patience,
    )
    data = result.data
    print(
        f"Members: {len(data.y_members)} training records; non-members: "
        f"{len(data.y_non_members)} held-out records "
        f"({data.n_classes} classes).\n"
    )
    print(demo.epoch_table(result))
    print()
    print(demo.summary_text(result))
    print(f"\nTrained and evaluated in {result.seconds:.1f} s.")
    print(
        "Next: open TensorBoard and its Privacy tab (leakage over epochs, "
        "ROC curves,\nrisk scores and the riskiest records; the Scalars "
        "tab has the mia/* scalars).\nPer-record files are in "
        f"{os.path.join(log_dir, 'privacy', 'records')}.\n\n"
        f"    {shlex.quote(tensorboard_command())} --logdir "
        f"{shlex.quote(args.log_dir)} "
        "--samples_per_plugin=keras_mia=0\n"
    )
    return 0
