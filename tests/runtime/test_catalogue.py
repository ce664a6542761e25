"""Graphs as components, graph files, and the state directory across restarts."""

from __future__ import annotations

import json

import pytest
from protocol_harness import ProtocolClient, build, matches

from flowpy.graphs import json_format as graph_json
from flowpy.runtime.runtime import Runtime

DOUBLE_FBP = """\
# @description every IP twice
INPORT=Split.IN:IN
OUTPORT=Merge.OUT:OUT
Split(core/Split) OUT[0] -> IN[0] Merge(core/Merge)
Split OUT[1] -> IN[1] Merge
"""

REPEAT_JSON = {
    "properties": {"name": "Again", "library": "mine"},
    "processes": {"R": {"component": "core/Repeat"}},
    "connections": [],
    "inports": {"in": {"process": "R", "port": "in"}},
    "outports": {"out": {"process": "R", "port": "out"}},
}


def components(client: ProtocolClient) -> dict[str, dict]:
    start = len(client.messages)
    client.send("component", "list", {})
    _, ready = client.sink.wait_for(lambda m: m["command"] == "componentsready", start)
    found = {
        m["payload"]["name"]: m["payload"]
        for m in client.since(start)
        if m["command"] == "component"
    }
    assert ready["payload"] == len(found)
    return found


def sub_graph(client: ProtocolClient, graph: str = "sub", library: str | None = None) -> None:
    client.request("graph", "clear", {"id": graph, **({"library": library} if library else {})})
    for node, component in (("R", "core/Repeat"),):
        client.request("graph", "addnode", {"graph": graph, "id": node, "component": component})
    client.request(
        "graph", "addinport", {"graph": graph, "public": "in", "node": "R", "port": "in"}
    )
    client.request(
        "graph", "addoutport", {"graph": graph, "public": "out", "node": "R", "port": "out"}
    )


def through(client: ProtocolClient, graph: str, value, port_in="in", port_out="out"):
    """Send ``value`` into ``graph`` and return what comes out."""
    start = len(client.messages)
    client.request(
        "runtime",
        "packet",
        {"graph": graph, "port": port_in, "event": "data", "payload": value},
        reply="packetsent",
    )
    _, out = client.sink.wait_for(
        matches("runtime", "packet", graph=graph, port=port_out, event="data"), start
    )
    return out["payload"]["payload"]


# -- graphs created over the protocol ------------------------------------------------------------


def test_graphs_other_than_main_are_listed_as_subgraph_components(runtime, client):
    build(client, "top", {"A": "core/Repeat"}, main=True)
    sub_graph(client)
    sub_graph(client, "tools", library="kit")
    sub_graph(client, "proj/thing")
    listed = components(client)
    assert listed["graphs/sub"] == {
        "name": "graphs/sub",
        "description": "",
        "subgraph": True,
        "inPorts": [{"id": "in", "type": "all"}],
        "outPorts": [{"id": "out", "type": "all"}],
    }
    assert listed["kit/tools"]["subgraph"] is True
    assert listed["proj/thing"]["subgraph"] is True  # an id with a library keeps it
    assert not [name for name in listed if name.endswith("/top")]  # the main graph is not
    assert listed["core/Repeat"]["subgraph"] is False


def test_a_graph_runs_another_graph_inline(runtime, client):
    sub_graph(client)
    build(
        client,
        "top",
        {"S": "graphs/sub", "T": "graphs/sub"},
        edges=[("S", "out", "T", "in")],
        inports={"in": ("S", "in")},
        outports={"out": ("T", "out")},
        main=True,
    )
    client.request("network", "start", {"graph": "top"}, reply="started")
    assert through(client, "top", {"deep": [1, 2]}) == {"deep": [1, 2]}


def test_getsource_of_a_subgraph_component_is_its_graph(runtime, client):
    sub_graph(client, library="kit")
    reply = client.request("component", "getsource", {"name": "kit/sub"}, reply="source")
    payload = reply["payload"]
    assert (payload["name"], payload["library"], payload["language"]) == ("sub", "kit", "json")
    assert json.loads(payload["code"]) == graph_json.dump(runtime.get_graph("sub").graph)


