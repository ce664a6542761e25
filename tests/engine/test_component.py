"""Component authoring: options from the conf IIP."""

from __future__ import annotations

import pytest

from flowpy import Component, InPort, InPorts, OutPort, OutPorts
from flowpy.testing import run_component


class Configured(Component):
    """Sends its options."""

    inports = InPorts(InPort("conf"))
    outports = OutPorts(OutPort("out"))

    def run(self) -> None:
        self.outports["out"].send_data(self.options({"stop": 1, "step": 1}, scalar="stop"))


@pytest.mark.parametrize(
    "conf, options",
    [
        (None, {"stop": 1, "step": 1}),
        ({"stop": 5}, {"stop": 5, "step": 1}),
        ('{"stop": 5, "step": 2}', {"stop": 5, "step": 2}),  # JSON text, as a .fbp IIP is
        (7, {"stop": 7, "step": 1}),  # the one obvious option, as a plain value
    ],
)
def test_options_come_from_an_object_json_text_or_a_scalar(conf, options):
    inputs = {} if conf is None else {"conf": [conf]}
    assert run_component(Configured, inputs)["out"] == [options]


def test_unknown_options_fail_the_process_naming_them():
    with pytest.raises(AssertionError, match=r"unknown conf option\(s\) \['stpo'\]"):
        run_component(Configured, {"conf": [{"stpo": 3}]})


def test_run_component_collects_data_or_whole_ips():
    from flowpy import IP

    stream = [IP.open("g"), "a", IP.close("g"), "b"]
    assert run_component("core/Repeat", {"in": stream})["out"] == ["a", "b"]
    assert run_component("core/Repeat", {"in": stream}, ips=True)["out"] == [
        IP.open("g"),
        IP.make_data("a"),
        IP.close("g"),
        IP.make_data("b"),
    ]


def test_a_process_that_never_ends_is_stopped_and_fails():
    class Forever(Component):
        inports = InPorts(InPort("in"))

        def run(self) -> None:
            self.stopping.wait()

    with pytest.raises(AssertionError, match="still running after 0.3s"):
        run_component(Forever, {"in": [1]}, timeout=0.3)


def test_reaches_takes_only_the_known_words():
    class Shell(Component):
        reaches = ("exec", "network")

    assert Shell.reaches == ("exec", "network")
    with pytest.raises(TypeError, match="reaches must be a tuple of exec, files, network"):

        class Odd(Component):
            reaches = ("internet",)

    with pytest.raises(TypeError, match="got 'exec'"):

        class Bare(Component):
            reaches = "exec"
