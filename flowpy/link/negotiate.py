"""What a link settles with the remote at every connect, and how it then writes packets.

One connect asks the remote who it is (``runtime:getruntime``: may this secret move packets?
which graph is main?), whether the graph runs (``network:getstatus``), which ports it exports
to this secret (``runtime:ports``, which must include every port the link is wired to), and
then offers the flowpy link extension (``flowpy:hello``, docs/bridge-protocol.md). A
``flowpy:welcome`` makes the connection an **extension** one (numbered packets, cumulative
acks, a durable session); no answer in ``hello_timeout``, or an error, leaves it **plain**
(``runtime:packet``). Each connect decides again, so a remote that gained or lost the
extension is spoken to as it is now.

The :class:`Negotiator` also remembers, between connects, what tells a restarted remote from
the same one: the remote's instance id (extension), or when its network started (plain).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from flowpy import wire
from flowpy.errors import FlowpyError

from .client import Client, ClientError, ConnectionClosed, RequestError
from .config import LinkConfig, LinkError
from .window import Outbound

log = logging.getLogger(__name__)

EXTENSION = "extension"
PLAIN = "plain"


class Refused(FlowpyError):
    """The remote does not let this secret move packets.

    Fatal at a link's first connect (a wrong secret in ``conf``); after the link has been
    connected once, the remote let it in before, so it is retried with backoff (the remote
    may have come back with other secrets that its operator is about to fix)."""


class GraphMissing(LinkError):
    """The remote has no such graph, or the graph lacks a port the link is wired to.

    Fatal at a link's first connect (a configuration error); after the link has been
    connected once, the graph existed, so its absence is taken for a remote that came back
    without it (or is rebuilding it): retried with backoff, nothing in the window is lost."""


class LinkConnection:
    """One connection and what was negotiated on it: its mode, and how packets are framed."""

    def __init__(self, client: Client, number: int) -> None:
        self.client = client
        self.number = number
        self.mode = PLAIN
        #: The remote takes ``flowpy:packets`` (said in its welcome): many packets per frame.
        self.batch = False
        #: Plain mode's request ids are ``<tag><seq>``: a ``runtime:packetsent`` names its seq.
        self.tag = f"L{number}-"
        self.lost = threading.Event()
        # the flowpy:hello exchange, settled by the reader thread (Negotiator.hello_reply)
        self.lock = threading.Lock()
        self.hello_id: str | None = None
        self.hello_done = threading.Event()
        self.hello_error: str | None = None
        self.welcome: dict[str, Any] | None = None
        self.restarted: str | None = None
        #: The welcome came from another remote process than the last one (it restarted).
        #: A flowpy remote starts again at restart exactly the networks that ran (start.json;
        #: any client's stop clears that), so a network running then is the run this link
        #: started, resumed: the link still owns it (conf.stop stops it at the end).
        self.new_instance = False

    def queue(
        self, graph: str | None, batch: list[tuple[int, Outbound]], port_name: Callable[[str], str]
    ) -> int:
        """Queue window packets in this connection's framing, not written yet: their place
        in line for the client's ``flush`` (ClientError if the connection is closed)."""
        client = self.client
        if self.mode == EXTENSION and self.batch:
            entries = [_entry(seq, packet, port_name) for seq, packet in batch]
            return client.queue_many(
                [("flowpy", "packets", {"graph": graph, "packets": entries}, None)]
            )
        if self.mode == EXTENSION:
            return client.queue_many(
                ("flowpy", "packet", {"graph": graph, **_entry(seq, packet, port_name)}, None)
                for seq, packet in batch
            )
        if graph is None:  # never after a welcome; a packet without a graph would be refused
            raise ClientError("no remote graph was settled for this connection")
        packets = [(port_name(packet.port), packet.event, packet.payload) for _, packet in batch]
        ids = [f"{self.tag}{seq}" for seq, _ in batch]
        return client.queue_named_packets(graph, packets, ids)

    def seq_of(self, response_to: Any) -> int | None:
        """The seq a plain-mode reply (``runtime:packetsent`` or ``error``) answers."""
        if isinstance(response_to, str) and response_to.startswith(self.tag):
            try:
                return int(response_to[len(self.tag) :])
            except ValueError:
                return None
        return None


