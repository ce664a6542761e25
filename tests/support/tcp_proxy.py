"""A small threaded TCP proxy the test controls: to cut a link mid-stream, on purpose.

    with TcpProxy("127.0.0.1", upstream_port) as proxy:
        url = f"ws://127.0.0.1:{proxy.port}"
        ...
        proxy.wait_connections(1)
        proxy.cut()                 # closes every open connection, both ways, at once
        proxy.wait_connections(2)   # the client came back through the proxy
        proxy.pause()               # stop reading what clients send (their writes back up)

Every connection is two pump threads (client→upstream, upstream→client); the listener is
one more. All threads are named ``tcp-proxy-*`` and joined by ``close()``.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(None)
        self.host, self.port = host, self._listener.getsockname()[1]
        self._cond = threading.Condition()
        self.accepted = 0
        self.cuts = 0
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._flowing = threading.Event()  # cleared by pause(): client→upstream stops
        self._flowing.set()
        self._admitting = threading.Event()  # cleared by hold(): new clients wait
        self._admitting.set()
        self.bytes_up = 0  # client → upstream bytes forwarded
        self._accept_thread = threading.Thread(target=self._accept, name="tcp-proxy-accept")
        self._accept_thread.start()

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return  # closed
            self._admitting.wait()
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                downstream.close()  # the upstream is down: so is the proxy, for this client
                continue
            for sock in (downstream, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._cond:
                if self._closed:
                    downstream.close()
                    upstream.close()
                    return
                number = self.accepted + 1
                pair = (downstream, upstream)
                self._pairs.append(pair)
                threads = [
                    threading.Thread(
                        target=self._pump,
                        args=(downstream, upstream, pair, True),
                        name=f"tcp-proxy-{number}-up",
                    ),
                    threading.Thread(
                        target=self._pump,
                        args=(upstream, downstream, pair),
                        name=f"tcp-proxy-{number}-down",
                    ),
                ]
                self._threads.extend(threads)
                self.accepted = number
                self._cond.notify_all()
            for thread in threads:
                thread.start()

    def _pump(self, src: socket.socket, dst: socket.socket, pair: tuple, up: bool = False) -> None:
        try:
            while True:
                if up:
                    self._flowing.wait()
                    if self._closed:
                        break
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                if up:
                    with self._cond:
                        self.bytes_up += len(data)
                        self._cond.notify_all()
        except OSError:
            pass
        finally:
            self._drop(pair)

    def _drop(self, pair: tuple[socket.socket, socket.socket]) -> None:
        for sock in pair:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        with self._cond:
            if pair in self._pairs:
                self._pairs.remove(pair)
            self._cond.notify_all()

    def wait_connections(self, count: int, timeout: float = 30.0) -> bool:
        """Wait until ``count`` connections have been accepted in all."""
        with self._cond:
            return self._cond.wait_for(lambda: self.accepted >= count, timeout)

    def hold(self) -> None:
        """New clients are accepted but not connected upstream until :meth:`admit`."""
        self._admitting.clear()

    def admit(self) -> None:
        self._admitting.set()

    def pause(self) -> None:
        """Stop reading from clients: what they send piles up in the socket buffers."""
        self._flowing.clear()

    def wait_bytes_up(self, count: int, timeout: float = 30.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.bytes_up >= count, timeout)

    def cut(self) -> int:
        """Close every open connection now; returns how many were cut."""
        with self._cond:
            pairs = list(self._pairs)
            self.cuts += 1
        for pair in pairs:
            self._drop(pair)
        return len(pairs)

    def close(self) -> None:
        with self._cond:
            self._closed = True
        self._flowing.set()
        self._admitting.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self.cut()
        self._accept_thread.join(10)
        for thread in list(self._threads):
            thread.join(10)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
