"""flowpy.graphs.model: every change, its event, and that invalid changes change nothing."""

from __future__ import annotations

import logging
import threading

import pytest

from flowpy.graphs import json_format as graph_json
from flowpy.graphs.model import (
    EVENTS,
    Edge,
    Export,
    Graph,
    GraphError,
    Group,
    Initial,
    Node,
    PortRef,
)


class Recorder:
    """A subscriber that remembers every (event, payload) it was given."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def __call__(self, event: str, payload: dict) -> None:
        self.events.append((event, payload))

    @property
    def names(self) -> list[str]:
        return [event for event, _ in self.events]


def P(node: str, port: str, index=None) -> PortRef:
    return PortRef(node, port, index)


@pytest.fixture
def graph() -> Graph:
    return Graph("test")


@pytest.fixture
def rec(graph: Graph) -> Recorder:
    recorder = Recorder()
    graph.subscribe(recorder)
    return recorder


def rich_graph() -> Graph:
    """A graph using every feature, for checking that failed changes leave it alone."""
    g = Graph("rich", {"description": "all features"})
    g.add_node("a", "core/Repeat", {"x": 10, "y": 20})
    g.add_node("b", "core/Split")
    g.add_node("c", "core/Merge", {"label": "C"})
    g.add_edge(P("a", "out"), P("b", "in"))
    g.add_edge(P("b", "out", 0), P("c", "in", "left"), {"route": 3})
    g.add_initial("hello", P("a", "in"))
    g.add_initial({"n": 1}, P("c", "in", 1), {"note": "iip"})
    g.add_inport("IN", "a", "in", {"x": 1})
    g.add_outport("OUT", "c", "out")
    g.add_group("grp", ["a", "b"], {"description": "first two"})
    return g


# -- construction and identity ------------------------------------------------------------


def test_default_graph_is_called_main():
    g = Graph()
    assert g.name == "main"
    assert g.properties == {"name": "main"}


def test_name_lives_in_properties():
    g = Graph("demo", {"description": "d"})
    assert g.properties == {"name": "demo", "description": "d"}
    g.name = "other"
    assert g.properties["name"] == "other"


def test_properties_name_is_used_when_no_name_is_given():
    assert Graph(properties={"name": "fromprops"}).name == "fromprops"


def test_explicit_name_overrides_properties():
    assert Graph("explicit", {"name": "fromprops"}).name == "explicit"


def test_constructor_copies_properties():
    props = {"env": {"type": "py"}}
    g = Graph("g", props)
    props["env"]["type"] = "changed"
    assert g.properties["env"] == {"type": "py"}


@pytest.mark.parametrize(
    "kwargs", [{"name": ""}, {"name": 3}, {"properties": [1]}, {"properties": {"name": 5}}]
)
def test_constructor_rejects_bad_name_or_properties(kwargs):
    with pytest.raises(GraphError):
        Graph(**kwargs)


def test_name_setter_rejects_non_strings(graph):
    with pytest.raises(GraphError):
        graph.name = None
    assert graph.name == "test"


def test_new_graph_is_empty(graph):
    assert (graph.nodes, graph.edges, graph.initials) == ({}, [], [])
    assert (graph.inports, graph.outports, graph.groups) == ({}, {}, [])


def test_repr_mentions_name_and_counts():
    assert "'rich'" in repr(rich_graph()) and "3 nodes" in repr(rich_graph())


# -- PortRef ----------------------------------------------------------------------------------


def test_portref_to_dict_omits_missing_index():
    assert P("a", "in").to_dict() == {"node": "a", "port": "in"}
    assert P("a", "in", 0).to_dict() == {"node": "a", "port": "in", "index": 0}
    assert P("a", "in", "k").to_dict() == {"node": "a", "port": "in", "index": "k"}


def test_portref_from_dict_round_trips():
    for ref in (P("a", "in"), P("a", "in", 3), P("a", "in", "key")):
        assert PortRef.from_dict(ref.to_dict()) == ref


@pytest.mark.parametrize(
    "data", [None, "a.in", {"port": "in"}, {"node": "a"}, {"node": "a", "port": "in", "index": -1}]
)
def test_portref_from_dict_rejects_non_ports(data):
    with pytest.raises(GraphError):
        PortRef.from_dict(data)


@pytest.mark.parametrize(
    "args",
    [
        ("", "in"),
        ("a", ""),
        (None, "in"),
        ("a", 3),
        ("a", "in", -1),
        ("a", "in", True),
        ("a", "in", 1.5),
        ("a", "in", [0]),
    ],
)
def test_portref_rejects_bad_parts(args):
    with pytest.raises(GraphError):
        PortRef(*args)


def test_portref_is_hashable_and_compares_index():
    assert P("a", "in", 0) != P("a", "in")
    assert P("a", "in", 1) != P("a", "in", "1")
    assert len({P("a", "in"), P("a", "in"), P("a", "in", 0)}) == 2


def test_portref_str():
    assert str(P("a", "in")) == "a.in"
    assert str(P("a", "in", 2)) == "a.in[2]"


# -- nodes --------------------------------------------------------------------------------------


def test_add_node_event_and_model(graph, rec):
    node = graph.add_node("a", "core/Repeat", {"x": 1, "y": 2})
    assert rec.events == [
        ("addnode", {"id": "a", "component": "core/Repeat", "metadata": {"x": 1, "y": 2}})
    ]
    assert graph.nodes == {"a": Node("a", "core/Repeat", {"x": 1, "y": 2})}
    assert node is graph.nodes["a"]


def test_add_node_without_metadata_reports_empty_metadata(graph, rec):
    graph.add_node("a", "X")
    assert rec.events == [("addnode", {"id": "a", "component": "X", "metadata": {}})]


def test_node_coordinates_are_stored_as_given(graph):
    graph.add_node("a", "X", {"x": 12.5, "y": "7", "width": None})
    assert graph.nodes["a"].metadata == {"x": 12.5, "y": "7", "width": None}


def test_add_node_copies_metadata(graph):
    meta = {"tags": ["t"]}
    graph.add_node("a", "X", meta)
    meta["tags"].append("later")
    assert graph.nodes["a"].metadata == {"tags": ["t"]}


def test_change_node_merges_and_deletes(graph, rec):
    graph.add_node("a", "X", {"x": 1, "y": 2, "label": "A"})
    node = graph.change_node("a", {"x": 5, "label": None, "new": [1]})
    assert node.metadata == {"x": 5, "y": 2, "new": [1]}
    assert rec.events[-1] == ("changenode", {"id": "a", "metadata": {"x": 5, "y": 2, "new": [1]}})


def test_change_node_deleting_missing_key_is_harmless(graph, rec):
    graph.add_node("a", "X", {"x": 1})
    graph.change_node("a", {"absent": None})
    assert graph.nodes["a"].metadata == {"x": 1}
    assert rec.events[-1] == ("changenode", {"id": "a", "metadata": {"x": 1}})


def test_remove_node_alone(graph, rec):
    graph.add_node("a", "X")
    removed = graph.remove_node("a")
    assert removed.id == "a" and graph.nodes == {}
    assert rec.events[-1] == ("removenode", {"id": "a"})


def test_remove_node_cascades_in_order():
    g = rich_graph()
    g.add_node("d", "X")
    g.add_edge(P("c", "out"), P("a", "loop", 2))
    g.add_edge(P("b", "out"), P("d", "in"))
    g.add_initial(7, P("a", "count"))
    g.add_outport("ECHO", "a", "echo")
    g.add_group("solo", ["a"])
    rec = Recorder()
    g.subscribe(rec)

    g.remove_node("a")

    assert rec.events == [
        ("removeedge", {"src": {"node": "a", "port": "out"}, "tgt": {"node": "b", "port": "in"}}),
        (
            "removeedge",
            {"src": {"node": "c", "port": "out"}, "tgt": {"node": "a", "port": "loop", "index": 2}},
        ),
        ("removeinitial", {"src": {"data": "hello"}, "tgt": {"node": "a", "port": "in"}}),
        ("removeinitial", {"src": {"data": 7}, "tgt": {"node": "a", "port": "count"}}),
        ("removeinport", {"public": "IN"}),
        ("removeoutport", {"public": "ECHO"}),
        ("removenode", {"id": "a"}),
    ]
    assert "a" not in g.nodes
    assert all("a" not in (e.src.node, e.tgt.node) for e in g.edges)
    assert len(g.edges) == 2 and len(g.initials) == 1
    assert g.inports == {} and list(g.outports) == ["OUT"]
    assert g.group("grp").nodes == ["b"]
    assert g.group("solo").nodes == []


def test_subscriber_sees_each_cascade_step_applied():
    g = rich_graph()
    seen = []
    g.subscribe(
        lambda event, _: seen.append((event, len(g.edges), len(g.initials), "a" in g.nodes))
    )
    g.remove_node("a")
    assert seen == [
        ("removeedge", 1, 2, True),
        ("removeinitial", 1, 1, True),
        ("removeinport", 1, 1, True),
        ("removenode", 1, 1, False),
    ]


def test_rename_node_updates_everything():
    g = rich_graph()
    g.add_outport("ECHO", "a", "echo")
    g.add_edge(P("c", "out"), P("a", "loop"))
    rec = Recorder()
    g.subscribe(rec)

    g.rename_node("a", "z")

    assert rec.events == [("renamenode", {"from": "a", "to": "z"})]
    assert list(g.nodes) == ["z", "b", "c"]  # position kept
    node = g.nodes["z"]
    assert node.id == "z" and node.component == "core/Repeat"
    assert node.metadata == {"x": 10, "y": 20}
    assert g.edges[0].src == P("z", "out")
    assert g.edges[2].tgt == P("z", "loop")
    assert g.edges[1].src == P("b", "out", 0)  # untouched edge
    assert g.initials[0].tgt == P("z", "in")
    assert g.inports["IN"].process == "z" and g.outports["ECHO"].process == "z"
    assert g.outports["OUT"].process == "c"
    assert g.group("grp").nodes == ["z", "b"]


def test_rename_node_keeps_index_and_metadata_of_edges():
    g = Graph()
    g.add_node("a", "X")
    g.add_node("b", "X")
    g.add_edge(P("a", "out", "k"), P("b", "in", 4), {"route": 1})
    g.rename_node("b", "c")
    assert g.edges == [Edge(P("a", "out", "k"), P("c", "in", 4), {"route": 1})]


def test_rename_then_old_name_is_free(graph):
    graph.add_node("a", "X")
    graph.rename_node("a", "b")
    graph.add_node("a", "Y")
    assert set(graph.nodes) == {"a", "b"}


# -- edges ----------------------------------------------------------------------------------------


@pytest.fixture
def two(graph):
    graph.add_node("a", "X")
    graph.add_node("b", "Y")
    return graph


def test_add_edge_event(two, rec):
    edge = two.add_edge(P("a", "out"), P("b", "in"), {"route": 2})
    assert rec.events[-1] == (
        "addedge",
        {
            "src": {"node": "a", "port": "out"},
            "tgt": {"node": "b", "port": "in"},
            "metadata": {"route": 2},
        },
    )
    assert two.edges == [edge] and edge.metadata == {"route": 2}


@pytest.mark.parametrize("src_index,tgt_index", [(0, None), (None, "key"), (3, "x"), (0, 0)])
def test_add_edge_event_carries_indexes(two, rec, src_index, tgt_index):
    two.add_edge(P("a", "out", src_index), P("b", "in", tgt_index))
    payload = rec.events[-1][1]
    assert payload["src"].get("index") == src_index
    assert payload["tgt"].get("index") == tgt_index
    assert ("index" in payload["src"]) == (src_index is not None)
    assert ("index" in payload["tgt"]) == (tgt_index is not None)


def test_edges_differing_only_in_index_are_distinct(two):
    two.add_edge(P("a", "out"), P("b", "in"))
    two.add_edge(P("a", "out"), P("b", "in", 0))
    two.add_edge(P("a", "out"), P("b", "in", "0"))
    assert len(two.edges) == 3


def test_self_loop_is_allowed(two):
    two.add_edge(P("a", "out"), P("a", "in"))
    assert two.edges_to("a") == two.edges_from("a")


def test_remove_edge_event(two, rec):
    two.add_edge(P("a", "out", 1), P("b", "in"), {"route": 1})
    removed = two.remove_edge(P("a", "out", 1), P("b", "in"))
    assert removed.metadata == {"route": 1} and two.edges == []
    assert rec.events[-1] == (
        "removeedge",
        {"src": {"node": "a", "port": "out", "index": 1}, "tgt": {"node": "b", "port": "in"}},
    )


def test_remove_edge_picks_the_exact_edge(two):
    two.add_edge(P("a", "out"), P("b", "in", 0))
    two.add_edge(P("a", "out"), P("b", "in", 1))
    two.remove_edge(P("a", "out"), P("b", "in", 1))
    assert [e.tgt.index for e in two.edges] == [0]


def test_change_edge_merges_metadata(two, rec):
    two.add_edge(P("a", "out"), P("b", "in", "k"), {"route": 1, "label": "x"})
    edge = two.change_edge(P("a", "out"), P("b", "in", "k"), {"route": 4, "label": None})
    assert edge.metadata == {"route": 4}
    assert rec.events[-1] == (
        "changeedge",
        {
            "src": {"node": "a", "port": "out"},
            "tgt": {"node": "b", "port": "in", "index": "k"},
            "metadata": {"route": 4},
        },
    )


def test_edge_lookup_helpers(two):
    two.add_node("c", "Z")
    e1 = two.add_edge(P("a", "out"), P("b", "in"))
    e2 = two.add_edge(P("a", "err"), P("c", "in"))
    e3 = two.add_edge(P("b", "out"), P("c", "in"))
    assert two.edges_from("a") == [e1, e2]
    assert two.edges_from("a", "err") == [e2]
    assert two.edges_to("c") == [e2, e3]
    assert two.edges_to("c", "other") == []
    assert two.find_edge(P("b", "out"), P("c", "in")) is e3
    assert two.find_edge(P("b", "out", 0), P("c", "in")) is None


# -- IIPs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", [None, True, False, 0, -3, 2.5, "", "text", [], [1, [2]], {}, {"a": {"b": None}}]
)
def test_add_initial_event_for_every_json_type(graph, rec, data):
    graph.add_node("a", "X")
    iip = graph.add_initial(data, P("a", "in"))
    assert iip.data == data and graph.initials == [iip]
    assert rec.events[-1] == (
        "addinitial",
        {"src": {"data": data}, "tgt": {"node": "a", "port": "in"}, "metadata": {}},
    )


def test_add_initial_with_index_and_metadata(graph, rec):
    graph.add_node("a", "X")
    graph.add_initial(5, P("a", "in", 2), {"note": "n"})
    assert rec.events[-1] == (
        "addinitial",
        {
            "src": {"data": 5},
            "tgt": {"node": "a", "port": "in", "index": 2},
            "metadata": {"note": "n"},
        },
    )


def test_add_initial_copies_data(graph):
    graph.add_node("a", "X")
    data = {"list": [1]}
    graph.add_initial(data, P("a", "in"))
    data["list"].append(2)
    assert graph.initials[0].data == {"list": [1]}


def test_remove_initial_returns_it_and_reports_data(graph, rec):
    graph.add_node("a", "X")
    graph.add_initial({"k": "v"}, P("a", "in"), {"m": 1})
    removed = graph.remove_initial(P("a", "in"))
    assert removed == Initial({"k": "v"}, P("a", "in"), {"m": 1})
    assert graph.initials == []
    assert rec.events[-1] == (
        "removeinitial",
        {"src": {"data": {"k": "v"}}, "tgt": {"node": "a", "port": "in"}},
    )


def test_remove_initial_matches_index_and_takes_oldest(graph):
    graph.add_node("a", "X")
    graph.add_initial("first", P("a", "in"))
    graph.add_initial("indexed", P("a", "in", 0))
    graph.add_initial("second", P("a", "in"))
    assert graph.remove_initial(P("a", "in", 0)).data == "indexed"
    assert graph.remove_initial(P("a", "in")).data == "first"
    assert [i.data for i in graph.initials] == ["second"]


def test_initials_to(graph):
    graph.add_node("a", "X")
    graph.add_node("b", "X")
    i1 = graph.add_initial(1, P("a", "in"))
    graph.add_initial(2, P("b", "in"))
    i3 = graph.add_initial(3, P("a", "opt"))
    assert graph.initials_to("a") == [i1, i3]
    assert graph.initials_to("a", "opt") == [i3]


# -- exported ports -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["inport", "outport"])
def test_export_events(two, rec, kind):
    add = getattr(two, f"add_{kind}")
    rename = getattr(two, f"rename_{kind}")
    remove = getattr(two, f"remove_{kind}")
    exports = getattr(two, f"{kind}s")

    export = add("PUB", "a", "port")
    assert rec.events[-1] == (f"add{kind}", {"public": "PUB", "node": "a", "port": "port"})
    assert exports == {"PUB": Export("a", "port", {})} and export is exports["PUB"]

    add("META", "b", "p2", {"x": 3})
    assert rec.events[-1] == (
        f"add{kind}",
        {"public": "META", "node": "b", "port": "p2", "metadata": {"x": 3}},
    )

    rename("PUB", "NEW")
    assert rec.events[-1] == (f"rename{kind}", {"from": "PUB", "to": "NEW"})
    assert list(exports) == ["NEW", "META"]
    assert exports["NEW"] == Export("a", "port", {})

    removed = remove("NEW")
    assert removed == Export("a", "port", {})
    assert rec.events[-1] == (f"remove{kind}", {"public": "NEW"})
    assert list(exports) == ["META"]


def test_inports_and_outports_are_separate_namespaces(two):
    two.add_inport("X", "a", "in")
    two.add_outport("X", "b", "out")
    assert two.inports["X"].process == "a" and two.outports["X"].process == "b"


def test_same_node_port_may_be_exported_twice(two):
    two.add_inport("A", "a", "in")
    two.add_inport("B", "a", "in")
    assert len(two.inports) == 2


def test_export_names_are_case_sensitive(two):
    two.add_inport("in", "a", "in")
    two.add_inport("IN", "a", "in")
    two.rename_inport("in", "In")
    assert sorted(two.inports) == ["IN", "In"]


# -- groups ---------------------------------------------------------------------------------------


def test_group_lifecycle(two, rec):
    group = two.add_group("g", ["a", "b"], {"description": "d"})
    assert rec.events[-1] == (
        "addgroup",
        {"name": "g", "nodes": ["a", "b"], "metadata": {"description": "d"}},
    )
    assert two.groups == [group] and two.group("g") is group

    two.rename_group("g", "h")
    assert rec.events[-1] == ("renamegroup", {"from": "g", "to": "h"})
    assert two.group("g") is None and two.group("h") is group

    two.change_group("h", {"description": None, "color": 3})
    assert rec.events[-1] == ("changegroup", {"name": "h", "metadata": {"color": 3}})
    assert group.metadata == {"color": 3}

    removed = two.remove_group("h")
    assert removed == Group("h", ["a", "b"], {"color": 3})
    assert rec.events[-1] == ("removegroup", {"name": "h"})
    assert two.groups == [] and set(two.nodes) == {"a", "b"}


def test_add_group_accepts_any_iterable_and_empty(two):
    two.add_group("t", ("a",))
    two.add_group("empty", [])
    assert two.group("t").nodes == ["a"] and two.group("empty").nodes == []


def test_add_group_reports_empty_metadata(two, rec):
    two.add_group("g", ["a"])
    assert rec.events[-1] == ("addgroup", {"name": "g", "nodes": ["a"], "metadata": {}})


def test_node_may_be_in_several_groups(two):
    two.add_group("g1", ["a"])
    two.add_group("g2", ["a", "b"])
    two.rename_node("a", "z")
    assert [g.nodes for g in two.groups] == [["z"], ["z", "b"]]


# -- clear ----------------------------------------------------------------------------------------


def test_clear_empties_everything_but_properties():
    g = rich_graph()
    rec = Recorder()
    g.subscribe(rec)
    g.clear()
    assert rec.events == [("clear", {"name": "rich"})]
    assert (g.nodes, g.edges, g.initials) == ({}, [], [])
    assert (g.inports, g.outports, g.groups) == ({}, {}, [])
    assert g.properties == {"name": "rich", "description": "all features"}
    g.add_node("a", "X")  # usable afterwards
    assert list(g.nodes) == ["a"]


# -- invalid changes change nothing ---------------------------------------------------------------

INVALID_CHANGES = {
    "add_node duplicate id": lambda g: g.add_node("a", "Other"),
    "add_node int id": lambda g: g.add_node(1, "X"),
    "add_node None id": lambda g: g.add_node(None, "X"),
    "add_node empty id": lambda g: g.add_node("", "X"),
    "add_node non-str component": lambda g: g.add_node("n", 3),
    "add_node empty component": lambda g: g.add_node("n", ""),
    "add_node list metadata": lambda g: g.add_node("n", "X", ["x"]),
    "remove_node unknown": lambda g: g.remove_node("nope"),
    "remove_node non-str": lambda g: g.remove_node(5),
    "rename_node unknown": lambda g: g.rename_node("nope", "z"),
    "rename_node onto existing": lambda g: g.rename_node("a", "b"),
    "rename_node onto itself": lambda g: g.rename_node("a", "a"),
    "rename_node non-str new": lambda g: g.rename_node("a", 7),
    "rename_node empty new": lambda g: g.rename_node("a", ""),
    "change_node unknown": lambda g: g.change_node("nope", {"x": 1}),
    "change_node list metadata": lambda g: g.change_node("a", [("x", 1)]),
    "add_edge unknown source node": lambda g: g.add_edge(P("nope", "out"), P("b", "in")),
    "add_edge unknown target node": lambda g: g.add_edge(P("a", "out"), P("nope", "in")),
    "add_edge duplicate": lambda g: g.add_edge(P("a", "out"), P("b", "in")),
    "add_edge duplicate with indexes": lambda g: g.add_edge(P("b", "out", 0), P("c", "in", "left")),
    "add_edge tuple source": lambda g: g.add_edge(("a", "out"), P("b", "in")),
    "add_edge dict target": lambda g: g.add_edge(P("a", "out"), {"node": "b", "port": "x"}),
    "add_edge bad metadata": lambda g: g.add_edge(P("a", "x"), P("b", "y"), "meta"),
    "remove_edge unknown": lambda g: g.remove_edge(P("a", "out"), P("c", "in")),
    "remove_edge index mismatch": lambda g: g.remove_edge(P("b", "out"), P("c", "in", "left")),
    "remove_edge non-PortRef": lambda g: g.remove_edge("a.out", "b.in"),
    "change_edge unknown": lambda g: g.change_edge(P("a", "out"), P("b", "in", 0), {"x": 1}),
    "change_edge bad metadata": lambda g: g.change_edge(P("a", "out"), P("b", "in"), 3),
    "add_initial unknown node": lambda g: g.add_initial(1, P("nope", "in")),
    "add_initial non-PortRef": lambda g: g.add_initial(1, ("a", "in")),
    "add_initial bad metadata": lambda g: g.add_initial(1, P("a", "in"), ["m"]),
    "remove_initial none there": lambda g: g.remove_initial(P("b", "in")),
    "remove_initial index mismatch": lambda g: g.remove_initial(P("c", "in")),
    "remove_initial non-PortRef": lambda g: g.remove_initial({"node": "a", "port": "in"}),
    "add_inport duplicate": lambda g: g.add_inport("IN", "b", "in"),
    "add_inport unknown node": lambda g: g.add_inport("NEW", "nope", "in"),
    "add_inport non-str public": lambda g: g.add_inport(None, "a", "in"),
    "add_inport empty port": lambda g: g.add_inport("NEW", "a", ""),
    "add_inport bad metadata": lambda g: g.add_inport("NEW", "a", "in", 1),
    "remove_inport unknown": lambda g: g.remove_inport("NOPE"),
    "remove_inport names an outport": lambda g: g.remove_inport("OUT"),
    "rename_inport unknown": lambda g: g.rename_inport("NOPE", "X"),
    "rename_inport onto existing": lambda g: g.rename_inport("IN", "IN2"),
    "rename_inport non-str new": lambda g: g.rename_inport("IN", 3),
    "add_outport duplicate": lambda g: g.add_outport("OUT", "b", "out"),
    "add_outport unknown node": lambda g: g.add_outport("NEW", "nope", "out"),
    "remove_outport unknown": lambda g: g.remove_outport("IN"),
    "rename_outport unknown": lambda g: g.rename_outport("NOPE", "X"),
    "rename_outport empty new": lambda g: g.rename_outport("OUT", ""),
    "add_group duplicate": lambda g: g.add_group("grp", ["c"]),
    "add_group unknown node": lambda g: g.add_group("new", ["a", "nope"]),
    "add_group non-str node": lambda g: g.add_group("new", ["a", 1]),
    "add_group string nodes": lambda g: g.add_group("new", "ab"),
    "add_group repeated node": lambda g: g.add_group("new", ["a", "a"]),
    "add_group non-str name": lambda g: g.add_group(3, ["a"]),
    "add_group bad metadata": lambda g: g.add_group("new", ["a"], "m"),
    "remove_group unknown": lambda g: g.remove_group("nope"),
    "rename_group unknown": lambda g: g.rename_group("nope", "x"),
    "rename_group onto existing": lambda g: g.rename_group("grp", "g2"),
    "rename_group non-str new": lambda g: g.rename_group("grp", None),
    "change_group unknown": lambda g: g.change_group("nope", {}),
    "change_group bad metadata": lambda g: g.change_group("grp", "m"),
}


# Extra items some invalid changes need; made before the snapshot is taken.
SETUP = {
    "rename_inport onto existing": lambda g: g.add_inport("IN2", "b", "in"),
    "rename_group onto existing": lambda g: g.add_group("g2", []),
}


@pytest.mark.parametrize("name", INVALID_CHANGES)
def test_invalid_change_raises_and_changes_nothing(name):
    g = rich_graph()
    SETUP.get(name, lambda g: None)(g)
    rec = Recorder()
    g.subscribe(rec)
    before = graph_json.dump(g)

    with pytest.raises(GraphError) as info:
        INVALID_CHANGES[name](g)

    assert str(info.value)
    assert graph_json.dump(g) == before
    assert rec.events == []


def test_error_messages_name_the_problem(graph):
    graph.add_node("a", "X")
    with pytest.raises(GraphError, match="already exists"):
        graph.add_node("a", "X")
    with pytest.raises(GraphError, match="unknown node 'zz'"):
        graph.add_edge(P("a", "out"), P("zz", "in"))
    with pytest.raises(GraphError, match="unknown edge a.out -> a.in"):
        graph.remove_edge(P("a", "out"), P("a", "in"))
    with pytest.raises(GraphError, match="no IIP on a.in\\[2\\]"):
        graph.remove_initial(P("a", "in", 2))
    with pytest.raises(GraphError, match="unknown exported inport 'X'"):
        graph.remove_inport("X")
    with pytest.raises(GraphError, match="unknown group 'g'"):
        graph.remove_group("g")


def test_graph_error_is_a_value_error():
    assert issubclass(GraphError, ValueError)


# -- subscribers ----------------------------------------------------------------------------------


def test_every_event_name_is_a_protocol_command():
    g = rich_graph()
    rec = Recorder()
    g.subscribe(rec)
    g.change_node("a", {"x": 1})
    g.change_edge(P("a", "out"), P("b", "in"), {"route": 1})
    g.rename_node("a", "z")
    g.rename_inport("IN", "IN2")
    g.rename_outport("OUT", "OUT2")
    g.rename_group("grp", "g2")
    g.change_group("g2", {"x": 1})
    g.remove_group("g2")
    g.remove_initial(P("c", "in", 1))
    g.remove_edge(P("b", "out", 0), P("c", "in", "left"))
    g.remove_outport("OUT2")
    g.remove_node("z")
    g.clear()
    assert set(rec.names) <= EVENTS
    assert len(EVENTS) == 20


def test_unsubscribe_stops_events_and_is_idempotent(graph):
    rec = Recorder()
    unsubscribe = graph.subscribe(rec)
    graph.add_node("a", "X")
    unsubscribe()
    unsubscribe()
    graph.add_node("b", "X")
    assert rec.names == ["addnode"]


def test_same_callback_subscribed_twice_is_called_twice(graph):
    rec = Recorder()
    first = graph.subscribe(rec)
    graph.subscribe(rec)
    graph.add_node("a", "X")
    first()
    graph.add_node("b", "X")
    assert rec.names == ["addnode", "addnode", "addnode"]


def test_subscribe_rejects_non_callables(graph):
    with pytest.raises(TypeError):
        graph.subscribe("not callable")


def test_failing_subscriber_is_logged_and_does_not_break_others(graph, caplog):
    def broken(event, payload):
        raise RuntimeError("boom")

    rec = Recorder()
    graph.subscribe(broken)
    graph.subscribe(rec)
    with caplog.at_level(logging.ERROR, logger="flowpy.graphs.model"):
        graph.add_node("a", "X")
    assert "a" in graph.nodes
    assert rec.names == ["addnode"]
    failures = [r for r in caplog.records if r.exc_info]
    assert len(failures) == 1 and isinstance(failures[0].exc_info[1], RuntimeError)
    assert "addnode" in failures[0].getMessage()


def test_payloads_are_private_copies(graph):
    def vandal(event, payload):
        payload["metadata"]["x"] = "vandalised"
        payload["id"] = "other"

    rec = Recorder()
    graph.subscribe(vandal)
    graph.subscribe(rec)
    graph.add_node("a", "X", {"x": 1})
    assert graph.nodes["a"].metadata == {"x": 1}
    assert rec.events == [("addnode", {"id": "a", "component": "X", "metadata": {"x": 1}})]


def test_subscriber_may_change_the_graph_reentrantly(graph):
    def follower(event, payload):
        if event == "addnode" and not payload["id"].endswith("_shadow"):
            graph.add_node(payload["id"] + "_shadow", "Shadow")

    rec = Recorder()
    graph.subscribe(follower)
    graph.subscribe(rec)
    graph.add_node("a", "X")
    assert set(graph.nodes) == {"a", "a_shadow"}
    assert [p["id"] for _, p in rec.events] == ["a_shadow", "a"]


def test_unsubscribing_during_an_event_is_safe(graph):
    calls = []
    unsubscribe = None

    def once(event, payload):
        calls.append(event)
        unsubscribe()

    unsubscribe = graph.subscribe(once)
    graph.add_node("a", "X")
    graph.add_node("b", "X")
    assert calls == ["addnode"]


# -- copy -----------------------------------------------------------------------------------------


def test_copy_is_deep_and_has_no_subscribers():
    g = rich_graph()
    rec = Recorder()
    g.subscribe(rec)
    twin = g.copy()
    assert graph_json.dump(twin) == graph_json.dump(g)
    twin.change_node("a", {"x": 99})
    twin.initials[1].data["n"] = 2
    twin.add_node("new", "X")
    twin.rename_group("grp", "other")
    assert rec.events == []
    assert g.nodes["a"].metadata["x"] == 10
    assert g.initials[1].data == {"n": 1}
    assert "new" not in g.nodes and g.group("grp") is not None
    assert twin.lock is not g.lock


def test_copy_keeps_connection_order_for_new_additions():
    g = rich_graph()
    twin = g.copy()
    twin.add_initial("late", P("b", "in"))
    assert graph_json.dump(twin)["connections"][-1]["data"] == "late"


# -- threads --------------------------------------------------------------------------------------


def test_concurrent_changes_are_all_applied_and_reported_in_order(graph):
    rec = Recorder()
    graph.subscribe(rec)
    graph.add_node("hub", "X")
    rec.events.clear()

    def worker(n):
        for i in range(50):
            node = f"n{n}_{i}"
            graph.add_node(node, "X")
            graph.add_edge(P("hub", "out"), P(node, "in"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(graph.nodes) == 201 and len(graph.edges) == 200
    added_nodes = [p["id"] for e, p in rec.events if e == "addnode"]
    assert added_nodes == list(graph.nodes)[1:]  # events in the order of the changes
    edge_targets = [p["tgt"]["node"] for e, p in rec.events if e == "addedge"]
    assert edge_targets == [e.tgt.node for e in graph.edges]
    seen = set()
    for event, payload in rec.events:  # an edge is only reported after its node
        if event == "addnode":
            seen.add(payload["id"])
        else:
            assert payload["tgt"]["node"] in seen
