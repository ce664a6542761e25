"""What a MsgFlo participant tells a coordinator, and which ports it binds: the component it
announces (the library key msgflo looks up), announcements in its first seconds, and a
single component's optional configuration inports left unbound (issue 26)."""

from __future__ import annotations

import itertools
import json

import brokers
from brokers import participants, probe, unique_role

from flowpy.cli.participant import component_graph
from flowpy.engine.registry import Registry
from flowpy.link.broker import msgflo_component
from flowpy.link.broker.discovery import announcement_waits

mosquitto = brokers.mosquitto


def test_the_default_component_is_the_msgflo_library_key() -> None:
    assert msgflo_component("core/Repeat") == "flowpy/Repeat"
    assert msgflo_component("upper") == "flowpy/upper"


def test_announcements_come_often_in_the_first_seconds_then_by_the_period() -> None:
    waits = list(itertools.islice(announcement_waits(60.0), 7))
    assert waits[:4] == [1.0, 1.0, 2.0, 4.0]  # at 0 (before the waits), 1, 2, 4, 8 s
    assert waits[4:] == [60.0 / 2.2] * 3


def test_a_short_period_is_never_slowed_down_by_the_first_seconds() -> None:
    waits = list(itertools.islice(announcement_waits(2.0), 4))
    assert waits == [2.0 / 2.2] * 4


def test_optional_configuration_inports_are_not_bound_to_queues() -> None:
    graph = component_graph(Registry(), "core/Group", "g", [])
    assert sorted(graph.inports) == ["in"]


def test_a_configuration_inport_given_an_iip_is_not_bound_either() -> None:
    graph = component_graph(Registry(), "core/Group", "g", ["size=2"])
    assert sorted(graph.inports) == ["in"]
    assert [iip.data for iip in graph.initials] == [2]


def test_a_required_configuration_inport_is_still_bound() -> None:
    graph = component_graph(Registry(), "flow/Take", "t", [])
    assert sorted(graph.inports) == ["conf", "in"]


def test_a_group_participant_works_without_any_iip(mosquitto, tmp_path) -> None:
    """core/Group with its declared defaults: the messages come out in a bracket named
    'group' (before, its `group` inport was a queue and nothing came out)."""
    role = unique_role("group")
    client = probe(mosquitto)
    try:
        client.collect(f"{role}.OUT")
        with participants(tmp_path) as start:
            start(["--broker", mosquitto.url, "--role", role, "core/Group"])
            for value in ("a", "b"):
                client.send(f"{role}.IN", value)
            got = [json.loads(body) for body in client.messages(f"{role}.OUT", 3)]
    finally:
        client.close()
    assert got == [{"flowpy:ip": "openBracket", "group": "group"}, "a", "b"]
