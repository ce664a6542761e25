"""The example graphs of examples/ that use the component library, run as a user runs them:
``python -m flowpy run FILE`` in a subprocess, outputs moved to a temporary folder with
``--iip``, and the HTTP one pointed at a local server."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

pytestmark = pytest.mark.integration


def flowpy_run(graph, *args, timeout=60, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "flowpy", "run", str(EXAMPLES / graph), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


def test_adult_names_jsonl_parse_filter_get_upper_writelines(tmp_path):
    out = tmp_path / "names.txt"
    result = flowpy_run("adult-names.fbp", f"--iip=write.conf={out}")
    assert result.returncode == 0, result.stderr
    assert out.read_text().splitlines() == ["ANN", "CECILIA", "EVE"]
    assert result.stdout.splitlines() == [str(out)]


def test_an_example_reads_its_data_from_any_directory_and_writes_relative_to_its_folder(tmp_path):
    """Its relative paths are relative to the graph file's folder, not to where it is run."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    graph = tmp_path / "copy" / "adult-names.fbp"
    graph.parent.mkdir()
    graph.write_text((EXAMPLES / "adult-names.fbp").read_text())
    (graph.parent / "data").symlink_to(EXAMPLES / "data")
    result = flowpy_run(str(graph), "--iip=write.conf=out/names.txt", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert (graph.parent / "out" / "names.txt").read_text().splitlines() == [
        "ANN",
        "CECILIA",
        "EVE",
    ]
    assert result.stdout.splitlines() == ["out/names.txt"]  # the path as the graph gives it
    assert list(elsewhere.iterdir()) == []


def test_cities_by_country_csv_parse_route_into_two_files(tmp_path):
    norway, italy = tmp_path / "no.jsonl", tmp_path / "it.jsonl"
    result = flowpy_run(
        "cities-by-country.fbp", f"--iip=norway.conf={norway}", f"--iip=italy.conf={italy}"
    )
    assert result.returncode == 0, result.stderr
    cities = [json.loads(line) for line in norway.read_text().splitlines()]
    assert [c["city"] for c in cities] == ["Oslo", "Bergen", "Trondheim"]
    assert cities[0] == {"city": "Oslo", "country": "NO", "population": 709000}
    assert [json.loads(line)["city"] for line in italy.read_text().splitlines()] == [
        "Rome",
        "Milan",
    ]
    lines = result.stdout.splitlines()
    assert sorted(lines) == sorted(
        [str(norway), str(italy), '{"city":"Lima, Peru","country":"PE","population":10000000}']
    )


def test_http_names_fetches_from_a_local_server(local_server):
    result = flowpy_run("http-names.fbp", f"--iip=request.in={local_server.url}/people.json")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ['["ann","bob"]']


def test_http_names_against_the_example_data_served_by_http_server(tmp_path):
    """The way the example's header says to run it: http.server over examples/data."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=EXAMPLES / "data",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import time

        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "http.server did not start"
                time.sleep(0.05)
        result = flowpy_run(
            "http-names.fbp", f"--iip=request.in=http://127.0.0.1:{port}/people.json"
        )
    finally:
        server.terminate()
        server.wait(10)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ['["Ann","Cecilia"]']
