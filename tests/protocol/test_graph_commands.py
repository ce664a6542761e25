"""The 20 graph commands: acks made from the model's change events, errors, several graphs."""

from __future__ import annotations

import json

import pytest
from protocol_harness import (
    ProtocolClient,
    build,
)

from flowpy.graphs.model import GraphError, PortRef
from flowpy.runtime.hosting import MAX_GRAPH_ID_LENGTH


@pytest.fixture
def graph(runtime, client):
    """Graph ``g`` with nodes A and B (core/Repeat)."""
    build(client, "g", {"A": "core/Repeat", "B": "core/Repeat"})
    client.cursor = len(client.messages)
    return runtime.get_graph("g").graph


def ack(client: ProtocolClient, command: str, payload: dict, **envelope) -> dict:
    reply = client.request("graph", command, {"graph": "g", **payload}, **envelope)
    assert reply["command"] == command, reply
    return reply["payload"]


# -- one test per command ---------------------------------------------------------------------


def test_clear_creates_a_graph_and_echoes_the_request(runtime, client):
    reply = client.request(
        "graph",
        "clear",
        {
            "id": "foo",
            "main": True,
            "name": "Foo graph",
            "baseDir": "/somewhere",
            "library": "lib",
            "icon": "cog",
            "description": "d",
        },
    )
    assert reply["payload"] == {
        "id": "foo",
        "main": True,
        "name": "Foo graph",
        "library": "lib",
        "icon": "cog",
        "description": "d",
    }
    assert runtime.main_graph == "foo"
    assert runtime.get_graph("foo").graph.properties["name"] == "Foo graph"


def test_clear_empties_an_existing_graph_and_main_true_makes_it_main(runtime, client, graph):
    client.request("graph", "clear", {"id": "other", "main": True})
    assert runtime.main_graph == "other"
    reply = client.request("graph", "clear", {"id": "g", "main": True})
    assert reply["payload"] == {"id": "g", "main": True}
    assert runtime.main_graph == "g"
    assert graph.nodes == {} and runtime.get_graph("g").graph is graph


def test_clear_stops_a_running_network(runtime, client, graph):
    client.request("network", "start", {"graph": "g"}, reply="started")
    start = len(client.messages)
    client.request("graph", "clear", {"id": "g"})
    # g is not the main graph, so it is a component too: its new (empty) description follows.
    assert client.commands(start)[-3:] == ["network:stopped", "graph:clear", "component:component"]
    assert client.messages[-3]["payload"]["started"] is False


def test_addnode(client, graph):
    payload = ack(
        client,
        "addnode",
        {"id": "C", "component": "core/Drop", "metadata": {"x": 10.6, "y": -3, "label": "c"}},
    )
    assert payload == {
        "id": "C",
        "component": "core/Drop",
        "graph": "g",
        "metadata": {"x": 11, "y": -3, "label": "c"},
    }
    assert graph.nodes["C"].component == "core/Drop"


def test_removenode_cascades_edges_iips_and_exports_first(client, graph):
    ack(
        client, "addedge", {"src": {"node": "A", "port": "out"}, "tgt": {"node": "B", "port": "in"}}
    )
    ack(client, "addinitial", {"src": {"data": 5}, "tgt": {"node": "B", "port": "in"}})
    ack(client, "addoutport", {"public": "out", "node": "B", "port": "out"})
    start = len(client.messages)
    ack(client, "removenode", {"id": "B"})
    client.expect("runtime", "ports", graph="g")
    assert client.commands(start) == [
        "graph:removeedge",
        "graph:removeinitial",
        "graph:removeoutport",
        "graph:removenode",
        "runtime:ports",
        "component:component",
    ]  # once, after the whole change
    assert client.messages[start]["payload"] == {
        "graph": "g",
        "src": {"node": "A", "port": "out"},
        "tgt": {"node": "B", "port": "in"},
    }
    assert client.messages[start + 1]["payload"] == {
        "graph": "g",
        "src": {"data": 5},
        "tgt": {"node": "B", "port": "in"},
    }
    assert client.messages[start + 3]["payload"] == {"graph": "g", "id": "B"}
    assert "B" not in graph.nodes


