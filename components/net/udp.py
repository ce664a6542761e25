"""net/UdpSend and net/UdpReceive: one datagram per IP.

UDP has no flow control, so back-pressure cannot reach the sender: while the graph is
behind, UdpReceive stops reading its socket, the kernel's receive buffer fills and the kernel
drops what does not fit. flowpy itself buffers nothing; on Linux the socket counts the
kernel's drops (``SO_RXQ_OVFL``) and UdpReceive reports them on `drops`.
"""

from __future__ import annotations

import logging
import socket
import struct
import sys
from typing import Any

from flowpy import IP, Component, InPort, InPorts, OutPort, OutPorts
from flowpy_components._support.base import (
    BadInput,
    StopHook,
    flag,
    number,
    positive_int,
    reject,
    render,
    short,
)

log = logging.getLogger(__name__)

#: The largest UDP payload over IPv4.
MAX_DATAGRAM = 65507
#: The socket option that makes Linux count the datagrams it dropped for want of room
#: (the value from <asm-generic/socket.h>; Python does not name it).
SO_RXQ_OVFL: int | None = getattr(
    socket, "SO_RXQ_OVFL", 40 if sys.platform.startswith("linux") else None
)


def _port(component: Component, value: Any) -> int:
    try:
        port = int(number(value, f"{component.node_id}: port"))
    except BadInput as exc:
        raise ValueError(str(exc)) from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{component.node_id}: port must be from 0 to 65535, not {port}")
    return port


def _family(component: Component, host: str, port: int) -> socket.AddressFamily:
    """The address family of ``host``; a host that does not resolve fails the process."""
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][0]
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ValueError(f"{component.node_id}: cannot resolve {short(host)}: {reason}") from None


class UdpSend(Component):
    """Sends each data IP of `in` as one UDP datagram to the address of conf: strings as
    UTF-8 text, other values as compact JSON. A value too large for one datagram, or one
    the system refuses to send, goes to `error` as {message, input} (the process fails when
    `error` is not connected). UDP does not wait for the receiver: what it cannot take is
    lost (see net/UdpReceive).

    conf: the port, or {"host": "127.0.0.1", "port": ...}. Ends when `in` ends.
    """

    icon = "paper-plane"
    reaches = ("network",)
    inports = InPorts(
        InPort("in", description="what to send: a datagram per IP"),
        InPort("conf", datatype="object", description="port, or {host, port}", required=True),
    )
    outports = OutPorts(
        OutPort("error", datatype="object", description="{message, input} for a datagram not sent")
    )

    def run(self) -> None:
        """Send each data IP of `in` as one datagram to the configured address."""
        options = self.options({"host": "127.0.0.1", "port": None}, scalar="port")
        target = (options["host"], _port(self, options["port"]))
        if target[1] == 0:
            raise ValueError(f"{self.node_id}: port 0 is no address to send to")
        family = _family(self, target[0], target[1])
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            for ip in self.inports["in"]:
                if not ip.is_data:
                    continue
                payload = render(ip.data).encode("utf-8")
                if len(payload) > MAX_DATAGRAM:
                    reject(
                        self,
                        f"{len(payload)} bytes do not fit in one datagram (at most {MAX_DATAGRAM})",
                        ip.data,
                    )
                    continue
                try:
                    sock.sendto(payload, target)
                except OSError as exc:
                    reject(
                        self,
                        f"cannot send to {target[0]}:{target[1]}: {exc.strerror or exc}",
                        ip.data,
                    )


