"""Capabilities and port permissions: --secret, a permissions document, and the open default."""

from __future__ import annotations

import pytest
from protocol_harness import (
    ProtocolClient,
    build,
)

from flowpy.runtime.permissions import (
    ALL_CAPABILITIES,
    Permissions,
    PermissionsError,
    required_for,
)

COMMANDS = [
    ("graph", "addnode", {"graph": "g", "id": "X", "component": "core/Repeat"}),
    ("component", "list", {}),
    ("component", "getsource", {"name": "core/Repeat"}),
    ("component", "source", {"name": "X", "language": "python", "code": ""}),
    ("network", "start", {"graph": "g"}),
    ("network", "getstatus", {"graph": "g"}),
    ("network", "edges", {"graph": "g", "edges": []}),
    ("network", "persist", {}),
    ("runtime", "packet", {"graph": "g", "port": "in", "event": "data"}),
    ("trace", "start", {"graph": "g"}),
]


# -- the Permissions object ---------------------------------------------------------------------


def test_open_runtime_grants_everything_but_setsource():
    grant = Permissions().grant_for(None)
    assert grant.capabilities == set(ALL_CAPABILITIES) - {"component:setsource"}
    assert grant.may_send_to("any", "port") and grant.may_receive_from("any", "port")


def test_secret_holder_gets_everything_but_setsource_others_nothing():
    permissions = Permissions(secret="s3")
    assert permissions.grant_for("s3").capabilities == (
        set(ALL_CAPABILITIES) - {"component:setsource"}
    )
    assert permissions.grant_for(None).capabilities == set()
    assert permissions.grant_for("wrong").capabilities == set()


def test_document_with_ports():
    permissions = Permissions(
        document={
            "secrets": {
                "tok": {
                    "capabilities": ["protocol:runtime"],
                    "graphs": {"main": {"inports": ["IN"], "outports": ["out"]}},
                },
                "free": {"capabilities": ["protocol:runtime", "component:setsource"]},
            },
            "anonymous": {"capabilities": ["protocol:component"]},
        }
    )
    tok = permissions.grant_for("tok")
    assert tok.may_send_to("main", "in") and not tok.may_send_to("main", "other")
    assert tok.may_receive_from("main", "OUT") and not tok.may_receive_from("other", "out")
    free = permissions.grant_for("free")
    assert free.may_send_to("any", "x") and "component:setsource" in free.capabilities
    assert permissions.grant_for(None).capabilities == {"protocol:component"}


@pytest.mark.parametrize(
    "document, text",
    [
        ([], "must be a JSON object"),
        ({"secret": {}}, "unknown keys"),
        ({"secrets": {"t": {"capabilities": ["fly"]}}}, "unknown capabilities ['fly']"),
        ({"secrets": {"t": {"capabilities": "protocol:graph"}}}, "must be a list of strings"),
        (
            {"secrets": {"t": {"capabilities": [], "graphs": {"g": {"inports": "in"}}}}},
            "inports must be a list of strings",
        ),
    ],
)
def test_malformed_documents_are_refused(document, text):
    with pytest.raises(PermissionsError, match=text.replace("[", r"\[").replace("]", r"\]")):
        Permissions(document=document)


def test_the_capability_table_follows_the_notes():
    assert required_for("runtime", "getruntime") == frozenset()
    assert required_for("graph", "renamegroup") == {"protocol:graph"}
    assert required_for("network", "getstatus") == {
        "network:status",
        "network:control",
        "protocol:network",
    }
    assert required_for("network", "edges") == {"network:data", "protocol:network"}
    assert required_for("trace", "dump") == {"protocol:trace"}


# -- over the protocol --------------------------------------------------------------------------


