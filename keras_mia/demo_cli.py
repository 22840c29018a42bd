"""The `keras-mia demo` subcommand."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `demo` subcommand.

    Args:
        subparsers: The `keras-mia` subparser collection.
    """
    parser = subparsers.add_parser("demo", help="(not available yet)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    raise SystemExit("keras-mia demo is not available in this version.")
