"""Where a command's secret comes from: ``--secret``, ``--secret-file`` or ``FLOWPY_SECRET``.

A secret on the command line is visible to every user of the machine (``ps``, ``/proc``), so
``serve`` and every client command (``send``, ``listen``, ``start``, ``stop``, ``status``)
also take it from a file or from the environment. The first that is given wins: ``--secret``,
then ``--secret-file``, then ``FLOWPY_SECRET``; giving both flags is a usage error.

An empty secret is a usage error wherever it comes from. A runtime treats an empty secret as
no secret at all, so ``--secret ''`` (or an empty variable or file, a common slip of shell
scripts) would silently leave a runtime open, or send a client in without its secret.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import NoReturn

#: The environment variable a secret may come from.
ENV_VAR = "FLOWPY_SECRET"

SOURCES_HELP = f"(or --secret-file FILE, or ${ENV_VAR}: --secret is visible to other users in ps)"


def add_secret_options(parser: argparse.ArgumentParser, meaning: str) -> None:
    """``--secret`` and ``--secret-file``; ``meaning`` says what the secret is for this
    command. :func:`settle_secret` turns them (and the environment) into ``args.secret``."""
    parser.add_argument("--secret", default=None, help=f"{meaning} {SOURCES_HELP}")
    parser.add_argument(
        "--secret-file",
        metavar="FILE",
        default=None,
        help="read the secret from FILE (one trailing newline is ignored)",
    )
    parser.set_defaults(usage_error=parser.error)


def settle_secret(args: argparse.Namespace) -> None:
    """Set ``args.secret`` from the first source given (None without one) and
    ``args.secret_source`` to where it came from (for messages); exit with a
    usage error (status 2) for both flags, an unreadable file or an empty secret. Does
    nothing for a command without secret options."""
    if not hasattr(args, "secret_file"):
        return
    error: Callable[[str], NoReturn] = args.usage_error
    if args.secret is not None and args.secret_file is not None:
        error("give the secret once: --secret or --secret-file, not both")
    if args.secret is not None:
        secret, source = args.secret, "--secret"
    elif args.secret_file is not None:
        secret = _read_secret_file(args.secret_file, error)
        source = f"--secret-file {args.secret_file}"
    else:
        secret, source = os.environ.get(ENV_VAR), f"${ENV_VAR}"
    if secret is not None and not secret:
        error(f"{source} is empty: an empty secret is no secret (leave it out to use none)")
    args.secret = secret
    args.secret_source = source if secret is not None else None


def _read_secret_file(path: str, error: Callable[[str], NoReturn]) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        error(f"--secret-file {path}: cannot read it: {why}")
    return text.removesuffix("\n").removesuffix("\r")
