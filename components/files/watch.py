"""files/Watch: file system events as IPs, through the ``watchdog`` library (an extra:
``pip install 'flowpy-fbp[watch]'``), which uses the system's own notifications (inotify,
FSEvents, kqueue, ReadDirectoryChangesW) or polls where there are none.

Back-pressure: watchdog's reader thread hands events to its dispatcher through a queue this
component bounds, and the dispatcher hands them to the process through the bounded
:class:`~flowpy_components._support.pump.Pump`; while the graph is behind the reader stops
reading, and the system's own queue holds (and, full, drops) what happens meanwhile.
"""

from __future__ import annotations

import importlib
import os
import queue
import sys
from pathlib import PurePath
from typing import Any

from flowpy import IP, Component, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import StopHook, flag, positive_int, short
from flowpy_components._support.pump import Pump

#: watchdog's event types -> the event names sent (others, such as "opened", are not sent).
EVENTS = {"created": "created", "modified": "modified", "deleted": "deleted", "moved": "moved"}
#: How many events wait between watchdog's reader and its dispatcher at most.
QUEUE_SIZE = 64


def _watchdog() -> tuple[Any, Any]:
    """watchdog's Observer and event handler base; one line naming the extra when missing."""
    try:
        observers = importlib.import_module("watchdog.observers")
        events = importlib.import_module("watchdog.events")
    except ImportError:
        raise ValueError(
            "files/Watch needs the watchdog package: pip install 'flowpy-fbp[watch]'"
        ) from None
    return observers.Observer, events.FileSystemEventHandler


class Watch(Component):
    """Watches a folder (or one file) and sends one IP per change: {"event": "created",
    "path": ...}, likewise "modified" and "deleted", and {"event": "moved", "path": ...,
    "dest": ...}; with "directories": true also events of folders, marked "directory": true.
    Paths are given under the watched path as conf wrote it.

    conf: the path, or {"path": ..., "recursive": true, "patterns": ["*.csv"],
    "directories": false, "events": N}. Patterns are globs matched against the end of a path
    (`*.csv`, `in/*.json`); an event matches when its path (or a move's dest) does. With
    "events" the process ends after that many; otherwise it runs until the network stops.
    `watching` sends {path} once events are being watched (what changes before is not
    seen). A path that does not exist fails the process. Needs the watchdog package (pip
    install 'flowpy-fbp[watch]'). Back-pressure: while `out` is full, the watcher stops
    reading the system's notifications, whose own bounded queue drops when full.
    """

    icon = "eye"
    reaches = ("files",)
    inports = InPorts(
        InPort(
            "conf",
            datatype="object",
            description="path, or {path, recursive, patterns, directories, events}",
            required=True,
        ),
    )
    outports = OutPorts(
        OutPort("out", datatype="object", description="{event, path, dest?, directory?}"),
        OutPort("watching", datatype="object", description="{path} once watching"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pump: Pump | None = None
        self.stopping = StopHook(self._stop)

    def _stop(self) -> None:
        if self.pump is not None:
            self.pump.stop()

    def run(self) -> None:
        """Read the options, then send one IP per change until the event count or a stop."""
        options = self.options(
            {
                "path": None,
                "recursive": True,
                "patterns": None,
                "directories": False,
                "events": None,
            },
            scalar="path",
        )
        given = options["path"]
        if not isinstance(given, str) or not given:
            raise ValueError(f"{self.node_id}: conf needs a path (a non-empty string)")
        patterns = options["patterns"]
        if isinstance(patterns, str):
            patterns = [patterns]
        if patterns is not None and not (
            isinstance(patterns, list) and all(isinstance(p, str) and p for p in patterns)
        ):
            raise ValueError(
                f"{self.node_id}: patterns must be a list of globs, not {short(patterns)}"
            )
        recursive = flag(options["recursive"], f"{self.node_id}: recursive")
        directories = flag(options["directories"], f"{self.node_id}: directories")
        limit = options["events"]
        left = None if limit is None else positive_int(limit, f"{self.node_id}: events")
        resolved = self.path(given)
        if not os.path.exists(resolved):
            raise ValueError(f"{self.node_id}: cannot watch {given}: no such file or folder")
        observer_class, handler_base = _watchdog()

        pump = self.pump = Pump(self, [])
        node = self

        class Handler(handler_base):  # type: ignore[misc, valid-type]
            def on_any_event(self, event: Any) -> None:
                found = node._describe(event, given, resolved, patterns, directories)
                if found is not None:
                    pump.put(found)  # waits while the graph is behind

        observer = observer_class()
        observer.name = f"{self.node_id}-watch"
        observer.event_queue.maxsize = QUEUE_SIZE  # watchdog's reader waits when it is full
        try:
            observer.schedule(Handler(), resolved, recursive=recursive)
            for emitter in observer.emitters:  # the reader threads, started by start()
                emitter.name = f"{self.node_id}-watch-reader"
            observer.start()
        except OSError as exc:
            raise ValueError(
                f"{self.node_id}: cannot watch {given}: {exc.strerror or exc}"
            ) from None
        try:
            self.outports["watching"].send_data({"path": given})

            def deliver(value: Any) -> bool:
                nonlocal left
                if not self.outports["out"].send(IP.make_data(value)):
                    return False
                if left is not None:
                    left -= 1
                return left != 0

            pump.serve(deliver, lambda kind, value: True)
        finally:
            pump.join(0)  # the handler gives up waiting
            _unblock(observer.event_queue)
            observer.stop()
            observer.join(self.time_to_stop(5.0))

    def _describe(
        self,
        event: Any,
        given: str,
        resolved: str,
        patterns: list[str] | None,
        directories: bool,
    ) -> dict[str, Any] | None:
        """The IP for a watchdog event, or None for one not sent."""
        name = EVENTS.get(event.event_type)
        if name is None or (event.is_directory and not directories):
            return None
        paths = [_text(event.src_path)]
        if name == "moved":
            paths.append(_text(event.dest_path))
        if patterns is not None and not any(PurePath(p).match(g) for p in paths for g in patterns):
            return None
        found: dict[str, Any] = {"event": name, "path": _under(given, resolved, paths[0])}
        if name == "moved":
            found["dest"] = _under(given, resolved, paths[1])
        if event.is_directory:
            found["directory"] = True
        return found


def _text(path: str | bytes) -> str:
    return os.fsdecode(path)


def _under(given: str, resolved: str, path: str) -> str:
    """``path`` (under ``resolved``) as a path under the watched path as conf gave it."""
    relative = os.path.relpath(path, resolved)
    return given if relative == "." else os.path.normpath(os.path.join(given, relative))


def _unblock(events: queue.Queue[Any]) -> None:
    """Let watchdog's reader go on at the end: a put waiting for room would keep its stop
    from being joined. (A waiting put checks the size again when woken.)"""
    with events.not_full:
        events.maxsize = sys.maxsize
        events.not_full.notify_all()
