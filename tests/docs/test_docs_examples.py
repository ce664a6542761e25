"""Every example in README.md and docs/**/*.md is true: its commands run, its graphs run, and
what a page shows as output is what comes out. A page that breaks one of its examples fails
here, naming the page and line.

The convention
==============

A page is read one section (heading) at a time; the blocks of a section run in order, in one
session: files, environment variables and background servers stay until the section ends.
What a fenced block is follows from its language, unless a marker says otherwise. A marker is
an HTML comment on the line right before the fence (GitHub does not show it)::

    <!-- doc-test: file=hello.fbp -->

By language:

* ``sh`` (or shell, bash, console): commands, run one after the other with bash; a line
  ending in a backslash, or with a quote still open, goes on to the next line. Each must exit
  with status 0 (``status=N``: N).

  - A block whose lines start with ``$`` is a transcript: each ``$ COMMAND`` line is run and
    the lines under it are its output, stdout and stderr together, compared exactly.
  - ``export NAME=VALUE`` sets NAME for the commands after it, in later sections too.
  - Installing is not run (``pip install``, ``npm ci``/``install``, ``apt-get install``, with or
    without sudo): the suite runs where that is done (.ci/run). In ``A && B`` an install A is
    dropped and B runs.
  - A command ending in ``&``, and every server (``flowpy serve``, ``flowpy participant``,
    ``gunicorn``, ``python -m http.server``, ``msgflo-setup ... --forever``) runs in the
    background until the section ends (then gets SIGTERM); the suite waits for its ready line
    (see ``BACKGROUND``, or ``ready="REGEX"``) before going on, as a reader would.

* ``fbp``: a graph, run with ``python -m flowpy run``.
* ``python``: a script, run with python.
* ``json``, ``ini``, ``toml``: checked to parse (JSON: one document, or one per line).
* A plain block (no language) whose lead-in line starts with "Output" and ends with ":" is
  the output of the step before it. Other plain blocks are text (diagrams, outlines of
  messages) and are not run.

Marker words and options:

* ``file=PATH``: the block is that file. Every ``file=`` block of a page is written into the
  work directory before each section of the page runs, so a command may use a file the page
  shows further down. If PATH exists in the repository, the block must be exactly that file
  (a page that says "this is examples/x.fbp" shows the real one). With ``append`` the block
  is added to the end of the file instead (several classes and their tests in one module).
  With ``run`` the graph or script is also run where it stands. ``check="COMMAND"`` runs
  COMMAND where the block stands (a server must get ready), e.g. to start the runtime with a
  permissions file.
* ``output``: the block is what the step before it printed on stdout (a step: the last
  command of the block before, with what the background commands it started print after
  their ready line), compared exactly, line by line. With ``unordered``: the same lines in
  any order. ``contains``: these lines appear, in this order, among the output. ``stderr``:
  stdout and stderr together. ``interrupt``: the command runs until it has printed this, then
  gets Ctrl-C (SIGINT), as the page tells the reader to do. ``of="COMMAND"``: the output of
  COMMAND, run here.
* ``runtime`` or ``runtime="ARGS"``: the page says a runtime is running here, so
  ``python -m flowpy serve ARGS`` (default ``--port 3569``) is started before the block
  unless the section already serves that port.
* ``synopsis``: a usage synopsis: every ``--option`` it names must be in the command's --help.
* ``skip reason="..."``: not run, for that reason. Rare.

The work directory
==================

Each section runs in a fresh directory holding a copy of examples/ and links to tests/ and
to tests/js/node_modules (as node_modules). Commands find the venv's python and the npm tools
on PATH; XDG_DATA_HOME points into the directory, so runtimes keep their state there. Pages
use ports 3569 and 3570 (runtimes), 8000 (an HTTP server), localhost:5672 (RabbitMQ) and
localhost:1883 (Mosquitto); in every block, expected output and .fbp file of the examples/
copy these become free ports of 127.0.0.1, and the brokers are those of
tests/support/brokers.py, started when a section needs one.

Skips are counted by ``test_every_page_reads_and_every_marker_means_something``, which also
fails on a marker it does not know.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from brokers import mosquitto, rabbitmq  # noqa: F401 - fixtures, for the pages that need one
from processes import NODE_BIN, NODE_MODULES, ROOT, free_port, python_env

sys.path.insert(0, str(Path(__file__).parent))
import doc_blocks  # noqa: E402 - beside this file, not on the suite's import path
from doc_blocks import Block, Section  # noqa: E402

pytestmark = pytest.mark.integration

READY_TIMEOUT = 60.0  # a participant waits for its broker, a runtime for its imports
COMMAND_TIMEOUT = 120.0
OUTPUT_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

#: Commands that keep running, and what each prints once it is ready.
BACKGROUND = [
    (re.compile(r"-m flowpy serve\b"), re.compile(r"flowpy runtime listening on ")),
    (re.compile(r"-m flowpy participant\b"), re.compile(r"\) connected to ")),
    (re.compile(r"\bgunicorn\b"), re.compile(r"Listening at: ")),
    (re.compile(r"-m http\.server\b"), re.compile(r"Serving HTTP on ")),
    (re.compile(r"\bmsgflo-setup\b.*--forever"), re.compile(r"--forever enabled")),
    (re.compile(r"(^|\s)msgflo\s"), re.compile(r"msgflo started on ")),
]
#: Commands that end by themselves, started with "&": what each prints once it is ready.
READY_WHEN_STARTED = [
    (re.compile(r"-m flowpy listen\b"), re.compile(r"flowpy listen: listening to ")),
]
INSTALL = re.compile(
    r"^(sudo\s+)?(pip3?\s+install|python3?\s+-m\s+pip\s+install|"
    r"npm\s+(ci|install)|apt(-get)?\s+install)\b"
)
EXPORT = re.compile(r"^export\s+(?P<name>[A-Za-z_]\w*)=")
RUNTIME_PORTS = (3569, 3570, 8000)
BROKER_PORTS = {5672: "rabbitmq", 1883: "mosquitto"}

SECTIONS = doc_blocks.all_sections()
IDLE = {"text", "skip"}


def needs_broker(section: Section, page_files: list[Block]) -> bool:
    texts = [block.text for block in section.blocks + page_files]
    return any(re.search(r"localhost:(5672|1883)\b", text) for text in texts)


def runnable() -> list:
    params = []
    for section in SECTIONS:
        if all(block.kind in IDLE | {"file"} for block in section.blocks):
            continue
        files = page_files(section.page)
        marks = [pytest.mark.broker] if needs_broker(section, files) else []
        params.append(pytest.param(section, id=section.test_id, marks=marks))
    return params


def page_files(page: str) -> list[Block]:
    return [
        block
        for section in SECTIONS
        if section.page == page
        for block in section.blocks
        if "file" in block.marker.options
    ]


# --------------------------------------------------------------------------------------------
# splitting commands
# --------------------------------------------------------------------------------------------


def split_commands(text: str, where: str) -> list[str]:
    """The commands of a shell block: one a line, unless a backslash or an open quote goes
    on; blank and comment lines dropped."""
    commands: list[str] = []
    pending = ""
    for line in text.split("\n"):
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending = f"{pending}\n{line}" if pending else line
        if pending.endswith("\\"):
            continue
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # a quote is still open
            continue
        commands.append(pending)
        pending = ""
    if pending:
        raise AssertionError(f"{where}: unfinished command {pending!r}")
    return commands


def transcript(text: str) -> list[tuple[str, list[str]]] | None:
    """``[(command, output lines)]`` of a block written as a ``$`` transcript, else None."""
    lines = text.rstrip("\n").split("\n")
    if not lines[0].startswith("$ "):
        return None
    steps: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


def drop_installs(command: str) -> str:
    parts = [part.strip() for part in command.split("&&")]
    while parts and INSTALL.match(parts[0]):
        parts.pop(0)
    return " && ".join(parts)


def without_comment(command: str) -> str:
    """The command without a trailing ``# comment`` (outside quotes)."""
    try:
        tokens = shlex.split(command, comments=True)
    except ValueError:
        return command
    if "#" not in command or not tokens:
        return command
    index = command.rfind("#")
    while index > 0:
        try:
            if shlex.split(command[:index], comments=True) == tokens:
                return command[:index].rstrip()
        except ValueError:
            pass
        index = command.rfind("#", 0, index)
    return command


