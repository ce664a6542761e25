"""The names left out of the one vocabulary still work for a release, each with one warning
(a log line saying what to use instead and where it was called from), never more."""

from __future__ import annotations

import logging

import pytest

from flowpy import IP, Component, EndOfStream, InPort, InPorts, OutPort, OutPorts, next_data
from flowpy.engine import deprecation
from flowpy.engine.connection import Connection
from flowpy.engine.ports import InputPort, OutputPort


@pytest.fixture(autouse=True)
def fresh(monkeypatch, caplog):
    monkeypatch.setattr(deprecation, "_warned", set())
    caplog.set_level(logging.WARNING, logger="flowpy.deprecated")


def warnings_about(caplog, name):
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(name)]


def inport(*values, addressable=False):
    conn = Connection()
    conn.send_many([v if isinstance(v, IP) else IP.make_data(v) for v in values])
    conn.close_writer()
    slot = 0 if addressable else None
    return InputPort(InPort("in", addressable=addressable), {slot: conn})


@pytest.mark.parametrize(
    "name, use, result",
    [
        ("InputPort.recv_data()", lambda: inport(IP.open("g"), 5).recv_data(), 5),
        ("InputPort.data()", lambda: list(inport(IP.open("g"), 5, IP.close("g")).data()), [5]),
        (
            "InputPort.items()",
            lambda: list(inport(7, addressable=True).items()),
            [(0, IP.make_data(7))],
        ),
        (
            "InputPort.recv_any()",
            lambda: inport(7, addressable=True).recv_any(),
            (0, IP.make_data(7)),
        ),
        (
            "InputPort.recv_any_many()",
            lambda: inport(7, 8, addressable=True).recv_any_many(),
            (0, [IP.make_data(7), IP.make_data(8)]),
        ),
    ],
)
def test_a_deprecated_reader_works_and_warns_once(caplog, name, use, result):
    assert use() == result
    assert use() == result
    [message] = warnings_about(caplog, name)
    assert "goes in the next release" in message and __file__ in message


@pytest.mark.parametrize(
    "name, call, sent",
    [
        ("OutputPort.open_bracket()", lambda port: port.open_bracket("g"), IP.open("g")),
        ("OutputPort.close_bracket()", lambda port: port.close_bracket("g"), IP.close("g")),
    ],
)
def test_a_deprecated_sender_works_and_warns_once(caplog, name, call, sent):
    conn = Connection()
    port = OutputPort(OutPort("out"), {None: [conn]})
    call(port)
    call(port)
    assert conn.recv_many() == [sent, sent]
    [message] = warnings_about(caplog, name)
    assert "send(IP." in message


def test_ports_declared_as_lists_still_work_with_one_warning(caplog):
    for _ in range(2):

        class Old(Component):
            inports = [InPort("in")]
            outports = [OutPort("out")]

        assert isinstance(Old.inports, InPorts) and isinstance(Old.outports, OutPorts)
    assert len(warnings_about(caplog, "a list as inports")) == 1
    assert len(warnings_about(caplog, "a list as outports")) == 1


def test_the_vocabulary_itself_warns_of_nothing(caplog):
    port = inport(IP.open("g"), 1, 2, IP.close("g"), 3)
    assert next_data(port) == 1
    assert port.recv() == IP.make_data(2)
    assert port.recv_many() == [IP.close("g"), IP.make_data(3)]
    with pytest.raises(EndOfStream):
        next_data(port)
    assert caplog.records == []


def test_the_former_mixins_and_helpers_of_the_library_are_aliases(caplog):
    from flowpy import Aggregate, Transform
    from flowpy_components._support import base

    assert base.TransformMixin is Transform and base.AggregateMixin is Aggregate
    assert base.TransformMixin is Transform
    assert len(warnings_about(caplog, "flowpy_components._support.base.TransformMixin")) == 1
    assert callable(base.text_options) and callable(base.recv_data_or_end)
