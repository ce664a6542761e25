"""flowpy participants with MsgFlo code nobody here wrote (npm msgflo 0.12.3, under tests/js):
a chain flowpy -> msgflo-nodejs Repeat -> flowpy over Mosquitto and over RabbitMQ, and the
MsgFlo coordinator (msgflo-setup) starting and wiring a .fbp graph of such participants."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import brokers
import pytest
from brokers import AmqpProbe, participants, probe, unique_role
from processes import NODE_MODULES, free_port

pytestmark = [pytest.mark.broker, pytest.mark.integration, pytest.mark.npm]
mosquitto, rabbitmq, broker, msgflo_tools = (
    brokers.mosquitto,
    brokers.rabbitmq,
    brokers.broker,
    brokers.msgflo_tools,
)

REPEAT_COFFEE = NODE_MODULES / "msgflo-nodejs" / "examples" / "Repeat.coffee"

#: JSON values a JavaScript participant must pass through unchanged (no value JSON.parse and
#: JSON.stringify would change: integers within 2^53, finite floats that print the same).
VALUES = [
    0,
    -7,
    2**53 - 1,
    1.5,
    1e-7,
    "",
    "text",
    "é ☃ \U0001f600",
    '\\ " \n',
    None,
    True,
    False,
    [],
    {},
    [1, [2, [3]]],
    {"a": {"b": [None, "c"]}, "k": 1},
    "x" * 50_000,
]
#: Brackets pass through a plain participant as the flowpy envelope (it forwards the object).
BRACKETED = [
    {"flowpy:ip": "openBracket", "group": "batch"},
    1,
    2,
    {"flowpy:ip": "closeBracket", "group": "batch"},
]


def node_participant(start, broker, role: str, tools: Path, **kwargs):
    return start(
        [],
        command=[str(tools / "msgflo-nodejs"), "--name", role, str(REPEAT_COFFEE)],
        env={"MSGFLO_BROKER": broker.url},
        ready=f"{role} connected",
        **kwargs,
    )


def test_chain_through_a_msgflo_nodejs_repeat(broker, msgflo_tools, tmp_path):
    """flowpy A (core/Repeat) -> msgflo-nodejs Repeat R -> flowpy B (core/Repeat): A's
    input comes out of B exactly. MQTT topics are wired by naming A's outport queue R.IN and
    B's inport queue R.OUT; on AMQP the queues keep their own names and are bound as
    msgflo-setup binds them (R.IN to the exchange A.OUT, B.IN to R.OUT)."""
    a, r, b = unique_role("a"), unique_role("r"), unique_role("b")
    client = probe(broker)
    with participants(tmp_path) as start:
        if broker.kind == "mqtt":
            a_args = ["--queue", f"out={r}.IN"]
            b_args = ["--queue", f"in={r}.OUT"]
        else:
            a_args = b_args = []
        start(["--broker", broker.url, "--role", a, *a_args, "core/Repeat"])
        start(["--broker", broker.url, "--role", b, *b_args, "core/Repeat"])
        node_participant(start, broker, r, msgflo_tools)
        if broker.kind == "amqp":
            assert isinstance(client, AmqpProbe)
            client.bind(f"{a}.OUT", f"{r}.IN")
            client.bind(f"{r}.OUT", f"{b}.IN")
        client.collect(f"{b}.OUT")
        for value in VALUES + BRACKETED:
            client.send(f"{a}.IN", value)
        got = [
            json.loads(body)
            for body in client.messages(f"{b}.OUT", len(VALUES) + len(BRACKETED), timeout=30)
        ]
    client.close()
    assert got == VALUES + BRACKETED


def test_msgflo_setup_starts_and_wires_a_graph_of_participants(broker, msgflo_tools, tmp_path):
    """msgflo-setup --participants --discover: the coordinator starts the participants from a
    library file (two flowpy participants, one msgflo-nodejs), waits for their discovery
    messages, binds the queues they announced (on MQTT it forwards between topics itself,
    hence --forever), and data flows through the graph."""
    suffix = unique_role("")
    a, r, b = f"a{suffix}", f"r{suffix}", f"b{suffix}"
    (tmp_path / "graph.fbp").write_text(
        f"{a}(flowpy/Repeat) OUT -> IN {r}(Repeat)\n{r} OUT -> IN {b}(flowpy/Repeat)\n"
    )
    participant = f"{sys.executable} -m flowpy participant --role #ROLE --discovery-period 2"
    (tmp_path / "library.json").write_text(
        json.dumps(
            {
                "msgflo": {
                    "components": {
                        "flowpy/Repeat": f"{participant} core/Repeat",
                        "Repeat": f"{msgflo_tools / 'msgflo-nodejs'} --name #ROLE {REPEAT_COFFEE}",
                    }
                }
            }
        )
    )
    client = probe(broker)
    with participants(tmp_path) as start:
        setup = start(
            [],
            command=[
                str(msgflo_tools / "msgflo-setup"),
                str(tmp_path / "graph.fbp"),
                "--participants",
                "--library",
                str(tmp_path / "library.json"),
                "--componentdir",
                str(tmp_path),
                "--discover",
                "--timeout",
                "30",
                "--forever",
                "--forward",
                "stdout,stderr",
            ],
            env={"MSGFLO_BROKER": broker.url, "MSGFLO_DISCOVERY_PERIOD": "2"},
            ready="--forever enabled",
            timeout=60,
            group=True,
        )
        bindings = "".join(setup.stdout)
        assert f"{a}.OUT -> {r}.IN" in bindings and f"{r}.OUT -> {b}.IN" in bindings, setup
        client.collect(f"{b}.OUT")
        for value in VALUES:
            client.send(f"{a}.IN", value)
        got = [json.loads(body) for body in client.messages(f"{b}.OUT", len(VALUES), 30)]
    client.close()
    assert got == VALUES, setup


def docs_library(tmp_path: Path, tools: Path, flowpy_command: str) -> Path:
    """The library.json of docs/distributed.md: a flowpy component and msgflo-nodejs's
    Repeat, whose key is the last part of the flowpy key (what trips msgflo's lookup)."""
    path = tmp_path / "library.json"
    path.write_text(
        json.dumps(
            {
                "msgflo": {
                    "components": {
                        "flowpy/Repeat": flowpy_command,
                        "Repeat": f"{tools / 'msgflo-nodejs'} --name #ROLE {REPEAT_COFFEE}",
                    }
                }
            }
        )
    )
    return path


def test_msgflo_setup_discovers_flowpy_participants_with_the_default_period(
    broker, msgflo_tools, tmp_path
):
    """msgflo-setup --discover with MsgFlo's default 60 s period binds flowpy participants
    well within a timeout shorter than one period (they announce again in their first
    seconds), and its coordinator files every announcement without an error (the default
    announced component is the library's key). (A msgflo-nodejs participant in the graph
    would still take up to its own 27 s: it announces at start and then every 60 / 2.2 s.)"""
    suffix = unique_role("")
    a, b = f"a{suffix}", f"b{suffix}"
    (tmp_path / "graph.fbp").write_text(f"{a}(flowpy/Repeat) OUT -> IN {b}(flowpy/Repeat)\n")
    library = docs_library(
        tmp_path, msgflo_tools, f"{sys.executable} -m flowpy participant --role #ROLE core/Repeat"
    )
    client = probe(broker)
    with participants(tmp_path) as start:
        setup = start(
            [],
            command=[
                str(msgflo_tools / "msgflo-setup"),
                str(tmp_path / "graph.fbp"),
                "--participants",
                "--library",
                str(library),
                "--componentdir",
                str(tmp_path),
                "--discover",
                "--timeout",
                "15",
                "--forever",
                "--forward",
                "stdout,stderr",
            ],
            env={"MSGFLO_BROKER": broker.url},
            ready="--forever enabled",
            timeout=60,
            group=True,
        )
        bindings = "".join(setup.stdout)
        assert f"{a}.OUT -> {b}.IN" in bindings, setup
        client.collect(f"{b}.OUT")
        client.send(f"{a}.IN", {"through": "msgflo"})
        got = [json.loads(body) for body in client.messages(f"{b}.OUT", 1, 30)]
        assert "Participant discovery failed" not in setup.stderr(), setup
    client.close()
    assert got == [{"through": "msgflo"}], setup


def test_the_msgflo_coordinator_files_a_flowpy_participant(broker, msgflo_tools, tmp_path):
    """The `msgflo` runtime (its coordinator and library) adds a flowpy participant started
    with the defaults and updates it at its next announcement, both without the error msgflo
    0.12.3 gave for an announced `core/Repeat` beside the library key `Repeat`."""
    library = docs_library(
        tmp_path, msgflo_tools, f"{sys.executable} -m flowpy participant --role #ROLE core/Repeat"
    )
    role = unique_role("c")
    with participants(tmp_path) as start:
        runtime = start(
            [],
            command=[
                str(msgflo_tools / "msgflo"),
                "--host",
                "127.0.0.1",
                "--port",
                str(free_port()),
                "--broker",
                broker.url,
                "--library",
                str(library),
                "--componentdir",
                str(tmp_path),
            ],
            env={"DEBUG": "msgflo:coordinator"},
            ready="msgflo started on",
            timeout=60,
            group=True,
        )
        start(["--broker", broker.url, "--role", role, "--id", f"{role}-1", "core/Repeat"])
        deadline = time.monotonic() + 30
        while f"updateParticipant {role}-1" not in runtime.stderr():
            assert time.monotonic() < deadline, runtime
            time.sleep(0.1)  # polling a log file the runtime writes: no event to wait on
        log = runtime.stderr()
    assert f"addParticipant {role}-1" in log, log
    assert "Participant discovery failed" not in log, log