# --------------------------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------------------------


class Background:
    """A command running in its own process group, its output read as it comes."""

    def __init__(
        self,
        command: str,
        cwd: Path,
        env: dict[str, str],
        ready: re.Pattern | None,
        changed: threading.Condition,
        where: str,
    ) -> None:
        self.command, self.where, self.ready = command, where, ready
        self.changed = changed
        self.out: list[str] = []
        self.err: list[str] = []
        self.skip = 0  # stdout lines up to and including the ready line
        self.is_ready = ready is None
        self.open_streams = 2
        self.proc = subprocess.Popen(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.threads = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def _read(self, stream, lines: list[str]) -> None:
        for line in stream:
            with self.changed:
                lines.append(line.rstrip("\n"))
                if not self.is_ready and self.ready is not None and self.ready.search(line):
                    self.is_ready = True
                    self.skip = len(self.out)
                self.changed.notify_all()
        with self.changed:
            self.open_streams -= 1
            self.changed.notify_all()

    @property
    def ended(self) -> bool:
        return self.open_streams == 0

    def wait_ready(self) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.is_ready or self.ended, READY_TIMEOUT)
            if self.is_ready:
                return
        self.stop()
        what = "ended" if self.ended else f"printed nothing matching {self.ready.pattern!r}"
        raise AssertionError(
            f"{self.where}: `{self.command}` {what} before it was ready "
            f"(status {self.proc.returncode})\n{self.report()}"
        )

    def lines_after_ready(self) -> list[str]:
        return self.out[self.skip :]

    def send_signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.send_signal(sig)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.send_signal(signal.SIGKILL)
            self.proc.wait()
        for thread in self.threads:
            thread.join(STOP_TIMEOUT)
        return self.proc.returncode

    def report(self) -> str:
        return (
            f"--- `{self.command}` stdout:\n"
            + "\n".join(self.out)
            + "\n--- stderr:\n"
            + "\n".join(self.err)
        )


