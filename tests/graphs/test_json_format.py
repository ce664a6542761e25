"""flowpy.graphs.json_format: lossless round trips, errors that name the spot, atomic saves."""

from __future__ import annotations

import copy
import json
import os
import stat

import pytest

from flowpy.graphs import json_format as graph_json
from flowpy.graphs.model import Edge, Export, Graph, GraphError, Group, Initial, Node, PortRef


def P(node, port, index=None):
    return PortRef(node, port, index)


NOFLO_STYLE = {
    "caseSensitive": False,
    "properties": {
        "name": "photobooth",
        "environment": {"type": "noflo-nodejs", "content": "<div></div>"},
        "description": "takes pictures",
        "icon": "camera",
    },
    "inports": {
        "start": {"process": "trigger", "port": "in", "metadata": {"x": 0, "y": 100}},
        "config": {"process": "split", "port": "config"},
    },
    "outports": {
        "image": {"process": "merge", "port": "out", "metadata": {"x": 900, "y": 100.5}},
    },
    "groups": [
        {"name": "capture", "nodes": ["trigger", "split"], "metadata": {"description": "first"}},
        {"name": "empty", "nodes": []},
    ],
    "processes": {
        "trigger": {"component": "core/Repeat", "metadata": {"x": 100, "y": 100, "label": "Go"}},
        "split": {"component": "core/Split", "metadata": {}},
        "merge": {"component": "core/Merge"},
        "sink": {"component": "core/Drop", "metadata": {"x": -5.25, "y": "12"}},
    },
    "connections": [
        {"src": {"process": "trigger", "port": "out"}, "tgt": {"process": "split", "port": "in"}},
        {
            "src": {"process": "split", "port": "out", "index": 0},
            "tgt": {"process": "merge", "port": "in", "index": "left"},
            "metadata": {"route": 3, "schema": "http://example.com/schema"},
        },
        {"data": "interleaved", "tgt": {"process": "merge", "port": "sep"}},
        {
            "src": {"process": "split", "port": "out", "index": 1},
            "tgt": {"process": "merge", "port": "in", "index": "right"},
            "metadata": {},
        },
        {
            "data": {"width": 640, "height": 480},
            "tgt": {"process": "trigger", "port": "config"},
            "metadata": {"note": "size"},
        },
        {"src": {"process": "merge", "port": "out"}, "tgt": {"process": "sink", "port": "in"}},
    ],
}

ALL_JSON_TYPES = [
    None,
    True,
    False,
    0,
    -17,
    2**70,
    3.25,
    -0.5,
    "",
    "text",
    "ünïcødé ✓",
    [],
    [1, "two", [3.0, None]],
    {},
    {"nested": {"deep": [True, {"x": None}]}},
]

IIPS_OF_EVERY_TYPE = {
    "properties": {"name": "iips"},
    "processes": {"p": {"component": "X"}},
    "connections": [
        {"data": value, "tgt": {"process": "p", "port": f"in{i}"}}
        for i, value in enumerate(ALL_JSON_TYPES)
    ]
    + [
        {"data": 1, "tgt": {"process": "p", "port": "arr", "index": 5}},
        {"data": 2, "tgt": {"process": "p", "port": "arr", "index": "named"}},
        {"data": "again", "tgt": {"process": "p", "port": "in0"}, "metadata": {"m": [1]}},
    ],
}

UNKNOWN_KEYS = {
    "caseSensitive": True,
    "properties": {"name": "odd", "custom": {"anything": [1, 2]}},
    "exports": [{"private": "a.in", "public": "legacy"}],
    "x-tool": {"version": 3},
    "processes": {
        "a": {"component": "A", "metadata": {"x": 1}, "tool": "kept"},
        "b": {"component": "B", "status": None},
    },
    "connections": [
        {
            "src": {"process": "a", "port": "out"},
            "tgt": {"process": "b", "port": "in"},
            "comment": "kept too",
        },
        {"data": 4, "tgt": {"process": "a", "port": "in"}, "weight": 0.5},
    ],
    "inports": {"IN": {"process": "a", "port": "in", "hint": "h"}},
    "outports": {},
    "groups": [{"name": "g", "nodes": ["a"], "metadata": {}, "color": "red"}],
}

