"""The reader takes a runtime:packetsent from its envelope when it is spelled as flowpy writes
it, and parses everything else; whoever reads more of a skimmed reply gets the whole message."""

from __future__ import annotations

import json
import random

import pytest

from flowpy.link.skim import Skimmed, read, skim, whole


def flowpy_spelling(payload: object, answered: str) -> str:
    message = {"protocol": "runtime", "command": "packetsent", "payload": payload}
    return json.dumps({**message, "responseTo": answered}, separators=(",", ":"))


def test_flowpy_s_spelling_is_read_from_its_envelope_and_parsed_when_read_further():
    text = flowpy_spelling({"graph": "g", "port": "in", "event": "data", "payload": [1]}, "s1:7")
    reply = read(text, skip_outputs=False)
    assert type(reply) is Skimmed
    assert reply == {"protocol": "runtime", "command": "packetsent", "responseTo": "s1:7"}
    assert whole(reply) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        # spaces, another key order, an id with an escape, an id that is not a string,
        # responseTo not last, no responseTo at all
        '{"protocol": "runtime", "command": "packetsent", "responseTo": "1"}',
        '{"command":"packetsent","protocol":"runtime","responseTo":"1"}',
        '{"protocol":"runtime","command":"packetsent","payload":{},"responseTo":"a\\"b"}',
        '{"protocol":"runtime","command":"packetsent","payload":{},"responseTo":7}',
        '{"protocol":"runtime","command":"packetsent","responseTo":"1","payload":{"x":"y"}}',
        '{"protocol":"runtime","command":"packetsent","payload":{"x":"y"}}',
    ],
)
def test_any_other_spelling_is_parsed(text):
    assert skim(text) is None
    reply = read(text, skip_outputs=False)
    assert type(reply) is dict and reply == json.loads(text)


def test_an_echo_that_spells_a_fake_tail_does_not_fool_it():
    fake = ',"responseTo":"fake"}'
    for echo in ({"s": fake}, {"s": fake[:-1]}, [fake, {"k": fake}], fake):
        text = flowpy_spelling(echo, "real")
        reply = read(text, skip_outputs=False)
        assert reply is not None and reply["responseTo"] == "real"
        assert whole(reply) == json.loads(text)


def test_the_envelope_agrees_with_the_parser_on_random_echoes():
    rng = random.Random(27)
    atoms = ["", '"', "\\", ',"responseTo":"', "}", "{", "é", "\u2028", 0, -1.5, None, True]

    def value(depth: int) -> object:
        roll = rng.random()
        if depth > 3 or roll < 0.4:
            atom = rng.choice(atoms)
            return "".join(rng.choice(atoms[:8]) for _ in range(3)) if atom == "" else atom
        if roll < 0.7:
            return [value(depth + 1) for _ in range(rng.randrange(3))]
        return {str(rng.choice(atoms[:8])): value(depth + 1) for _ in range(rng.randrange(3))}

    for n in range(2000):
        text = flowpy_spelling(value(0), f"L1-{n}")
        parsed = json.loads(text)
        reply = read(text, skip_outputs=False)
        assert reply is not None
        assert {k: reply[k] for k in ("protocol", "command", "responseTo")} == {
            k: parsed[k] for k in ("protocol", "command", "responseTo")
        }
        assert whole(reply) == parsed


def test_outputs_nobody_keeps_are_not_parsed_and_the_rest_is():
    output = '{"protocol":"runtime","command":"packet","payload":{"port":"out"}}'
    assert read(output, skip_outputs=True) is None
    assert read(output, skip_outputs=False) == json.loads(output)
    assert read("[1, 2]", skip_outputs=False) is None  # JSON, but not a message
    with pytest.raises(ValueError):
        read("{not json", skip_outputs=False)


def test_a_broken_echo_still_acknowledges_and_reads_as_its_envelope(caplog):
    text = '{"protocol":"runtime","command":"packetsent","payload":{"x":[1,},"responseTo":"9"}'
    reply = read(text, skip_outputs=False)
    assert reply is not None and reply["responseTo"] == "9"
    assert whole(reply) == {
        "protocol": "runtime",
        "command": "packetsent",
        "responseTo": "9",
        "payload": {},
    }
    assert "echo is not JSON" in caplog.text