@dataclass
class Step:
    """What the last thing run printed: a foreground command's output, and the output of the
    background commands its block started (after their ready lines)."""

    where: str
    command: str
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    background: list[Background] = field(default_factory=list)
    whole: bool = False  # count a background command's output from its first line

    def lines(self, with_stderr: bool = False) -> list[str]:
        lines = self.stdout + (self.stderr if with_stderr else [])
        for proc in self.background:
            lines = lines + (proc.out if self.whole else proc.lines_after_ready())
            if with_stderr:
                lines = lines + proc.err
        return lines

    def report(self) -> str:
        text = (
            f"--- `{self.command}` stdout:\n"
            + "\n".join(self.stdout)
            + "\n--- stderr:\n"
            + "\n".join(self.stderr)
        )
        return "\n".join([text, *(proc.report() for proc in self.background)])


# --------------------------------------------------------------------------------------------
# running a section
# --------------------------------------------------------------------------------------------


class SectionRun:
    def __init__(self, section: Section, workdir: Path, broker: Callable[[str], object]) -> None:
        self.section = section
        self.workdir = workdir
        self.broker = broker
        self.ports = {port: free_port() for port in RUNTIME_PORTS}
        self.changed = threading.Condition()
        self.procs: list[Background] = []
        self.served: set[int] = set()  # doc ports a runtime of this section listens on
        self.last: Step | None = None
        bins = [str(Path(sys.executable).parent), str(NODE_BIN), os.environ.get("PATH", "")]
        self.env = python_env(
            {"XDG_DATA_HOME": str(workdir / "xdg"), "PATH": os.pathsep.join(bins)}
        )
        self.env.pop("MSGFLO_BROKER", None)
        self.env.pop("MSGFLO_DISCOVERY_PERIOD", None)

    # -- set-up ------------------------------------------------------------------------------

    def prepare(self) -> None:
        shutil.copytree(ROOT / "examples", self.workdir / "examples")
        for path in (self.workdir / "examples").rglob("*.fbp"):  # their ports too
            path.write_text(self.localize(path.read_text(encoding="utf-8")), encoding="utf-8")
        (self.workdir / "tests").symlink_to(ROOT / "tests")
        (self.workdir / "node_modules").symlink_to(NODE_MODULES)
        (self.workdir / "xdg").mkdir()
        for block in page_files(self.section.page):
            self.write_file(block)
        for section in SECTIONS:  # what earlier sections of the page exported
            if section.page != self.section.page or section.number >= self.section.number:
                continue
            for block in section.blocks:
                if block.kind != "shell" or transcript(block.text):
                    continue
                for command in split_commands(block.text, block.where):
                    if EXPORT.match(command):
                        self.export(self.localize(command), block)

    def write_file(self, block: Block) -> None:
        name = block.marker.options["file"]
        assert not Path(name).is_absolute() and ".." not in Path(name).parts, block.where
        original = ROOT / name
        if original.is_file() and "append" not in block.marker:
            assert original.read_text(encoding="utf-8") == block.text, (
                f"{block.where}: the block is not the repository's {name}"
            )
        path = self.workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a" if "append" in block.marker else "w", encoding="utf-8") as file:
            file.write(self.localize(block.text))

    def localize(self, text: str) -> str:
        """The doc's fixed ports replaced by this run's."""

        def broker_port(match: re.Match) -> str:
            broker = self.broker(BROKER_PORTS[int(match.group(1))])
            return f"127.0.0.1:{broker.port}"  # type: ignore[attr-defined]

        text = re.sub(r"\blocalhost:(5672|1883)\b", broker_port, text)
        return re.sub(
            r"(?<![\w.])(3569|3570|8000)(?!\d)",
            lambda match: str(self.ports[int(match.group(1))]),
            text,
        )

    # -- blocks ------------------------------------------------------------------------------

    def run(self) -> None:
        blocks = self.section.blocks
        for index, block in enumerate(blocks):
            after = blocks[index + 1] if index + 1 < len(blocks) else None
            interrupt = after is not None and after.kind == "output" and "interrupt" in after.marker
            if "runtime" in block.marker.options:
                self.ensure_runtime(block)
            getattr(self, f"do_{block.kind}")(block, interrupt)

    def do_text(self, block: Block, interrupt: bool) -> None:
        pass

    do_skip = do_text

    def do_json(self, block: Block, interrupt: bool) -> None:
        try:
            json.loads(block.text)
        except ValueError:
            for number, line in enumerate(block.text.strip().split("\n")):
                try:
                    json.loads(line)
                except ValueError as exc:
                    raise AssertionError(
                        f"{block.where}: not JSON, nor JSON lines: line {number + 1}: {exc}"
                    ) from None

    def do_ini(self, block: Block, interrupt: bool) -> None:
        configparser.ConfigParser().read_string(block.text, source=block.where)

    def do_toml(self, block: Block, interrupt: bool) -> None:
        try:
            tomllib.loads(block.text)
        except tomllib.TOMLDecodeError as exc:
            raise AssertionError(f"{block.where}: not TOML: {exc}") from None

    def do_file(self, block: Block, interrupt: bool) -> None:
        if block.lang in ("json", "ini", "toml"):
            getattr(self, f"do_{block.lang}")(block, interrupt)
        check = block.marker.options.get("check")
        if check:
            self.command(self.localize(check), block, interrupt=False, started=[])

    def do_graph(self, block: Block, interrupt: bool) -> None:
        name = block.marker.options.get("file") or f"_doc_{block.line}.fbp"
        if "file" not in block.marker.options:
            (self.workdir / name).write_text(self.localize(block.text), encoding="utf-8")
        self.block_commands(block, [f"python -m flowpy run {shlex.quote(name)}"], interrupt)

    def do_python(self, block: Block, interrupt: bool) -> None:
        name = block.marker.options.get("file") or f"_doc_{block.line}.py"
        if "file" not in block.marker.options:
            (self.workdir / name).write_text(self.localize(block.text), encoding="utf-8")
        self.block_commands(block, [f"python {shlex.quote(name)}"], interrupt)

    def do_shell(self, block: Block, interrupt: bool) -> None:
        steps = transcript(block.text)
        if steps is None:
            commands = [
                self.localize(command) for command in split_commands(block.text, block.where)
            ]
            self.block_commands(block, commands, interrupt)
            return
        status = int(block.marker.options.get("status", 0))
        for command, shown in steps:
            result = self.bash(self.localize(command), stderr=subprocess.STDOUT)
            actual = result.stdout.rstrip("\n").split("\n") if result.stdout else []
            expected = self.localize("\n".join(shown)).split("\n") if shown else []
            assert [line.rstrip() for line in actual] == [line.rstrip() for line in expected], (
                f"{block.where}: `{command}` printed\n{result.stdout}\nnot what the page shows:"
                f"\n" + "\n".join(shown)
            )
            assert result.returncode == status, (
                f"{block.where}: `{command}` exited with {result.returncode}, not {status}\n"
                f"{result.stdout}"
            )
            self.last = Step(block.where, command, actual)

    def do_synopsis(self, block: Block, interrupt: bool) -> None:
        command = block.text.split("[", 1)[0].strip()
        result = self.bash(f"{command} --help")
        assert result.returncode == 0, f"{block.where}: `{command} --help`\n{result.stderr}"
        shown = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", block.text))
        missing = sorted(
            option
            for option in shown
            if not re.search(rf"(?<![\w-]){option}(?![\w-])", result.stdout)
        )
        assert not missing, (
            f"{block.where}: `{command}` has no {', '.join(missing)}:\n{result.stdout}"
        )

    def do_output(self, block: Block, interrupt: bool) -> None:
        marker = block.marker
        if "of" in marker.options:
            command = self.localize(marker.options["of"])
            started: list[Background] = []
            step = self.command(command, block, interrupt=False, started=started)
            step = step or Step(block.where, command, background=started, whole=True)
            step.whole = True
        else:
            assert self.last is not None, f"{block.where}: an output block with no step before it"
            step = self.last
        expected = [line.rstrip() for line in self.localize(block.text).rstrip("\n").split("\n")]
        with_stderr = "stderr" in marker

        def enough() -> bool:
            return len(step.lines(with_stderr)) >= len(expected)

        if step.background:  # background commands may still be printing
            with self.changed:
                self.changed.wait_for(enough, OUTPUT_TIMEOUT)
        actual = [line.rstrip() for line in step.lines(with_stderr)]
        if "interrupt" in marker:
            for proc in step.background:
                proc.stop(signal.SIGINT)
            actual = [line.rstrip() for line in step.lines(with_stderr)]
        shown = "\n".join(expected)
        printed = "\n".join(actual)
        problem = f"{block.where}: the page shows\n{shown}\nbut {step.where} printed\n{printed}"
        if "unordered" in marker:
            assert sorted(actual) == sorted(expected), f"{problem}\n{step.report()}"
        elif "contains" in marker:
            rest = iter(actual)
            assert all(line in rest for line in expected), f"{problem}\n{step.report()}"
        else:
            assert actual == expected, f"{problem}\n{step.report()}"

    # -- commands ----------------------------------------------------------------------------

    def block_commands(self, block: Block, commands: list[str], interrupt: bool) -> None:
        started: list[Background] = []
        step = None
        for index, command in enumerate(commands):
            last = index == len(commands) - 1
            step = self.command(command, block, interrupt and last, started) or step
        self.last = step or Step(block.where, "; ".join(commands))
        self.last.background = self.last.background + [
            proc for proc in started if proc not in self.last.background
        ]

    def command(
        self, command: str, block: Block, interrupt: bool, started: list[Background]
    ) -> Step | None:
        """Run one command as the convention says; the Step of a foreground command."""
        if EXPORT.match(command):
            self.export(command, block)
            return None
        command = drop_installs(command)
        if not command:
            return None
        bare = without_comment(command)
        ready_option = block.marker.options.get("ready")
        if interrupt:
            proc = self.start(bare, block, ready=None)
            return Step(block.where, bare, background=[proc])
        background = bare.endswith("&") and not bare.endswith("&&")
        if background:
            bare = bare[:-1].rstrip()
        ready = next((ready for pattern, ready in BACKGROUND if pattern.search(bare)), None)
        if ready is not None:
            background = True  # a server
        else:
            ready = next(
                (ready for pattern, ready in READY_WHEN_STARTED if pattern.search(bare)), None
            )
        if background:
            if re.search(r"-m flowpy serve\b", bare) and not re.search(r"--port\b", bare):
                bare = re.sub(r"(-m flowpy serve\b)", rf"\1 --port {self.ports[3569]}", bare)
            doc_port = self.doc_port(bare)
            if doc_port is not None:
                self.served.add(doc_port)
            pattern = re.compile(ready_option) if ready_option else ready
            started.append(self.start(bare, block, ready=pattern))
            return None
        status = int(block.marker.options.get("status", 0))
        result = self.bash(command)
        step = Step(block.where, command, result.stdout.splitlines(), result.stderr.splitlines())
        assert result.returncode == status, (
            f"{block.where}: `{command}` exited with {result.returncode}, not {status}\n"
            f"{step.report()}\n{self.background_report()}"
        )
        return step

    def doc_port(self, command: str) -> int | None:
        """Which of this run's runtime ports a server command listens on, as the doc's port."""
        for doc, actual in self.ports.items():
            if re.search(rf"(--port[ =]|:){actual}\b", command):
                return doc
        return None

    def bash(self, script: str, stderr: int = subprocess.PIPE) -> subprocess.CompletedProcess:
        """``script`` run by bash in the section's directory and environment, no stdin."""
        return subprocess.run(
            ["bash", "-c", script],
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )

    def start(self, command: str, block: Block, ready: re.Pattern | None) -> Background:
        proc = Background(command, self.workdir, self.env, ready, self.changed, block.where)
        self.procs.append(proc)
        if ready is not None:
            proc.wait_ready()
        return proc

    def export(self, command: str, block: Block) -> None:
        name = EXPORT.match(command).group("name")  # type: ignore[union-attr]
        result = self.bash(f'{command}\nprintf "%s" "${name}"')
        assert result.returncode == 0, f"{block.where}: `{command}`\n{result.stderr}"
        self.env[name] = result.stdout

    def ensure_runtime(self, block: Block) -> None:
        args = block.marker.options["runtime"] or ""
        if not re.search(r"--port\b", args):
            args = f"--port 3569 {args}".strip()
        doc = int(re.search(r"--port[ =](\d+)", args).group(1))  # type: ignore[union-attr]
        if doc in self.served:
            return
        self.served.add(doc)
        command = self.localize(f"python -m flowpy serve {args}")
        self.start(command, block, ready=BACKGROUND[0][1])

    # -- the end -----------------------------------------------------------------------------

    def background_report(self) -> str:
        return "\n".join(proc.report() for proc in self.procs)

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