ROUND_TRIP_DOCS = {
    "noflo-style": NOFLO_STYLE,
    "iips of every type": IIPS_OF_EVERY_TYPE,
    "unknown keys": UNKNOWN_KEYS,
    "empty document": {},
    "only processes": {"processes": {"a": {"component": "A"}}},
    "empty sections": {
        "properties": {},
        "inports": {},
        "outports": {},
        "groups": [],
        "processes": {},
        "connections": [],
    },
    "properties without name": {
        "properties": {"description": "anonymous"},
        "processes": {"a": {"component": "A"}},
    },
    "case sensitive ports": {
        "caseSensitive": True,
        "processes": {"a": {"component": "A"}},
        "inports": {"in": {"process": "a", "port": "in"}, "IN": {"process": "a", "port": "IN"}},
    },
    "iips only": {
        "processes": {"a": {"component": "A"}},
        "connections": [
            {"data": [1], "tgt": {"process": "a", "port": "x"}},
            {"data": [1], "tgt": {"process": "a", "port": "x"}},
        ],
    },
    "indexes": {
        "processes": {"a": {"component": "A"}, "b": {"component": "B"}},
        "connections": [
            {
                "src": {"process": "a", "port": "o", "index": 0},
                "tgt": {"process": "b", "port": "i"},
            },
            {
                "src": {"process": "a", "port": "o"},
                "tgt": {"process": "b", "port": "i", "index": 0},
            },
            {
                "src": {"process": "a", "port": "o", "index": "0"},
                "tgt": {"process": "b", "port": "i"},
            },
            {"src": {"process": "a", "port": "o"}, "tgt": {"process": "b", "port": "i"}},
            {
                "src": {"process": "b", "port": "o", "index": 7},
                "tgt": {"process": "a", "port": "i", "index": "k"},
            },
        ],
    },
}


@pytest.mark.parametrize("doc", ROUND_TRIP_DOCS.values(), ids=ROUND_TRIP_DOCS.keys())
def test_round_trip_is_lossless(doc):
    original = copy.deepcopy(doc)
    assert graph_json.dump(graph_json.load(doc)) == original
    assert doc == original  # load did not touch its input


@pytest.mark.parametrize("doc", ROUND_TRIP_DOCS.values(), ids=ROUND_TRIP_DOCS.keys())
def test_round_trip_through_text(doc):
    text = graph_json.dumps(graph_json.load(doc))
    assert json.loads(text) == doc
    assert graph_json.dump(graph_json.loads(text)) == doc


@pytest.mark.parametrize("doc", ROUND_TRIP_DOCS.values(), ids=ROUND_TRIP_DOCS.keys())
def test_round_trip_through_copy(doc):
    assert graph_json.dump(graph_json.load(doc).copy()) == doc


def test_load_builds_the_model():
    g = graph_json.load(NOFLO_STYLE)
    assert g.name == "photobooth"
    assert g.properties["environment"] == {"type": "noflo-nodejs", "content": "<div></div>"}
    assert list(g.nodes) == ["trigger", "split", "merge", "sink"]
    assert g.nodes["trigger"] == Node("trigger", "core/Repeat", {"x": 100, "y": 100, "label": "Go"})
    assert g.nodes["sink"].metadata == {"x": -5.25, "y": "12"}
    assert g.nodes["merge"].metadata == {}
    assert g.edges == [
        Edge(P("trigger", "out"), P("split", "in"), {}),
        Edge(
            P("split", "out", 0),
            P("merge", "in", "left"),
            {"route": 3, "schema": "http://example.com/schema"},
        ),
        Edge(P("split", "out", 1), P("merge", "in", "right"), {}),
        Edge(P("merge", "out"), P("sink", "in"), {}),
    ]
    assert g.initials == [
        Initial("interleaved", P("merge", "sep"), {}),
        Initial({"width": 640, "height": 480}, P("trigger", "config"), {"note": "size"}),
    ]
    assert g.inports == {
        "start": Export("trigger", "in", {"x": 0, "y": 100}),
        "config": Export("split", "config", {}),
    }
    assert g.outports == {"image": Export("merge", "out", {"x": 900, "y": 100.5})}
    assert g.groups == [
        Group("capture", ["trigger", "split"], {"description": "first"}),
        Group("empty", [], {}),
    ]


