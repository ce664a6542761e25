"""net/TcpClient and net/TcpServer: text over TCP, a line per IP (or chunks as they come).

Back-pressure both ways: a reader thread hands what it read over through a bounded queue
(:mod:`flowpy_components._support.pump`) and stops reading while the graph is behind, so
TCP's flow control makes the peer wait; writes block while the peer does not read.
"""

from __future__ import annotations

import itertools
import socket
import threading
from typing import Any

from flowpy import Component, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import (
    BadInput,
    StopHook,
    number,
    positive_int,
    reject,
    render,
    short,
)
from flowpy_components._support.pump import INPORTS_ENDED, Pump

FRAMINGS = ("lines", "chunks")
CHUNK = 65536


def address(component: Component, defaults: dict[str, Any]) -> dict[str, Any]:
    """conf as {host, port, framing, ...}; a plain number is the port."""
    options = component.options(
        {"host": "127.0.0.1", "port": None, "framing": "lines", **defaults}, scalar="port"
    )
    try:
        port = int(number(options["port"], f"{component.node_id}: port"))
    except BadInput as exc:
        raise ValueError(str(exc)) from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{component.node_id}: port must be from 0 to 65535, not {port}")
    if options["framing"] not in FRAMINGS:
        raise ValueError(
            f"{component.node_id}: framing must be one of {', '.join(FRAMINGS)}, "
            f"not {options['framing']!r}"
        )
    options["port"] = port
    return options


def _encode(value: Any, framing: str) -> bytes:
    text = render(value)
    return (text + "\n" if framing == "lines" else text).encode("utf-8")


def read_into(pump: Pump, sock: socket.socket, framing: str, wrap: Any = None) -> None:
    """Reader thread: hand each line (or chunk) of ``sock`` to the pump until EOF."""
    stream = sock.makefile("rb") if framing == "lines" else None
    try:
        while True:
            if stream is not None:
                raw = stream.readline()
                if not raw:
                    break
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
            else:
                raw = sock.recv(CHUNK)
                if not raw:
                    break
                text = raw.decode("utf-8", "replace")
            if not pump.put(text if wrap is None else wrap(text)):
                return
    except OSError:
        pass  # closed under us (a stop) or reset by the peer: the source ends
    finally:
        if stream is not None:
            stream.close()
    pump.end_source() if wrap is None else pump.put(wrap(None))


