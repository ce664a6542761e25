"""Helper threads (socket readers) feeding a process, with back-pressure.

A helper thread cannot send on a port (only the process thread does), so it hands what it
read to the process through a bounded queue: :meth:`Pump.put` blocks while the queue is
full, so a slow graph stops the helper from reading, and then the socket's own flow control
(TCP) makes the peer wait. The process thread waits on the queue and on its inports at once
(:meth:`Pump.next`). :meth:`Pump.serve` is the process thread's loop every socket component
shares: what a helper handed over goes out on one outport, the rest goes to the component.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any

from flowpy import IP, Component, EndOfStream

from .select import PortSelect

#: What :meth:`Pump.next` gives when a helper has handed something over.
ITEM = "item"
INPORTS_ENDED = "inports ended"
_END = object()


class Pump:
    """The hand-over from helper threads to the process thread of ``component``."""

    def __init__(self, component: Component, ports: Iterable[str], size: int = 16) -> None:
        self.component = component
        self.ports = [p for p in ports if component.inports[p].is_connected]
        self.select = PortSelect(component.inports, self.ports) if self.ports else None
        self._queue: queue.Queue = queue.Queue(maxsize=size)
        self._wake = threading.Event()
        self._done = threading.Event()  # the process thread takes nothing more
        self.threads: list[threading.Thread] = []

    @property
    def done(self) -> bool:
        """True once the process thread has ended (:meth:`join`)."""
        return self._done.is_set()

    def start(self, name: str, target: Any, *args: Any) -> threading.Thread:
        """A helper thread named ``<node>-<name>``; joined by :meth:`join`."""
        thread = threading.Thread(target=target, args=args, name=f"{self.component.node_id}-{name}")
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()
        return thread

    def put(self, value: Any) -> bool:
        """From a helper: hand ``value`` over, waiting while the process is behind; False
        once the process stops or takes nothing more (drop it and end)."""
        stopping = self.component.stopping
        while not (stopping.is_set() or self._done.is_set()):
            try:
                self._queue.put(value, timeout=0.5)
            except queue.Full:
                continue
            self._poke()
            return True
        return False

    def end_source(self) -> None:
        """From a helper: nothing more will come from it (the peer closed)."""
        self.put(_END)  # may wait for room, like any value

    def _poke(self) -> None:
        self._wake.set()
        if self.select is not None:
            self.select.wake()

    def next(self) -> tuple[str, Any]:
        """The next thing to handle: ``("item", value)`` from a helper (first), ``(port,
        ip)`` from an inport, ``("inports ended", None)`` once when every inport has ended,
        ``("end", None)`` when a helper's source ended; raises EndOfStream when the network
        stops."""
        while True:
            try:
                value = self._queue.get_nowait()
            except queue.Empty:
                pass
            else:
                return ("end", None) if value is _END else (ITEM, value)
            if self.component.stopping.is_set():
                raise EndOfStream()
            if self.select is not None:
                try:
                    name, ip = self.select.recv(self.ports)
                except EndOfStream:
                    self.select = None  # every port ended: only helpers remain
                    return INPORTS_ENDED, None
                if name is not None:
                    return name, ip
                continue
            self._wake.wait()
            self._wake.clear()

    def serve(
        self, deliver: str | Callable[[Any], bool], handle: Callable[[str, Any], bool]
    ) -> None:
        """The process thread's loop: deliver each item a helper handed over (send it on
        the outport ``deliver`` names, or call ``deliver``), and give everything else
        :meth:`next` yields (an inport's IP, ``"inports ended"``, a helper's ``"end"``) to
        ``handle``, until either returns False (for a port: its reader is gone) or the
        network stops."""
        if isinstance(deliver, str):
            port = deliver
            deliver = lambda value: send_item(self.component, port, value)  # noqa: E731
        while True:
            try:
                kind, value = self.next()
            except EndOfStream:  # the network stops
                return
            if not (deliver(value) if kind == ITEM else handle(kind, value)):
                return

    def stop(self) -> None:
        """From the network's stop hook: wake the process thread."""
        self._poke()

    def join(self, timeout: float = 5.0) -> None:
        """From the process thread, at its end: helpers waiting to hand something over
        give up, and are joined."""
        self._done.set()
        for thread in self.threads:
            thread.join(timeout)


def send_item(component: Component, port: str, value: Any) -> bool:
    return component.outports[port].send(IP.make_data(value))