def test_index_types_survive_loading():
    g = graph_json.load(ROUND_TRIP_DOCS["indexes"])
    indexes = [(e.src.index, e.tgt.index) for e in g.edges]
    assert indexes == [(0, None), (None, 0), ("0", None), (None, None), (7, "k")]
    assert type(g.edges[0].src.index) is int and type(g.edges[2].src.index) is str


def test_iip_values_keep_their_types():
    g = graph_json.load(IIPS_OF_EVERY_TYPE)
    values = [i.data for i in g.initials][: len(ALL_JSON_TYPES)]
    assert values == ALL_JSON_TYPES
    assert [type(v) for v in values] == [type(v) for v in ALL_JSON_TYPES]


def test_load_does_not_alias_the_document():
    doc = copy.deepcopy(NOFLO_STYLE)
    g = graph_json.load(doc)
    doc["processes"]["trigger"]["metadata"]["x"] = "changed"
    doc["connections"][4]["data"]["width"] = 0
    doc["properties"]["environment"]["type"] = "other"
    assert graph_json.dump(g) == NOFLO_STYLE


def test_dump_returns_fresh_objects():
    g = graph_json.load(NOFLO_STYLE)
    out = graph_json.dump(g)
    out["processes"]["trigger"]["metadata"]["x"] = "changed"
    out["connections"][4]["data"]["width"] = 0
    out["properties"]["name"] = "other"
    out["caseSensitive"] = True
    assert graph_json.dump(g) == NOFLO_STYLE


def test_load_name_argument_only_fills_a_missing_name():
    assert graph_json.load({"properties": {"name": "own"}}, name="fallback").name == "own"
    g = graph_json.load({"processes": {}}, name="fallback")
    assert g.name == "fallback"
    assert graph_json.dump(g)["properties"] == {"name": "fallback"}


def test_unnamed_document_gives_an_unnamed_graph():
    g = graph_json.load({"processes": {}})
    assert g.name == "" and "name" not in g.properties


# -- dumping graphs built in code -----------------------------------------------------------------


def build_in_code() -> Graph:
    g = Graph("built")
    g.add_node("a", "A", {"x": 1})
    g.add_node("b", "B")
    g.add_initial(1, P("a", "in"))
    g.add_edge(P("a", "out", 0), P("b", "in"))
    g.add_initial("x", P("b", "opt", "k"), {"m": 1})
    g.add_inport("IN", "a", "in")
    g.add_outport("OUT", "b", "out", {"x": 5})
    g.add_group("g", ["a"])
    return g


def test_dump_of_a_graph_built_in_code():
    assert graph_json.dump(build_in_code()) == {
        "properties": {"name": "built"},
        "inports": {"IN": {"process": "a", "port": "in"}},
        "outports": {"OUT": {"process": "b", "port": "out", "metadata": {"x": 5}}},
        "groups": [{"name": "g", "nodes": ["a"]}],
        "processes": {"a": {"component": "A", "metadata": {"x": 1}}, "b": {"component": "B"}},
        "connections": [
            {"data": 1, "tgt": {"process": "a", "port": "in"}},
            {
                "src": {"process": "a", "port": "out", "index": 0},
                "tgt": {"process": "b", "port": "in"},
            },
            {
                "data": "x",
                "tgt": {"process": "b", "port": "opt", "index": "k"},
                "metadata": {"m": 1},
            },
        ],
    }


