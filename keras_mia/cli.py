"""The `keras-mia` command line.

Subcommands:

* `keras-mia evaluate PREDICTIONS.npz`: saved model outputs in, attack
  report out (no TensorFlow needed);
* `keras-mia demo`: train an overfitting Keras model on bundled real data
  with the callback attached (see :mod:`keras_mia.demo`);
* `keras-mia audit`: the shadow-model audit of a finished model (see
  :mod:`keras_mia.audit`).

Errors end with a non-zero exit status and one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings
import zipfile
from collections.abc import Sequence

import numpy as np

from keras_mia.attacks import ATTACKS, THRESHOLD_SOURCES, run_attacks
from keras_mia.signals import compute_signals

SETS = ("target_train", "target_test", "shadow_train", "shadow_test")


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def load_predictions(path: str) -> dict[str, np.ndarray]:
    """Read a predictions file without unpickling anything.

    Args:
        path: An `.npz` file with keys `{set}_probs` or `{set}_logits` and
            `{set}_labels` for `set` in `target_train`, `target_test` and
            optionally `shadow_train`, `shadow_test`.

    Returns:
        A dict of arrays by key.

    Raises:
        CliError: If the file cannot be read or holds object arrays.
    """
    if os.path.isfile(path) and not zipfile.is_zipfile(path):
        raise CliError(
            f"{path} is not an .npz file (expected the output of "
            "numpy.savez)"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except FileNotFoundError as err:
        raise CliError(f"predictions file not found: {path}") from err
    except ValueError as err:
        raise CliError(
            f"cannot read {path} without pickle (object arrays are refused "
            f"for safety): {err}"
        ) from err
    except OSError as err:
        raise CliError(f"cannot read {path} as .npz: {err}") from err


def check_output_path(path: str | None, option: str) -> None:
    """Refuse an output path that cannot be written, before any work.

    Args:
        path: The path given, or None when the option was not used.
        option: The option's name, for the message (e.g. `--html`).

    Raises:
        CliError: If `path` is a directory or its folder does not exist.
    """
    if path is None:
        return
    if os.path.isdir(path):
        raise CliError(f"{option} {path} is a directory; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CliError(f"{option} {path}: folder {folder} does not exist")


def non_negative_int(text: str) -> int:
    """Argparse type: an integer >= 0 (seeds).

    Args:
        text: The command-line text.

    Returns:
        The integer.

    Raises:
        argparse.ArgumentTypeError: If it is not an integer >= 0.
    """
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= 0, got {text!r}"
        )
    return value


def _signals_for(arrays: dict[str, np.ndarray], name: str):
    found = sorted(arrays)
    if f"{name}_labels" not in arrays:
        raise CliError(
            f"missing key '{name}_labels' in the predictions file; keys "
            f"found: {found}"
        )
    if f"{name}_probs" in arrays:
        outputs, from_logits, key = arrays[f"{name}_probs"], False, "probs"
    elif f"{name}_logits" in arrays:
        outputs, from_logits, key = arrays[f"{name}_logits"], True, "logits"
    else:
        raise CliError(
            f"missing key '{name}_probs' (or '{name}_logits') in the "
            f"predictions file; keys found: {found}"
        )
    try:
        return compute_signals(
            outputs, arrays[f"{name}_labels"], from_logits=from_logits,
            name=f"{name}_{key}", labels_name=f"{name}_labels",
        )
    except ValueError as err:
        raise CliError(str(err)) from err


def _evaluate(args: argparse.Namespace) -> int:
    check_output_path(args.risk_scores, "--risk-scores")
    if args.risk_scores and not args.risk_scores.endswith(".npz"):
        raise CliError(
            f"--risk-scores {args.risk_scores} must end in .npz (numpy "
            "would add the suffix)"
        )
    if args.attacks is not None and not args.attacks:
        raise CliError(f"--attacks names no attack; choose from {ATTACKS}")
    arrays = load_predictions(args.predictions)
    members = _signals_for(arrays, "target_train")
    non_members = _signals_for(arrays, "target_test")
    shadow_keys = [k for k in arrays if k.startswith("shadow_")]
    reference = None
    if shadow_keys:
        reference = (
            _signals_for(arrays, "shadow_train"),
            _signals_for(arrays, "shadow_test"),
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = run_attacks(
                members,
                non_members,
                reference=reference,
                threshold_source=args.threshold_source,
                attacks=args.attacks or ATTACKS,
                class_dependent=not args.global_threshold,
                target_fprs=args.target_fprs,
                n_bootstraps=args.n_bootstraps,
                reference_compatible=args.reference_compatible,
                seed=args.seed,
            )
        except ValueError as err:
            raise CliError(str(err)) from err
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if args.risk_scores:
        try:
            np.savez(
                args.risk_scores,
                target_train=result.member_risk_scores,
                target_test=result.non_member_risk_scores,
            )
        except OSError as err:
            raise CliError(
                f"cannot write --risk-scores {args.risk_scores}: {err}"
            ) from err
    if args.json:
        print(result.to_json())
    else:
        print(result)
    return 0


def _float_list(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x]
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from err


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `keras-mia`.

    Returns:
        An `argparse.ArgumentParser` with the subcommands.
    """
    parser = argparse.ArgumentParser(
        prog="keras-mia",
        description="Membership-inference privacy metrics for Keras models.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    ev = sub.add_parser(
        "evaluate",
        help="attack saved model outputs (.npz) and report the leakage",
        description=(
            "Run the membership-inference attacks on saved outputs. Keys: "
            "target_train_probs/_logits, target_train_labels, "
            "target_test_probs/_logits, target_test_labels, and optionally "
            "the same for shadow_train and shadow_test (then thresholds "
            "come from the shadow sets by default). When both _probs and "
            "_logits are present, _probs is used; other keys are ignored."
        ),
    )
    ev.add_argument("predictions", help="the .npz file of model outputs")
    ev.add_argument("--json", action="store_true", help="print JSON")
    ev.add_argument(
        "--reference-compatible",
        action="store_true",
        help="reproduce the paper's code bit for bit (tie rule, fallback 0)",
    )
    ev.add_argument(
        "--risk-scores", metavar="OUT.npz",
        help="write per-record risk scores (target_train, target_test)",
    )
    ev.add_argument(
        "--threshold-source", choices=THRESHOLD_SOURCES, default=None,
        help="where thresholds come from (default: shadow if shadow sets "
        "are present, else cross_fit)",
    )
    ev.add_argument(
        "--attacks", type=lambda s: [a for a in s.split(",") if a],
        default=None, help=f"comma-separated subset of {','.join(ATTACKS)}",
    )
    ev.add_argument(
        "--global-threshold", action="store_true",
        help="one threshold for all classes instead of one per class",
    )
    ev.add_argument(
        "--target-fprs", type=_float_list, default=[0.001, 0.01],
        help="FPR levels for TPR-at-FPR (default 0.001,0.01)",
    )
    ev.add_argument(
        "--n-bootstraps", type=int, default=100,
        help="bootstrap resamples for intervals; 0 disables (default 100)",
    )
    ev.add_argument(
        "--seed", type=non_negative_int, default=0, help="random seed"
    )
    ev.set_defaults(handler=_evaluate)

    for name in ("demo", "audit"):
        module = importlib.import_module(f"keras_mia.{name}_cli")
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `keras-mia` command.

    Args:
        argv: Arguments without the program name; defaults to `sys.argv`.

    Returns:
        The exit status.
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CliError as err:
        print(f"keras-mia {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader (e.g. `| head`) closed the pipe: stop quietly.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    # Run the imported module's `main`, so that subcommands raising
    # `keras_mia.cli.CliError` are caught by the same class.
    from keras_mia.cli import main as _main

    sys.exit(_main())