# --------------------------------------------------------------------------------------------
# the tests
# --------------------------------------------------------------------------------------------


def test_every_page_reads_and_every_marker_means_something():
    """The pages parse (markers known, skips with reasons, fences closed), every output block
    has a step before it, and the pages hold the examples this suite exists for."""
    kinds: dict[str, int] = {}
    for section in SECTIONS:
        ran = False
        for block in section.blocks:
            kinds[block.kind] = kinds.get(block.kind, 0) + 1
            kinds[f"lang {block.lang}"] = kinds.get(f"lang {block.lang}", 0) + 1
            if block.kind == "output" and "of" not in block.marker.options:
                assert ran, f"{block.where}: output, but nothing ran before it in its section"
            ran = ran or block.kind in ("shell", "graph", "python")
            if "file" in block.marker.options:
                assert block.kind in ("file", "graph", "python"), (
                    f"{block.where}: file= on a {block.kind} block"
                )
    assert kinds.get("shell", 0) >= 20 and kinds.get("lang fbp", 0) >= 20, kinds
    assert kinds.get("skip", 0) <= 5, f"too many skipped blocks: {kinds}"


@pytest.mark.parametrize("section", runnable())
def test_examples_of_a_section_do_what_the_page_says(
    section: Section, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    run = SectionRun(section, tmp_path, request.getfixturevalue)
    try:
        run.prepare()
        run.run()
    finally:
        run.close()