def test_changing_a_graph_announces_its_component_again(runtime, client):
    watcher = ProtocolClient(runtime, "watcher")
    client.request("graph", "clear", {"id": "sub"}, requestId="c1")
    first = watcher.expect("component", "component", name="graphs/sub")
    assert first["payload"]["inPorts"] == []
    assert "responseTo" not in client.messages[-1]  # news for all, not an answer
    client.request("graph", "addnode", {"graph": "sub", "id": "R", "component": "core/Repeat"})
    client.request(
        "graph", "addinport", {"graph": "sub", "public": "in", "node": "R", "port": "in"}
    )
    assert watcher.expect(
        "component", "component", name="graphs/sub", inPorts=[{"id": "in", "type": "all"}]
    )
    # A graph that becomes main is no longer a component; the previous main becomes one.
    build(client, "top", {}, main=True)
    client.request("graph", "clear", {"id": "sub", "main": True})
    listed = components(client)
    assert "graphs/top" in listed and "graphs/sub" not in listed


def test_a_graph_cannot_contain_itself(runtime, client):
    sub_graph(client, "a")
    sub_graph(client, "b")
    assert (
        client.error("graph", "addnode", {"graph": "a", "id": "X", "component": "graphs/a"})
        == "graph 'a' cannot contain itself (component 'graphs/a' is or contains it)"
    )
    client.request("graph", "addnode", {"graph": "a", "id": "B", "component": "graphs/b"})
    assert "cannot contain itself" in client.error(
        "graph", "addnode", {"graph": "b", "id": "A", "component": "graphs/a"}
    )
    assert "X" not in runtime.get_graph("a").graph.nodes


def test_a_file_that_contains_itself_is_refused_at_start(make_runtime, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "loop.fbp").write_text("INPORT=L.IN:IN\nL(graphs/loop)\n")
    rt = make_runtime(components_dir=lib)
    c = ProtocolClient(rt)
    build(c, "top", {"L": "graphs/loop"}, main=True)
    error = c.request("network", "start", {"graph": "top"}, reply="started")
    assert error["command"] == "error" and "contains itself" in error["payload"]["message"]


def test_a_name_taken_by_a_component_is_not_reused(runtime, client):
    client.request("graph", "clear", {"id": "Repeat", "library": "core"})
    listed = components(client)
    assert listed["core/Repeat"]["subgraph"] is False


# -- the components directory --------------------------------------------------------------------


def test_components_dir_offers_its_graph_files(make_runtime, tmp_path):
    lib = tmp_path / "lib"
    (lib / "maths").mkdir(parents=True)
    (lib / "maths" / "Double.fbp").write_text(DOUBLE_FBP)
    (lib / "Again.json").write_text(json.dumps(REPEAT_JSON))
    (lib / "Broken.fbp").write_text("A(core/Repeat) OUT -> \n")
    (lib / ".hidden.json").write_text("{")
    rt = make_runtime(components_dir=lib)
    assert len(rt.problems) == 1 and "Broken.fbp" in rt.problems[0]
    assert rt.status()["problems"] == rt.problems
    c = ProtocolClient(rt)
    listed = components(c)
    assert listed["maths/Double"]["description"] == "every IP twice"
    assert listed["maths/Double"]["inPorts"] == [{"id": "in", "type": "all"}]
    assert listed["mine/Again"]["subgraph"] is True
    assert not [n for n in listed if "Broken" in n or "hidden" in n]
    source = c.request("component", "getsource", {"name": "maths/Double"}, reply="source")
    assert json.loads(source["payload"]["code"])["processes"]["Split"] == {
        "component": "core/Split"
    }
    build(
        c,
        "top",
        {"D": "maths/Double"},
        inports={"in": ("D", "in")},
        outports={"out": ("D", "out")},
        main=True,
    )
    c.request("network", "start", {"graph": "top"}, reply="started")
    assert through(c, "top", 7) == 7
    # A file added later shows up at the next list.
    (lib / "Late.fbp").write_text(DOUBLE_FBP)
    assert "graphs/Late" in components(c)


SHOUT_PY = '''
from flowpy import Component, InPort, InPorts, OutPort, OutPorts


class Shout(Component):
    """Upper-cases text."""

    inports = InPorts(InPort("in"))
    outports = OutPorts(OutPort("out"))

    def run(self):
        for ip in self.inports["in"]:
            self.outports["out"].send_data(ip.data.upper() + SUFFIX)


SUFFIX = "!"
'''