def test_renamenode(client, graph):
    assert ack(client, "renamenode", {"from": "A", "to": "Z"}) == {
        "from": "A",
        "to": "Z",
        "graph": "g",
    }
    assert list(graph.nodes) == ["Z", "B"]


def test_changenode_merges_and_null_deletes(client, graph):
    first = ack(client, "changenode", {"id": "A", "metadata": {"sort": 1}})
    assert first["metadata"] == {"sort": 1}
    assert ack(client, "changenode", {"id": "A", "metadata": {"tag": "t"}})["metadata"] == {
        "sort": 1,
        "tag": "t",
    }
    assert ack(client, "changenode", {"id": "A", "metadata": {}})["metadata"] == {
        "sort": 1,
        "tag": "t",
    }
    assert ack(client, "changenode", {"id": "A", "metadata": {"sort": None, "tag": None}}) == {
        "id": "A",
        "metadata": {},
        "graph": "g",
    }


def test_addedge_with_string_and_number_indexes(client, graph):
    payload = ack(
        client,
        "addedge",
        {
            "src": {"node": "A", "port": "out", "index": 0},
            "tgt": {"node": "B", "port": "in", "index": "x"},
            "metadata": {"route": 5},
        },
    )
    assert payload == {
        "src": {"node": "A", "port": "out", "index": 0},
        "tgt": {"node": "B", "port": "in", "index": "x"},
        "metadata": {"route": 5},
        "graph": "g",
    }
    assert graph.edges[0].tgt == PortRef("B", "in", "x")


def test_removeedge(client, graph):
    edge = {"src": {"node": "A", "port": "out"}, "tgt": {"node": "B", "port": "in"}}
    ack(client, "addedge", edge)
    assert ack(client, "removeedge", edge) == {**edge, "graph": "g"}
    assert graph.edges == []


def test_changeedge(client, graph):
    edge = {"src": {"node": "A", "port": "out"}, "tgt": {"node": "B", "port": "in"}}
    ack(client, "addedge", {**edge, "metadata": {"route": 1}})
    payload = ack(client, "changeedge", {**edge, "metadata": {"secure": True, "route": 2.0}})
    assert payload == {**edge, "graph": "g", "metadata": {"route": 2, "secure": True}}


def test_addinitial_with_any_json_value(client, graph):
    for data in ["text", 3.5, None, [1, {"a": True}], {"k": "v"}]:
        payload = ack(
            client, "addinitial", {"src": {"data": data}, "tgt": {"node": "A", "port": "in"}}
        )
        assert payload["src"] == {"data": data}
    assert [i.data for i in graph.initials][-1] == {"k": "v"}


def test_removeinitial_without_src_reports_the_removed_data(client, graph):
    ack(client, "addinitial", {"src": {"data": "Hello"}, "tgt": {"node": "A", "port": "in"}})
    assert ack(client, "removeinitial", {"tgt": {"node": "A", "port": "in"}}) == {
        "src": {"data": "Hello"},
        "tgt": {"node": "A", "port": "in"},
        "graph": "g",
    }
    assert graph.initials == []


def test_addinport_omits_empty_metadata(client, graph):
    assert ack(client, "addinport", {"public": "in", "node": "A", "port": "in"}) == {
        "public": "in",
        "node": "A",
        "port": "in",
        "graph": "g",
    }
    assert ack(
        client, "addinport", {"public": "in2", "node": "B", "port": "in", "metadata": {"x": 1}}
    )["metadata"] == {"x": 1}


def test_removeinport(client, graph):
    ack(client, "addinport", {"public": "in", "node": "A", "port": "in"})
    assert ack(client, "removeinport", {"public": "in"}) == {"public": "in", "graph": "g"}
    assert graph.inports == {}


def test_renameinport(client, graph):
    ack(client, "addinport", {"public": "in", "node": "A", "port": "in"})
    assert ack(client, "renameinport", {"from": "in", "to": "input"}) == {
        "from": "in",
        "to": "input",
        "graph": "g",
    }
    assert list(graph.inports) == ["input"]


def test_addoutport(client, graph):
    assert ack(client, "addoutport", {"public": "out", "node": "B", "port": "out"}) == {
        "public": "out",
        "node": "B",
        "port": "out",
        "graph": "g",
    }


