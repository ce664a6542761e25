"""files/Watch on a real temporary folder: an IP per event (created, modified, deleted,
moved), patterns, recursion, a stop ending it, back-pressure bounded, and the one-line
message when watchdog is missing. Every wait is on the recorder's condition, never a sleep."""

from __future__ import annotations

import os
import sys

import pytest
from engine_helpers import build, start_network

from flowpy.testing import ProcessFailed, run_component


def start(conf, nodes=None, edges=(), outports=None, capacity=None):
    graph = build(
        {"w": "files/Watch", **(nodes or {})},
        list(edges),
        iips={"w.conf": conf},
        outports=outports or {"watching": "w.watching", "out": "w.out"},
    )
    return start_network(graph, ready="watching", capacity=capacity)


def events(recorder):
    with recorder.cond:
        return [ip.data for p, ip in recorder.outputs if p == "out"]


def wait_for(recorder, wanted):
    assert recorder.wait_for(lambda: wanted in events(recorder)), events(recorder)


def test_watch_sends_an_ip_per_event(tmp_path):
    network, recorder = start({"path": str(tmp_path)})
    try:
        path = tmp_path / "a.txt"
        path.write_text("one")
        wait_for(recorder, {"event": "created", "path": str(path)})
        with path.open("a") as file:
            file.write("two")
        wait_for(recorder, {"event": "modified", "path": str(path)})
        path.rename(tmp_path / "b.txt")
        moved = {"event": "moved", "path": str(path), "dest": str(tmp_path / "b.txt")}
        wait_for(recorder, moved)
        (tmp_path / "b.txt").unlink()
        wait_for(recorder, {"event": "deleted", "path": str(tmp_path / "b.txt")})
    finally:
        assert network.stop(10.0, drain=False) == []  # no thread left behind
    assert recorder.errors == []
    assert all("directory" not in e for e in events(recorder))  # folders only when asked


def test_patterns_recursion_and_a_count_that_ends_the_process(tmp_path):
    (tmp_path / "sub").mkdir()
    conf = {"path": str(tmp_path), "patterns": ["*.csv"], "events": 2, "directories": True}
    network, recorder = start(conf)
    try:
        (tmp_path / "skip.txt").touch()
        (tmp_path / "sub" / "deep.csv").touch()  # created, not modified
        os.mkdir(tmp_path / "new.csv")
        assert recorder.wait_for(lambda: ("finished",) in recorder.events)
    finally:
        assert network.stop(10.0, drain=False) == []
    assert events(recorder) == [
        {"event": "created", "path": str(tmp_path / "sub" / "deep.csv")},
        {"event": "created", "path": str(tmp_path / "new.csv"), "directory": True},
    ]


def test_not_recursive_sees_only_the_folder_itself(tmp_path):
    (tmp_path / "sub").mkdir()
    network, recorder = start({"path": str(tmp_path), "recursive": False, "patterns": "*.csv"})
    try:
        (tmp_path / "sub" / "deep.csv").write_text("x")
        (tmp_path / "top.csv").write_text("x")
        wait_for(recorder, {"event": "created", "path": str(tmp_path / "top.csv")})
    finally:
        assert network.stop(10.0, drain=False) == []
    assert all("deep" not in e["path"] for e in events(recorder))


def test_a_graph_that_does_not_read_leaves_the_events_to_the_system(tmp_path):
    # test/Block never reads: the handler waits, watchdog's bounded queue fills and its
    # reader stops; the stop still ends every thread.
    network, recorder = start(
        {"path": str(tmp_path), "patterns": ["*.txt"]},
        nodes={"b": "test/Block"},
        edges=["w.out -> b.in"],
        outports={"watching": "w.watching"},
        capacity=1,
    )
    try:
        for n in range(500):
            (tmp_path / f"{n}.txt").write_text("x")
    finally:
        assert network.stop(10.0, drain=False) == []
    assert recorder.errors == []


def test_a_path_that_does_not_exist_fails_the_process(tmp_path):
    with pytest.raises(ProcessFailed, match="cannot watch .*nothing: no such file or folder"):
        run_component("files/Watch", {"conf": [str(tmp_path / "nothing")]})


def test_without_watchdog_the_message_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "watchdog.observers", None)  # None: import fails
    expected = r"needs the watchdog package: pip install 'flowpy-fbp\[watch\]'"
    with pytest.raises(ProcessFailed, match=expected):
        run_component("files/Watch", {"conf": [str(tmp_path)]})
