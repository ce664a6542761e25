"""The ``flowpy`` sub-protocol: the link extension of docs/bridge-protocol.md (version 1).

Only clients that ask for it (a Bridge) ever send these commands, and every ``flowpy:*``
message the runtime sends goes to the sender or to the connection of a session, so standard
clients never see one. Permissions are those of ``runtime:packet`` (``protocol:runtime``,
checked by the dispatcher); which ports a session may use is decided by the grant of the
secret that opened it (see :mod:`flowpy.runtime.link_session` for the session itself).

A connection holds at most one session per graph: ``flowpy:packet`` names only its graph, so
the graph selects the connection's session. While it holds one, that connection receives
the graph's outport traffic through the session only (``flowpy:packet`` with a ``seq``),
never also as ``runtime:packet``, so a Bridge does not see each packet twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowpy.errors import missing_name
from flowpy.runtime.clients import Request
from flowpy.runtime.link_session import (
    DEFAULT_WINDOW,
    MAX_BATCH,
    MAX_WINDOW,
    VERSION,
    CheckedPacket,
    LinkSession,
    SessionError,
)
from flowpy.wire import PACKET_EVENTS

from .fields import ProtocolError, boolean, graph_id, hosted_graph, integer, string

if TYPE_CHECKING:
    from .host import Handler, Host

MAX_SESSION_ID = 256
MAX_SEQ = 2**53  # what a JavaScript client can count to exactly


def hello(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """Open or resume a session: ``welcome``, then the replay of the outbox after ``acked``."""
    version = integer(payload, "version", minimum=0, maximum=MAX_SEQ)
    if version is not None and version != VERSION:
        raise ProtocolError(
            f"unsupported flowpy link version {version} (this runtime speaks {VERSION})"
        )
    session_id = string(payload, "session")
    assert session_id is not None
    if len(session_id) > MAX_SESSION_ID:
        raise ProtocolError(f"'session' is longer than {MAX_SESSION_ID} characters")
    hosted = hosted_graph(rt, payload)
    window = integer(payload, "window", minimum=1, maximum=MAX_WINDOW) or DEFAULT_WINDOW
    batch = boolean(payload, "batch")
    try:
        session, resumed = rt.sessions.open(req.client, hosted.id, session_id, req.grant, window)
    except SessionError as exc:
        raise ProtocolError(str(exc)) from None

    def welcome(counters: dict[str, Any]) -> None:
        rt.reply(
            req,
            "welcome",
            {
                "version": VERSION,
                "session": session_id,
                "graph": hosted.id,
                "instance": rt.sessions.instance,
                "resumed": resumed,
                "batch": True,
                **counters,
            },
        )

    session.attach(req.client, window, welcome, batch)


def packet(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """An inbound packet with its ``seq``: delivered once, acknowledged cumulatively."""
    session = _connection_session(req, graph_id(payload), payload)
    _take(rt, session, payload)


def packets(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """Several inbound packets in ``seq`` order, exactly as that many ``packet`` messages:
    the first one that cannot be taken ends the message (the ones before it stay taken)."""
    session = _connection_session(req, graph_id(payload), payload)
    entries = payload.get("packets")
    if not isinstance(entries, list):
        raise ProtocolError("'packets' must be a list of packets")
    if len(entries) > MAX_BATCH:
        raise ProtocolError(f"'packets' holds {len(entries)} packets; at most {MAX_BATCH}")
    taken: list[tuple[int, CheckedPacket | str]] = []
    ports: dict[str, str | None] = {}  # the port checks, made once per port of the batch
    refusal: ProtocolError | None = None
    for position, entry in enumerate(entries):
        try:
            if not isinstance(entry, dict):
                raise ProtocolError(f"packets[{position}] must be an object")
            taken.append((_seq(entry), _check_packet(rt, session, entry, ports)))
        except ProtocolError as exc:
            refusal = exc  # the ones before it are taken first
            break
    _take_many(session, taken)
    if refusal is not None:
        raise refusal


def _take(rt: Host, session: LinkSession, payload: dict[str, Any]) -> None:
    _take_many(session, [(_seq(payload), _check_packet(rt, session, payload))])


def _take_many(session: LinkSession, packets: list[tuple[int, CheckedPacket | str]]) -> None:
    try:
        verdicts = session.offer_many(packets)
    except SessionError as exc:
        raise ProtocolError(str(exc)) from None
    for (seq, _), (verdict, counter) in zip(packets, verdicts, strict=False):
        if verdict == "duplicate":
            if seq <= counter:
                session.repeat_ack()  # already accepted: the client may have missed the ack
        elif verdict == "gap":
            raise ProtocolError(
                f"packet {seq} is out of order: the next packet of session {session.id!r} "
                f"is {counter + 1}"
            )
        elif verdict == "full":
            raise ProtocolError(
                f"packet {seq} refused: too many packets of session {session.id!r} are waiting "
                "for the network; send it again after the next flowpy:ack"
            )


def ack(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """The client has every outbound packet up to ``seq``: the outbox drops them."""
    graph = graph_id(payload)
    session = _named_session(rt, req, graph, payload)
    if session is None:
        raise ProtocolError(f"no session {payload.get('session')!r} of graph {graph!r}")
    try:
        session.client_ack(_seq(payload, minimum=0))
    except SessionError as exc:
        raise ProtocolError(str(exc)) from None


def bye(rt: Host, req: Request, payload: dict[str, Any]) -> None:
    """End a session for good; answered with ``bye`` even if it was already gone."""
    graph = graph_id(payload)
    session_id = string(payload, "session")
    session = _named_session(rt, req, graph, payload)
    if session is not None:
        rt.sessions.discard(session)
    rt.reply(req, "bye", {"graph": graph, "session": session_id})


# -- helpers -----------------------------------------------------------------------------------


def _seq(payload: dict[str, Any], minimum: int = 1) -> int:
    seq = integer(payload, "seq", minimum=minimum, maximum=MAX_SEQ)
    if seq is None:
        raise ProtocolError("'seq' is required")
    return seq


def _connection_session(req: Request, graph: str, payload: dict[str, Any]) -> LinkSession:
    session = req.client.sessions.get(graph)
    if session is None:
        raise ProtocolError(
            f"no session of graph {graph!r} on this connection: send flowpy:hello first"
        )
    named = string(payload, "session", required=False)
    if named is not None and named != session.id:
        raise ProtocolError(
            f"this connection holds session {session.id!r} of graph {graph!r}, not {named!r}"
        )
    return session


def _named_session(
    rt: Host, req: Request, graph: str, payload: dict[str, Any]
) -> LinkSession | None:
    """The session named in the payload (default: this connection's), if the sender's grant
    is the one that opened it."""
    named = string(payload, "session", required=False)
    if named is None:
        return req.client.sessions.get(graph)
    session = rt.sessions.get(graph, named)
    if session is not None and session.grant != req.grant:
        raise ProtocolError(f"session {named!r} of graph {graph!r} was opened with another secret")
    return session


def _check_packet(
    rt: Host,
    session: LinkSession,
    payload: dict[str, Any],
    ports: dict[str, str | None] | None = None,
) -> CheckedPacket | str:
    """The packet ready for the network, or why it cannot be delivered (its seq then counts
    as received and is answered with ``flowpy:error {message, seq}``). ``ports``: what was
    found about each port already, in this batch."""
    try:
        port = string(payload, "port")
        event = string(payload, "event")
    except ProtocolError as exc:
        return exc.message
    assert port is not None and event is not None
    if event not in PACKET_EVENTS:
        return f"'event' must be one of {', '.join(PACKET_EVENTS)}, got {event[:64]!r}"
    if ports is None or port not in ports:
        problem = _port_problem(rt, session, port)
        if ports is not None:
            ports[port] = problem
    else:
        problem = ports[port]
    if problem is not None:
        return problem
    value: Any = payload.get("payload")
    return CheckedPacket(port, event, value)


def _port_problem(rt: Host, session: LinkSession, port: str) -> str | None:
    """Why the session's graph cannot take packets on ``port``, or None."""
    graph = session.graph
    if not session.grant.may_send_to(graph, port):
        return f"flowpy:packet to port {port!r} of graph {graph!r} is not permitted"
    hosted = rt.get_graph(graph)
    if hosted is None:
        return f"graph {graph!r} not found"
    exported = list(hosted.graph.inports)
    if port not in exported and port.lower() not in {p.lower() for p in exported}:
        return f"graph {graph!r} has no exported inport {missing_name(port, exported)}"
    return None


COMMANDS: dict[str, Handler] = {
    "hello": hello,
    "packet": packet,
    "packets": packets,
    "ack": ack,
    "bye": bye,
}