def test_components_dir_offers_the_components_of_its_python_files(make_runtime, tmp_path):
    lib = tmp_path / "lib"
    (lib / "mylib").mkdir(parents=True)
    (lib / "mylib" / "shout.py").write_text(SHOUT_PY)
    (lib / "broken.py").write_text("x = 1\n\nraise KeyError('oops')\n")
    rt = make_runtime(components_dir=lib)
    assert len(rt.problems) == 1 and f"{lib / 'broken.py'}:3: KeyError" in rt.problems[0]
    c = ProtocolClient(rt)
    listed = components(c)
    assert listed["mylib/Shout"]["description"] == "Upper-cases text."
    build(
        c,
        "top",
        {"S": "mylib/Shout"},
        inports={"in": ("S", "in")},
        outports={"out": ("S", "out")},
        main=True,
    )
    c.request("network", "start", {"graph": "top"}, reply="started")
    assert through(c, "top", "hey") == "HEY!"
    c.request("network", "stop", {"graph": "top"}, reply="stopped")
    # An edited file is loaded again, as a graph file is; the next start runs the new code.
    (lib / "mylib" / "shout.py").write_text(SHOUT_PY.replace('"!"', '"?!"'))
    c.request("network", "start", {"graph": "top"}, reply="started")
    assert through(c, "top", "hey") == "HEY?!"
    # A deleted file takes its components with it.
    (lib / "mylib" / "shout.py").unlink()
    assert "mylib/Shout" not in components(c)


def test_load_graph_file_reads_fbp(make_runtime, tmp_path):
    path = tmp_path / "double.fbp"
    path.write_text(DOUBLE_FBP)
    rt = make_runtime()
    assert rt.load_graph_file(path) == "double"
    assert rt.main_graph == "double"
    c = ProtocolClient(rt)
    c.request("network", "start", {"graph": "double"}, reply="started")
    start = len(c.messages)
    c.request(
        "runtime",
        "packet",
        {"graph": "double", "port": "in", "event": "data", "payload": 1},
        reply="packetsent",
    )
    first, _ = c.sink.wait_for(matches("runtime", "packet", port="out", event="data"), start)
    c.sink.wait_for(matches("runtime", "packet", port="out", event="data"), first + 1)  # twice


# -- persistence across restarts -----------------------------------------------------------------

CODER = {
    "secrets": {
        "coder": {
            "capabilities": [
                "component:setsource",
                "component:getsource",
                "protocol:component",
                "protocol:graph",
                "network:control",
                "network:persist",
                "protocol:runtime",
            ]
        }
    }
}

SOURCE = '''
from flowpy import Component, InPort, InPorts, OutPort, OutPorts


class Shout(Component):
    """Upper-cases text."""

    inports = InPorts(InPort("in"))
    outports = OutPorts(OutPort("out"))

    def run(self):
        for ip in self.inports["in"]:
            self.outports["out"].send_data(ip.data.upper() if ip.is_data else ip.data)
'''


def restart(rt: Runtime, **options) -> Runtime:
    """A new runtime process on the same state directory (with a fresh registry)."""
    from protocol_harness import make_registry

    return Runtime(registry=make_registry(), state_dir=rt.state_dir, **options)


def test_a_restart_comes_back_with_the_same_graphs_and_main(make_runtime, tmp_path):
    rt = make_runtime(state_dir=tmp_path / "state", permissions=CODER)
    c = ProtocolClient(rt, secret="coder")
    c.request(
        "component",
        "source",
        {"name": "Shout", "library": "text", "language": "python", "code": SOURCE},
        reply="component",
    )
    sub_graph(c, "sub")
    build(
        c,
        "top",
        {"S": "graphs/sub", "L": "text/Shout"},
        edges=[("S", "out", "L", "in")],
        inports={"in": ("S", "in")},
        outports={"out": ("L", "out")},
        main=True,
    )
    sub_graph(c, "a/b")
    sub_graph(c, "a_b")  # two ids that make the same file name
    c.request("network", "persist", {}, reply="output")
    assert not list((tmp_path / "state").rglob("*.tmp"))
    again = restart(rt, permissions=CODER)
    try:
        assert again.main_graph == "top"
        assert sorted(again.graphs()) == ["a/b", "a_b", "sub", "top"]
        assert again.problems == []
        c2 = ProtocolClient(again, secret="coder")
        listed = components(c2)
        assert {"graphs/sub", "a/b", "graphs/a_b", "text/Shout"} <= set(listed)
        source = c2.request("component", "getsource", {"name": "text/Shout"}, reply="source")
        assert source["payload"]["code"] == SOURCE
        c2.request("network", "start", {"graph": "top"}, reply="started")
        assert through(c2, "top", "hello") == "HELLO"
    finally:
        again.shutdown()


