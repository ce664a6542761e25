"""Flowtrace recording: a bounded buffer of a graph's network events, dumped as Flowtrace JSON.

A trace is for retroactive debugging ("what went through this graph just before it went
wrong?"), so it keeps only the newest ``buffersize`` events and costs nothing while stopped.
The dump follows the Flowtrace format used by noflo and flowtrace tools::

    {"header": {"metadata", "graphs", "main"},
     "events": [{protocol, command, payload, graph, time}]}
"""

from __future__ import annotations

import copy
import json
import threading
from collections import deque
from typing import Any

from flowpy.wire import timestamp

DEFAULT_BUFFER = 400
MAX_BUFFER = 100_000


class Tracer:
    """Recent network events of one graph. Thread-safe: network threads record, handlers dump."""

    def __init__(self, graph: str, buffersize: int = DEFAULT_BUFFER) -> None:
        self.graph = graph
        self.buffersize = buffersize
        self.active = False
        self.started_at = timestamp()
        self._events: deque[dict[str, Any]] = deque(maxlen=buffersize)
        self._lock = threading.Lock()

    def resize(self, buffersize: int) -> None:
        """Keep at most ``buffersize`` events from now on (the most recent ones stay)."""
        with self._lock:
            self.buffersize = buffersize
            self._events = deque(self._events, maxlen=buffersize)

    def record(self, command: str, payload: dict[str, Any]) -> None:
        """Keep a private copy: components may still mutate the data they sent."""
        event = {
            "protocol": "network",
            "command": command,
            "payload": copy.deepcopy(payload),
            "graph": self.graph,
            "time": timestamp(),
        }
        with self._lock:
            self._events.append(event)

    def clear(self) -> None:
        """Forget the recorded events (``trace:clear``)."""
        with self._lock:
            self._events.clear()

    def events(self) -> list[dict[str, Any]]:
        """The recorded events, oldest first (a copy)."""
        with self._lock:
            return list(self._events)

    def dump(self, metadata: dict[str, Any], graphs: dict[str, Any], main: str | None) -> str:
        """The Flowtrace document as a JSON string (trace:dump carries it as a string)."""
        header = {
            "metadata": {**metadata, "start": self.started_at, "end": timestamp()},
            "graphs": graphs,
            "main": main if main is not None else self.graph,
        }
        return json.dumps({"header": header, "events": self.events()}, default=repr)
