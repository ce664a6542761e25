"""The ``flowpy`` command line: ``run`` a graph file, list ``components``, ``serve`` the runtime.

Each subcommand lives in its own module and registers itself here through ``add_parser``,
so this file stays a table of contents plus the rules every subcommand shares: the logging
options, ``--version``, ``flowpy help COMMAND``, usage errors that show the subcommand's own
usage (exit status 2), and one line instead of a traceback for anything that goes wrong
(the traceback is logged at debug level: ``--log-level debug`` shows it).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from flowpy import __version__
from flowpy.engine.cpus import CpuError

from .logs import add_logging_options, configure_logging
from .secret_options import settle_secret
from .tuning import NETWORK_COMMANDS, add_cpu_option, confine_networks, tune_gc

log = logging.getLogger("flowpy.cli")

#: Each subcommand and the module that contributes it (its add_parser(subparsers) adds it).
#: A command line naming one of them imports that module alone: ``flowpy run`` never loads
#: the server, Flask or the broker clients that other subcommands need.
SUBCOMMANDS = {
    "run": "flowpy.cli.run",
    "components": "flowpy.cli.components",
    "serve": "flowpy.cli.serve",
    "send": "flowpy.cli.send_listen",
    "listen": "flowpy.cli.send_listen",
    "start": "flowpy.cli.control",
    "stop": "flowpy.cli.control",
    "status": "flowpy.cli.control",
    "participant": "flowpy.cli.participant",
}
SUBCOMMAND_MODULES = tuple(dict.fromkeys(SUBCOMMANDS.values()))

#: Commands that log more than warnings by default: a served runtime reports its life (starts,
#: stops, process errors, clients coming and going) at info level.
DEFAULT_LOG_LEVELS = {"serve": "info"}

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser for one subcommand.

    - Unknown arguments are reported with this subcommand's usage, not the top-level one.
    - With ``intermixed=True`` positionals may come after options (``send URL --port in 1 2``),
      as ``parse_intermixed_args`` allows; plain argparse stops filling a ``nargs="*"``
      positional at the first option.
    """

    def __init__(self, *args: Any, intermixed: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.intermixed = intermixed
        self._in_intermixed = False

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        """Parse intermixed positionals when asked; errors show this subcommand's usage."""
        if self.intermixed and not self._in_intermixed:
            self._in_intermixed = True  # parse_known_intermixed_args calls us back
            try:
                parsed, extras = self.parse_known_intermixed_args(args, namespace)
            finally:
                self._in_intermixed = False
        else:
            parsed, extras = super().parse_known_args(args, namespace)
        if extras and not self._in_intermixed:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras

    def error(self, message: str) -> NoReturn:
        """Exit 2 with one line saying what is wrong; the usage too when the words on the
        command line are wrong (unknown, missing), as it shows the right ones."""
        if message.startswith(("unrecognized arguments", "the following arguments")):
            self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or of ``only`` alone when it names one (the others'
    modules are then not imported)."""
    parser = argparse.ArgumentParser(
        prog="flowpy",
        description="A flow-based-programming runtime: run graphs, serve them, talk to them.",
        epilog="'flowpy help COMMAND' (or 'flowpy COMMAND --help') describes one command.",
    )
    parser.add_argument("--version", action="version", version=f"flowpy {__version__}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=CommandParser
    )
    subparsers.required = True
    wanted = (SUBCOMMANDS[only],) if only in SUBCOMMANDS else SUBCOMMAND_MODULES
    for name in wanted:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # that subcommand is not part of this build
            raise
        module.add_parser(subparsers)
    commands: dict[str, argparse.ArgumentParser] = dict(subparsers.choices)
    for name, command in commands.items():
        add_logging_options(command, default=DEFAULT_LOG_LEVELS.get(name, "warning"))
        if name in NETWORK_COMMANDS:
            add_cpu_option(command)
            command.set_defaults(usage_error=command.error)
    helper = subparsers.add_parser(
        "help", help="describe a command", description="Print the help of COMMAND (or of flowpy)."
    )
    helper.add_argument(
        "topic",
        metavar="COMMAND",
        nargs="?",
        choices=sorted(commands),
        help="one of: " + ", ".join(sorted(commands)),
    )
    helper.set_defaults(func=lambda args: _help(parser, commands, args.topic))
    return parser


def _help(
    parser: argparse.ArgumentParser, commands: dict[str, argparse.ArgumentParser], topic: str | None
) -> int:
    (commands[topic] if topic else parser).print_help()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The ``flowpy`` command: parse ``argv``, set up logging, run the subcommand."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(next((word for word in argv if not word.startswith("-")), None))
    args = parser.parse_args(argv)
    configure_logging(args)
    settle_secret(args)
    tune_gc()
    if getattr(args, "cpus", None) is not None:
        try:
            confine_networks(args.cpus)
        except CpuError as exc:
            args.usage_error(f"--cpus: {exc}")
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # The reader of our stdout went away (`flowpy components | head`): not an error of ours.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, traceback at debug
        log.debug("flowpy %s failed", args.command, exc_info=True)
        print(
            f"flowpy {args.command}: {type(exc).__name__}: {exc} (--log-level debug shows where)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
