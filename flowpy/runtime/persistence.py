"""The state directory: what a runtime keeps across restarts, written so a crash never breaks it.

Every file is written atomically and the index after the files it names, so a crash at any
point leaves a consistent state; a file that cannot be read is reported and skipped, never
fatal. The layout: docs/architecture.md ("The state directory") and docs/deployment.md.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowpy.errors import FlowpyError
from flowpy.graphs import json_format

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the pid in the lock file alone decides
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


def default_state_base() -> Path:
    """A per-user data directory: ``$XDG_DATA_HOME/flowpy`` (``~/.local/share/flowpy``)."""
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "flowpy"
    home_data = os.path.join(os.path.expanduser("~"), ".local", "share")
    base = os.environ.get("XDG_DATA_HOME") or home_data
    return Path(base) / "flowpy"


def default_state_dir(label: str | None = None, port: int | None = None) -> Path:
    """The state directory of the runtime labelled ``label`` listening on ``port``:
    ``<base>/<label>-<port>`` (the label with anything but letters, digits, ``.``, ``_``
    and ``-`` replaced by ``_``). Without either: the base itself (a ``Runtime`` made
    without a state directory)."""
    base = default_state_base()
    if label is None and port is None:
        return base
    return base / f"{_safe_filename(label or 'flowpy')}-{port if port is not None else 0}"


class StateDirInUse(FlowpyError):
    """Another live ``flowpy serve`` holds the state directory's lock."""

    def __init__(self, path: Path, pid: int | None) -> None:
        self.path = path
        self.pid = pid
        who = f"flowpy runtime pid {pid}" if pid is not None else "another flowpy runtime"
        super().__init__(
            f"state directory {path} is in use by {who}; pass --state-dir to use another"
        )


class StateLock:
    """``<state_dir>/lock``: one ``flowpy serve`` per state directory.

    :meth:`acquire` takes it or raises :class:`StateDirInUse` naming the pid that holds it.
    The file holds the holder's pid and (where ``fcntl`` exists) an exclusive ``flock``,
    which the kernel drops when the process dies, however it dies: a lock file left by a
    dead runtime is *stale* and is taken over, with a warning. :meth:`release` removes the
    file. Without ``fcntl`` the pid alone decides: a pid that is not running is stale.
    """

    NAME = "lock"

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / self.NAME
        self._fd: int | None = None

    def acquire(self) -> StateLock:
        """Take the lock: StateDirInUse if a running runtime holds it; a stale one is taken."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        while self._fd is None:
            if fcntl is not None:
                self._fd = self._flock()
            else:  # pragma: no cover - Windows
                self._fd = self._exclusive_create()
        previous = _read_pid(self._fd)
        if previous is not None and previous != os.getpid():
            log.warning(
                "state directory %s: taking over the lock of flowpy runtime pid %d, "
                "which is not running any more",
                self.state_dir,
                previous,
            )
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, f"{os.getpid()}\n".encode())
        return self

    def _flock(self) -> int | None:
        """The locked lock file's descriptor; None to try again (the file was replaced)."""
        assert fcntl is not None
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            pid = _read_pid(fd)
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise StateDirInUse(self.state_dir, pid) from None
            raise
        try:  # a runtime releasing the lock removes the file: lock the file that is there
            same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            return None
        return fd

    def _exclusive_create(self) -> int | None:  # pragma: no cover - Windows
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pass
        try:
            fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            return None
        pid = _read_pid(fd)
        if pid is not None and pid != os.getpid() and _pid_alive(pid):
            os.close(fd)
            raise StateDirInUse(self.state_dir, pid)
        return fd  # stale: acquire() says so and writes our pid

    def release(self) -> None:
        """Remove the lock file and let go (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # before letting go: see _flock
        except OSError as exc:
            log.warning("cannot remove the lock file %s: %s", self.path, exc)
        os.close(fd)

    def __enter__(self) -> StateLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 64).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists (another user's process, say)
    return True


def write_atomically(path: Path, text: str) -> None:
    """Readers (and a restart after a crash) see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    json_format.write_text_atomically(path, text)


