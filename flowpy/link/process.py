"""A link run by a component process: what core/Bridge and remote/NAME share.

The engine side of a :class:`~flowpy.link.link.Link`: local inports are read (one feeder each)
and sent to remote inports, remote outports are delivered to local outports, and the
process's life follows the engine's rules: it ends once its inputs have ended and the remote
has taken everything, and at a local stop it says goodbye within the stop's deadline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from flowpy.engine.connection import EndOfStream, NetworkStopped
from flowpy.wire.events import events_of_raw, ip_of, raw_of

from .client import Client, ClientError
from .config import STOP_POLL, LinkConfig, LinkError
from .link import Link
from .listener import LinkListener

log = logging.getLogger(__name__)


class ProcessLink(LinkListener):
    """Runs one :class:`Link` for a running component: local inports → remote inports,
    remote outports → local outports, with the stop rules of the engine.

    ``inputs`` maps remote inport names to bound local inports (one feeder each: the first
    on the process thread, the others on threads named ``<node>-in-<port>``); ``outputs``
    maps remote outport names (any case) to bound local outports. Subclasses say where
    status, errors and packets of unmapped ports go.

    The process ends when every input has ended, everything sent is acknowledged and the
    remote network has stopped (or nothing is mapped out). A remote flowpy network this link
    started (``conf.start``) is stopped by it at that point (``conf.stop``, on by default):
    the remote drains, sends everything on and stops. Or it ends when the local network stops,
    in which case the link sends ``disconnect`` for every input still open, says ``bye`` and
    closes within ``close_timeout``.
    """

    def __init__(
        self,
        component: Any,
        config: LinkConfig,
        inputs: Mapping[str, Any],
        outputs: Mapping[str, Any],
    ) -> None:
        self.component = component
        self.stopping: threading.Event = component.stopping
        self.config = config
        self.inputs = dict(inputs)
        self.outputs = {name.lower(): port for name, port in outputs.items()}
        self.link = Link(
            config,
            self,
            name=component.node_id,
            inports=list(self.inputs),
            outports=list(outputs),
            stop=self.stopping,
            close_budget=component.time_to_stop,
        )
        self._open_inputs: set[str] = set()
        self._lock = threading.Lock()
        self._out_done: set[str] = set()  # mapped remote outports that have disconnected
        self._remote_ended = threading.Event()

    # -- hooks for subclasses --------------------------------------------------------------
    def status(self, info: dict[str, Any]) -> None:
        """Where state changes and reports go; the default logs them."""
        log.info("%s: %s", self.component.node_id, info)

    def error(self, info: dict[str, Any]) -> None:
        """Where link errors go; the default logs them as warnings."""
        log.warning("%s: %s", self.component.node_id, info.get("message"))

    def unmapped(self, port: str, event: str, payload: Any) -> None:
        """A packet from a remote outport nothing local is connected to (dropped)."""

    # -- LinkListener ---------------------------------------------------------------------
    def link_state(self, state: str, info: dict[str, Any]) -> None:
        """Pass a state change on to ``status``."""
        self._safely(self.status, {"type": "state", **info})

    def link_report(self, info: dict[str, Any]) -> None:
        """Track whether the remote network runs, and pass the report on to ``status``."""
        if info.get("type") == "remote-network":
            if info.get("running"):
                self._remote_ended.clear()
            else:
                self._remote_ended.set()
        self._safely(self.status, info)

    def link_error(self, info: dict[str, Any]) -> None:
        """Pass a link error on to ``error``."""
        self._safely(self.error, info)

    def link_packet(self, port: str, event: str, payload: Any) -> bool:
        """Send a remote packet out of its local outport, tracking connect and disconnect."""
        if event in ("connect", "disconnect"):
            with self._lock:
                if event == "connect":
                    self._out_done.discard(port.lower())
                    self._remote_ended.clear()
                else:
                    self._out_done.add(port.lower())
                    if self._out_done >= set(self.outputs):
                        self._remote_ended.set()
            self._safely(self.status, {"type": "port", "port": port, "event": event})
            return not self.stopping.is_set()
        target = self.outputs.get(port.lower())
        if target is None:
            self._safely(self.unmapped, port, event, payload)
            return not self.stopping.is_set()
        try:
            target.send(ip_of(event, payload))
        except NetworkStopped:
            return False
        return True

    def link_packets(self, packets: list[tuple[str, str, Any]]) -> int:
        """Packets that arrived together, in order; how many were taken (all, unless the
        local network stopped). A run of them for one mapped outport goes with one
        ``send_raw``: one lock of the local connection for many IPs, not one each, and no
        IP object made for a data packet."""
        done, count = 0, len(packets)
        while done < count:
            port, event, _ = packets[done]
            target = None if event in ("connect", "disconnect") else self.outputs.get(port.lower())
            if target is None:
                if not self.link_packet(*packets[done]):
                    return done
                done += 1
                continue
            end = done + 1
            while (
                end < count
                and packets[end][0] == port
                and packets[end][1] not in ("connect", "disconnect")
            ):
                end += 1
            try:
                target.send_raw([raw_of(e, payload) for _, e, payload in packets[done:end]])
            except NetworkStopped:
                return done
            done = end
        return count

    def _safely(self, hook: Any, *args: Any) -> None:
        try:
            hook(*args)
        except NetworkStopped:
            pass  # the local network is stopping: nobody reads status/error any more
        except Exception:
            log.exception("%s: reporting failed", self.component.node_id)

    # -- running --------------------------------------------------------------------------
    def run(self) -> None:
        """The whole life of the link; raises LinkError when the remote cannot serve us."""
        link = self.link.start()
        try:
            if not link.wait_ready(self.stopping):
                if link.fatal is not None:
                    raise LinkError(link.fatal)
                return
            self._feed_all()
            if self.stopping.is_set() or link.fatal is not None:
                return
            # Every input has ended: let the remote take it all, then wait for its end.
            if not link.flush(self.stopping):
                return
            if not self.outputs:
                return
            if self.config.stop and link.started_network and link.remote.get("type") == "flowpy":
                # Nothing else will end a network whose inports stay open (the protocol
                # cannot close a remote inport): this link started it, so it stops it; a
                # flowpy remote drains first, and its outports disconnect after the last IP.
                self._stop_remote_network()
            while not self.stopping.is_set() and link.fatal is None:
                if self._remote_ended.wait(STOP_POLL) and link.idle:
                    return
        finally:
            with self._lock:
                still_open = sorted(self._open_inputs)
            link.close(disconnect=still_open)
            if link.fatal is not None and not self.stopping.is_set():
                raise LinkError(link.fatal)

    def _stop_remote_network(self) -> bool:
        """Stop the remote network, draining it (a flowpy remote lets what its inports took
        run out and sends it on before it stops); True once the remote says it stopped.

        The request goes over a connection of its own: the remote handles ``network:stop``
        on the reader of the connection that sent it and reads nothing else from it until
        the drain is over, while the drain may need this link's acknowledgements to make
        room in the session's outbox."""
        link, config, name = self.link, self.config, self.component.node_id
        graph = link.graph
        if graph is None:
            return False
        # It gets the graph's output too, as every client does, and nobody reads that here:
        # kept, it would fill the inbox and stop the reader, and the drain behind it.
        client = Client(
            config.url,
            config.secret,
            timeout=config.timeout,
            name=f"{name}-stop",
            keep_packets=False,
        )
        try:
            client.connect()
            pending = client.start_request("network", "stop", {"graph": graph}, expect=("stopped",))
            deadline = time.monotonic() + config.timeout
            while not pending.done.wait(STOP_POLL):
                if self.stopping.is_set() or time.monotonic() >= deadline:
                    log.warning("%s: no answer to network:stop of %s in time", name, config.label)
                    return False
            client.wait(pending, 0)
        except ClientError as exc:
            log.warning("%s: cannot stop the remote network %s: %s", name, graph, exc)
            return False
        finally:
            client.close(timeout=self.component.time_to_stop(config.close_timeout))
        link.negotiator.started_network = False
        log.info("%s: stopped the remote network %s (this link had started it)", name, config.label)
        return True

    def _feed_all(self) -> None:
        names = list(self.inputs)
        if not names:
            return
        threads = [
            threading.Thread(
                target=self._feed, args=(name,), name=f"{self.component.node_id}-in-{name}"
            )
            for name in names[1:]
        ]
        for thread in threads:
            thread.start()
        try:
            self._feed(names[0])
        finally:
            for thread in threads:
                thread.join()  # they end at end-of-stream, at a stop or when the link closes

    def _feed(self, remote: str) -> None:
        """One local input → one remote inport: connect, the IPs in order, disconnect."""
        port, link, stop = self.inputs[remote], self.link, self.stopping
        started = False
        try:
            while not stop.is_set():
                try:
                    batch = port.recv_raw(64)
                except EndOfStream:
                    break
                packets = [(remote, *event) for event in events_of_raw(batch)]
                if not started:
                    packets.insert(0, (remote, "connect", None))
                    started = True
                    with self._lock:
                        self._open_inputs.add(remote)
                if link.send_many(packets, stop) < len(packets):
                    return
            if started and not stop.is_set() and link.send(remote, "disconnect", None, stop):
                with self._lock:
                    self._open_inputs.discard(remote)
        except NetworkStopped:
            return