def test_temporary_files_a_crash_left_behind_are_removed_at_start(make_runtime, tmp_path):
    """A kill -9 during an atomic write leaves its temporary file; nothing renames it later."""
    rt = make_runtime(state_dir=tmp_path / "state")
    build(ProtocolClient(rt), "one", {"A": "core/Repeat"}, main=True)
    rt.persist()
    rt.shutdown()
    graphs = tmp_path / "state" / "graphs"
    stale = [tmp_path / "state" / ".graphs.json.0123abcd.tmp", graphs / ".one.json.4567ef.tmp"]
    for path in stale:
        path.write_text("half a file")
    again = make_runtime(state_dir=tmp_path / "state")
    assert not any(path.exists() for path in stale)
    assert sorted(again.graphs()) == ["one"] and again.problems == []
    assert sorted(p.name for p in graphs.iterdir()) == ["one.json"]


def test_persist_removes_graphs_that_are_gone_and_keeps_the_rest(make_runtime, tmp_path):
    rt = make_runtime(state_dir=tmp_path / "state")
    c = ProtocolClient(rt)
    build(c, "one", {"A": "core/Repeat"}, main=True)
    c.request("network", "persist", {}, reply="output")
    (tmp_path / "state" / "graphs" / "leftover.json").write_text("{}")
    c.request("network", "persist", {}, reply="output")
    assert sorted(p.name for p in (tmp_path / "state" / "graphs").iterdir()) == ["one.json"]


def test_corrupt_state_files_are_reported_and_skipped(make_runtime, tmp_path):
    rt = make_runtime(state_dir=tmp_path / "state")
    c = ProtocolClient(rt)
    build(c, "good", {"A": "core/Repeat"}, main=True)
    build(c, "bad", {"A": "core/Repeat"})
    c.request("network", "persist", {}, reply="output")
    (tmp_path / "state" / "graphs" / "bad.json").write_text('{"processes": ')
    (tmp_path / "state" / "components.json").write_text("[]")
    again = restart(rt)
    try:
        assert sorted(again.graphs()) == ["good"] and again.main_graph == "good"
        assert len(again.problems) == 2
        assert any("'bad'" in p for p in again.problems)
        assert any("components.json" in p for p in again.problems)
    finally:
        again.shutdown()


def test_a_corrupt_index_still_loads_the_graph_files(make_runtime, tmp_path):
    rt = make_runtime(state_dir=tmp_path / "state")
    c = ProtocolClient(rt)
    build(c, "a/b", {"A": "core/Repeat"}, main=True)
    build(c, "c", {"A": "core/Repeat"})
    c.request("network", "persist", {}, reply="output")
    (tmp_path / "state" / "graphs.json").write_text("\x00garbage")
    (tmp_path / "state" / "runtime-id").write_text("not a uuid")
    again = restart(rt)
    try:
        assert sorted(again.graphs()) == ["a/b", "c"]  # ids from the files themselves
        assert again.main_graph is None
        assert len(again.problems) == 1 and "graphs.json" in again.problems[0]
        assert again.id != rt.id  # a new id, and the runtime runs
    finally:
        again.shutdown()


@pytest.mark.parametrize("content", ["", "{", '{"graphs": {"x": "../../etc/passwd"}}', "[1]"])
def test_any_index_content_is_survivable(make_runtime, tmp_path, content):
    state = tmp_path / "state"
    state.mkdir()
    (state / "graphs.json").write_text(content)
    rt = make_runtime(state_dir=state)
    assert rt.graphs() == {}
    assert len(rt.problems) == 1