def test_empty_graph_dumps_every_section():
    assert graph_json.dump(Graph()) == {
        "properties": {"name": "main"},
        "inports": {},
        "outports": {},
        "groups": [],
        "processes": {},
        "connections": [],
    }


def test_dumped_graph_round_trips():
    doc = graph_json.dump(build_in_code())
    assert graph_json.dump(graph_json.load(doc)) == doc


def test_changes_after_loading_show_in_the_dump():
    g = graph_json.load(NOFLO_STYLE)
    g.change_node("split", {"x": 1})  # had an explicit empty metadata
    g.change_node("trigger", {"label": None})
    g.rename_node("merge", "join")
    g.remove_initial(P("join", "sep"))
    g.add_initial("new", P("join", "sep"))  # re-added IIPs go to the end
    g.add_outport("extra", "sink", "out")
    doc = graph_json.dump(g)
    assert doc["processes"]["split"] == {"component": "core/Split", "metadata": {"x": 1}}
    assert doc["processes"]["trigger"]["metadata"] == {"x": 100, "y": 100}
    assert (
        doc["processes"]["join"] == {"component": "core/Merge"} and "merge" not in doc["processes"]
    )
    assert doc["outports"]["image"]["process"] == "join"
    assert doc["connections"][-1] == {"data": "new", "tgt": {"process": "join", "port": "sep"}}
    assert all("interleaved" != c.get("data") for c in doc["connections"])
    assert doc["connections"][1]["tgt"] == {"process": "join", "port": "in", "index": "left"}
    assert doc["outports"]["extra"] == {"process": "sink", "port": "out"}
    assert doc["caseSensitive"] is False


def test_sections_left_out_appear_once_they_have_content():
    g = graph_json.load({"processes": {"a": {"component": "A"}}})
    assert graph_json.dump(g) == {"processes": {"a": {"component": "A"}}}
    g.add_inport("IN", "a", "in")
    g.add_group("g", ["a"])
    assert graph_json.dump(g) == {
        "processes": {"a": {"component": "A"}},
        "inports": {"IN": {"process": "a", "port": "in"}},
        "groups": [{"name": "g", "nodes": ["a"]}],
    }


def test_removing_a_node_removes_its_whole_footprint_from_the_dump():
    g = graph_json.load(NOFLO_STYLE)
    g.remove_node("trigger")
    doc = graph_json.dump(g)
    assert "trigger" not in json.dumps(doc["processes"]) + json.dumps(doc["connections"])
    assert "start" not in doc["inports"]
    assert doc["groups"][0]["nodes"] == ["split"]


def test_dumps_writes_readable_json():
    text = graph_json.dumps(build_in_code())
    assert text.startswith('{\n  "properties"')
    assert graph_json.dumps(build_in_code(), indent=None).count("\n") == 0


def test_dumps_keeps_non_ascii_text():
    g = Graph("ünï")
    g.add_node("a", "A")
    g.add_initial("✓", P("a", "in"))
    assert "✓" in graph_json.dumps(g) and "ünï" in graph_json.dumps(g)


def test_dumps_rejects_values_that_are_not_json():
    g = Graph()
    g.add_node("a", "A")
    g.add_initial({1, 2}, P("a", "in"))
    with pytest.raises(GraphError, match="cannot be written as JSON"):
        graph_json.dumps(g)


# -- malformed documents ------------------------------------------------------------------------


def doc_with(**sections):
    """A small valid document with some sections replaced."""
    base = {"processes": {"a": {"component": "A"}, "b": {"component": "B"}}}
    base.update(sections)
    return base


EDGE = {"src": {"process": "a", "port": "out"}, "tgt": {"process": "b", "port": "in"}}