class UdpReceive(Component):
    """Receives UDP datagrams and sends each on `out` as text (UTF-8, undecodable bytes
    replaced); with "peer": true as {data, peer: "host:port"}.

    conf: the port, or {"host": "127.0.0.1", "port": ..., "peer": false, "datagrams": N,
    "buffer": BYTES}; port 0 takes a free one, and `listening` sends {host, port} once the
    socket is bound. With "datagrams" it ends after that many; otherwise it runs until the
    network stops. "buffer" sets the kernel's receive buffer (SO_RCVBUF).

    While `out` is full the socket is not read: the kernel's buffer holds what comes in the
    meantime and drops the rest (UDP has no flow control; flowpy never buffers without
    bound). Where the system counts those drops (Linux), `drops` sends {dropped, total} as
    the next datagram after them arrives; when `drops` is not connected the first drop is
    logged, and the total when the process ends.
    """

    icon = "download"
    reaches = ("network",)
    inports = InPorts(
        InPort(
            "conf",
            datatype="object",
            description="port, or {host, port, peer, datagrams, buffer}",
            required=True,
        ),
    )
    outports = OutPorts(
        OutPort("out", description="each datagram: its text, or {data, peer}"),
        OutPort("listening", datatype="object", description="{host, port} once bound"),
        OutPort(
            "drops",
            datatype="object",
            description="{dropped, total}: datagrams the kernel dropped while the graph was behind",
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sock: socket.socket | None = None
        self.stopping = StopHook(self._stop)

    def _stop(self) -> None:
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked recvmsg (Linux)
            except OSError:
                pass  # an unconnected socket says ENOTCONN, and is woken all the same

    def run(self) -> None:
        """Bind and send each datagram received, until a stop or the count is met."""
        options = self.options(
            {"host": "127.0.0.1", "port": None, "peer": False, "datagrams": None, "buffer": None},
            scalar="port",
        )
        host, port = options["host"], _port(self, options["port"])
        limit = options["datagrams"]
        limit = None if limit is None else positive_int(limit, f"{self.node_id}: datagrams")
        family = _family(self, host, port)
        self.sock = sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if options["buffer"] is not None:
                size = positive_int(options["buffer"], f"{self.node_id}: buffer")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            counting = _count_drops(sock)
            try:
                sock.bind((host, port))
            except OSError as exc:
                raise ValueError(
                    f"{self.node_id}: cannot bind {host}:{port}: {exc.strerror or exc}"
                ) from None
            if self.stopping.is_set():
                return
            self.outports["listening"].send_data({"host": host, "port": sock.getsockname()[1]})
            self._receive(sock, flag(options["peer"], f"{self.node_id}: peer"), limit, counting)
        finally:
            sock.close()

    def _receive(self, sock: socket.socket, peer: bool, limit: int | None, counting: bool) -> None:
        total = 0
        received = 0
        space = socket.CMSG_SPACE(4) if counting else 0
        report = self.outports["drops"].is_connected
        try:
            while limit is None or received < limit:
                try:
                    data, ancillary, _flags, sender = sock.recvmsg(MAX_DATAGRAM, space)
                except OSError:
                    return  # closed by the stop
                if self.stopping.is_set():
                    return  # the stop's wake-up, not a datagram
                dropped = _dropped(ancillary)
                if dropped is not None and dropped > total:
                    if report:
                        self.outports["drops"].send_data(
                            {"dropped": dropped - total, "total": dropped}
                        )
                    elif total == 0:
                        log.warning(
                            "%s: the kernel dropped %d datagrams while the graph was behind",
                            self.node_id,
                            dropped,
                        )
                    total = dropped
                text = data.decode("utf-8", "replace")
                value: Any = {"data": text, "peer": f"{sender[0]}:{sender[1]}"} if peer else text
                if not self.outports["out"].send(IP.make_data(value)):
                    return
                received += 1
        finally:
            if total and not report:
                log.warning("%s: %d datagrams dropped in all", self.node_id, total)


def _count_drops(sock: socket.socket) -> bool:
    """Ask the kernel to count drops; False where it cannot."""
    if SO_RXQ_OVFL is None:
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
    except OSError:
        return False
    return True


def _dropped(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    """The socket's running drop count, from a datagram's ancillary data."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(data) >= 4:
            return int(struct.unpack("=I", data[:4])[0])
    return None