def test_removeoutport(client, graph):
    ack(client, "addoutport", {"public": "out", "node": "B", "port": "out"})
    assert ack(client, "removeoutport", {"public": "out"}) == {"public": "out", "graph": "g"}


def test_renameoutport(client, graph):
    ack(client, "addoutport", {"public": "out", "node": "B", "port": "out"})
    assert ack(client, "renameoutport", {"from": "out", "to": "result"}) == {
        "from": "out",
        "to": "result",
        "graph": "g",
    }
    assert list(graph.outports) == ["result"]


def test_addgroup(client, graph):
    assert ack(
        client,
        "addgroup",
        {"name": "grp", "nodes": ["A", "B"], "metadata": {"description": "both"}},
    ) == {"name": "grp", "nodes": ["A", "B"], "metadata": {"description": "both"}, "graph": "g"}


def test_removegroup(client, graph):
    ack(client, "addgroup", {"name": "grp", "nodes": ["A"]})
    assert ack(client, "removegroup", {"name": "grp"}) == {"name": "grp", "graph": "g"}
    assert graph.groups == []


def test_renamegroup(client, graph):
    ack(client, "addgroup", {"name": "grp", "nodes": ["A"]})
    assert ack(client, "renamegroup", {"from": "grp", "to": "team"}) == {
        "from": "grp",
        "to": "team",
        "graph": "g",
    }


def test_changegroup(client, graph):
    ack(client, "addgroup", {"name": "grp", "nodes": ["A"], "metadata": {"description": "x"}})
    assert ack(client, "changegroup", {"name": "grp", "metadata": {"color": 2}}) == {
        "name": "grp",
        "metadata": {"description": "x", "color": 2},
        "graph": "g",
    }


# -- errors -----------------------------------------------------------------------------------


def test_graph_errors_use_the_exact_texts(client, graph):
    assert (
        client.error("graph", "addnode", {"id": "X", "component": "core/Repeat"})
        == "No graph specified"
    )
    assert (
        client.error(
            "graph", "addnode", {"graph": "another-graph", "id": "X", "component": "core/Repeat"}
        )
        == "Requested graph not found"
    )


@pytest.mark.parametrize(
    "command, payload, text",
    [
        ("addnode", {"id": "A", "component": "core/Repeat"}, "node 'A' already exists"),
        ("removenode", {"id": "nope"}, "unknown node 'nope'"),
        ("renamenode", {"from": "A", "to": "B"}, "cannot rename node 'A' to 'B'"),
        ("changenode", {"id": "A"}, "'metadata' is required"),
        ("changenode", {"id": "A", "metadata": [1]}, "'metadata' must be an object, got array"),
        (
            "addedge",
            {"src": {"node": "A"}, "tgt": {"node": "B", "port": "in"}},
            "'port' is required",
        ),
        (
            "addedge",
            {"src": {"node": "Q", "port": "out"}, "tgt": {"node": "B", "port": "in"}},
            "edge source Q.out: unknown node 'Q'",
        ),
        (
            "addedge",
            {
                "src": {"node": "A", "port": "out", "index": True},
                "tgt": {"node": "B", "port": "in"},
            },
            "'src.index' must be a number or a string",
        ),
        (
            "removeedge",
            {"src": {"node": "A", "port": "out"}, "tgt": {"node": "B", "port": "in"}},
            "unknown edge A.out -> B.in",
        ),
        ("addinitial", {"src": {}, "tgt": {"node": "A", "port": "in"}}, "'src.data' is required"),
        ("addinitial", {"src": {"data": 1}, "tgt": "A.in"}, "'tgt' must be an object, got string"),
        ("removeinitial", {"tgt": {"node": "A", "port": "in"}}, "no IIP on A.in"),
        ("addinport", {"public": "p", "node": "nope", "port": "in"}, "unknown node 'nope'"),
        ("removeinport", {"public": "p"}, "unknown exported inport 'p'"),
        ("renameoutport", {"from": "p", "to": "q"}, "unknown exported outport 'p'"),
        ("addgroup", {"name": "grp", "nodes": "A"}, "'nodes' must be an array of node ids"),
        ("addgroup", {"name": "grp", "nodes": ["A", "nope"]}, "group 'grp': unknown node 'nope'"),
        ("removegroup", {"name": "nope"}, "unknown group 'nope'"),
        (
            "changegroup",
            {"name": "grp", "metadata": {"description": 3}},
            "'metadata.description' must be a string, got number",
        ),
    ],
)
def test_invalid_changes_are_refused_and_change_nothing(client, graph, command, payload, text):
    nodes, edges = dict(graph.nodes), list(graph.edges)
    message = client.error("graph", command, {"graph": "g", **payload})
    assert message.startswith(text), message
    assert graph.nodes == nodes and graph.edges == edges


