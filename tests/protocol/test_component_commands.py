"""component:list, component:getsource and component:source."""

from __future__ import annotations

import inspect

import pytest
from protocol_harness import (
    ProtocolClient,
    build,
)

from flowpy_components.core.repeat import Repeat

SOURCE = '''
from flowpy import Component, InPort, InPorts, OutPort, OutPorts


class Double(Component):
    """Doubles numbers."""

    inports = InPorts(InPort("in", datatype="number", description="numbers"))
    outports = OutPorts(OutPort("out", datatype="number"))

    def run(self):
        for ip in self.inports["in"]:
            self.outports["out"].send_data(ip.data * 2 if ip.is_data else ip.data)
'''


@pytest.fixture
def coder(make_runtime):
    """A runtime where the secret ``coder`` may compile components."""
    rt = make_runtime(
        permissions={
            "secrets": {
                "coder": {
                    "capabilities": [
                        "component:setsource",
                        "component:getsource",
                        "protocol:component",
                        "protocol:graph",
                        "network:control",
                        "protocol:runtime",
                    ]
                }
            },
            "anonymous": {"capabilities": ["protocol:component"]},
        }
    )
    return rt, ProtocolClient(rt, "coder", secret="coder")


def test_list_sends_every_component_then_the_count(runtime, client):
    start = len(client.messages)
    client.send("component", "list", {})
    _, ready = client.sink.wait_for(lambda m: m["command"] == "componentsready", start)
    components = [m["payload"] for m in client.since(start) if m["command"] == "component"]
    assert ready["payload"] == len(components) == len(runtime.registry.names())
    repeat = next(c for c in components if c["name"] == "core/Repeat")
    assert repeat == {
        "name": "core/Repeat",
        "description": Repeat.summary(),
        "icon": "forward",
        "subgraph": False,
        "inPorts": [{"id": "in", "type": "all", "description": "IPs of any kind"}],
        "outPorts": [{"id": "out", "type": "all", "description": "the same IPs, in order"}],
    }


def test_getsource_returns_the_python_module(runtime, client):
    reply = client.request("component", "getsource", {"name": "core/Repeat"}, reply="source")
    assert reply["payload"] == {
        "name": "Repeat",
        "library": "core",
        "language": "python",
        "code": inspect.getsource(inspect.getmodule(Repeat)),
    }


def test_getsource_of_a_graph_returns_its_json(runtime, client):
    build(client, "g", {"A": "core/Repeat"})
    reply = client.request("component", "getsource", {"name": "g"}, reply="source")
    assert reply["payload"]["language"] == "json"
    assert '"core/Repeat"' in reply["payload"]["code"]


def test_getsource_of_an_unknown_component(runtime, client):
    assert (
        client.error("component", "getsource", {"name": "core/Nope"})
        == "component 'core/Nope' not found"
    )
    assert client.error("component", "getsource", {}) == "'name' is required"


def test_setsource_is_refused_in_an_open_runtime(runtime, client):
    info = client.request("runtime", "getruntime", reply="runtime")["payload"]
    assert "component:setsource" not in info["capabilities"]
    assert (
        client.error(
            "component", "source", {"name": "Double", "language": "python", "code": SOURCE}
        )
        == "component:source is not permitted"
    )
    assert "Double" not in " ".join(runtime.registry.names())


def test_source_compiles_registers_and_announces(coder):
    rt, c = coder
    watcher = ProtocolClient(rt, "watcher")
    reply = c.request(
        "component",
        "source",
        {"name": "Double", "library": "maths", "language": "python", "code": SOURCE},
        reply="component",
        requestId="s1",
    )
    assert reply["responseTo"] == "s1"
    assert reply["payload"]["name"] == "maths/Double"
    assert reply["payload"]["inPorts"] == [{"id": "in", "type": "number", "description": "numbers"}]
    assert watcher.expect("component", "component", name="maths/Double")
    source = c.request("component", "getsource", {"name": "maths/Double"}, reply="source")
    assert source["payload"]["code"] == SOURCE
    # and it runs
    build(
        c, "g", {"D": "maths/Double"}, inports={"in": ("D", "in")}, outports={"out": ("D", "out")}
    )
    c.request("network", "start", {"graph": "g"}, reply="started")
    c.request(
        "runtime",
        "packet",
        {"graph": "g", "port": "in", "event": "data", "payload": 21},
        reply="packetsent",
    )
    assert c.expect("runtime", "packet", port="out", event="data")["payload"]["payload"] == 42


@pytest.mark.parametrize(
    "payload, text",
    [
        ({"name": "X", "language": "c++", "code": ""}, "cannot compile 'c++' components"),
        ({"name": "X", "language": "python", "code": "def ("}, "cannot compile component 'X'"),
        (
            {"name": "X", "language": "python", "code": "raise RuntimeError('boom')"},
            "component 'X' failed to load: RuntimeError: boom",
        ),
        (
            {"name": "X", "language": "python", "code": "x = 1"},
            "component 'X': the source must define one Component subclass",
        ),
        ({"name": "X", "language": "python"}, "'code' is required"),
    ],
)
def test_bad_sources_are_refused(coder, payload, text):
    rt, c = coder
    names = rt.registry.names()
    assert c.error("component", "source", payload).startswith(text)
    assert rt.registry.names() == names
