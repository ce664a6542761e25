"""One rule for configuration IIPs (issue 12): text that is JSON is decoded, other text is
left as it is, whichever component reads it and wherever the IIP came from."""

from __future__ import annotations

import math

import pytest

from flowpy import Component, InPort, InPorts, OutPort, OutPorts
from flowpy.engine.component import conf_value
from flowpy.graphs.fbp import parse
from flowpy.graphs.json_format import load
from flowpy.testing import run_component, run_graph


@pytest.mark.parametrize(
    "given, meant",
    [
        ('{"stop": 10}', {"stop": 10}),
        (' {"stop": 10} ', {"stop": 10}),
        ("[1, 2]", [1, 2]),
        ("10", 10),
        ("-2.5", -2.5),
        ("true", True),
        ("null", None),
        ('"quoted"', "quoted"),
        # not JSON: the text itself
        ("[?a > `1`]", "[?a > `1`]"),
        ("{name}", "{name}"),
        ("Hello {name}, you owe {amount:.2f}", "Hello {name}, you owe {amount:.2f}"),
        ("ws://127.0.0.1:3569", "ws://127.0.0.1:3569"),
        ("{bad json", "{bad json"),
        ("", ""),
        (" ", " "),
        ("NaN", "NaN"),  # not JSON (the JSON policy refuses it), so text
        ("Infinity", "Infinity"),
        ("1e400", "1e400"),  # beyond a double: not a JSON number flowpy accepts
        # values that are not text are what they are
        (10, 10),
        ({"stop": 1}, {"stop": 1}),
        (None, None),
    ],
)
def test_conf_text_that_is_json_is_decoded_and_other_text_is_kept(given, meant):
    assert conf_value(given) == meant


def test_a_nan_value_that_is_not_text_passes_unchanged():
    assert math.isnan(conf_value(float("nan")))


class Echo(Component):
    """Sends what conf() reads."""

    inports = InPorts(InPort("conf"))
    outports = OutPorts(OutPort("out"))

    def run(self) -> None:
        self.outports["out"].send_data(self.conf(default="none given"))


class Expression(Component):
    """Sends its options, the one obvious option being text."""

    inports = InPorts(InPort("conf"))
    outports = OutPorts(OutPort("out"))

    def run(self) -> None:
        self.outports["out"].send_data(
            self.options({"expression": None, "reverse": False}, "expression", text=True)
        )


@pytest.mark.parametrize(
    "given, meant",
    [
        ('{"stop": 10}', {"stop": 10}),
        ("[?a>1]", "[?a>1]"),  # a JMESPath expression: failed as bad JSON before
        ("{name}", "{name}"),  # a template: the same
        ("7", 7),
    ],
)
def test_conf_reads_an_iip_by_the_rule(given, meant):
    assert run_component(Echo, {"conf": [given]})["out"] == [meant]


def test_conf_without_an_iip_gives_the_default():
    assert run_component(Echo, {"conf": []})["out"] == ["none given"]
    assert run_component(Echo, {})["out"] == ["none given"]


@pytest.mark.parametrize(
    "given, options",
    [
        ("[0]", {"expression": "[0]", "reverse": False}),  # JSON, but not an object: the text
        ("age", {"expression": "age", "reverse": False}),
        ('{"expression": "age", "reverse": true}', {"expression": "age", "reverse": True}),
        ({"expression": "[0]"}, {"expression": "[0]", "reverse": False}),
    ],
)
def test_a_text_option_takes_conf_text_as_written_unless_it_is_an_object(given, options):
    assert run_component(Expression, {"conf": [given]})["out"] == [options]


def _fbp(source: str) -> dict[str, list]:
    return run_graph(load(parse(source)), {})


def test_the_doc_example_configures_range_with_json_text():
    graph = "OUTPORT=r.OUT:OUT\n'{\"stop\": 3}' -> CONF r(core/Range)\n"
    assert _fbp(graph)["out"] == [0, 1, 2]


def test_a_fbp_string_iip_and_a_json_graph_value_mean_the_same_to_range():
    from_fbp = _fbp("OUTPORT=r.OUT:OUT\n'3' -> CONF r(core/Range)\n")["out"]
    as_value = run_graph(
        load(
            {
                "processes": {"r": {"component": "core/Range"}},
                "connections": [{"data": 3, "tgt": {"process": "r", "port": "conf"}}],
                "outports": {"out": {"process": "r", "port": "out"}},
            }
        ),
        {},
    )["out"]
    assert from_fbp == as_value == [0, 1, 2]


@pytest.mark.parametrize("conf", ["[?age > `30`].name", "[0]"])
def test_library_components_with_text_options_keep_json_looking_text(conf):
    graph = f"INPORT=f.IN:IN\nOUTPORT=f.OUT:OUT\n'{conf}' -> CONF f(flow/Filter)\n"
    people = [{"age": 40, "name": "Ann"}]
    # The expression compiled (it was not decoded as JSON) and kept the non-empty list.
    assert run_graph(load(parse(graph)), {"in": [people, []]})["out"] == [people]


def test_template_conf_is_text_that_is_not_json():
    graph = "INPORT=t.IN:IN\nOUTPORT=t.OUT:OUT\n'Hello {name}' -> CONF t(strings/Template)\n"
    assert run_graph(load(parse(graph)), {"in": [{"name": "Ann"}]})["out"] == ["Hello Ann"]
