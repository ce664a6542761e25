"""Stop cycles amid traffic, against a served runtime: is every acknowledged packet accounted for?

One client keeps a window of unacknowledged ``runtime:packet`` s going into
``in -> a(core/Repeat) -> d(time/Delay 1 ms) -> b(core/Repeat) -> out`` and sends
``network:stop`` while they flow (every other one immediate, ``drain: false``); a stop
reports what it cut off in ``network:output`` ("stopping discarded N IP(s)"). Every packet carries a
distinct number, so the count is exact: each acknowledged (``packetsent``) packet must come
out on ``out`` or be counted as discarded; ``unreported`` is what is neither.

Used by tests/e2e/test_stop_drain.py (a few cycles) and bench/stop_accounting.py (20).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
from dataclasses import dataclass, field

from ws_clients import ReadingClient, build_chain

DISCARDED = re.compile(r"stopping discarded (\d+) IP")
GRAPH = "drainacct"


@dataclass
class Tally:
    sent: int = 0
    acknowledged: set = field(default_factory=set)
    delivered: list = field(default_factory=list)
    discarded: int = 0
    refused: int = 0

    @property
    def unreported(self) -> int:
        return len(self.acknowledged) - len(set(self.delivered)) - self.discarded


class _Counter(ReadingClient):
    """Keeps only what the tally needs; counts the rest as it arrives."""

    def __init__(self, url: str) -> None:
        self.tally = Tally()
        self.pending: dict[str, int] = {}
        self.window = threading.Semaphore(0)
        super().__init__(url, name="stop-traffic", keep=self._keep)

    def _keep(self, m: dict) -> bool:
        tally, payload = self.tally, m.get("payload") or {}
        rid = m.get("responseTo")
        if rid is not None and rid in self.pending:
            number = self.pending.pop(rid)
            if m["command"] == "packetsent":
                tally.acknowledged.add(number)
            else:
                tally.refused += 1
            self.window.release()
            return False
        if m.get("command") == "packet" and payload.get("event") == "data":
            tally.delivered.append(payload.get("payload"))
            return False
        if m.get("command") == "output":
            found = DISCARDED.search(str(payload.get("message", "")))
            if found:
                tally.discarded += int(found.group(1))
        return m.get("protocol") != "network" or m.get("command") not in (
            "data",
            "connect",
            "disconnect",
            "begingroup",
            "endgroup",
        )  # edge debug data


def stop_cycles(
    url: str, cycles: int, window: int = 300, per_cycle: int = 3000, delay_ms: float = 1
) -> Tally:
    """``cycles`` times: start, send until ``per_cycle`` packets were acknowledged (or the stop
    refuses them), stop in the middle of the traffic; returns the tally over all cycles."""
    client = _Counter(url)
    try:
        build_chain(client, GRAPH, 2)
        client.request("graph", "addnode", {"graph": GRAPH, "id": "d", "component": "time/Delay"})
        client.request(
            "graph",
            "removeedge",
            {
                "graph": GRAPH,
                "src": {"node": "n0", "port": "out"},
                "tgt": {"node": "n1", "port": "in"},
            },
        )
        for src, tgt in (("n0", "d"), ("d", "n1")):
            client.request(
                "graph",
                "addedge",
                {
                    "graph": GRAPH,
                    "src": {"node": src, "port": "out"},
                    "tgt": {"node": tgt, "port": "in"},
                },
            )
        client.request(
            "graph",
            "addinitial",
            {"graph": GRAPH, "src": {"data": delay_ms}, "tgt": {"node": "d", "port": "conf"}},
        )
        numbers = itertools.count()
        for cycle in range(cycles):
            start = len(client.messages)
            client.request("network", "start", {"graph": GRAPH})
            for _ in range(window):
                client.window.release()
            stop_at = len(client.tally.acknowledged) + per_cycle // 2
            for _ in range(per_cycle):
                client.window.acquire()
                number = next(numbers)
                rid = f"p{number}"
                client.pending[rid] = number
                client.tally.sent += 1
                client.ws.send(
                    json.dumps(
                        {
                            "protocol": "runtime",
                            "command": "packet",
                            "requestId": rid,
                            "payload": {
                                "graph": GRAPH,
                                "port": "in",
                                "event": "data",
                                "payload": number,
                            },
                        }
                    )
                )
                if len(client.tally.acknowledged) >= stop_at:
                    break
            # Amid the traffic; every other stop is immediate (drain: false), which cuts off
            # whatever is inside, as a drain's deadline does.
            client.send("network", "stop", {"graph": GRAPH, "drain": cycle % 2 == 0})
            client.wait_for(lambda m: m.get("command") == "stopped", start=start, timeout=60)
            client.wait_until(lambda: not client.pending, timeout=60)  # every packet answered
            while client.window.acquire(blocking=False):
                pass
        # Output sent before each stop ended may still be on its way: wait until it is in
        # (what never comes is the finding: the tally says how much).
        with contextlib.suppress(AssertionError):
            client.wait_until(lambda: client.tally.unreported <= 0, timeout=15)
    finally:
        client.close()
    return client.tally
