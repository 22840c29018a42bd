"""The `keras-mia audit` subcommand."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `audit` subcommand.

    Args:
        subparsers: The `keras-mia` subparser collection.
    """
    parser = subparsers.add_parser("audit", help="(not available yet)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    raise SystemExit("keras-mia audit is not available in this version.")