def test_clear_needs_an_id(client):
    assert client.error("graph", "clear", {"name": "x"}) == "'id' is required"
    assert (
        client.error("graph", "clear", {"id": "x", "main": "yes"})
        == "'main' must be a boolean, got string"
    )


def test_clear_refuses_a_graph_id_longer_than_the_limit_and_creates_nothing(runtime, client):
    longest = "g" * MAX_GRAPH_ID_LENGTH
    assert client.request("graph", "clear", {"id": longest})["command"] == "clear"
    start = len(client.messages)
    message = client.error("graph", "clear", {"id": "x" * (MAX_GRAPH_ID_LENGTH + 1), "main": True})
    assert message == (
        f"graph id {'x' * 32!r}... is {MAX_GRAPH_ID_LENGTH + 1} characters "
        f"long; the most a graph id may have is {MAX_GRAPH_ID_LENGTH}"
    )
    assert client.commands(start) == ["graph:error"]
    assert set(runtime.graphs()) == {longest} and runtime.main_graph is None


def test_a_graph_file_with_too_long_an_id_is_not_hosted(runtime, tmp_path):
    path = tmp_path / "long.json"
    path.write_text(json.dumps({"properties": {"id": "y" * 300}, "processes": {}}))
    with pytest.raises(GraphError, match="300 characters long"):
        runtime.load_graph_file(path)
    assert runtime.graphs() == {}


# -- who gets the acks -------------------------------------------------------------------------


def test_acks_go_to_every_client_that_may_read_graphs(make_runtime):
    rt = make_runtime(
        permissions={
            "secrets": {
                "editor": {"capabilities": ["protocol:graph"]},
                "viewer": {"capabilities": ["graph:readonly"]},
                "blind": {"capabilities": ["protocol:component"]},
            }
        }
    )
    editor = ProtocolClient(rt, "editor", secret="editor")
    viewer = ProtocolClient(rt, "viewer", secret="viewer")
    blind = ProtocolClient(rt, "blind", secret="blind")
    for c in (viewer, blind):
        c.request("runtime", "getruntime", reply="runtime")
    editor.request("graph", "clear", {"id": "g"}, requestId="1")
    editor.request(
        "graph", "addnode", {"graph": "g", "id": "A", "component": "core/Repeat"}, requestId="2"
    )
    assert viewer.expect("graph", "addnode", id="A")["payload"]["graph"] == "g"
    assert "responseTo" not in viewer.messages[-1]
    assert editor.messages[-1]["responseTo"] == "2"
    assert not any(m["protocol"] == "graph" for m in blind.messages)
    assert (
        viewer.error("graph", "addnode", {"graph": "g", "id": "B", "component": "core/Repeat"})
        == "graph:addnode is not permitted"
    )


def test_changes_made_outside_the_protocol_are_announced(runtime, client, graph):
    graph.add_node("Direct", "core/Drop")
    assert client.expect("graph", "addnode", id="Direct")["payload"]["graph"] == "g"


def test_several_graphs(runtime, client):
    build(client, "one", {"A": "core/Repeat"})
    build(client, "two", {"A": "core/Drop"}, main=True)
    assert runtime.get_graph("one").graph.nodes["A"].component == "core/Repeat"
    assert runtime.get_graph("two").graph.nodes["A"].component == "core/Drop"
    assert runtime.main_graph == "two"
    info = client.request("runtime", "getruntime", reply="runtime")["payload"]
    assert info["graph"] == "two"
