"""The ``components`` rule of a secret: which components its holder may instantiate."""

from __future__ import annotations

import pytest
from protocol_harness import ProtocolClient, build

from flowpy.runtime.permissions import ComponentRule, Permissions, PermissionsError

EDITOR = ["protocol:graph", "protocol:component", "protocol:network", "protocol:runtime"]
RULE = ["core/*", "strings/*", "graphs/*", "!exec/*"]
BROKE = "(the 'components' rule of its secret)"

DOUBLE = """
from flowpy import Component, InPort, InPorts, OutPort, OutPorts


class Double(Component):
    inports = InPorts(InPort("in"))
    outports = OutPorts(OutPort("out"))

    def run(self):
        for ip in self.inports["in"]:
            self.outports["out"].send(ip)
"""


@pytest.fixture
def rt(make_runtime):
    """``admin`` holds no rule (today's behaviour); ``user`` holds RULE."""
    return make_runtime(
        permissions={
            "secrets": {
                "admin": {"capabilities": EDITOR},
                "user": {"capabilities": EDITOR + ["component:setsource"], "components": RULE},
            }
        }
    )


def nodes(rt, graph: str) -> dict[str, str]:
    return {n.id: n.component for n in rt.get_graph(graph).graph.nodes.values()}


def test_addnode_of_a_forbidden_component_is_refused_and_changes_nothing(rt):
    user = ProtocolClient(rt, "user", secret="user")
    watcher = ProtocolClient(rt, "watcher", secret="admin")
    build(user, "g", {"R": "core/Repeat"})  # allowed by 'core/*'
    start = len(watcher.messages)
    for component in ("exec/Run", "Exec/run"):  # the registry finds names in any case
        reply = user.request("graph", "addnode", {"graph": "g", "id": "X", "component": component})
        assert reply["protocol"] == "graph" and reply["command"] == "error"
        assert reply["payload"]["message"].startswith(
            f"component {component!r} is not permitted to this client: "
        )
        assert "'!exec/*'" in reply["payload"]["message"] and BROKE in reply["payload"]["message"]
    reply = user.request("graph", "addnode", {"graph": "g", "id": "X", "component": "math/Add"})
    assert reply["payload"]["message"] == (
        "component 'math/Add' is not permitted to this client: it matches none of 'core/*', "
        f"'strings/*', 'graphs/*' {BROKE}"
    )
    assert nodes(rt, "g") == {"R": "core/Repeat"}
    assert not any(m["command"] == "addnode" for m in watcher.since(start))
    ok = user.request("graph", "addnode", {"graph": "g", "id": "S", "component": "strings/Case"})
    assert ok["command"] == "addnode"


def test_without_a_rule_every_component_is_allowed(rt):
    admin = ProtocolClient(rt, "admin", secret="admin")
    build(admin, "g", {"X": "exec/Run", "R": "core/Repeat"})
    assert nodes(rt, "g") == {"X": "exec/Run", "R": "core/Repeat"}


def test_a_graph_component_containing_a_forbidden_one_at_any_depth_is_refused(rt):
    admin = ProtocolClient(rt, "admin", secret="admin")  # what the operator set up: trusted
    build(admin, "inner", {"R": "core/Repeat", "X": "exec/Run"})
    build(admin, "outer", {"I": "graphs/inner", "R": "core/Repeat"})
    build(admin, "clean", {"R": "core/Repeat"})
    user = ProtocolClient(rt, "user", secret="user")
    build(user, "main", {"C": "graphs/clean"}, main=True)
    for component in ("graphs/outer", "graphs/inner"):
        reply = user.request(
            "graph", "addnode", {"graph": "main", "id": "O", "component": component}
        )
        assert reply["command"] == "error"
        assert reply["payload"]["message"] == (
            f"component {component!r} is not permitted to this client: it contains "
            "'exec/Run' (in graph component 'graphs/inner'), and it matches '!exec/*' "
            f"{BROKE}"
        )
    assert nodes(rt, "main") == {"C": "graphs/clean"}


def test_setsource_of_a_forbidden_name_is_refused_and_registers_nothing(rt):
    user = ProtocolClient(rt, "user", secret="user")
    reply = user.request(
        "component",
        "source",
        {"name": "Double", "library": "exec", "language": "python", "code": DOUBLE},
        reply="component",
    )
    assert reply["protocol"] == "component" and reply["command"] == "error"
    assert reply["payload"]["message"] == (
        f"component 'exec/Double' is not permitted to this client: it matches '!exec/*' {BROKE}"
    )
    assert "exec/Double" not in rt.registry and "exec/Double" not in rt.component_sources
    ok = user.request(
        "component",
        "source",
        {"name": "Double", "library": "core", "language": "python", "code": DOUBLE},
        reply="component",
    )
    assert ok["payload"]["name"] == "core/Double"


def test_the_rule_ignores_order_and_a_negative_always_wins():
    only_negatives = ComponentRule.parse(["!exec/*", "!files/*"], "t")
    assert only_negatives.refusal("core/Repeat") is None
    assert only_negatives.refusal("files/ReadFile") == "it matches '!files/*'"
    either_order = ComponentRule.parse(["!core/Bridge", "core/*"], "t")
    assert either_order.refusal("core/Repeat") is None
    assert either_order.refusal("core/bridge") == "it matches '!core/bridge'"
    assert ComponentRule.parse([], "t").refusal("core/Repeat") == "the list of components is empty"


@pytest.mark.parametrize(
    "components, text",
    [
        ("core/*", "must be a list of glob strings"),
        ([1], "must be a list of glob strings"),
        (["!"], "empty glob '!'"),
    ],
)
def test_malformed_rules_are_refused(components, text):
    with pytest.raises(PermissionsError, match=text):
        Permissions(document={"secrets": {"t": {"capabilities": [], "components": components}}})
