"""A graceful stop of a served network ends the input first, so a total still comes out.

``examples/count.fbp`` served by a real ``flowpy serve``: five packets acknowledged
(``packetsent``), then ``network:stop``. The end of the inport's stream reaches ``count``,
which emits its total before the network reports ``stopped``. The drain used to take a
reader that the end of its stream had just woken (but which had not run yet) for one idle on
an empty connection, and stopped before the total was made. The served runtime here loads
``tests/support/process_hooks/drain_gate.py``, which holds ``count`` in exactly that state
until the drain has judged it, so the test meets that interleaving every time
(tests/engine/test_network_drain.py forces it inside one process too).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from processes import ROOT, TESTS, python_env
from stop_traffic import stop_cycles
from ws_clients import ReadingClient

HOOKS = TESTS / "support" / "process_hooks"
HELD = "drain gate: holding count at its end of stream"


def _is(command: str):
    return lambda m: m.get("protocol") == "network" and m.get("command") == command


def _data_out(m: dict) -> bool:
    payload = m.get("payload") or {}
    return (
        m.get("protocol") == "runtime"
        and m.get("command") == "packet"
        and payload.get("port") == "out"
        and payload.get("event") == "data"
    )


def _gated_count(spawn_runtime):
    """``flowpy serve`` of examples/count.fbp whose drain meets ``count`` woken, not run."""
    return spawn_runtime(
        "--graph",
        str(ROOT / "examples" / "count.fbp"),
        env={
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(HOOKS)]),
            "FLOWPY_TEST_DRAIN_GATE": "count",
        },
    )


def test_network_stop_lets_the_count_out_before_stopped(spawn_runtime):
    served = _gated_count(spawn_runtime)
    client = ReadingClient(served.url, name="stopper")
    try:
        client.request("network", "start", {"graph": "count"})
        for n in range(5):
            client.request(
                "runtime",
                "packet",
                {"graph": "count", "port": "in", "event": "data", "payload": n},
            )
        client.send("network", "stop", {"graph": "count"})
        client.wait_for(_is("stopped"))
        stopped_at = next(i for i, m in enumerate(client.messages) if _is("stopped")(m))
        totals = [m["payload"]["payload"] for m in client.messages[:stopped_at] if _data_out(m)]
        assert totals == [5], served.stderr()
        # ... and the interleaving that lost it did take place
        assert HELD in served.stderr()
    finally:
        client.close()


def test_stops_amid_traffic_account_for_every_acknowledged_packet(spawn_runtime):
    """Issue 24 case 4 (bench/stop_accounting.py runs the 20 cycles): acknowledged =
    delivered + reported discarded, whether a stop drains or cuts off at once."""
    served = spawn_runtime()
    tally = stop_cycles(served.url, cycles=4)
    delivered = set(tally.delivered)
    assert len(delivered) == len(tally.delivered)  # nothing twice
    assert delivered <= tally.acknowledged  # nothing that was not acknowledged
    assert tally.discarded > 0  # the immediate stops did cut traffic off ...
    assert (len(tally.acknowledged), tally.unreported) == (
        len(delivered) + tally.discarded,
        0,
    )  # ... and said how much, exactly


def test_sigterm_to_serve_lets_the_count_out_before_the_connection_ends(spawn_runtime):
    """The same drain at a SIGTERM to ``flowpy serve`` (its networks stop as network:stop
    stops one): the total comes out before the server closes the connection."""
    served = _gated_count(spawn_runtime)
    client = ReadingClient(served.url, name="watcher")
    try:
        client.request("network", "start", {"graph": "count"})
        for n in range(5):
            client.request(
                "runtime",
                "packet",
                {"graph": "count", "port": "in", "event": "data", "payload": n},
            )
        assert served.stop() == 0
        client.wait_until(lambda: client.closed)
        totals = [m["payload"]["payload"] for m in client.messages if _data_out(m)]
        assert totals == [5], served.stderr()
        assert HELD in served.stderr()
    finally:
        client.close()


def test_a_bridge_that_stops_the_remote_network_it_started_gets_the_count_back(
    spawn_runtime, tmp_path
):
    """A Bridge's stop of its remote drains it as network:stop does: ``flowpy run`` feeds
    five lines through a Bridge to a served count.fbp that the Bridge started; when stdin
    ends the Bridge stops that network, whose count comes back and is printed."""
    remote = _gated_count(spawn_runtime)
    conf = {"url": remote.url, "start": True, "map": {"in": {"0": "in"}, "out": {"0": "out"}}}
    source = tmp_path / "bridge.fbp"
    source.write_text(
        "INPORT=pass.IN:IN\n"
        "pass(core/Repeat) OUT -> IN[0] bridge(core/Bridge)\n"
        f"'{json.dumps(conf)}' -> CONF bridge\n"
        "bridge OUT[0] -> IN print(core/Output)\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "flowpy", "run", str(source), "--stdin", "in"],
        input="a\nb\nc\nd\ne\n",
        cwd=str(tmp_path),
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout.splitlines()) == (0, ["5"]), done.stderr
    assert HELD in remote.stderr()