def _entry(seq: int, packet: Outbound, port_name: Callable[[str], str]) -> dict[str, Any]:
    """A packet as one entry of ``flowpy:packets`` (the graph is named once)."""
    entry: dict[str, Any] = {"port": port_name(packet.port), "event": packet.event, "seq": seq}
    if packet.payload is not None or packet.event == "data":
        entry["payload"] = wire.jsonable(packet.payload)
    return entry


def network_began(
    status: dict[str, Any] | None,
    asked: float,
    answered: float,
) -> tuple[float, float] | None:
    """When a remote network started, as an interval of our monotonic clock, from the
    ``uptime`` of a ``network:status`` asked at ``asked`` and answered at ``answered``
    (uptime is rounded: allow 10 ms either way). None if the status does not say."""
    if status is None or not status.get("started"):
        return None
    uptime = status.get("uptime")
    if not isinstance(uptime, (int, float)) or isinstance(uptime, bool) or uptime < 0:
        return None
    return asked - uptime - 0.01, answered - uptime + 0.01


class Negotiator:
    """Negotiates each connection of one link, and remembers the remote between them.

    ``on_welcome(resumed, received, acked)`` applies a welcome to the link's window and
    inbox; it runs in the reader thread the moment the welcome arrives. ``report`` and
    ``error`` are the link's status and error reports.
    """

    def __init__(
        self,
        config: LinkConfig,
        session: str,
        name: str,
        inports: Iterable[str],
        outports: Iterable[str],
        on_welcome: Callable[[bool, int, int], None],
        report: Callable[[dict[str, Any]], None],
        error: Callable[[dict[str, Any]], None],
    ) -> None:
        self.config = config
        self.session = session
        self.name = name
        self.required_in = list(dict.fromkeys(inports))
        self.required_out = list(dict.fromkeys(outports))
        self._on_welcome = on_welcome
        self._report = report
        self._error = error
        self.graph: str | None = config.graph
        self.remote: dict[str, Any] = {}  # the last runtime:runtime payload
        self.remote_ports: dict[str, Any] = {}  # the last runtime:ports of our graph
        self.remote_running: bool | None = None
        #: This link started the run of the remote network that is going on (conf.start),
        #: so it may stop it at the end (conf.stop).
        self.started_network = False
        self._canonical: dict[str, str] = {}  # remote inport names by lower case
        self._instance: str | None = None  # the remote process (extension: welcome.instance)
        self._silent_remote: str | None = None  # runtime id that never answered flowpy:hello
        #: When the remote network started, by our clock: (earliest, latest), from the uptime
        #: in network:status and the time the request took (plain mode's restart detection).
        self._remote_began: tuple[float, float] | None = None

    def port_name(self, port: str) -> str:
        """A remote inport's name as the remote spells it."""
        return self._canonical.get(port.lower(), port)

    def negotiate(
        self, conn: LinkConnection, first: bool
    ) -> tuple[dict[str, Any] | None, str | None]:
        """Everything up to the point packets may flow: ``(network status or None, why the
        remote counts as restarted or None)``. Raises Refused (retry), LinkError (fatal),
        ClientError (retry). ``first``: no connection was made before."""
        client, config = conn.client, self.config
        runtime = client.getruntime()
        self.remote = runtime
        capabilities = runtime.get("capabilities") or []
        if "protocol:runtime" not in capabilities:  # never let in: fatal, as conf is wrong
            raise (LinkError if first else Refused)(
                f"{config.url} does not let this secret send or receive packets "
                f"(capabilities: {', '.join(capabilities) or 'none'}); wrong secret?"
            )
        # Once connected, the link stays with the graph it negotiated: its window holds
        # packets for that graph, whatever the remote's main graph is now.
        graph = config.graph or (None if first else self.graph) or runtime.get("graph")
        if not graph:
            raise GraphMissing(f"{config.url} has no main graph: set conf.graph")
        self.graph = graph
        status: dict[str, Any] | None = None
        asked = time.monotonic()
        try:  # also a barrier: runtime:ports (sent after runtime:runtime) has arrived by now
            status = client.network_status(graph)
        except RequestError as exc:
            if "not found" in exc.message.lower():
                raise GraphMissing(f"remote graph {graph!r} not found on {config.url}") from None
        began = network_began(status, asked, time.monotonic())
        ports = client.ports.get(graph)
        if ports is None and status is None and (self.required_in or self.required_out):
            raise GraphMissing(
                f"remote graph {graph!r} not found on {config.url} "
                "(or it exports no port this secret may use)"
            )
        ports = ports or {"inPorts": [], "outPorts": []}
        self.remote_ports = ports
        self._check_ports(graph, ports)
        self._select_no_debug_edges(client, runtime, graph)

        restarted: str | None = None
        silent = self._silent_remote is not None and self._silent_remote == runtime.get("id")
        if config.extension and not silent and self._hello(conn, graph):
            restarted = conn.restarted
        if conn.mode == PLAIN:
            was = self.remote_running
            if status is not None:
                self.remote_running = bool(status.get("running"))
            if not first and was and status is not None and not status.get("started"):
                restarted = (
                    "the remote network was not running when the link came back "
                    "(the remote restarted or its network was stopped)"
                )
            elif (
                began is not None
                and self._remote_began is not None
                and began[0] > self._remote_began[1]
            ):
                restarted = (
                    "the remote network started again while the link was down "
                    "(its uptime is shorter than the link's absence)"
                )
        self._remote_began = began
        if (
            restarted
            and status is not None
            and status.get("running")
            and not (self.started_network and conn.new_instance)
        ):
            self.started_network = False  # somebody else started the restarted remote's run
        return status, restarted

    def network_changed(self, payload: dict[str, Any]) -> bool:
        """A ``network:started``/``stopped`` of our graph arrived: whether its running state
        changed. A stop (not started any more) ends this link's ownership of the run."""
        if not payload.get("started"):
            self.started_network = False  # stopped: no run to own now
        running = bool(payload.get("running"))
        changed = running != self.remote_running
        self.remote_running = running
        return changed

    def start_remote(self, client: Client, status: dict[str, Any] | None) -> None:
        """``conf.start``: start the remote network if it is not running."""
        config, graph = self.config, self.graph
        if config.start and status is not None and not status.get("running"):
            if graph is None:  # negotiate() names the graph before it returns a status
                raise LinkError("cannot start the remote network: no graph negotiated yet")
            try:
                asked = time.monotonic()
                client.start_network(graph)
                self._remote_began = (asked - 0.01, time.monotonic() + 0.01)
                self.remote_running = True
                self.started_network = True
            except RequestError as exc:
                self._error({"type": "remote", "message": f"cannot start {graph}: {exc.message}"})
        elif config.start and status is None:
            self._error(
                {
                    "type": "remote",
                    "message": (
                        f"conf.start: cannot tell whether {graph} runs "
                        "(network:getstatus refused); not starting it"
                    ),
                }
            )

    def _check_ports(self, graph: str, ports: dict[str, Any]) -> None:
        self._canonical = {
            str(p.get("id")).lower(): str(p.get("id")) for p in ports.get("inPorts") or []
        }
        offered_in = set(self._canonical)
        offered_out = {str(p.get("id")).lower() for p in ports.get("outPorts") or []}
        for direction, wanted, offered in (
            ("inport", self.required_in, offered_in),
            ("outport", self.required_out, offered_out),
        ):
            missing = [p for p in wanted if p.lower() not in offered]
            if missing:
                verb = "send to" if direction == "inport" else "receive from"
                raise GraphMissing(
                    f"remote graph {graph!r} has no exported {direction} "
                    f"{', '.join(repr(p) for p in missing)} that this secret may {verb} "
                    f"(it offers: {', '.join(sorted(offered)) or 'none'})"
                )

    def _select_no_debug_edges(self, client: Client, runtime: dict[str, Any], graph: str) -> None:
        """Ask for no edge debug data: while somebody debugs the remote graph, every
        client with ``network:data`` would get every IP of every edge, which costs the
        link bandwidth and parsing for nothing. ``network:edges []`` is standard, but only a
        flowpy remote is known to answer it (a request without an answer would stall the
        connect), so it is only asked of one."""
        if runtime.get("type") != "flowpy" or "network:data" not in (
            runtime.get("capabilities") or []
        ):
            return
        try:
            client.request("network", "edges", {"graph": graph, "edges": []}, expect=("edges",))
        except RequestError as exc:  # not worth failing the link for
            log.info("%s: network:edges refused: %s", self.name, exc)

    # -- the flowpy:hello exchange ---------------------------------------------------------
    def _hello(self, conn: LinkConnection, graph: str) -> bool:
        """flowpy:hello; True once welcomed, False to fall back to plain runtime:packet.

        The welcome is applied by the reader thread the moment it arrives (``hello_reply``),
        before any replayed ``flowpy:packet`` that follows it is read, so the window and the
        inbound numbering are right for every packet of the session.
        """
        conn.hello_id = f"{conn.tag}hello"
        conn.client.send(
            "flowpy",
            "hello",
            {
                "version": 1,
                "session": self.session,
                "graph": graph,
                "window": self.config.window,
                "batch": True,
            },
            request_id=conn.hello_id,
        )
        welcomed = conn.hello_done.wait(self.config.hello_timeout)
        with conn.lock:
            if not welcomed:
                conn.hello_error = f"no answer to flowpy:hello in {self.config.hello_timeout}s"
                # a runtime that ignores unknown messages: do not wait again at every reconnect
                self._silent_remote = self.remote.get("id") or None
            conn.hello_id = None  # a late answer is ignored
        if conn.lost.is_set():
            raise ConnectionClosed(f"{self.config.url}: {conn.client.close_reason or 'closed'}")
        if conn.mode == EXTENSION:
            return True
        self._report(
            {"type": "mode", "mode": PLAIN, "message": f"no link extension: {conn.hello_error}"}
        )
        return False

    def hello_reply(
        self, conn: LinkConnection, command: str | None, payload: dict[str, Any]
    ) -> None:
        """The answer to flowpy:hello (reader thread)."""
        with conn.lock:
            if conn.hello_id is None or conn.hello_done.is_set():
                return
            if command == "welcome":
                conn.welcome = payload
                conn.new_instance = self._instance not in (None, payload.get("instance"))
                conn.restarted = self._welcomed(payload)
                conn.mode = EXTENSION
                conn.batch = payload.get("batch") is True
            else:
                conn.hello_error = str(payload.get("message", command))
            conn.hello_done.set()

    def _welcomed(self, welcome: dict[str, Any]) -> str | None:
        """Apply a welcome (through ``on_welcome``); a restart reason or None."""
        instance = welcome.get("instance")
        resumed = bool(welcome.get("resumed"))
        received = welcome.get("received")
        acked = welcome.get("acked")
        restarted = None
        if self._instance is not None and (instance != self._instance or not resumed):
            restarted = (
                "the remote runtime restarted (new instance)"
                if instance != self._instance
                else "the remote lost this link's session"
            )
        self._instance = instance
        self._on_welcome(
            resumed,
            received if isinstance(received, int) else 0,
            acked if isinstance(acked, int) else 0,
        )
        return restarted