MALFORMED = {
    "not an object": ([], "graph document: expected an object, got a list"),
    "caseSensitive not bool": (
        doc_with(caseSensitive="no"),
        "caseSensitive: expected true or false",
    ),
    "properties not object": (doc_with(properties=[]), "properties: expected an object"),
    "name not string": (doc_with(properties={"name": 3}), "properties.name: expected a string"),
    "processes not object": ({"processes": []}, "processes: expected an object, got a list"),
    "process not object": (
        {"processes": {"a": "A"}},
        "processes.a: expected an object, got the string 'A'",
    ),
    "process without component": (
        {"processes": {"a": {}}},
        "processes.a.component: expected a non-empty string, got null",
    ),
    "component not string": ({"processes": {"a": {"component": 3}}}, "processes.a.component"),
    "component empty": ({"processes": {"a": {"component": ""}}}, "processes.a.component"),
    "empty process id": (
        {"processes": {"": {"component": "A"}}},
        "processes: a process id must not be empty",
    ),
    "process metadata not object": (
        {"processes": {"a": {"component": "A", "metadata": [1]}}},
        "processes.a.metadata: expected an object",
    ),
    "connections not list": (doc_with(connections={}), "connections: expected a list"),
    "connection not object": (
        doc_with(connections=[EDGE, "a -> b"]),
        "connections[1]: expected an object",
    ),
    "connection both src and data": (
        doc_with(connections=[{**EDGE, "data": 1}]),
        "connections[0]: has both 'src' (an edge) and 'data' (an IIP)",
    ),
    "connection neither": (
        doc_with(connections=[{"tgt": EDGE["tgt"]}]),
        "connections[0]: needs 'src'",
    ),
    "connection without tgt": (doc_with(connections=[{"data": 1}]), "connections[0].tgt: missing"),
    "tgt not object": (
        doc_with(connections=[{"data": 1, "tgt": "b.in"}]),
        "connections[0].tgt: expected an object",
    ),
    "src null": (
        doc_with(connections=[{"src": None, "tgt": EDGE["tgt"]}]),
        "connections[0].src: expected an object, got null",
    ),
    "unknown tgt process": (
        doc_with(
            connections=[
                EDGE,
                EDGE | {"src": {"process": "b", "port": "o"}},
                {"data": 1, "tgt": {"process": "b", "port": "i"}},
                {"data": 1, "tgt": {"process": "x", "port": "i"}},
            ]
        ),
        "connections[3].tgt.process: unknown process 'x'",
    ),
    "unknown src process": (
        doc_with(connections=[{"src": {"process": "zz", "port": "o"}, "tgt": EDGE["tgt"]}]),
        "connections[0].src.process: unknown process 'zz'",
    ),
    "process not string": (
        doc_with(connections=[{"data": 1, "tgt": {"process": 1, "port": "i"}}]),
        "connections[0].tgt.process: expected a non-empty string, got the number 1",
    ),
    "missing port": (
        doc_with(connections=[{"data": 1, "tgt": {"process": "a"}}]),
        "connections[0].tgt.port: expected a non-empty string",
    ),
    "index float": (
        doc_with(connections=[{"data": 1, "tgt": {"process": "a", "port": "i", "index": 1.5}}]),
        "connections[0].tgt.index: expected a non-negative integer or a string, got 1.5",
    ),
    "index bool": (
        doc_with(connections=[{"data": 1, "tgt": {"process": "a", "port": "i", "index": True}}]),
        "connections[0].tgt.index",
    ),
    "index negative": (
        doc_with(connections=[{**EDGE, "src": {"process": "a", "port": "o", "index": -1}}]),
        "connections[0].src.index",
    ),
    "index null": (
        doc_with(connections=[{"data": 1, "tgt": {"process": "a", "port": "i", "index": None}}]),
        "connections[0].tgt.index",
    ),
    "unknown key in port": (
        doc_with(connections=[{"data": 1, "tgt": {"process": "a", "port": "i", "node": "a"}}]),
        "connections[0].tgt: unknown key 'node'",
    ),
    "duplicate edge": (
        doc_with(connections=[EDGE, {"data": 0, "tgt": EDGE["tgt"]}, EDGE]),
        "connections[2]: duplicate connection a.out -> b.in",
    ),
    "connection metadata not object": (
        doc_with(connections=[{**EDGE, "metadata": "m"}]),
        "connections[0].metadata: expected an object",
    ),
    "inports not object": (doc_with(inports=[]), "inports: expected an object"),
    "inport not object": (
        doc_with(inports={"IN": None}),
        "inports.IN: expected an object, got null",
    ),
    "inport unknown process": (
        doc_with(inports={"IN": {"process": "x", "port": "in"}}),
        "inports.IN.process: unknown process 'x'",
    ),
    "inport without process": (
        doc_with(inports={"IN": {"port": "in"}}),
        "inports.IN.process: expected a non-empty string",
    ),
    "inport without port": (
        doc_with(inports={"IN": {"process": "a"}}),
        "inports.IN.port: expected a non-empty string",
    ),
    "inport metadata not object": (
        doc_with(inports={"IN": {"process": "a", "port": "in", "metadata": 1}}),
        "inports.IN.metadata: expected an object",
    ),
    "empty inport name": (
        doc_with(inports={"": {"process": "a", "port": "in"}}),
        "inports: an exported port name must not be empty",
    ),
    "outport unknown process": (
        doc_with(outports={"OUT": {"process": "y", "port": "out"}}),
        "outports.OUT.process: unknown process 'y'",
    ),
    "outports not object": (doc_with(outports="OUT"), "outports: expected an object"),
    "groups not list": (doc_with(groups={}), "groups: expected a list"),
    "group not object": (doc_with(groups=["g"]), "groups[0]: expected an object"),
    "group without name": (
        doc_with(groups=[{"nodes": []}]),
        "groups[0].name: expected a non-empty string",
    ),
    "group without nodes": (doc_with(groups=[{"name": "g"}]), "groups[0].nodes: missing"),
    "group nodes not list": (
        doc_with(groups=[{"name": "g", "nodes": "a"}]),
        "groups[0].nodes: expected a list",
    ),
    "group unknown node": (
        doc_with(groups=[{"name": "g", "nodes": ["a", "q"]}]),
        "groups[0].nodes[1]: unknown process 'q'",
    ),
    "group node not string": (
        doc_with(groups=[{"name": "g", "nodes": [["a"]]}]),
        "groups[0].nodes[0]: expected a string",
    ),
    "group node twice": (
        doc_with(groups=[{"name": "g", "nodes": ["a", "b", "a"]}]),
        "groups[0].nodes[2]: process 'a' listed twice",
    ),
    "duplicate group": (
        doc_with(groups=[{"name": "g", "nodes": []}, {"name": "g", "nodes": ["a"]}]),
        "groups[1].name: duplicate group 'g'",
    ),
    "group metadata not object": (
        doc_with(groups=[{"name": "g", "nodes": [], "metadata": []}]),
        "groups[0].metadata: expected an object",
    ),
}