@dataclass
class SaveReport:
    """What :meth:`StateDirectory.save` did: the graphs saved, and why each other was not."""

    directory: Path
    saved: list[str] = field(default_factory=list)
    #: graph id -> why its file could not be written.
    failed: dict[str, str] = field(default_factory=dict)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class StateDirectory:
    """One runtime's state directory (see the module docstring)."""

    def __init__(self, path: Path, problem: Callable[[str], None]) -> None:
        self.path = path
        self._problem = problem
        self._lock = threading.Lock()

    @property
    def graphs_dir(self) -> Path:
        """Where persisted graphs are written, one file each."""
        return self.path / "graphs"

    @property
    def index_path(self) -> Path:
        """The index: which graph is main and which file holds which graph."""
        return self.path / "graphs.json"

    @property
    def sources_path(self) -> Path:
        """Sources of components compiled with ``component:source``."""
        return self.path / "components.json"

    @property
    def start_path(self) -> Path:
        """Which graphs' networks run, so a restart starts them again."""
        return self.path / "start.json"

    # -- which networks run ------------------------------------------------------------------
    def running_graphs(self) -> list[str]:
        """The graphs whose networks were meant to run when the runtime last ran
        (``start.json``), in the order they were started."""
        path = self.start_path
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            graphs = document["running"]
            if not isinstance(graphs, list) or not all(isinstance(g, str) for g in graphs):
                raise ValueError("'running' is not a list of graph ids")
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self._problem(f"cannot read which networks to start from {path}: {exc}")
            return []
        return list(dict.fromkeys(graphs))

    def save_running_graphs(self, graphs: list[str]) -> None:
        """Record which graphs' networks are meant to run (atomically)."""
        with self._lock:
            write_atomically(self.start_path, json.dumps({"running": graphs}, indent=2) + "\n")

    # -- start-up ----------------------------------------------------------------------------
    def runtime_id(self) -> str:
        """The runtime's UUID from ``runtime-id``, created on first use."""
        path = self.path / "runtime-id"
        try:
            return str(uuid.UUID(path.read_text(encoding="utf-8").strip()))
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.warning("cannot read the runtime id in %s (%s); making a new one", path, exc)
        runtime_id = str(uuid.uuid4())
        try:
            write_atomically(path, runtime_id + "\n")
        except OSError as exc:
            log.warning(
                "cannot keep the runtime id in %s (%s); it will change on restart", path, exc
            )
        return runtime_id

    def remove_stale_temp_files(self) -> None:
        """Temporary files of atomic writes that a crash interrupted (``.NAME.HEX.tmp``):
        nothing will ever rename them, so they go (logged)."""
        for directory in (self.path, self.graphs_dir):
            try:
                stale = list(directory.glob(".*.tmp"))
            except OSError:
                continue
            for path in stale:
                try:
                    path.unlink()
                except OSError as exc:
                    log.warning("cannot remove stale temporary file %s: %s", path, exc)
                else:
                    log.info("removed stale temporary file %s", path)

    # -- saving ------------------------------------------------------------------------------
    def save(
        self, graphs: Mapping[str, Any], main: str | None, sources: Mapping[str, str]
    ) -> SaveReport:
        """Save ``graphs`` (id -> graph model), which is main, and component sources.

        A graph whose file cannot be written is left out of the index (and reported in the
        returned :class:`SaveReport`, and logged): it never keeps the others or the index
        from being written. OSError only when the index or the sources cannot be written."""
        directory = self.graphs_dir
        report = SaveReport(directory)
        with self._lock:
            directory.mkdir(parents=True, exist_ok=True)
            files: dict[str, str] = {}
            taken: set[str] = set()
            for graph_id, graph in sorted(graphs.items()):
                filename = _unique_filename(graph_id, taken)
                try:
                    json_format.save_file(graph, directory / filename)
                except Exception as exc:  # noqa: BLE001 - OSError, or a graph that will not encode
                    taken.discard(filename)
                    report.failed[graph_id] = _reason(exc)
                    log.warning(
                        "cannot persist graph %r in %s: %s",
                        graph_id,
                        directory / filename,
                        report.failed[graph_id],
                    )
                    continue
                files[graph_id] = filename
            report.saved = list(files)
            index = {"main": main if main in files else None, "graphs": files}
            write_atomically(
                self.sources_path, json.dumps({"components": dict(sources)}, indent=2) + "\n"
            )
            write_atomically(self.index_path, json.dumps(index, indent=2) + "\n")
            for stale in directory.glob("*.json"):
                if stale.name not in taken:
                    try:
                        stale.unlink(missing_ok=True)
                    except OSError as exc:
                        log.warning(
                            "cannot remove %s, which holds no graph any more: %s",
                            stale,
                            _reason(exc),
                        )
        return report

    # -- loading -----------------------------------------------------------------------------
    def graphs(self) -> Iterator[tuple[str, Any, bool]]:
        """``(graph id, graph, is main)`` for every saved graph that loads."""
        index = self._read_index()
        if index is None:
            return
        main = index.get("main")
        for graph_id, filename in index["graphs"].items():
            path = self.graphs_dir / filename
            try:
                graph = json_format.load_file(path)
            except Exception as exc:  # noqa: BLE001 - a bad file must not stop the runtime
                where = "" if str(path) in str(exc) else f" from {path}"
                self._problem(f"cannot load persisted graph {graph_id!r}{where}: {exc}")
                continue
            yield graph_id, graph, graph_id == main

    def sources(self) -> dict[str, str]:
        """The saved sources of compiled components, by full name."""
        path = self.sources_path
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            sources = document["components"]
            if not isinstance(sources, dict):
                raise ValueError("'components' is not an object")
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self._problem(f"cannot read persisted component sources {path}: {exc}")
            return {}
        good = {}
        for full, code in sorted(sources.items()):
            if not isinstance(full, str) or not isinstance(code, str):
                self._problem(f"{path}: component {full!r}: the source must be a string")
                continue
            good[full] = code
        return good

    def _read_index(self) -> dict[str, Any] | None:
        """The index of saved graphs; without a readable one, every graph file there (by its
        ``properties.id``), no main graph."""
        path = self.index_path
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
            files = index.get("graphs") if isinstance(index, dict) else None
            if not isinstance(files, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and Path(v).name == v
                for k, v in files.items()
            ):
                raise ValueError("not an index of graph files")
            main = index.get("main")
            return {"main": main if isinstance(main, str) else None, "graphs": files}
        except FileNotFoundError:
            if not self.graphs_dir.is_dir():
                return None
            problem = None
        except (OSError, ValueError) as exc:
            problem = f"cannot read the index of persisted graphs {path}: {exc}"
        files = {}
        for graph_file in sorted(self.graphs_dir.glob("*.json")):
            graph_id = graph_file.stem
            try:
                document = json.loads(graph_file.read_text(encoding="utf-8"))
                stored = document.get("properties", {}).get("id")
                if isinstance(stored, str) and stored:
                    graph_id = stored
            except (OSError, ValueError, AttributeError):
                pass  # reported when it fails to load
            files.setdefault(graph_id, graph_file.name)
        if problem is not None:
            self._problem(f"{problem}; loading the {len(files)} graph file(s) found")
        return {"main": None, "graphs": files}


#: The longest file name stem, in UTF-8 bytes: with ``-NNN.json`` and the ``.NAME.HEX.tmp``
#: of an atomic write it stays under the 255 bytes file systems allow, whatever the id.
MAX_STEM_BYTES = 200


def _safe_filename(graph_id: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in graph_id).strip(".")
    keep = keep.encode("utf-8")[:MAX_STEM_BYTES].decode("utf-8", "ignore")
    return keep or "graph"


def _unique_filename(graph_id: str, taken: set[str]) -> str:
    """A file name for a graph, distinct from those in ``taken`` (ids ``a/b`` and ``a_b``
    would otherwise share one); added to ``taken``."""
    stem = _safe_filename(graph_id)
    name, number = f"{stem}.json", 2
    while name.lower() in {t.lower() for t in taken}:
        name, number = f"{stem}-{number}.json", number + 1
    taken.add(name)
    return name
