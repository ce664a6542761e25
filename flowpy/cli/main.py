"""The ``flowpy`` command line: ``run`` a graph file, list ``components``, ``serve`` the runtime.

Each subcommand lives in its own module and registers itself here through ``add_parser``,
so this file stays a table of contents.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .tuning import tune_gc

# Modules that contribute a subcommand: each has add_parser(subparsers).
SUBCOMMAND_MODULES = (
    "flowpy.cli.run",
    "flowpy.cli.components",
    "flowpy.cli.serve",
    "flowpy.cli.send_listen",
    "flowpy.cli.participant",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowpy", description="A flow-based-programming runtime: run graphs, serve them."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # that subcommand is not part of this build
            raise
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tune_gc()
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # The reader of our stdout went away (`flowpy components | head`): not an error of ours.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