@pytest.mark.parametrize("doc,message", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_document_names_the_problem(doc, message):
    with pytest.raises(GraphError) as info:
        graph_json.load(doc)
    assert message in str(info.value)


def test_loads_rejects_invalid_json():
    with pytest.raises(GraphError, match="invalid JSON"):
        graph_json.loads('{"processes": ')


def test_loads_accepts_bytes():
    assert graph_json.loads(b'{"properties": {"name": "b"}}').name == "b"


# -- files --------------------------------------------------------------------------------------


def test_save_and_load_file(tmp_path):
    path = tmp_path / "photo.json"
    graph_json.save_file(graph_json.load(NOFLO_STYLE), path)
    assert path.read_text(encoding="utf-8") == graph_json.dumps(graph_json.load(NOFLO_STYLE)) + "\n"
    assert graph_json.dump(graph_json.load_file(path)) == NOFLO_STYLE
    assert os.listdir(tmp_path) == ["photo.json"]


def test_load_file_names_unnamed_graphs_after_the_file(tmp_path):
    path = tmp_path / "counter.json"
    path.write_text('{"processes": {"a": {"component": "A"}}}', encoding="utf-8")
    g = graph_json.load_file(str(path))
    assert g.name == "counter" and g.properties == {"name": "counter"}


def test_load_file_keeps_the_documents_own_name(tmp_path):
    path = tmp_path / "file.json"
    path.write_text('{"properties": {"name": "inner"}}', encoding="utf-8")
    assert graph_json.load_file(path).name == "inner"


def test_load_file_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"processes": {"a": {}}}', encoding="utf-8")
    with pytest.raises(GraphError, match=r"bad\.json: processes\.a\.component"):
        graph_json.load_file(path)
    path.write_text("not json", encoding="utf-8")
    with pytest.raises(GraphError, match=r"bad\.json: invalid JSON"):
        graph_json.load_file(path)


