"""Logging options every subcommand shares: ``--log-level``, ``-v`` and ``-q``.

Everything flowpy reports about itself goes through Python ``logging`` to stderr, one line per
event, so an operator reads one stream and a supervisor (systemd, docker) keeps it.
"""

from __future__ import annotations

import argparse
import logging
import sys

LEVELS = ("debug", "info", "warning", "error", "critical")
#: A command that says nothing about levels shows warnings and errors only.
DEFAULT_LEVEL = "warning"
LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def add_logging_options(parser: argparse.ArgumentParser, default: str = DEFAULT_LEVEL) -> None:
    """``--log-level LEVEL``; ``-v`` is one level more talkative, ``-q`` one level quieter."""
    group = parser.add_argument_group("logging")
    group.add_argument(
        "--log-level",
        choices=LEVELS,
        default=default,
        type=str.lower,
        help=f"how much to log to stderr (default: {default}); debug also shows tracebacks",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log one level more (info, then debug); repeatable",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=0,
        help="log one level less (error, then critical); repeatable",
    )


def chosen_level(args: argparse.Namespace) -> int:
    """The level ``args`` asks for: ``--log-level`` moved by ``-v`` and ``-q``."""
    name = getattr(args, "log_level", DEFAULT_LEVEL)
    index = LEVELS.index(name) - getattr(args, "verbose", 0) + getattr(args, "quiet", 0)
    level: int = getattr(logging, LEVELS[max(0, min(index, len(LEVELS) - 1))].upper())
    return level


def configure_logging(args: argparse.Namespace) -> int:
    """Send flowpy's log records to stderr at the chosen level; returns that level."""
    level = chosen_level(args)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LINE_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return level
