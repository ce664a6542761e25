"""Broker messages without a broker: the IP encoding, URLs, queue names, configuration, and
the one-line error of a missing extra."""

from __future__ import annotations

import subprocess
import sys

import pytest
from processes import ROOT, python_env

from flowpy.engine.ip import IP
from flowpy.errors import FlowpyError
from flowpy.link.broker import (
    BrokerError,
    BrokerURL,
    CodecError,
    MissingBrokerLibrary,
    ParticipantConfig,
    decode_ip,
    encode_ip,
    queue_name,
    require_client,
)
from flowpy.link.broker.endpoint import parse_conf


@pytest.mark.parametrize(
    "value",
    [
        0,
        1.5,
        -3,
        "text",
        "é ☃",
        None,
        True,
        [],
        {},
        [1, {"a": None}],
        {"nested": {"deep": [1, 2, "x"]}},
    ],
)
def test_data_crosses_as_its_json_value(value):
    body, headers = encode_ip(IP.make_data(value))
    assert headers is None
    import json

    assert json.loads(body) == value
    assert decode_ip(body) == IP.make_data(value)


@pytest.mark.parametrize(
    "ip", [IP.open("g"), IP.close("g"), IP.open(None), IP.close(None), IP.open({"id": 1})]
)
def test_brackets_cross_as_the_envelope(ip):
    body, headers = encode_ip(ip)
    assert headers == {"flowpy-ip": ip.kind}
    assert decode_ip(body, headers) == ip
    # a plain participant in between drops the metadata: the body alone is enough
    assert decode_ip(body) == ip
    # == compares kinds by value; components ask is_open/is_close, which compare by identity
    decoded = decode_ip(body, headers)
    assert (decoded.is_open, decoded.is_close, decoded.is_data) == (
        ip.is_open,
        ip.is_close,
        ip.is_data,
    )


@pytest.mark.parametrize(
    "value",
    [
        {"flowpy:ip": "openBracket", "group": "x"},
        {"flowpy:ip": "data", "data": 5},
        {"flowpy:ip": "nonsense", "group": "x"},
    ],
)
def test_data_that_looks_like_an_envelope_is_wrapped(value):
    body, _ = encode_ip(IP.make_data(value))
    assert decode_ip(body) == IP.make_data(value)


def test_objects_with_more_keys_are_plain_data():
    value = {"flowpy:ip": "openBracket", "group": "x", "more": 1}
    body, _ = encode_ip(IP.make_data(value))
    assert body == b'{"flowpy:ip":"openBracket","group":"x","more":1}'
    assert decode_ip(body) == IP.make_data(value)


def test_text_that_is_not_json_is_a_string_as_msgflo_takes_it():
    assert decode_ip(b"hello world") == IP.make_data("hello world")


def test_bodies_the_json_policy_refuses_are_codec_errors():
    with pytest.raises(CodecError, match="not UTF-8"):
        decode_ip(b"\xff\xfe")
    with pytest.raises(CodecError, match="surrogate"):
        decode_ip(b'"\\ud800"')
    with pytest.raises(CodecError, match="finite"):
        decode_ip(b"[NaN]")
    with pytest.raises(CodecError, match="malformed"):
        decode_ip(b'{"flowpy:ip": "openBracket"}', {"flowpy-ip": "openBracket"})


def test_non_json_values_are_written_by_the_json_policy():
    body, _ = encode_ip(IP.make_data({"b": b"\x00\x01", "nan": float("nan"), "t": (1, 2)}))
    assert body == b'{"b":"AAE=","nan":null,"t":[1,2]}'


def test_queue_names_follow_msgflo():
    # msgflo-nodejs participant.addQueues: role + '.' + port.toUpperCase()
    assert queue_name("repeater", "in") == "repeater.IN"
    assert queue_name("MyRole", "out") == "MyRole.OUT"
    assert queue_name("r", "in", prefix="test/") == "test/r.IN"
    config = ParticipantConfig(role="r", queues={"IN": "elsewhere"})
    assert config.queue("in") == "elsewhere"
    assert config.queue("out") == "r.OUT"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"role": ""}, "needs a role"),
        ({"role": "a/b"}, "may not hold"),
        ({"role": "r", "ack": "never"}, "ack mode"),
        ({"role": "r", "brackets": "x"}, "brackets mode"),
        ({"role": "r", "prefetch": 0}, "prefetch"),
    ],
)
def test_participant_config_is_checked(kwargs, message):
    with pytest.raises(BrokerError, match=message):
        ParticipantConfig(**kwargs)


def test_broker_urls():
    url = BrokerURL.parse("amqp://user:p%40ss@rabbit:5673/vhost")
    assert (url.scheme, url.host, url.port, url.username, url.password) == (
        "amqp",
        "rabbit",
        5673,
        "user",
        "p@ss",
    )
    assert url.redacted() == "amqp://user:***@rabbit:5673/vhost"
    assert BrokerURL.parse("mqtt://localhost").port == 1883
    assert BrokerURL.parse("amqps://h").port == 5671
    for bad in ("localhost:1883", "http://x", "mqtt://h:notaport"):
        with pytest.raises(BrokerError):
            BrokerURL.parse(bad)
    assert issubclass(BrokerError, FlowpyError)


def test_component_conf():
    conf = parse_conf("mqtt://h:1 some/topic", "topic", "topic", {})
    assert (conf["url"], conf["topic"]) == ("mqtt://h:1", "some/topic")
    conf = parse_conf(
        '{"url": "amqp://h", "queue": "q", "prefetch": 5}', "queue", "queue", {"prefetch": 100}
    )
    assert conf["prefetch"] == 5
    with pytest.raises(BrokerError, match="unknown conf"):
        parse_conf({"url": "amqp://h", "queue": "q", "typo": 1}, "queue", "queue", {})
    with pytest.raises(BrokerError, match="needs 'queue'"):
        parse_conf({"url": "amqp://h"}, "queue", "queue", {})


@pytest.mark.parametrize("scheme, extra", [("mqtt", "mqtt"), ("amqp", "amqp")])
def test_a_missing_extra_is_one_line_naming_it(scheme, extra, monkeypatch):
    library = "paho.mqtt.client" if scheme == "mqtt" else "pika"
    monkeypatch.setitem(sys.modules, library, None)  # import fails as if not installed
    with pytest.raises(MissingBrokerLibrary, match=rf"pip install 'flowpy-fbp\[{extra}\]'"):
        require_client(scheme)


@pytest.mark.parametrize("scheme, library", [("mqtt", "paho"), ("amqp", "pika")])
def test_the_cli_says_which_extra_is_missing(scheme, library, tmp_path):
    code = (
        f"import sys; sys.modules[{library!r}] = None; "
        "sys.modules['paho.mqtt'] = None; sys.modules['paho.mqtt.client'] = None; "
        "from flowpy.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "participant",
            "--broker",
            f"{scheme}://127.0.0.1:1",
            "--role",
            "r",
            "core/Repeat",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=python_env(),
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"pip install 'flowpy-fbp[{scheme}]'" in lines[0]
