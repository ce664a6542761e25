"""The state directory: what a runtime keeps across restarts, written so a crash never breaks it.

Layout of ``<state_dir>``:

* ``runtime-id``: the runtime's UUID, made on first use, so clients recognise it across
  restarts;
* ``graphs/<file>.json``: every graph ``network:persist`` saved, and ``graphs.json``, the
  index (which graph is main, which file holds which graph);
* ``components.json``: the sources of components compiled with ``component:source``.

Every file is written atomically; the index is written after the graph files and files no
longer listed are removed last, so a crash at any point leaves a consistent state. Temporary
files a crash left behind are removed at start-up. A file that cannot be read is reported
through ``problem`` and skipped: never fatal.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from flowpy.graphs import json_format

log = logging.getLogger(__name__)


def default_state_dir() -> Path:
    """A per-user data directory: ``$XDG_DATA_HOME/flowpy`` (``~/.local/share/flowpy``)."""
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "flowpy"
    home_data = os.path.join(os.path.expanduser("~"), ".local", "share")
    base = os.environ.get("XDG_DATA_HOME") or home_data
    return Path(base) / "flowpy"


def write_atomically(path: Path, text: str) -> None:
    """Readers (and a restart after a crash) see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    json_format.write_text_atomically(path, text)


class StateDirectory:
    """One runtime's state directory (see the module docstring)."""

    def __init__(self, path: Path, problem: Callable[[str], None]) -> None:
        self.path = path
        self._problem = problem
        self._lock = threading.Lock()

    @property
    def graphs_dir(self) -> Path:
        return self.path / "graphs"

    @property
    def index_path(self) -> Path:
        return self.path / "graphs.json"

    @property
    def sources_path(self) -> Path:
        return self.path / "components.json"

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
            log.warning("cannot keep the runtime id in %s (%s); it will change on restart",
                        path, exc)
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
    def save(self, graphs: Mapping[str, Any], main: str | None, sources: Mapping[str, str]) -> Path:
        """Save ``graphs`` (id -> graph model), which is main, and component sources."""
        directory = self.graphs_dir
        with self._lock:
            directory.mkdir(parents=True, exist_ok=True)
            files: dict[str, str] = {}
            taken: set[str] = set()
            for graph_id, graph in sorted(graphs.items()):
                filename = _unique_filename(graph_id, taken)
                json_format.save_file(graph, directory / filename)
                files[graph_id] = filename
            index = {"main": main if main in graphs else None, "graphs": files}
            write_atomically(self.sources_path,
                             json.dumps({"components": dict(sources)}, indent=2) + "\n")
            write_atomically(self.index_path, json.dumps(index, indent=2) + "\n")
            for stale in directory.glob("*.json"):
                if stale.name not in taken:
                    stale.unlink(missing_ok=True)
        return directory

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

    def _read_index(self) -> dict | None:
        """The index of saved graphs; without a readable one, every graph file there (by its
        ``properties.id``), no main graph."""
        path = self.index_path
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
            files = index.get("graphs") if isinstance(index, dict) else None
            if not isinstance(files, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) and Path(v).name == v
                    for k, v in files.items()):
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


def _safe_filename(graph_id: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in graph_id).strip(".")
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