class TcpClient(Component):
    """Connects to a TCP server, writes each data IP of `in` to it and sends what it
    receives on `out`: a line per IP (without its newline), or with framing "chunks" the
    text as it arrives. Values other than strings are written as compact JSON.

    conf: the port, or {"host": "127.0.0.1", "port": ..., "framing": "lines"}. When `in`
    ends the client stops writing (half-close) and goes on reading until the server closes
    the connection; then the process ends. A connection that cannot be made fails the
    process with one clear message. Back-pressure: reading stops while `out` is full.
    """

    icon = "plug"
    reaches = ("network",)
    inports = InPorts(
        InPort("in", description="what to write: a line per IP"),
        InPort(
            "conf", datatype="object", description="port, or {host, port, framing}", required=True
        ),
    )
    outports = OutPorts(OutPort("out", datatype="string", description="what the server sends"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sock: socket.socket | None = None
        self.pump: Pump | None = None
        self.stopping = StopHook(self._stop)

    def _stop(self) -> None:
        if self.sock is not None:
            _shutdown(self.sock)
        if self.pump is not None:
            self.pump.stop()

    def run(self) -> None:
        """Connect, then write `in` and send what the server answers until either side ends."""
        options = address(self, {})
        framing = options["framing"]
        try:
            self.sock = socket.create_connection((options["host"], options["port"]), timeout=10)
        except OSError as exc:
            raise ValueError(
                f"{self.node_id}: cannot connect to {options['host']}:"
                f"{options['port']}: {exc.strerror or exc}"
            ) from None
        self.sock.settimeout(None)
        self.pump = pump = Pump(self, ["in"])
        pump.start("tcp-reader", read_into, pump, self.sock, framing)
        try:
            pump.serve("out", lambda kind, value: self._handle(kind, value, framing))
        finally:
            _shutdown(self.sock)
            pump.join()
            self.sock.close()

    def _handle(self, kind: str, value: Any, framing: str) -> bool:
        assert self.sock is not None
        if kind == "end":
            return False  # the server closed the connection
        if kind == INPORTS_ENDED:
            _half_close(self.sock)  # nothing more to write; read on
        elif value.is_data:
            try:
                self.sock.sendall(_encode(value.data, framing))
            except OSError as exc:
                raise ValueError(f"{self.node_id}: cannot write: {exc.strerror or exc}") from None
        return True


class TcpServer(Component):
    """A TCP server: sends {connection, data} on `out` for every line (or chunk) a client
    sends, {connection, event: "open", peer} when a client connects and {connection,
    event: "end"} when it has no more to send (it still reads what is written to it);
    writes each {connection, data} on `in` to that client (without a connection: to every
    client), and with "close": true closes the connection after the data.

    conf: the port, or {"host": "127.0.0.1", "port": ..., "framing": "lines",
    "max_connections": 16, "connections": N}; port 0 takes a free one, and `listening`
    sends {host, port}. Clients beyond max_connections at once are closed at once. With
    "connections" the server ends once it has closed that many connections. Back-pressure:
    a client's reader stops while `out` is full, so the client waits (TCP flow control).
    Otherwise it runs until the network stops. A write to a connection that is gone goes
    to `error` as {message, input}.
    """

    icon = "server"
    reaches = ("network",)
    inports = InPorts(
        InPort("in", datatype="object", description="{connection, data, close} to write"),
        InPort(
            "conf",
            datatype="object",
            description="port, or {host, port, framing, max_connections, connections}",
            required=True,
        ),
    )
    outports = OutPorts(
        OutPort("out", datatype="object", description="{connection, data} or {connection, event}"),
        OutPort("listening", datatype="object", description="{host, port} once listening"),
        OutPort("error", datatype="object", description="{message, input}"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.listener: socket.socket | None = None
        self.pump: Pump | None = None
        self.lock = threading.Lock()
        self.clients: dict[int, socket.socket] = {}
        self.stopping = StopHook(self._stop)

    def _stop(self) -> None:
        if self.listener is not None:
            _shutdown(self.listener)
            self.listener.close()
        with self.lock:
            for sock in self.clients.values():
                _shutdown(sock)
        if self.pump is not None:
            self.pump.stop()

    def run(self) -> None:
        """Listen and send what clients write until a stop or the connection count is met."""
        options = address(self, {"max_connections": 16, "connections": None})
        host, framing = options["host"], options["framing"]
        limit = positive_int(options["max_connections"], f"{self.node_id}: max_connections")
        total = options["connections"]
        self.total = None if total is None else positive_int(total, f"{self.node_id}: connections")
        self.closed = 0
        try:
            self.listener = socket.create_server((host, options["port"]))
        except OSError as exc:
            raise ValueError(
                f"{self.node_id}: cannot listen on {host}:{options['port']}: {exc.strerror or exc}"
            ) from None
        self.pump = pump = Pump(self, ["in"])
        pump.start("tcp-accept", self._accept, pump, framing, limit)
        self.outports["listening"].send_data({"host": host, "port": self.listener.getsockname()[1]})
        try:
            pump.serve("out", lambda kind, value: self._handle(kind, value, framing))
        finally:
            self._stop()
            pump.join()

    def _handle(self, kind: str, value: Any, framing: str) -> bool:
        if kind == "in" and value.is_data:
            self._write(value.data, framing)
            return self.closed != self.total  # False once it served all it was to serve
        return True

    def _accept(self, pump: Pump, framing: str, limit: int) -> None:
        numbers = itertools.count(1)
        assert self.listener is not None
        accepted = 0
        while not self.stopping.is_set() and accepted != self.total:
            try:
                sock, peer = self.listener.accept()
            except OSError:
                return  # closed by the stop
            with self.lock:
                if len(self.clients) >= limit:
                    sock.close()
                    continue
                number_ = next(numbers)
                self.clients[number_] = sock
            accepted += 1
            if not pump.put(
                {"connection": number_, "event": "open", "peer": f"{peer[0]}:{peer[1]}"}
            ):
                return
            pump.start(
                f"tcp-{number_}",
                read_into,
                pump,
                sock,
                framing,
                lambda text, n=number_: self._received(n, text),
            )

    def _received(self, connection: int, text: str | None) -> dict[str, Any]:
        if text is not None:
            return {"connection": connection, "data": text}
        return {"connection": connection, "event": "end"}  # it still reads what we write

    def _close(self, connection: int) -> None:
        with self.lock:
            sock = self.clients.pop(connection, None)
        if sock is None:
            return
        _shutdown(sock)
        sock.close()
        self.closed += 1

    def _write(self, value: Any, framing: str) -> None:
        if not isinstance(value, dict) or not ({"data", "close"} & set(value)):
            reject(self, f"write {{connection, data, close}}, not {short(value)}", value)
            return
        with self.lock:
            if "connection" in value:
                targets = [self.clients.get(value["connection"])]
            else:
                targets = list(self.clients.values())
        for sock in targets:
            if sock is None:
                reject(self, f"no connection {short(value.get('connection'))}", value)
                continue
            try:
                if "data" in value:
                    sock.sendall(_encode(value["data"], framing))
            except OSError as exc:
                reject(
                    self,
                    f"cannot write to connection {value.get('connection')}: {exc.strerror or exc}",
                    value,
                )
        if value.get("close") is True:
            with self.lock:
                numbers = [
                    n
                    for n, sock in self.clients.items()
                    if "connection" not in value or n == value["connection"]
                ]
            for number_ in numbers:
                self._close(number_)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected (any more)


def _half_close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
