"""The `keras-mia audit` subcommand: the shadow-model audit of a saved model.

    keras-mia audit MODEL.keras DATA.npz --epochs 30 [--shadows 4]
        [--json report.json] [--html report.html] [--predictions out.npz]
        [--dp-noise-multiplier 1.1 --dp-batch-size 64 --dp-epochs 30
         --dp-delta 1e-5]

`DATA.npz` holds `members_x`, `members_y`, `non_members_x`,
`non_members_y`, `reference_x`, `reference_y` and optionally `members_ids`
and `non_members_ids`; it is read without pickle. TensorFlow is imported
only when the command runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

import numpy as np

from keras_mia.cli import (
    CliError,
    check_output_path,
    load_predictions,
    non_negative_int,
)
from keras_mia.dp import ACCOUNTANTS

DATA_KEYS = ("members", "non_members", "reference")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `audit` subcommand.

    Args:
        subparsers: The `keras-mia` subparser collection.
    """
    p = subparsers.add_parser(
        "audit",
        help="audit a saved Keras model with shadow models",
        description=(
            "Train shadow models like the target on reference data, fit "
            "the attacks' thresholds on them, attack the target, and write "
            "JSON and HTML reports. DATA.npz keys: members_x, members_y, "
            "non_members_x, non_members_y, reference_x, reference_y, and "
            "optionally members_ids, non_members_ids."
        ),
    )
    p.add_argument("model", help="the target model, a .keras file "
                   "(loaded in Keras' safe mode)")
    p.add_argument("data", help="the .npz file of records (see above)")
    p.add_argument("--epochs", type=int, required=True,
                   help="training epochs of each shadow model (use the "
                   "target's)")
    p.add_argument("--batch-size", type=int, default=32,
                   help="batch size of shadow training and inference "
                   "(default 32)")
    p.add_argument("--shadows", type=int, default=4,
                   help="number of shadow models (default 4)")
    p.add_argument("--build-model", metavar="MODULE:FUNCTION",
                   help="function returning a compiled model for each "
                   "shadow (default: a clone of the target)")
    logits = p.add_mutually_exclusive_group()
    logits.add_argument("--from-logits", dest="from_logits",
                        action="store_const", const=True, default=None,
                        help="the model outputs logits")
    logits.add_argument("--from-probabilities", dest="from_logits",
                        action="store_const", const=False,
                        help="the model outputs probabilities")
    p.add_argument("--json", metavar="OUT.json", help="write the JSON report")
    p.add_argument("--html", metavar="OUT.html", help="write the HTML report")
    p.add_argument("--predictions", metavar="OUT.npz",
                   help="write the target and shadow outputs for "
                   "`keras-mia evaluate`")
    p.add_argument("--title", default=None, help="title of the HTML report")
    p.add_argument("--n-bootstraps", type=int, default=100,
                   help="bootstrap resamples for intervals (default 100)")
    p.add_argument(
        "--seed", type=non_negative_int, default=0, help="random seed"
    )
    p.add_argument("--verbose", default="auto",
                   help="Keras verbosity: 0, 1, 2 or auto (default auto)")
    dp = p.add_argument_group("DP-SGD settings of the target (optional)")
    dp.add_argument("--dp-noise-multiplier", type=float)
    dp.add_argument("--dp-batch-size", type=int)
    dp.add_argument("--dp-epochs", type=float)
    dp.add_argument("--dp-delta", type=float)
    dp.add_argument("--dp-n-train", type=int,
                    help="training-set size (default: number of members)")
    dp.add_argument("--dp-accountant", choices=ACCOUNTANTS, default="rdp")
    p.set_defaults(handler=_run)


def _load_data(path: str) -> dict[str, np.ndarray]:
    if not os.path.exists(path):
        raise CliError(f"data file not found: {path}")
    arrays = load_predictions(path)
    missing = [
        f"{name}_{part}" for name in DATA_KEYS for part in ("x", "y")
        if f"{name}_{part}" not in arrays
    ]
    if missing:
        raise CliError(
            f"missing keys {missing} in {path}; keys found: {sorted(arrays)}"
        )
    return arrays


def _build_function(spec: str):
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise CliError(
            f"--build-model must be MODULE:FUNCTION; received {spec!r}"
        )
    try:
        return getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as err:
        raise CliError(f"cannot load --build-model {spec!r}: {err}") from err


def _dp_config(args: argparse.Namespace):
    from keras_mia.dp import DpSgdConfig

    values = {
        "noise_multiplier": args.dp_noise_multiplier,
        "batch_size": args.dp_batch_size,
        "epochs": args.dp_epochs,
        "delta": args.dp_delta,
    }
    given = [k for k, v in values.items() if v is not None]
    if not given:
        return None
    if len(given) != len(values):
        missing = [f"--dp-{k.replace('_', '-')}" for k in values
                   if values[k] is None]
        raise CliError(f"DP-SGD settings are incomplete; also give {missing}")
    try:
        return DpSgdConfig(
            **values, n_train=args.dp_n_train, accountant=args.dp_accountant
        )
    except ValueError as err:
        raise CliError(f"bad DP-SGD settings: {err}") from err


def _run(args: argparse.Namespace) -> int:
    if args.verbose not in ("auto", "0", "1", "2"):
        raise CliError(
            f"--verbose must be 0, 1, 2 or auto; received {args.verbose!r}"
        )
    dp = _dp_config(args)
    for path, option in ((args.json, "--json"), (args.html, "--html"),
                         (args.predictions, "--predictions")):
        check_output_path(path, option)
    arrays = _load_data(args.data)
    verbose = args.verbose if args.verbose == "auto" else int(args.verbose)
    build_model = None
    if args.build_model:
        build_model = _build_function(args.build_model)

    from keras_mia.audit import audit
    from keras_mia.errors import KerasMiaWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = audit(
                args.model,
                (arrays["members_x"], arrays["members_y"]),
                (arrays["non_members_x"], arrays["non_members_y"]),
                (arrays["reference_x"], arrays["reference_y"]),
                epochs=args.epochs,
                batch_size=args.batch_size,
                n_shadows=args.shadows,
                build_model=build_model,
                from_logits=args.from_logits,
                member_ids=arrays.get("members_ids"),
                non_member_ids=arrays.get("non_members_ids"),
                dp=dp,
                n_bootstraps=args.n_bootstraps,
                seed=args.seed,
                verbose=verbose,
            )
        except (ValueError, FileNotFoundError, NotImplementedError) as err:
            raise CliError(str(err)) from err
    for w in caught:
        if issubclass(w.category, KerasMiaWarning):
            print(f"warning: {w.message}", file=sys.stderr)
    if args.json:
        result.save_json(args.json)
    if args.html:
        result.save_html(args.html, title=args.title)
    if args.predictions:
        result.save_predictions(args.predictions)
    print(result)
    for label, path in (("JSON report", args.json),
                        ("HTML report", args.html),
                        ("predictions", args.predictions)):
        if path:
            print(f"{label}: {path}")
    return 0
