"""http/Request against a local server (never the internet)."""

import time

import pytest
from engine_helpers import build

from flowpy import IP, Network
from flowpy.engine.registry import Registry
from flowpy.testing import ProcessFailed, run_component, run_graph

OPEN, CLOSE = IP.open, IP.close


def test_get_a_json_url(local_server):
    [response] = run_component("http/Request", {"in": [f"{local_server.url}/people.json"]})["out"]
    assert response["status"] == 200
    assert response["json"]["people"][0] == {"name": "ann", "age": 30, "city": "Oslo"}
    assert response["headers"]["content-type"] == "application/json"


def test_text_body_404_and_post_json(local_server):
    result = run_component(
        "http/Request",
        {
            "in": [
                f"{local_server.url}/text",
                f"{local_server.url}/missing",
                {"method": "post", "url": f"{local_server.url}/post", "json": {"a": 1}},
                {
                    "method": "POST",
                    "url": f"{local_server.url}/post",
                    "body": "raw",
                    "headers": {"Content-Type": "text/plain"},
                },
            ]
        },
    )
    text, missing, posted, raw = result["out"]
    assert text["body"] == "plain text" and "json" not in text
    assert missing["status"] == 404 and missing["json"] == {"error": "not found"}
    assert posted["status"] == 201 and posted["json"]["body"] == '{"a":1}'
    assert posted["json"]["content_type"] == "application/json"
    assert raw["json"]["body"] == "raw" and raw["json"]["content_type"] == "text/plain"
    assert result["error"] == []


def test_status_errors_send_4xx_to_error(local_server):
    result = run_component(
        "http/Request", {"conf": [{"status_errors": True}], "in": [f"{local_server.url}/missing"]}
    )
    assert result["out"] == [] and result["error"][0]["status"] == 404


def test_conf_headers_go_with_every_request(local_server):
    result = run_component(
        "http/Request",
        {"conf": [{"headers": {"X-Test": "yes"}}], "in": [f"{local_server.url}/echo-headers"]},
    )
    assert result["out"][0]["json"]["X-Test"] == "yes"


def test_bad_requests_and_connection_failures_go_to_error(local_server):
    result = run_component(
        "http/Request",
        {
            "in": [
                "ftp://example.invalid/x",
                {"url": local_server.url + "/", "verb": "GET"},
                3,
                "http://127.0.0.1:9/closed-port",
                f"{local_server.url}/people.json",
            ]
        },
    )
    assert [r["status"] for r in result["out"]] == [200]
    messages = [e["message"] for e in result["error"]]
    assert "http:// or https://" in messages[0]
    assert "unknown request field(s) ['verb']" in messages[1]
    assert "a request is a URL" in messages[2]
    assert "ConnectError" in messages[3]


def test_connection_failure_without_error_port_is_a_process_error():
    graph = build({"h": "http/Request"}, inports={"in": "h.in"}, outports={"out": "h.out"})
    with pytest.raises(ProcessFailed, match="ConnectError"):
        run_graph(graph, {"in": ["http://127.0.0.1:9/"]})


def test_timeouts_go_to_error(local_server):
    result = run_component(
        "http/Request", {"conf": [{"timeout": 0.2}], "in": [f"{local_server.url}/slow/2"]}
    )
    assert result["out"] == [] and "Timeout" in result["error"][0]["message"]


def test_concurrent_requests_come_out_in_request_order_with_brackets(local_server):
    urls = [f"{local_server.url}/slow/{delay}" for delay in ("0.4", "0.1", "0.2", "0.0")]
    out = run_component(
        "http/Request",
        {"conf": [{"concurrency": 4}], "in": [OPEN("g"), *urls, CLOSE("g")]},
        ips=True,
    )["out"]
    assert out[0] == OPEN("g") and out[-1] == CLOSE("g")
    assert [ip.data["json"]["slept"] for ip in out[1:-1]] == [u.split(":", 2)[2][5:] for u in urls]
    assert local_server.most_active >= 2  # in parallel: the slowest overlapped the others


def test_connections_are_reused(local_server):
    run_component(
        "http/Request", {"conf": [{"concurrency": 1}], "in": [f"{local_server.url}/text"] * 5}
    )
    assert len({port for _, _, port in local_server.requests}) == 1


def test_concurrency_is_bounded(local_server):
    urls = [f"{local_server.url}/slow/0.2"] * 4
    start = time.monotonic()
    run_component("http/Request", {"conf": [{"concurrency": 2}], "in": urls})
    assert time.monotonic() - start >= 0.38  # two rounds of two


def test_a_stop_abandons_requests_in_flight(local_server):
    graph = build(
        {"h": "http/Request"},
        iips={"h.in": f"{local_server.url}/slow/5"},
        outports={"out": "h.out"},
    )
    network = Network(graph, Registry())
    network.start()
    time.sleep(0.2)
    start = time.monotonic()
    assert network.stop(5.0, drain=False) == []
    assert time.monotonic() - start < 2.0


def test_bad_conf_is_a_clear_process_error():
    with pytest.raises(ProcessFailed, match="concurrency must be a positive whole number"):
        run_component("http/Request", {"conf": [{"concurrency": 0}], "in": []})
    with pytest.raises(ProcessFailed, match="unknown conf option"):
        run_component("http/Request", {"conf": [{"retries": 3}], "in": []})


def test_a_response_comes_out_while_the_input_stream_is_still_open(local_server):
    import threading

    from flowpy import NetworkListener

    got = threading.Event()

    class Listener(NetworkListener):
        def outport_ips(self, network, port, ips):
            got.set()

    graph = build({"h": "http/Request"}, inports={"in": "h.in"}, outports={"out": "h.out"})
    network = Network(graph, Registry(), Listener())
    network.start()
    try:
        network.send_inport("in", IP.make_data(f"{local_server.url}/text"))
        assert got.wait(5), "the response waited for more input"
    finally:
        network.stop(5.0, drain=False)
