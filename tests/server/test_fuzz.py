"""Protocol fuzzing: the runtime as a hostile and careless client would use it.

The real runtime is served in this process (:class:`flowpy.server.Service`), so its threads
are ours to count. A graph ``fuzz`` (Repeat -> Repeat, a Drop with an IIP, exported ``in``
and ``out``, a group) runs its network, a graph ``scratch`` and a compiled component
``fuzz/FuzzComp`` exist, so every command has something real to act on.

Inputs, each sent on a fuzz connection and followed by a *fence* (``runtime:getruntime``
with its own requestId; everything up to the fence's reply belongs to the input):

* every field of every command (nested ones too: ``src.node``, ``tgt.index``,
  ``metadata.x``, ``edges[0].src.port``, ...) and the payload itself replaced by each value
  of :data:`fuzz_support.HOSTILE`: wrong types, a lone surrogate (sent as the ``\\ud800``
  escape, so it arrives as a lone surrogate), ``NaN``/``Infinity``/``-Infinity``/``1e400``,
  a 2 MB string, 10,000 and 100 levels of nesting, the empty string;
* a lone surrogate as an object *key* in every object of every payload;
* envelope fields (``protocol``, ``command``, ``requestId``, ``secret``, ``payload.secret``,
  an unknown top-level field, a surrogate top-level key) for a few representative commands;
* frames: binary, text with invalid UTF-8 (raw frames), invalid JSON, non-objects.

The rules (what :func:`evaluate` checks), for every input:

* **Exactly one reply.** A reply is a message whose ``responseTo`` is the input's
  requestId. When the requestId is unusable (not a string, a surrogate, non-finite ...) or
  the frame cannot be decoded at all, the reply is exactly one ``<protocol>:error`` without
  ``responseTo``. ``network:edges`` answers without ``responseTo`` (its schema forbids it).
  A reply is either one ``error``, or the command's own reply (``graph:addnode`` ->
  ``graph:addnode``, ``network:debug`` -> ``network:status``, ...) once, plus the further
  replies that command makes (``component:component`` before ``componentsready``,
  ``runtime:ports`` after ``runtime:runtime``, the cascade of ``graph:remove*`` acks before
  ``removenode``, ``network:stopped`` before ``started`` on a restart, ...).
* **Broadcasts** without ``responseTo`` are allowed only of the kinds in
  :data:`UNSOLICITED` (graph acks, ``runtime:ports``, ``runtime:packet``,
  ``component:component``, network lifecycle and debug data, trace acks). An ``error``
  without ``responseTo`` when the input had a usable requestId is a failure.
* **What must be refused**: a lone surrogate anywhere (value, key, name, requestId, command,
  protocol) -> ``<protocol>:error`` whose message names the field (``payload.src.node``;
  for a key, the path of the object holding it); a non-finite number -> an error mentioning
  it (``finite``/``NaN``/``Infinity``); a value nested 10,000 deep -> an error (responseTo
  optional: the frame cannot be decoded); 100 deep -> an error that answers the request;
  a 2 MB string -> an error about the size, or a close with code 1009.
  When the protocol of the message is unusable the error comes on ``runtime``; otherwise on
  the message's protocol. A wrong type may be accepted or refused (the runtime is lenient
  by design), but gets exactly one reply; except where the envelope says otherwise: a
  ``payload`` that is not an object (nor null) is refused naming ``payload``; a ``secret``
  that is not a string is refused naming it (an unknown secret is the anonymous grant,
  which may do everything here); a ``requestId`` that is not a string is refused without
  ``responseTo``, but a number may instead be answered with its string form (the runtime's
  documented leniency), and ``null`` means no requestId.
* **Oversized frames**, which the suite documents: a frame over the runtime's message limit
  (1 MiB) but under the transport's (``max_message_size``, 64 MiB by default) is answered
  with ``runtime:error`` "message is too large" and the connection stays open; a frame over
  the transport's limit is closed with 1009, and the connection's threads must end
  (:func:`test_oversized_frame_is_closed_with_1009_and_leaves_no_thread`, with its own
  service and a 2 MiB transport limit, to stay fast).
* **Nothing changes** when the answer is an error: graphs, main graph, network states,
  debug and trace flags, components and their sources are compared before and after.
* **The connection stays usable** after every reply: the fence is answered. Invalid UTF-8
  in a text frame is the exception: the server closes with 1007 and sends nothing else.
* **Every message** any client receives is valid against the fbp-protocol schemas
  (``tests/protocol_schemas.py``), and is valid JSON.
* **No server thread dies** (``threading.excepthook``), the server logs no exception, and the
  census of live threads (by name, connection numbers ignored) is the same after each test
  as before it.
* **A second client** (the watchdog) keeps a ``getruntime`` round trip going all along and
  must always be answered within :data:`fuzz_support.TIMEOUT` seconds.

After an input changed the runtime (accepted, or half-done by a bug) its state is restored
before the next one: over the protocol on a control connection, or, when a case left names
behind that kill every connection they are sent to, by dropping the graphs in-process and
building the fixture again.

A failure names the command, the field, the value and what was received instead. No wait
is longer than 5 s, and a wait on a connection whose server-side writer thread died ends at
once. ``FLOWPY_FUZZ_REPORT=<file>`` appends every failing case to that file as JSON lines.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fuzz_support as fz
import pytest
import websocket
from fuzz_support import HOSTILE, TIMEOUT, Event, Hostile, WsClient, dumps

from flowpy.graphs import json_format as graph_json
from flowpy.runtime.permissions import ALL_CAPABILITIES
from flowpy.runtime.runtime import Runtime
from flowpy.server import Service

pytestmark = [
    pytest.mark.integration,
    # Threads that die are recorded by this module's own excepthook and reported per case.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]

FIXTURE = "fuzz"
SCRATCH = "scratch"
COMPONENT_CODE = '''"""A component compiled over the protocol by the fuzz suite."""

from flowpy import Component, InPort, InPorts, OutPort, OutPorts


class FuzzComp(Component):
    inports = InPorts(InPort("in"))
    outports = OutPorts(OutPort("out"))

    def run(self):
        for ip in self.inports["in"]:
            self.outports["out"].send(ip)
'''
#: Everyone may do everything, compiling components included (so component:source is
#: fuzzed past its permission check).
PERMISSIONS = {"anonymous": {"capabilities": list(ALL_CAPABILITIES)}}

NONFINITE = re.compile(r"(?i)finite|nan|infinit")
TOO_LARGE = re.compile(r"(?i)too (large|big)|limit|size")
TOO_DEEP = re.compile(r"(?i)deep|depth|nest")

#: Broadcasts a client may receive without having asked (no responseTo).
UNSOLICITED = {
    *(
        f"graph:{c}"
        for c in (
            "clear",
            "addnode",
            "removenode",
            "renamenode",
            "changenode",
            "addedge",
            "removeedge",
            "changeedge",
            "addinitial",
            "removeinitial",
            "addinport",
            "removeinport",
            "renameinport",
            "addoutport",
            "removeoutport",
            "renameoutport",
            "addgroup",
            "removegroup",
            "renamegroup",
            "changegroup",
        )
    ),
    "runtime:ports",
    "runtime:packet",
    "component:component",
    "network:started",
    "network:stopped",
    "network:connect",
    "network:begingroup",
    "network:data",
    "network:endgroup",
    "network:disconnect",
    "trace:start",
    "trace:stop",
    "trace:clear",
}


# ---------------------------------------------------------------------------------------------
# What the commands are and how they answer
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """A command with a valid payload, its reply, and the other replies it may make."""

    protocol: str
    command: str
    payload: dict
    reply: str
    extras: frozenset[str] = frozenset()
    no_response_to: bool = False  # network:edges: the reply has no responseTo
    asynchronous: bool = False  # the reply may come after the fence (runtime:packet)

    @property
    def id(self) -> str:
        return f"{self.protocol}:{self.command}"

    def is_reply(self, kind: str) -> bool:
        return kind == f"{self.protocol}:{self.reply}"

    def is_extra(self, kind: str) -> bool:
        return kind in self.extras or (
            "graph:*" in self.extras and kind.startswith("graph:") and kind != "graph:error"
        )


def _graph(command: str, payload: dict) -> Spec:
    return Spec(
        "graph",
        command,
        {"graph": FIXTURE, **payload},
        command,
        frozenset({"graph:*", "runtime:ports"}),
    )


SRC = {"node": "rep", "port": "out"}
TGT = {"node": "rep2", "port": "in"}
SCHEMA_URL = "https://example.net/schema.json"
CLEAR_SCRATCH = {
    "id": SCRATCH,
    "name": "Scratch",
    "library": "fuzzlib",
    "main": False,
    "icon": "cog",
    "description": "the scratch graph",
}
SOURCE = {
    "name": "FuzzComp",
    "language": "python",
    "library": "fuzz",
    "code": COMPONENT_CODE,
    "tests": "",
}
DEBUG_DATA = frozenset(
    {
        "network:connect",
        "network:begingroup",
        "network:data",
        "network:endgroup",
        "network:disconnect",
    }
)

SPECS: tuple[Spec, ...] = (
    Spec("runtime", "getruntime", {}, "runtime", frozenset({"runtime:ports"})),
    Spec(
        "runtime",
        "packet",
        {
            "graph": FIXTURE,
            "port": "in",
            "event": "data",
            "payload": {"n": 1, "s": "text"},
            "type": "object",
            "schema": SCHEMA_URL,
        },
        "packetsent",
        asynchronous=True,
    ),
    Spec("graph", "clear", CLEAR_SCRATCH, "clear", frozenset({"runtime:ports"})),
    _graph(
        "addnode",
        {"id": "extra", "component": "core/Repeat", "metadata": {"x": 10, "y": 20, "label": "new"}},
    ),
    _graph("removenode", {"id": "drop"}),
    _graph("renamenode", {"from": "drop", "to": "dropped"}),
    _graph("changenode", {"id": "rep", "metadata": {"x": 1, "y": 2, "label": "changed"}}),
    # No index: a running network refuses one on a port that is not addressable (as a start
    # would); index fields are fuzzed where commands take them without a network (edges).
    _graph(
        "addedge",
        {
            "src": {"node": "rep2", "port": "out"},
            "tgt": {"node": "drop", "port": "in"},
            "metadata": {"route": 1, "secure": False, "schema": SCHEMA_URL, "label": "e"},
        },
    ),
    _graph("removeedge", {"src": dict(SRC), "tgt": dict(TGT)}),
    _graph(
        "changeedge",
        {
            "src": dict(SRC),
            "tgt": dict(TGT),
            "metadata": {"route": 2, "secure": True, "label": "c"},
        },
    ),
    _graph(
        "addinitial",
        {
            "src": {"data": {"v": 1}},
            "tgt": {"node": "rep2", "port": "in"},
            "metadata": {"route": 3, "label": "i"},
        },
    ),
    _graph("removeinitial", {"src": {"data": "hello"}, "tgt": {"node": "drop", "port": "in"}}),
    _graph(
        "addinport",
        {
            "public": "in2",
            "node": "rep2",
            "port": "in",
            "metadata": {"x": 1, "y": 2, "description": "d"},
        },
    ),
    _graph("removeinport", {"public": "in"}),
    _graph("renameinport", {"from": "in", "to": "input"}),
    _graph(
        "addoutport",
        {
            "public": "out2",
            "node": "rep",
            "port": "out",
            "metadata": {"x": 1, "y": 2, "description": "d"},
        },
    ),
    _graph("removeoutport", {"public": "out"}),
    _graph("renameoutport", {"from": "out", "to": "output"}),
    _graph(
        "addgroup", {"name": "grp2", "nodes": ["rep", "drop"], "metadata": {"description": "g"}}
    ),
    _graph("removegroup", {"name": "grp"}),
    _graph("renamegroup", {"from": "grp", "to": "group"}),
    _graph("changegroup", {"name": "grp", "metadata": {"description": "changed"}}),
    Spec("component", "list", {}, "componentsready", frozenset({"component:component"})),
    Spec("component", "getsource", {"name": "core/Repeat"}, "source"),
    Spec("component", "source", SOURCE, "component"),
    Spec(
        "network",
        "start",
        {"graph": FIXTURE},
        "started",
        frozenset({"network:stopped", "runtime:packet"}) | DEBUG_DATA,
    ),
    Spec("network", "stop", {"graph": FIXTURE}, "stopped", frozenset({"runtime:packet"})),
    Spec("network", "getstatus", {"graph": FIXTURE}, "status"),
    Spec("network", "debug", {"graph": FIXTURE, "enable": True}, "status"),
    Spec(
        "network",
        "edges",
        {"graph": FIXTURE, "edges": [{"src": dict(SRC), "tgt": dict(TGT)}]},
        "edges",
        no_response_to=True,
    ),
    Spec("network", "persist", {}, "output"),
    Spec("trace", "start", {"graph": FIXTURE, "buffersize": 10}, "start"),
    Spec("trace", "stop", {"graph": FIXTURE}, "stop"),
    Spec("trace", "clear", {"graph": FIXTURE}, "clear"),
    Spec("trace", "dump", {"graph": FIXTURE, "type": "flowtrace.json"}, "dump"),
)
SPEC_BY_ID = {spec.id: spec for spec in SPECS}

#: The fixture graph, as the protocol builds it (also how it is restored).
BUILD: tuple[tuple[str, str, dict, str], ...] = (
    ("graph", "clear", {"id": FIXTURE, "main": True}, "clear"),
    (
        "graph",
        "addnode",
        {"graph": FIXTURE, "id": "rep", "component": "core/Repeat", "metadata": {"x": 0, "y": 0}},
        "addnode",
    ),
    (
        "graph",
        "addnode",
        {
            "graph": FIXTURE,
            "id": "rep2",
            "component": "core/Repeat",
            "metadata": {"x": 100, "y": 0},
        },
        "addnode",
    ),
    (
        "graph",
        "addnode",
        {"graph": FIXTURE, "id": "drop", "component": "core/Drop", "metadata": {"x": 200, "y": 0}},
        "addnode",
    ),
    ("graph", "addedge", {"graph": FIXTURE, "src": dict(SRC), "tgt": dict(TGT)}, "addedge"),
    # drop is also fed by rep, so it runs as long as the network does (a running network
    # refuses an edge into a process that has ended).
    (
        "graph",
        "addedge",
        {
            "graph": FIXTURE,
            "src": {"node": "rep", "port": "out"},
            "tgt": {"node": "drop", "port": "in"},
        },
        "addedge",
    ),
    (
        "graph",
        "addinitial",
        {"graph": FIXTURE, "src": {"data": "hello"}, "tgt": {"node": "drop", "port": "in"}},
        "addinitial",
    ),
    (
        "graph",
        "addinport",
        {"graph": FIXTURE, "public": "in", "node": "rep", "port": "in"},
        "addinport",
    ),
    (
        "graph",
        "addoutport",
        {"graph": FIXTURE, "public": "out", "node": "rep2", "port": "out"},
        "addoutport",
    ),
    (
        "graph",
        "addgroup",
        {
            "graph": FIXTURE,
            "name": "grp",
            "nodes": ["rep", "rep2"],
            "metadata": {"description": "a group"},
        },
        "addgroup",
    ),
    ("network", "debug", {"graph": FIXTURE, "enable": True}, "status"),
    ("trace", "stop", {"graph": FIXTURE}, "stop"),
    ("network", "start", {"graph": FIXTURE}, "started"),
)


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------


@dataclass
class Case:
    """One input and what must come of it.

    ``expect``: ``one-reply`` (success or error), ``error``, ``error-or-1009``, ``close-1007``.
    ``rids``: the acceptable ``responseTo`` of the reply (``None``: without one).
    """

    label: str
    frames: list[tuple[int, bytes, bool]] | str
    spec: Spec | None
    expect: str
    rids: frozenset[str | None]
    error_protocols: frozenset[str]
    mention: re.Pattern[str] | None = None
    mention_what: str = ""


_case_numbers = iter(range(1, 10**9))


def _rid() -> str:
    return f"fz-{next(_case_numbers)}"


def _message(spec: Spec, rid: str) -> dict:
    return {
        "protocol": spec.protocol,
        "command": spec.command,
        "payload": json.loads(json.dumps(spec.payload)),
        "requestId": rid,
    }


def _hostile_case(
    spec: Spec,
    label: str,
    message: dict,
    rid: str,
    hostile: Hostile,
    path: fz.Path,
    *,
    type_expect: str = "one-reply",
    type_mention: re.Pattern[str] | None = None,
) -> Case:
    """The case for ``hostile`` put at ``path`` of a message whose requestId is ``rid``."""
    protocols = frozenset({spec.protocol})
    rids: frozenset[str | None] = frozenset({rid})
    if hostile.kind == "type":
        return Case(
            label,
            dumps(message),
            spec,
            type_expect,
            rids,
            protocols,
            type_mention,
            "the field" if type_mention else "",
        )
    if hostile.kind == "surrogate":
        return Case(
            label,
            dumps(message),
            spec,
            "error",
            rids,
            protocols,
            fz.path_pattern(path),
            f"the field {fz.path_text(path)!r}",
        )
    if hostile.kind == "nonfinite":
        return Case(
            label,
            dumps(message),
            spec,
            "error",
            rids,
            protocols,
            NONFINITE,
            "that a number is not finite",
        )
    if hostile.kind == "huge":
        return Case(
            label,
            dumps(message),
            spec,
            "error-or-1009",
            rids | {None},
            protocols | {"runtime"},
            TOO_LARGE,
            "the size",
        )
    if hostile.kind == "deep":
        return Case(
            label,
            dumps(message),
            spec,
            "error",
            rids | {None},
            protocols | {"runtime"},
            TOO_DEEP,
            "the nesting",
        )
    assert hostile.kind == "deepish"
    return Case(label, dumps(message), spec, "error", rids, protocols, TOO_DEEP, "the nesting")


def field_cases(spec: Spec) -> list[Case]:
    """Every field of the payload (and the payload itself) x every hostile value, and a
    surrogate key in every object of the payload."""
    cases = []
    base = _message(spec, "")
    for path in [("payload",), *fz.fields(base["payload"], ("payload",))]:
        for hostile in HOSTILE:
            rid = _rid()
            message = fz.mutated(_message(spec, rid), path, hostile.value)
            label = f"{fz.path_text(path)} = {hostile.name}"
            if path == ("payload",) and hostile.kind == "type":
                # Not an object: refused, naming the payload. null is "no payload", an
                # object is a payload: either may succeed.
                if hostile.value is None or isinstance(hostile.value, dict):
                    cases.append(_hostile_case(spec, label, message, rid, hostile, path))
                else:
                    cases.append(
                        _hostile_case(
                            spec,
                            label,
                            message,
                            rid,
                            hostile,
                            path,
                            type_expect="error",
                            type_mention=re.compile("payload"),
                        )
                    )
                continue
            cases.append(_hostile_case(spec, label, message, rid, hostile, path))
    for path in fz.objects(base["payload"], ("payload",)):
        rid = _rid()
        message = fz.with_key(_message(spec, rid), path, fz.SURROGATE_KEY, 1)
        cases.append(
            Case(
                f"{fz.path_text(path)} gets the key '\\ud800'",
                dumps(message),
                spec,
                "error",
                frozenset({rid}),
                frozenset({spec.protocol}),
                fz.path_pattern(path),
                f"the object {fz.path_text(path)!r}",
            )
        )
    return cases


ENVELOPE_BASES = (
    "runtime:getruntime",
    "network:getstatus",
    "graph:changenode",
    "runtime:packet",
    "network:edges",
)


def envelope_cases(spec: Spec) -> list[Case]:
    """protocol, command, requestId, secret, payload.secret and an unknown top-level field
    x every hostile value; a surrogate as a top-level key."""
    cases = []

    def base(rid: str) -> dict:
        message = _message(spec, rid)
        message["secret"] = "fuzz-secret"
        message["payload"]["secret"] = "fuzz-secret"
        return message

    runtime_only = frozenset({"runtime"})
    for hostile in HOSTILE:
        label = f"protocol = {hostile.name}"
        rid = _rid()
        message = fz.mutated(base(rid), ("protocol",), hostile.value)
        case = _hostile_case(
            spec,
            label,
            message,
            rid,
            hostile,
            ("protocol",),
            type_expect="error",
            type_mention=re.compile("protocol"),
        )
        if hostile.kind in ("type", "surrogate", "nonfinite", "deepish"):
            case.error_protocols = runtime_only  # the protocol itself is unusable
        cases.append(case)

        rid = _rid()
        message = fz.mutated(base(rid), ("command",), hostile.value)
        cases.append(
            _hostile_case(
                spec,
                f"command = {hostile.name}",
                message,
                rid,
                hostile,
                ("command",),
                type_expect="error",
                type_mention=re.compile("command"),
            )
        )

        cases.append(_request_id_case(spec, base, hostile))

        for path in (("secret",), ("payload", "secret")):
            rid = _rid()
            message = fz.mutated(base(rid), path, hostile.value)
            label = f"{fz.path_text(path)} = {hostile.name}"
            if hostile.kind == "type" and not (
                hostile.value is None or isinstance(hostile.value, str)
            ):
                cases.append(
                    _hostile_case(
                        spec,
                        label,
                        message,
                        rid,
                        hostile,
                        path,
                        type_expect="error",
                        type_mention=fz.path_pattern(path),
                    )
                )
            else:  # null, "", an unknown secret: the open grant, the command runs
                cases.append(_hostile_case(spec, label, message, rid, hostile, path))

        rid = _rid()
        message = fz.mutated(base(rid), ("extra",), hostile.value)
        cases.append(
            _hostile_case(spec, f"extra = {hostile.name}", message, rid, hostile, ("extra",))
        )
    rid = _rid()
    message = fz.with_key(base(rid), (), fz.SURROGATE_KEY, 1)
    cases.append(
        Case(
            "top-level key '\\ud800'",
            dumps(message),
            spec,
            "error",
            frozenset({rid}),
            frozenset({spec.protocol}),
        )
    )
    return cases


def _request_id_case(spec: Spec, base: Any, hostile: Hostile) -> Case:
    label = f"requestId = {hostile.name}"
    message = fz.mutated(base("unused"), ("requestId",), hostile.value)
    protocols = frozenset({spec.protocol})
    bare: frozenset[str | None] = frozenset({None})
    if hostile.kind == "type":
        value = hostile.value
        if value is None:  # no requestId: answered without responseTo
            return Case(label, dumps(message), spec, "one-reply", bare, protocols)
        if isinstance(value, str):  # a usable id ("" included): answered with it, or refused
            if value == "hostile":
                value = _rid()
                message["requestId"] = value
            return Case(
                label, dumps(message), spec, "one-reply", frozenset({value, None}), protocols
            )
        if isinstance(value, int) and not isinstance(value, bool):
            # Lenient (its string form) or refused without responseTo.
            return Case(
                label, dumps(message), spec, "one-reply", frozenset({str(value), None}), protocols
            )
        return Case(
            label,
            dumps(message),
            spec,
            "error",
            bare,
            protocols,
            re.compile("requestId"),
            "requestId",
        )
    if hostile.kind == "surrogate":
        return Case(
            label,
            dumps(message),
            spec,
            "error",
            bare,
            protocols,
            re.compile("requestId"),
            "requestId",
        )
    if hostile.kind == "nonfinite":
        return Case(
            label,
            dumps(message),
            spec,
            "error",
            bare,
            protocols,
            NONFINITE,
            "that a number is not finite",
        )
    if hostile.kind == "huge":
        return Case(
            label,
            dumps(message),
            spec,
            "error-or-1009",
            bare,
            protocols | {"runtime"},
            TOO_LARGE,
            "the size",
        )
    if hostile.kind == "deep":
        return Case(
            label,
            dumps(message),
            spec,
            "error",
            bare,
            protocols | {"runtime"},
            TOO_DEEP,
            "the nesting",
        )
    return Case(label, dumps(message), spec, "error", bare, protocols, TOO_DEEP, "the nesting")


TEXT, BINARY, CONT = (
    websocket.ABNF.OPCODE_TEXT,
    websocket.ABNF.OPCODE_BINARY,
    websocket.ABNF.OPCODE_CONT,
)
GETRUNTIME = b'{"protocol":"runtime","command":"getruntime","payload":{}}'


def frame_cases() -> list[Case]:
    """Frames that are not a protocol message at all."""
    bare: frozenset[str | None] = frozenset({None})
    runtime_only = frozenset({"runtime"})
    binary = re.compile(r"(?i)binary")
    not_json = re.compile(r"(?i)json")
    not_object = re.compile(r"(?i)object")
    cases = [
        Case(
            "binary frame",
            [(BINARY, b"\x00\xff", True)],
            None,
            "error",
            bare,
            runtime_only,
            binary,
            "binary",
        ),
        Case(
            "binary frame holding a valid message",
            [(BINARY, GETRUNTIME, True)],
            None,
            "error",
            bare,
            runtime_only,
            binary,
            "binary",
        ),
        Case(
            "empty binary frame",
            [(BINARY, b"", True)],
            None,
            "error",
            bare,
            runtime_only,
            binary,
            "binary",
        ),
    ]
    for name, data in [
        ("bytes ff fe", b"\xff\xfe"),
        ("UTF-8-encoded surrogate (CESU) inside a message",
         b'{"protocol":"runtime","command":"getruntime","payload":{"x":"\xed\xa0\x80"}}'),
        ("overlong encoding", GETRUNTIME + b"\xc0\xaf"),
        ("truncated sequence", b'{"protocol":"runtime","payload":{"a":"\xe2\x82'),
        ("code point above U+10FFFF", b'"\xf4\x90\x80\x80"'),
    ]:  # fmt: skip
        cases.append(
            Case(
                f"invalid UTF-8 text frame: {name}",
                [(TEXT, data, True)],
                None,
                "close-1007",
                bare,
                runtime_only,
            )
        )
    cases.append(
        Case(
            "invalid UTF-8 in the continuation of a fragmented text message",
            [(TEXT, b'{"protocol":"runtime",', False), (CONT, b'"command":"\xff"}', True)],
            None,
            "close-1007",
            bare,
            runtime_only,
        )
    )
    for name, text in [
        ("empty text frame", ""),
        ("not JSON", "not json at all"),
        ("unterminated object", '{"protocol": "runtime"'),
        ("single quotes", "{'protocol': 'runtime'}"),
        ("trailing garbage", GETRUNTIME.decode() + " trailing"),
        ("byte order mark", "\ufeff" + GETRUNTIME.decode()),
        ("raw control character in a string", '{"protocol":"runtime","command":"getruntime",'
                                              '"payload":{"x":"a\x01b"}}'),
        ("two messages in one frame", GETRUNTIME.decode() * 2),
    ]:  # fmt: skip
        cases.append(
            Case(f"invalid JSON: {name}", text, None, "error", bare, runtime_only, not_json, "JSON")
        )
    for name, text in [
        ("array", "[1, 2]"),
        ("string", '"getruntime"'),
        ("number", "42"),
        ("null", "null"),
        ("true", "true"),
    ]:
        cases.append(
            Case(
                f"non-object message: {name}",
                text,
                None,
                "error",
                bare,
                runtime_only,
                not_object,
                "object",
            )
        )
    for name, text in [("NaN", "NaN"), ("Infinity", "Infinity"), ("1e400", "1e400")]:
        cases.append(Case(f"non-object message: {name}", text, None, "error", bare, runtime_only))
    cases.append(
        Case(
            "a message nested 10,000 deep",
            '{"a":' * 10_000 + "1" + "}" * 10_000,
            None,
            "error",
            bare,
            runtime_only,
            TOO_DEEP,
            "the nesting",
        )
    )
    cases.append(
        Case(
            "an array nested 100,000 deep",
            "[" * 100_000 + "]" * 100_000,
            None,
            "error",
            bare,
            runtime_only,
            TOO_DEEP,
            "the nesting",
        )
    )
    cases.append(
        Case(
            "a 2 MB frame of spaces around a valid message",
            " " * fz.HUGE_SIZE + GETRUNTIME.decode(),
            None,
            "error-or-1009",
            bare,
            runtime_only,
            TOO_LARGE,
            "the size",
        )
    )
    return cases


# ---------------------------------------------------------------------------------------------
# The served runtime, its state, and the watchdog client
# ---------------------------------------------------------------------------------------------


class _LogRecorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = f"[{record.threadName}] {record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f" -- {type(exc).__name__}: {str(exc)[:300]}"
        self.records.append(text)


class Served:
    """The in-process service, the fixture graph, and the clients that are not fuzzing."""

    def __init__(self, runtime: Runtime, service: Service) -> None:
        self.runtime = runtime
        self.service = service
        self.deaths: list[str] = []
        self.logs = _LogRecorder()
        self.current = "setup"  # the case being run, for the watchdog's reports
        self.problems: list[str] = []  # schema problems seen by the control client
        self._control: WsClient | None = None
        self.watchdog = Watchdog(self)
        self.baseline = ""
        self.census_before_service: Any = None
        self.restore_failures: list[str] = []

    def connect(self, name: str) -> WsClient:
        return WsClient(self.service.url, name, self.service.transport.connections)

    # -- the control client: builds and restores ------------------------------------------
    def control(self) -> WsClient:
        client = self._control
        if client is None or client.closed or client.writer_alive() is False:
            if client is not None:
                client.close()
            client = self._control = self.connect("control")
            self.problems += client.problems
        return client

    def request(self, protocol: str, command: str, payload: dict, reply: str) -> dict:
        """Send on the control connection and wait for the reply; one retry on a new
        connection if this one has died (a broadcast may have killed its writer)."""
        try:
            return self._request(protocol, command, payload, reply)
        except ConnectionError:
            return self._request(protocol, command, payload, reply)

    def _request(self, protocol: str, command: str, payload: dict, reply: str) -> dict:
        client = self.control()
        rid = f"control-{time.monotonic_ns()}"
        client.send_text(
            dumps({"protocol": protocol, "command": command, "payload": payload, "requestId": rid})
        )
        deadline = time.monotonic() + TIMEOUT
        while True:
            event = client.next_event(deadline)
            if event.kind != "message":
                client.closed = True
                raise ConnectionError(f"control {protocol}:{command}: {event.describe()}")
            self.problems.extend(
                f"(control, during {self.current}) {event.describe()}: {p}" for p in event.problems
            )
            message = event.message
            if message.get("responseTo") == rid and message.get("command") in (reply, "error"):
                if message["command"] == "error":
                    raise AssertionError(f"control {protocol}:{command} {payload}: {message}")
                return message

    def build(self) -> None:
        self.request("graph", "clear", CLEAR_SCRATCH, "clear")
        self.request("component", "source", SOURCE, "component")
        for protocol, command, payload, reply in BUILD:
            self.request(protocol, command, payload, reply)

    # -- state --------------------------------------------------------------------------------
    def snapshot(self) -> str:
        """Everything a command could change, as canonical JSON text."""
        rt = self.runtime
        graphs = {}
        for gid, hosted in sorted(rt.graphs().items()):
            status = hosted.status()
            graphs[gid] = {
                "graph": graph_json.dump(hosted.graph),
                "started": status["started"],
                "running": status["running"],
                "debug": hosted.debug,
                "tracing": bool(hosted.tracer is not None and hosted.tracer.active),
            }
        state = {
            "main": rt.main_graph,
            "graphs": graphs,
            "components": rt.registry.names(),
            "sources": dict(rt.component_sources),
        }
        return json.dumps(state, sort_keys=True, ensure_ascii=True, default=repr)

    def restore(self) -> bool:
        """Bring the runtime back to the baseline after a case changed it (True if it had
        to). If that fails (a case left names that kill every connection's writer), start
        over: every graph is dropped and the fixture built again."""
        if self.snapshot() == self.baseline:
            return False
        try:
            self._restore()
        except (AssertionError, ConnectionError) as exc:
            self.restore_failures.append(f"after {self.current}: {exc}")
            for gid in list(self.runtime.graphs()):
                _drop_graph(self.runtime, gid)
            self.build()
            self._forget_extra_components()
            if self.snapshot() != self.baseline:
                raise AssertionError(
                    f"cannot restore the runtime's state after "
                    f"{self.current}: "
                    f"{state_diff(self.baseline, self.snapshot())}"
                ) from exc
        return True

    def _restore(self) -> None:
        base = json.loads(self.baseline)
        current = json.loads(self.snapshot())
        for gid in set(current["graphs"]) - set(base["graphs"]):
            _drop_graph(self.runtime, gid)
        current = json.loads(self.snapshot())
        if current["graphs"].get(SCRATCH) != base["graphs"][SCRATCH]:
            self.request("graph", "clear", CLEAR_SCRATCH, "clear")
        current = json.loads(self.snapshot())
        if (
            current["graphs"].get(FIXTURE) != base["graphs"][FIXTURE]
            or current["main"] != base["main"]
        ):
            for protocol, command, payload, reply in BUILD:
                self.request(protocol, command, payload, reply)
        current = json.loads(self.snapshot())
        if current["sources"] != base["sources"]:
            self.request("component", "source", SOURCE, "component")
        self._forget_extra_components()
        after = self.snapshot()
        if after != self.baseline:
            raise AssertionError(
                f"cannot restore the runtime's state: {state_diff(self.baseline, after)}"
            )

    def _forget_extra_components(self) -> None:
        """Components a case compiled under a new name (the protocol cannot remove them)."""
        known = set(json.loads(self.baseline)["components"])
        for name in set(self.runtime.registry.names()) - known:
            self.runtime.registry.unregister(name)
            self.runtime.component_sources.pop(name, None)

    def close_clients(self) -> None:
        self.watchdog.stop()
        if self._control is not None:
            self._control.close()
            self._control = None


def _drop_graph(runtime: Runtime, graph_id: str) -> None:
    """Remove a graph a case created (``graph:clear`` of a new id; the protocol has no
    command to remove one): test-only use of the runtime's internals."""
    graphs, lock = getattr(runtime, "_graphs", None), getattr(runtime, "_lock", None)
    if not isinstance(graphs, dict) or lock is None:
        raise AssertionError(
            "cannot remove a graph a case created: Runtime._graphs/_lock "
            "changed; update _drop_graph in tests/test_fuzz.py"
        )
    with lock:
        hosted = graphs.pop(graph_id, None)
        if runtime.main_graph == graph_id:
            runtime.main_graph = None
    if hosted is not None:
        hosted.close()
    runtime.sync_graph_components()


def state_diff(before: str, after: str, limit: int = 6) -> str:
    """The differences between two snapshots, leaf by leaf."""
    found = _diff(json.loads(before), json.loads(after), "")
    more = f" (and {len(found) - limit} more)" if len(found) > limit else ""
    return "; ".join(found[:limit]) + more if found else "(no difference)"


_ABSENT = object()


def _diff(a: Any, b: Any, path: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += _diff(a.get(key, _ABSENT), b.get(key, _ABSENT), f"{path}.{key}".lstrip("."))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _diff(x, y, f"{path}[{i}]")
        ]
    if a == b:
        return []

    def show(value: Any) -> str:
        return "<absent>" if value is _ABSENT else _short(json.dumps(value, ensure_ascii=True), 120)

    return [f"{path}: {show(a)} -> {show(b)}"]


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


class Watchdog:
    """A second client that keeps a getruntime round trip going, and must always be answered."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.answered = 0
        self.slowest = 0.0
        self.failures: list[str] = []
        self.problems: list[str] = []
        self.reconnects = 0
        self._client_answered = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fuzz-watchdog", daemon=True)
        self._client: WsClient | None = None
        self._answered = threading.Condition()

    def wait_connected(self, timeout: float = TIMEOUT) -> bool:
        """Wait (bounded) until the watchdog is connected and has been answered since."""
        with self._answered:
            return self._answered.wait_for(
                lambda: self._client is not None and self._client_answered, timeout
            )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2 * TIMEOUT)
        if self._client is not None:
            self._client.close()
            self._client = None

    def _run(self) -> None:
        number = 0
        while not self._stop.is_set():
            if self._client is None:
                self._client_answered = False
                try:
                    self._client = self.served.connect("watchdog")
                    self.problems += self._client.problems
                except Exception as exc:  # noqa: BLE001 - reported, and tried again
                    self.failures.append(f"during {self.served.current}: cannot connect: {exc}")
                    self._stop.wait(0.5)
                    continue
            client = self._client
            number += 1
            rid = f"watchdog-{number}"
            began = time.monotonic()
            try:
                client.send_text(
                    dumps(
                        {
                            "protocol": "runtime",
                            "command": "getruntime",
                            "payload": {},
                            "requestId": rid,
                        }
                    )
                )
            except Exception as exc:  # noqa: BLE001
                self._lost(client, f"cannot send: {exc}", began)
                continue
            deadline = began + TIMEOUT
            while True:
                event = client.next_event(deadline)
                if event.kind != "message":
                    self._lost(client, event.describe(), began)
                    break
                self.problems.extend(
                    f"(watchdog, during {self.served.current}) {event.describe()}: {p}"
                    for p in event.problems
                )
                message = event.message
                if message.get("responseTo") == rid and message.get("command") == "runtime":
                    self.answered += 1
                    self.slowest = max(self.slowest, time.monotonic() - began)
                    with self._answered:
                        self._client_answered = True
                        self._answered.notify_all()
                    break
            self._stop.wait(0.02)

    def _lost(self, client: WsClient, what: str, began: float) -> None:
        self.failures.append(
            f"during {self.served.current}: no answer to getruntime after "
            f"{time.monotonic() - began:.1f}s: {what}"
        )
        client.close()
        self._client = None
        self.reconnects += 1


def _stop_service(service: Service, timeout: float = 4 * TIMEOUT) -> list[str]:
    """Stop the service; if it hangs, describe the threads it waits for, wake what can be
    woken (so the test process can still exit), and say so."""
    stopper = threading.Thread(target=service.stop, name="fuzz-stopper", daemon=True)
    began = time.monotonic()
    stopper.start()
    stopper.join(timeout)
    if not stopper.is_alive():
        return []
    stuck = [
        f"{t.name}:\n{fz.stack_of(t)}"
        for t in threading.enumerate()
        if t.name.startswith(("flowpy-", "Thread-")) and t.is_alive()
    ]
    woken = fz.rescue_stuck_websockets()
    stopper.join(timeout)
    problems = [
        f"Service.stop() did not return within {timeout:.0f}s; threads still alive:\n"
        + "\n".join(stuck)
    ]
    if woken:
        problems.append(
            f"woke {len(woken)} reader(s) stuck in simple-websocket receive() "
            f"after the socket closed ({woken[0]}); stop then "
            f"{'returned' if not stopper.is_alive() else 'still hung'} "
            f"after {time.monotonic() - began:.1f}s"
        )
    return problems


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    logger = logging.getLogger("flowpy")
    previous_hook = threading.excepthook
    census = fz.thread_census()
    runtime = Runtime(state_dir=tmp_path_factory.mktemp("fuzz-state"), permissions=PERMISSIONS)
    service = Service("127.0.0.1", 0, runtime=runtime).start()
    state = Served(runtime, service)
    state.census_before_service = census

    def hook(args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread is not None else "?"
        state.deaths.append(
            f"thread {name} died during {state.current}: "
            f"{args.exc_type.__name__}: {str(args.exc_value)[:300]}"
        )
        previous_hook(args)

    threading.excepthook = hook
    logger.addHandler(state.logs)
    try:
        state.build()
        state.baseline = state.snapshot()
        state.watchdog.start()
        assert state.watchdog.wait_connected(), "the watchdog client cannot connect"
        yield state
    finally:
        state.close_clients()
        _stop_service(service)
        logger.removeHandler(state.logs)
        threading.excepthook = previous_hook


# ---------------------------------------------------------------------------------------------
# Running cases
# ---------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    events: list[Event] = field(default_factory=list)
    fence_answered: bool = False
    fence_problems: list[str] = field(default_factory=list)


class Fuzzer:
    """Sends cases on a fuzz connection (reconnecting when one dies) and judges them."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.client: WsClient | None = None
        self.fences: set[str] = set()
        self.fence_number = 0
        self.connections = 0
        self.problems: list[str] = []  # schema problems seen while connecting

    def _client(self) -> WsClient:
        if self.client is None or self.client.closed:
            if self.client is not None:
                self.client.close()
            self.connections += 1
            self.client = self.served.connect("fuzz")
        return self.client

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.problems += self.client.problems
            self.client = None

    def run(self, case: Case) -> list[str]:
        served = self.served
        served.current = f"{case.spec.id if case.spec else 'frame'} {case.label}"
        deaths, logs = len(served.deaths), len(served.logs.records)
        pre = served.snapshot()
        outcome = self._exchange(case)
        post = served.snapshot()
        problems = evaluate(case, outcome, pre, post)
        problems += [f"server thread died: {d}" for d in served.deaths[deaths:]]
        problems += [f"server logged an error: {r}" for r in served.logs.records[logs:]]
        client = self.client
        if client is not None and (
            client.closed
            or any(e.kind in ("close", "gone", "dead", "timeout") for e in outcome.events)
        ):
            self.close()
        restores = len(served.restore_failures)
        if served.restore() and self.client is not None:
            problems += self._sync()
        problems += [
            f"could not undo it over the protocol, so the fixture was built again: {r}"
            for r in served.restore_failures[restores:]
        ]
        return problems

    def _sync(self) -> list[str]:
        """Read past what restoring broadcast to the fuzz connection (a fence round trip),
        so the next case starts clean. Problems are the case's: broadcasts it caused."""
        assert self.client is not None
        outcome = Outcome()
        self.fence_number += 1
        fence = f"fence-{self.fence_number}"
        self.fences.add(fence)
        self.client.send_text(
            dumps(
                {"protocol": "runtime", "command": "getruntime", "payload": {}, "requestId": fence}
            )
        )
        deadline = time.monotonic() + TIMEOUT
        problems = []
        while True:
            event = self._next(self.client, deadline, outcome, fence)
            if event.kind == "fence":
                break
            problems += [
                f"schema (while restoring): {event.describe()}: {p}" for p in event.problems
            ]
            if event.kind != "message":
                self.close()  # the next case connects again
                break
        return problems + outcome.fence_problems

    def _exchange(self, case: Case) -> Outcome:
        outcome = Outcome()
        try:
            client = self._client()
        except Exception as exc:  # noqa: BLE001
            outcome.events.append(Event("gone", reason=f"cannot connect: {exc}"))
            return outcome
        try:
            if isinstance(case.frames, str):
                client.send_text(case.frames)
            else:
                client.send_frames(case.frames)
        except Exception as exc:  # noqa: BLE001
            outcome.events.append(Event("gone", reason=f"sending failed: {exc}"))
            client.closed = True
            return outcome
        if case.expect == "close-1007":
            deadline = time.monotonic() + TIMEOUT
            while True:
                event = self._next(client, deadline, outcome)
                outcome.events.append(event)
                if event.kind != "message":
                    client.closed = True
                    return outcome
        self.fence_number += 1
        fence = f"fence-{self.fence_number}"
        self.fences.add(fence)
        try:
            client.send_text(
                dumps(
                    {
                        "protocol": "runtime",
                        "command": "getruntime",
                        "payload": {},
                        "requestId": fence,
                    }
                )
            )
        except Exception as exc:  # noqa: BLE001 - the server may have closed (1009)
            outcome.events.extend(client.drain())
            outcome.events.append(Event("gone", reason=f"sending the fence failed: {exc}"))
            client.closed = True
            return outcome
        deadline = time.monotonic() + TIMEOUT
        while True:
            event = self._next(client, deadline, outcome, fence)
            if event.kind == "fence":
                outcome.fence_answered = True
                break
            outcome.events.append(event)
            if event.kind != "message":
                client.closed = True
                return outcome
        if case.spec is not None and case.spec.asynchronous:
            deadline = time.monotonic() + TIMEOUT
            while not _replies(case, outcome.events)[0]:
                event = self._next(client, deadline, outcome)
                outcome.events.append(event)
                if event.kind != "message":
                    if event.kind != "timeout":
                        client.closed = True
                    break
        return outcome

    def _next(
        self, client: WsClient, deadline: float, outcome: Outcome, fence: str | None = None
    ) -> Event:
        """The next event that is not fence traffic (a fence's own reply is ``fence``)."""
        while True:
            event = client.next_event(deadline)
            if event.kind != "message":
                return event
            rid = event.message.get("responseTo")
            if rid in self.fences or rid == client.hello_id:
                outcome.fence_problems.extend(f"{event.describe()}: {p}" for p in event.problems)
                if rid == fence and event.message.get("command") == "runtime":
                    return Event("fence")
                continue
            return event


def _kind(message: dict) -> str:
    return f"{message.get('protocol')}:{message.get('command')}"


def _replies(case: Case, events: list[Event]) -> tuple[list[dict], list[dict], list[str]]:
    """(replies to the input, broadcasts, problems with messages that are neither)."""
    replies: list[dict] = []
    broadcasts: list[dict] = []
    problems: list[str] = []
    spec = case.spec
    for event in events:
        if event.kind != "message":
            continue
        message = event.message
        kind = _kind(message)
        if "responseTo" in message:
            if message["responseTo"] in case.rids:
                replies.append(message)
            else:
                problems.append(f"a reply to another request: {event.describe()}")
            continue
        answers_bare = None in case.rids or (
            spec is not None and spec.no_response_to and spec.is_reply(kind)
        )
        if message.get("command") == "error":
            replies.append(message)
            if not answers_bare:
                problems.append(
                    f"an error without responseTo (the request had a usable "
                    f"requestId): {event.describe()}"
                )
        elif (
            answers_bare
            and spec is not None
            and (spec.is_reply(kind) or spec.is_extra(kind))
            and (kind not in UNSOLICITED or spec.is_reply(kind))
        ):
            replies.append(message)
        elif kind in UNSOLICITED:
            broadcasts.append(message)
        else:
            problems.append(f"an unexpected message: {event.describe()}")
    return replies, broadcasts, problems


def evaluate(case: Case, outcome: Outcome, pre: str, post: str) -> list[str]:
    """Everything wrong with what came of ``case`` (empty: it passed)."""
    problems: list[str] = list(outcome.fence_problems)
    events = outcome.events
    for event in events:
        problems.extend(f"schema: {event.describe()}: {p}" for p in event.problems)
        if event.kind in ("bad-frame", "gone", "dead", "timeout"):
            problems.append(f"{event.kind}: {event.reason}")
    closes = [e for e in events if e.kind == "close"]
    replies, _, stray = _replies(case, events)
    problems.extend(stray)
    spec = case.spec
    errors = [r for r in replies if r.get("command") == "error"]
    own = [
        r
        for r in replies
        if spec is not None and spec.is_reply(_kind(r)) and r.get("command") != "error"
    ]
    extra = [r for r in replies if r not in errors and r not in own]
    got = _summary(replies)

    if closes:
        code = closes[0].code
        allowed = {"close-1007": 1007, "error-or-1009": 1009}.get(case.expect)
        if code != allowed:
            problems.append(
                f"the server closed the connection with {code} "
                f"{closes[0].reason!r}"
                + (f" (expected {allowed})" if allowed else " (expected it to stay open)")
            )
        if replies:
            problems.append(f"replies before the close: {got}")
    elif case.expect == "close-1007":
        problems.append(
            f"expected a close with code 1007; got {got or 'no reply'} "
            f"{[e.describe() for e in events if e.kind != 'message']}"
        )
    elif case.expect == "one-reply":
        if not (len(errors) == 1 and not own and not extra) and not (not errors and len(own) == 1):
            problems.append(
                f"expected exactly one reply ({spec.id if spec else ''} "
                f"reply or error); got {got or 'none'}"
            )
        for message in extra:
            if spec is None or not spec.is_extra(_kind(message)):
                problems.append(f"an unexpected reply: {_short(json.dumps(message))}")
    else:  # error, error-or-1009
        if len(errors) != 1 or own or extra:
            protocols = "/".join(sorted(case.error_protocols))
            problems.append(f"expected exactly one {protocols}:error; got {got or 'no reply'}")
        for error in errors[:1]:
            if error.get("protocol") not in case.error_protocols:
                problems.append(
                    f"the error came on protocol {error.get('protocol')!r}, "
                    f"expected {sorted(case.error_protocols)}"
                )
            if error.get("responseTo") not in case.rids:
                wanted = sorted(case.rids, key=str)
                problems.append(
                    f"the error has responseTo={error.get('responseTo')!r}, "
                    f"expected one of {wanted} (None: no responseTo)"
                )
            text = (error.get("payload") or {}).get("message", "")
            if case.mention is not None and not case.mention.search(str(text)):
                problems.append(
                    f"the error message does not mention {case.mention_what} "
                    f"(/{case.mention.pattern}/): {str(text)[:200]!r}"
                )
    if (
        not closes
        and case.expect != "close-1007"
        and not outcome.fence_answered
        and not any(e.kind in ("dead", "gone") for e in events)
    ):
        problems.append(f"the connection did not answer the next request (fence) within {TIMEOUT}s")
    must_refuse = case.expect != "one-reply"
    if (errors or must_refuse) and post != pre:
        problems.append(
            f"the state changed although the input was refused or must be: {state_diff(pre, post)}"
        )
    return problems


def _summary(messages: list[dict]) -> str:
    parts = []
    for message in messages:
        text = f"{_kind(message)}"
        if "responseTo" in message:
            text += f" (responseTo={message['responseTo']!r})"
        if message.get("command") == "error":
            text += f" {str((message.get('payload') or {}).get('message', ''))[:160]!r}"
        elif message.get("command") not in ("component", "runtime", "ports", "source", "dump"):
            text += " " + _short(json.dumps(message.get("payload"), ensure_ascii=True), 160)
        parts.append(text)
    if len(parts) > 6:
        parts = parts[:5] + [f"... {len(parts) - 5} more"]
    return ", ".join(parts)


def run_cases(served: Served, name: str, cases: list[Case]) -> None:
    """Run ``cases`` on one fuzz connection; fail with every problem found, case by case."""
    served.restore()
    served.watchdog.wait_connected()
    served.control()
    census = fz.thread_census()
    deaths = len(served.deaths)
    watchdog_failures = len(served.watchdog.failures)
    watchdog_problems = len(served.watchdog.problems)
    control_problems = len(served.problems)
    fuzzer = Fuzzer(served)
    failures: list[tuple[str, list[str]]] = []
    began = time.monotonic()
    slow: list[tuple[float, str]] = []
    try:
        for case in cases:
            started = time.monotonic()
            problems = fuzzer.run(case)
            slow.append((time.monotonic() - started, case.label))
            if problems:
                failures.append((case.label, problems))
    finally:
        fuzzer.close()
        served.current = f"{name} (after the cases)"
    served.watchdog.wait_connected()
    served.control()
    # Only threads that are more than before count: one that ended meanwhile (another test's
    # connection finishing its goodbye) is no leak.
    leaked = fz.wait_for_no_extra_threads(census)
    general = []
    if leaked:
        general.append(f"threads left after the fuzz connections closed: {leaked}")
    if len(served.deaths) > deaths:
        general.append(
            f"{len(served.deaths) - deaths} server thread(s) died with an exception (see the cases)"
        )
    general += [f"watchdog: {f}" for f in served.watchdog.failures[watchdog_failures:]]
    general += fuzzer.problems
    general += served.watchdog.problems[watchdog_problems:]
    general += served.problems[control_problems:]
    _report(name, failures, general, sorted(slow, reverse=True)[:5])
    if failures or general:
        lines = [
            f"{name}: {len(failures)} of {len(cases)} inputs failed "
            f"({fuzzer.connections} fuzz connection(s), "
            f"{time.monotonic() - began:.1f}s). Problems by kind (inputs):"
        ]
        kinds = collections.Counter(
            kind for _, problems in failures for kind in {_problem_kind(p) for p in problems}
        )
        lines += [f"  {count:4d}  {kind}" for kind, count in kinds.most_common()]
        for label, problems in failures:
            lines.append(f"- {name} {label}:")
            lines.extend(f"    {_short(p, 600)}" for p in problems)
        if general:
            lines.append("- overall:")
            lines.extend(f"    {_short(p, 600)}" for p in general)
        pytest.fail("\n".join(lines), pytrace=False)


def _problem_kind(problem: str) -> str:
    """A problem without its particulars, to count problems of one kind."""
    kind = re.split(r": |;|\(| got | expected one of", problem, maxsplit=1)[0]
    return re.sub(r"'[^']*'|\d+", "…", kind).strip()[:90]


def _report(
    name: str,
    failures: list[tuple[str, list[str]]],
    general: list[str],
    slowest: list[tuple[float, str]],
) -> None:
    path = os.environ.get("FLOWPY_FUZZ_REPORT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        out.write(
            json.dumps(
                {
                    "test": name,
                    "case": "(slowest)",
                    "problems": [f"{seconds:.2f}s {label}" for seconds, label in slowest],
                }
            )
            + "\n"
        )
        for label, problems in failures:
            out.write(json.dumps({"test": name, "case": label, "problems": problems}) + "\n")
        for problem in general:
            out.write(json.dumps({"test": name, "case": "(overall)", "problems": [problem]}) + "\n")


# ---------------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------------


def test_every_base_payload_is_accepted(served: Served) -> None:
    """The suite's own check: each unmutated payload gets its command's reply, not an error
    (otherwise the fuzzing below would only ever reach error paths)."""
    cases = []
    for spec in SPECS:
        rid = _rid()
        cases.append(
            Case(
                f"{spec.id} base payload",
                dumps(_message(spec, rid)),
                spec,
                "one-reply",
                frozenset({rid}),
                frozenset({spec.protocol}),
            )
        )
    fuzzer = Fuzzer(served)
    refused = []
    try:
        for case in cases:
            served.current = case.label
            pre = served.snapshot()
            outcome = fuzzer._exchange(case)
            post = served.snapshot()
            replies, _, _ = _replies(case, outcome.events)
            problems = evaluate(case, outcome, pre, post)
            if any(r.get("command") == "error" for r in replies) or problems:
                refused.append(f"{case.label}: {_summary(replies)} {problems}")
            fuzzer.close()
            served.restore()
    finally:
        fuzzer.close()
    assert not refused, "\n".join(refused)


@pytest.mark.parametrize("spec", SPECS, ids=[spec.id for spec in SPECS])
def test_fields(served: Served, spec: Spec) -> None:
    """Every field of ``spec``'s payload, and the payload itself, x every hostile value."""
    run_cases(served, spec.id, field_cases(spec))


@pytest.mark.parametrize("base", ENVELOPE_BASES)
def test_envelope(served: Served, base: str) -> None:
    """protocol, command, requestId, secret, payload.secret and unknown top-level fields."""
    run_cases(served, f"envelope {base}", envelope_cases(SPEC_BY_ID[base]))


def test_frames(served: Served) -> None:
    """Binary frames, invalid UTF-8 (close 1007), invalid JSON, non-objects, deep and huge."""
    run_cases(served, "frames", frame_cases())


def test_oversized_frame_is_closed_with_1009_and_leaves_no_thread(tmp_path: Path) -> None:
    """A frame over the transport's limit: close 1009, the connection's threads end, and
    the service still stops. (A smaller limit than the default 64 MiB, to stay fast; the
    code path is the same.) Several connections, since a leak may be a race."""
    limit = 2 * 1024 * 1024
    census = fz.thread_census()
    runtime = Runtime(state_dir=tmp_path / "state", permissions=PERMISSIONS)
    service = Service("127.0.0.1", 0, runtime=runtime, max_message_size=limit).start()
    problems = []
    try:
        serving = fz.thread_census()
        for attempt in range(3):
            client = WsClient(service.url, f"oversized-{attempt}", service.transport.connections)
            try:
                client.send_text("x" * (limit + 1024))
            except Exception as exc:  # noqa: BLE001 - the server may cut us off mid-frame
                problems.append(f"attempt {attempt}: sending failed: {exc}")
            event = client.next_event(time.monotonic() + TIMEOUT)
            if event.kind != "close" or event.code != 1009:
                problems.append(
                    f"attempt {attempt}: expected a close with 1009, got {event.describe()}"
                )
            client.close()
            after = fz.wait_for_census(serving)
            if after != serving:
                stuck = [
                    f"{t.name}:\n{fz.stack_of(t)}"
                    for t in threading.enumerate()
                    if t.name.startswith("flowpy-client") and t.is_alive()
                ]
                problems.append(
                    f"attempt {attempt}: the connection's threads did not end "
                    f"within {TIMEOUT}s after the close: "
                    f"{fz.census_diff(serving, after)}\n" + "\n".join(stuck)
                )
                break  # one leak is enough to know; stopping must still work
    finally:
        problems += _stop_service(service, TIMEOUT)
    after = fz.wait_for_census(census)
    if after != census:
        problems.append(f"threads left after stop: {fz.census_diff(census, after)}")
    assert not problems, "\n".join(problems)


def test_the_service_survived_and_stops_cleanly(served: Served) -> None:
    """After all the fuzzing: a new client is answered, the watchdog was answered all along,
    no server thread died, and the service stops with every one of its threads."""
    served.current = "the end"
    problems = []
    client = served.connect("final")
    try:
        client.send_text(
            dumps(
                {
                    "protocol": "network",
                    "command": "getstatus",
                    "payload": {"graph": FIXTURE},
                    "requestId": "final",
                }
            )
        )
        deadline = time.monotonic() + TIMEOUT
        while True:
            event = client.next_event(deadline)
            if event.kind != "message":
                problems.append(f"a new client got no status: {event.describe()}")
                break
            if event.message.get("responseTo") == "final":
                assert event.message["payload"]["started"] is True, event.message
                break
    finally:
        client.close()
    watchdog = served.watchdog
    served.close_clients()
    if watchdog.answered == 0:
        problems.append("the watchdog was never answered")
    if watchdog.failures:
        problems.append(
            f"the watchdog went unanswered {len(watchdog.failures)} time(s) "
            f"({watchdog.answered} answered, {watchdog.reconnects} reconnects); "
            f"first: {watchdog.failures[0]}"
        )
    if served.deaths:
        problems.append(f"{len(served.deaths)} server thread(s) died; first: {served.deaths[0]}")
    problems += _stop_service(served.service)
    after = fz.wait_for_census(served.census_before_service)
    if after != served.census_before_service:
        problems.append(
            f"threads left after stop: {fz.census_diff(served.census_before_service, after)}"
        )
    assert not problems, "\n".join(problems)
