"""http/Server and http/Respond against a real socket, driven by an HTTP client (httpx):
request objects, answers by id, 504 on timeout, 503 "busy" under back-pressure, stops."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from engine_helpers import Block, Recorder, build

from flowpy import Network
from flowpy.engine.registry import Registry
from flowpy.testing import ProcessFailed, run_component
from flowpy_components.http.server import WAITING

ECHO = (
    '{id: id, body: {method: method, path: path, query: query, got: body, agent: headers."x-test"}}'
)


def serve(nodes, edges, conf, extra_iips=None, capacity=None):
    """Start a network with http/Server `s`; (network, recorder, base URL)."""
    recorder = Recorder()
    iips = {"s.conf": conf, **(extra_iips or {})}
    graph = build(
        {"s": "http/Server", **nodes}, edges, iips=iips, outports={"listening": "s.listening"}
    )
    registry = Registry()
    registry.register("test/Block", Block)
    network = Network(graph, registry, recorder, **({"capacity": capacity} if capacity else {}))
    network.start()
    assert recorder.wait_for(lambda: any(port == "listening" for port, _ in recorder.outputs))
    url = next(ip.data["url"] for port, ip in recorder.outputs if port == "listening")
    return network, recorder, url


@pytest.fixture
def networks():
    started = []
    yield started
    for network in started:
        assert network.stop(10.0, drain=False) == []


def test_a_request_becomes_an_object_and_respond_answers_it(networks):
    network, recorder, url = serve(
        {"get": "objects/Get", "r": "http/Respond"},
        ["s.out -> get.in", "get.out -> r.in"],
        {"port": 0, "path": "/api"},
        {"get.conf": ECHO},
    )
    networks.append(network)
    with httpx.Client() as client:
        reply = client.post(url + "items?x=1&tag=a&tag=b", json={"n": 2}, headers={"X-Test": "yes"})
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "application/json"
        assert reply.json() == {
            "method": "POST",
            "path": "/api/items",
            "query": {"x": "1", "tag": ["a", "b"]},
            "got": {"n": 2},
            "agent": "yes",
        }
        text = client.put(url, content="plain words")
        assert text.json()["got"] == "plain words"
        assert client.get(url.replace("/api/", "/other")).status_code == 404
        assert (
            client.post(
                url, content="{bad", headers={"content-type": "application/json"}
            ).status_code
            == 400
        )
    assert recorder.errors == []


def test_respond_given_the_request_echoes_its_body_and_status_and_headers_apply(networks):
    network, _, url = serve({"r": "http/Respond"}, ["s.out -> r.in"], {"port": 0})
    networks.append(network)
    reply = httpx.post(url, content="echo me")
    assert (reply.status_code, reply.text) == (200, "echo me")
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"
    network2, _, url2 = serve(
        {"get": "objects/Get", "r": "http/Respond"},
        ["s.out -> get.in", "get.out -> r.in"],
        {"port": 0, "methods": ["GET"]},
        {"get.conf": "{id: id, status: `201`, headers: {\"X-Made\": 'yes'}, body: 'made'}"},
    )
    networks.append(network2)
    made = httpx.get(url2)
    assert (made.status_code, made.text, made.headers["x-made"]) == (201, "made", "yes")
    assert httpx.delete(url2).status_code == 405


def test_a_request_nobody_answers_gets_504_after_the_timeout(networks):
    network, _, url = serve({"d": "core/Drop"}, ["s.out -> d.in"], {"port": 0, "timeout": 100})
    networks.append(network)
    assert httpx.get(url).status_code == 504


def test_when_the_graph_cannot_take_requests_they_are_answered_503_busy(networks):
    # test/Block never reads: one request fills the connection (capacity 1), one is in the
    # Server's blocked send, one waits in the hand-over, and every later one is answered 503
    # "busy" once `wait` has passed: nothing more is buffered.
    network, recorder, url = serve(
        {"b": "test/Block"},
        ["s.out -> b.in"],
        {"port": 0, "wait": 50, "timeout": 60000},
        capacity=1,
    )
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(httpx.get, url, timeout=30) for _ in range(6)]
        busy = _finished(futures, 3)
        assert {(r.status_code, r.text) for r in busy} == {(503, "busy\n")}
        # The ones inside the graph (or at its door) get their answer when it stops.
        assert network.stop(10.0, drain=False) == []
        replies = [future.result(timeout=10) for future in futures]
    assert [reply.status_code for reply in replies] == [503] * 6
    assert sum(reply.text == "stopping\n" for reply in replies) == 3
    assert recorder.errors == []


def _finished(futures, count):
    """The first ``count`` futures to finish, as they finish."""
    from concurrent.futures import FIRST_COMPLETED, wait

    done: set = set()
    pending = set(futures)
    while len(done) < count:
        finished, pending = wait(pending, timeout=30, return_when=FIRST_COMPLETED)
        assert finished, "no reply within 30 s"
        done |= finished
    return [future.result() for future in done]


def test_more_than_max_requests_in_flight_are_answered_503_at_once(networks):
    network, recorder, url = serve(
        {"d": "core/Drop"}, ["s.out -> d.in"], {"port": 0, "timeout": 60000, "max_requests": 2}
    )
    with ThreadPoolExecutor(2) as pool:
        waiting = [pool.submit(httpx.get, url, timeout=30) for _ in range(2)]
        # Both are in flight once Drop has taken both.
        assert WAITING.wait_until(2, 10)
        refused = httpx.get(url, timeout=30)
        assert (refused.status_code, refused.text) == (503, "busy\n")
        assert network.stop(10.0, drain=False) == []
        assert [f.result(timeout=10).status_code for f in waiting] == [503, 503]


def test_respond_reports_unknown_ids_and_bad_responses():
    result = run_component(
        "http/Respond",
        {"in": [{"id": "nope"}, {"id": "x", "status": 99}, "text", {"id": "x", "colour": 1}]},
    )
    messages = [e["message"] for e in result["error"]]
    assert "no request waits for id 'nope'" in messages[0]
    assert "status must be" in messages[1]
    assert "a response is an object" in messages[2]
    assert "unknown response field(s) ['colour']" in messages[3]


def test_server_refuses_a_port_in_use_with_one_clear_error(networks):
    network, _, url = serve({"d": "core/Drop"}, ["s.out -> d.in"], {"port": 0})
    networks.append(network)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with pytest.raises(ProcessFailed, match=f"cannot listen on 127.0.0.1:{port}"):
        run_component("http/Server", {"conf": [{"port": port}]})


def test_with_requests_n_the_server_ends_once_that_many_are_answered(networks):
    network, recorder, url = serve(
        {"r": "http/Respond"}, ["s.out -> r.in"], {"port": 0, "requests": 2}
    )
    networks.append(network)
    assert [httpx.post(url, content=str(n)).text for n in range(2)] == ["0", "1"]
    assert recorder.wait_for(lambda: ("finished",) in recorder.events)
    assert recorder.errors == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)