@pytest.mark.parametrize("protocol, command, payload", COMMANDS)
def test_without_the_secret_only_getruntime_works(make_runtime, protocol, command, payload):
    rt = make_runtime(secret="s3")
    anonymous = ProtocolClient(rt, "anonymous")
    info = anonymous.request("runtime", "getruntime", reply="runtime")["payload"]
    assert info["capabilities"] == []
    assert info["allCapabilities"] == list(ALL_CAPABILITIES)
    reply = anonymous.request(protocol, command, payload, reply="never")
    assert reply["protocol"] == protocol and reply["command"] == "error"
    assert reply["payload"]["message"] == f"{protocol}:{command} is not permitted"


def test_the_secret_opens_everything_in_either_place(make_runtime):
    rt = make_runtime(secret="s3")
    top = ProtocolClient(rt, "top", secret="s3")
    info = top.request("runtime", "getruntime", reply="runtime")["payload"]
    assert set(info["capabilities"]) == set(ALL_CAPABILITIES) - {"component:setsource"}
    legacy = ProtocolClient(rt, "legacy")
    reply = legacy.request("graph", "clear", {"id": "g", "secret": "s3"})
    assert reply["command"] == "clear"


def test_a_wrong_secret_takes_back_what_a_right_one_gave(make_runtime):
    rt = make_runtime(secret="s3")
    c = ProtocolClient(rt, "c", secret="s3")
    assert c.request("graph", "clear", {"id": "g"})["command"] == "clear"
    c.secret = "nope"
    assert c.error("graph", "clear", {"id": "g"}) == "graph:clear is not permitted"


def test_readonly_may_read_but_not_change(make_runtime):
    rt = make_runtime(
        permissions={
            "secrets": {"ro": {"capabilities": ["graph:readonly"]}},
            "anonymous": {"capabilities": ["protocol:graph"]},
        }
    )
    ro = ProtocolClient(rt, "ro", secret="ro")
    ro.request("runtime", "getruntime", reply="runtime")
    editor = ProtocolClient(rt, "editor")
    editor.request("graph", "clear", {"id": "g"})
    assert ro.expect("graph", "clear", id="g")
    assert ro.error("graph", "clear", {"id": "g"}) == "graph:clear is not permitted"


def test_packets_only_to_permitted_inports(make_runtime):
    rt = make_runtime(
        permissions={
            "secrets": {
                "admin": {
                    "capabilities": ["protocol:graph", "network:control", "protocol:runtime"]
                },
                "feeder": {
                    "capabilities": ["protocol:runtime"],
                    "graphs": {"g": {"inports": ["a"], "outports": []}},
                },
            }
        }
    )
    admin = ProtocolClient(rt, "admin", secret="admin")
    build(
        admin,
        "g",
        {"A": "core/Repeat", "B": "core/Repeat"},
        inports={"a": ("A", "in"), "b": ("B", "in")},
    )
    admin.request("network", "start", {"graph": "g"}, reply="started")
    feeder = ProtocolClient(rt, "feeder", secret="feeder")
    ports = feeder.request("runtime", "getruntime", reply="runtime")
    ports = feeder.expect("runtime", "ports", graph="g")["payload"]
    assert [p["id"] for p in ports["inPorts"]] == ["a"] and ports["outPorts"] == []
    ok = feeder.request(
        "runtime",
        "packet",
        {"graph": "g", "port": "A", "event": "data", "payload": 1},
        reply="packetsent",
    )
    assert ok["command"] == "packetsent"
    assert (
        feeder.error("runtime", "packet", {"graph": "g", "port": "b", "event": "data"})
        == "runtime:packet to port 'b' of graph 'g' is not permitted"
    )


def test_debug_data_needs_its_capability(make_runtime):
    rt = make_runtime(
        permissions={"secrets": {"ctl": {"capabilities": ["protocol:graph", "network:control"]}}}
    )
    ctl = ProtocolClient(rt, "ctl", secret="ctl")
    build(
        ctl,
        "g",
        {"A": "core/Repeat", "B": "core/Drop"},
        edges=[("A", "out", "B", "in")],
        initials=[(1, "A", "in")],
    )
    ctl.send("network", "start", {"graph": "g"})
    ctl.expect("network", "stopped", graph="g")
    assert not any(m["command"] in ("data", "connect") for m in ctl.messages)
