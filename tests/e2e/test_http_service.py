"""An HTTP service built from library components only (http/Server -> objects/Get ->
http/Respond), run by ``flowpy run`` as a user runs it and driven by an HTTP client."""

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration

SERVICE = """\
'{"port": 0, "path": "/orders"}' -> CONF server(http/Server)
server LISTENING -> IN show(core/Output)
server OUT -> IN total(objects/Get) OUT -> IN respond(http/Respond)
'{id: id, body: {count: length(body.items), total: sum(body.items[].price)}}' -> CONF total
"""


def test_an_http_service_from_library_components_answers_json(tmp_path):
    graph = tmp_path / "service.fbp"
    graph.write_text(SERVICE)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowpy", "run", str(graph)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        listening = json.loads(proc.stdout.readline())
        url = listening["url"]
        with httpx.Client(timeout=30) as client:
            order = {"items": [{"price": 2}, {"price": 3.5}, {"price": 10}]}
            reply = client.post(url, json=order)
            assert reply.status_code == 200, reply.text
            assert reply.headers["content-type"] == "application/json"
            assert reply.json() == {"count": 3, "total": 15.5}
            # Each request gets its own answer, also when several are in flight at once.
            with ThreadPoolExecutor(5) as pool:
                many = list(
                    pool.map(
                        lambda n: client.post(url + "x", json={"items": [{"price": n}]}), range(5)
                    )
                )
            assert [r.json()["total"] for r in many] == [0, 1, 2, 3, 4]
            assert client.get(url.replace("/orders/", "/elsewhere")).status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
