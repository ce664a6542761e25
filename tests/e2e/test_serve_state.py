"""``flowpy serve`` keeps its state across a real restart, in the per-user data directory
(``$XDG_DATA_HOME/flowpy/<label>-<port>``)."""

import pytest
from processes import free_port

from flowpy.link.client import Client

pytestmark = pytest.mark.integration


def _packet_through(client: Client, graph: str, value) -> object:
    """Send one value into ``graph``'s inport ``in``; the data that comes out of ``out``."""
    client.send_packet(graph, "in", "data", value)
    while True:
        packet = client.recv_packet(timeout=10)
        if packet["event"] == "data":
            assert packet["port"] == "out"
            return packet["payload"]


def test_a_restarted_service_comes_back_with_its_id_and_graphs_from_xdg_data_home(
    spawn_runtime, tmp_path
):
    xdg = tmp_path / "xdg"
    env = {"XDG_DATA_HOME": str(xdg)}
    port = str(free_port())  # the default state directory is per label and port
    first = spawn_runtime("--port", port, env=env, default_state_dir=True)  # no --state-dir
    with Client(first.url).connect() as client:
        runtime_id = client.getruntime()["id"]
        client.graph("clear", id="calc", name="calc", main=True)
        client.graph("addnode", graph="calc", id="R", component="core/Repeat")
        client.graph("addinport", graph="calc", public="in", node="R", port="in")
        client.graph("addoutport", graph="calc", public="out", node="R", port="out")
        for graph in ("helper", "broken"):
            client.graph("clear", id=graph, name=graph, library="mine")
            client.graph("addnode", graph=graph, id="R", component="core/Repeat")
        client.request("network", "persist", {}, expect=("output",))
    assert first.stop() == 0, first
    state = xdg / "flowpy" / f"flowpy-{port}"
    graph_files = {path.stem: path for path in (state / "graphs").iterdir()}
    assert sorted(graph_files) == ["broken", "calc", "helper"]
    graph_files["broken"].write_text('{"processes": {')  # as if edited by hand, badly

    second = spawn_runtime("--port", port, env=env, default_state_dir=True)
    with Client(second.url).connect() as client:
        runtime = client.getruntime()
        assert runtime["id"] == runtime_id
        assert runtime["graph"] == "calc"
        subgraphs = {c["name"]: c for c in client.list_components() if c.get("subgraph")}
        assert sorted(subgraphs) == ["mine/helper"]  # the corrupt one is skipped
        client.start_network("calc")
        assert _packet_through(client, "calc", {"back": [1, "again"]}) == {"back": [1, "again"]}
    assert second.running
    assert "broken" in second.stderr()  # reported, not fatal