def test_load_file_missing_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        graph_json.load_file(tmp_path / "absent.json")


def test_save_file_overwrites_and_keeps_permissions(tmp_path):
    path = tmp_path / "g.json"
    path.write_text("old", encoding="utf-8")
    os.chmod(path, 0o640)
    graph_json.save_file(build_in_code(), path)
    assert json.loads(path.read_text(encoding="utf-8"))["properties"] == {"name": "built"}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert os.listdir(tmp_path) == ["g.json"]


def test_save_file_with_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    graph_json.save_file(build_in_code(), "rel.json")
    assert graph_json.load_file("rel.json").name == "built"
    assert os.listdir(tmp_path) == ["rel.json"]


def test_save_file_syncs_the_file_and_its_directory(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(
            os.path.realpath(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else fd
        )
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    graph_json.save_file(build_in_code(), tmp_path / "g.json")
    assert len(synced) == 2
    if isinstance(synced[1], str):
        assert synced[1] == os.path.realpath(tmp_path)


@pytest.mark.parametrize("failing", ["replace", "fsync", "write"])
def test_failed_save_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch, failing):
    path = tmp_path / "g.json"
    path.write_text('{"old": true}', encoding="utf-8")

    def fail(*args, **kwargs):
        raise OSError(f"simulated {failing} failure")

    if failing == "write":
        real_fdopen = os.fdopen

        class FailingWriter:
            def __init__(self, handle):
                self.handle = handle

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.handle.close()

            def fileno(self):
                return self.handle.fileno()

            def write(self, data):
                self.handle.write(data[:10])
                self.handle.flush()
                fail()

            def flush(self):
                self.handle.flush()

        monkeypatch.setattr(os, "fdopen", lambda *a, **k: FailingWriter(real_fdopen(*a, **k)))
    else:
        monkeypatch.setattr(os, failing, fail)

    with pytest.raises(OSError, match="simulated"):
        graph_json.save_file(build_in_code(), path)
    assert path.read_text(encoding="utf-8") == '{"old": true}'
    assert os.listdir(tmp_path) == ["g.json"]


def test_unserialisable_graph_leaves_the_old_file(tmp_path):
    path = tmp_path / "g.json"
    path.write_text("old", encoding="utf-8")
    g = build_in_code()
    g.add_initial(object(), P("a", "in"))
    with pytest.raises(GraphError):
        graph_json.save_file(g, path)
    assert path.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["g.json"]


def test_save_into_missing_directory_fails_cleanly(tmp_path):
    with pytest.raises(FileNotFoundError):
        graph_json.save_file(build_in_code(), tmp_path / "nope" / "g.json")
    assert os.listdir(tmp_path) == []


def test_a_graph_file_knows_its_folder_so_its_relative_paths_can_mean_the_same_anywhere(
    tmp_path, monkeypatch
):
    from flowpy.graphs.files import read_graph_file

    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "a.fbp").write_text("'x' -> IN r(core/Repeat)\n")
    (tmp_path / "g" / "b.json").write_text(
        '{"properties": {"baseDir": "../data"}, "processes": {"r": {"component": "core/Repeat"}}}'
    )
    monkeypatch.chdir(tmp_path)
    assert read_graph_file("g/a.fbp").properties["baseDir"] == str(tmp_path / "g")
    assert read_graph_file("g/b.json").properties["baseDir"] == str(tmp_path / "data")
