"""files/: ReadLines streams with bounded memory, WriteLines replaces a file (or appends to
it) and reports its path."""

import os
import tracemalloc

import pytest
from engine_helpers import build

from flowpy import IP
from flowpy.testing import ProcessFailed, run_component, run_graph


def shape(ips):
    return [
        f"<{ip.data}" if ip.is_open else f">{ip.data}" if ip.is_close else ip.data for ip in ips
    ]


def test_readlines_sends_lines_without_newlines_in_a_bracket_named_by_the_path(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("one\ntwo\r\n\nlast without newline", encoding="utf-8")
    out = run_component("files/ReadLines", {"in": [str(path)]}, ips=True)["out"]
    assert shape(out) == [f"<{path}", "one", "two", "", "last without newline", f">{path}"]


def test_readlines_of_an_empty_file_is_an_empty_bracket_and_brackets_on_in_pass(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("")
    out = run_component(
        "files/ReadLines", {"in": [IP.open("g"), str(path), IP.close("g")]}, ips=True
    )["out"]
    assert shape(out) == ["<g", f"<{path}", f">{path}", ">g"]


def test_readlines_missing_file_goes_to_error_and_the_next_file_is_read(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("x\n")
    result = run_component("files/ReadLines", {"in": [str(tmp_path / "nope"), str(good)]})
    assert result["out"] == ["x"]
    [error] = result["error"]
    assert "cannot read" in error["message"] and "nope" in error["message"]
    assert error["input"] == str(tmp_path / "nope")


def test_readlines_missing_file_without_error_port_is_a_process_error(tmp_path):
    graph = build({"r": "files/ReadLines"}, inports={"in": "r.in"}, outports={"out": "r.out"})
    with pytest.raises(ProcessFailed, match="cannot read .*nope"):
        run_graph(graph, {"in": [str(tmp_path / "nope")]})


def test_readlines_streams_a_large_file_with_bounded_memory(tmp_path):
    path = tmp_path / "big.txt"
    line = "x" * 99 + "\n"
    with open(path, "w") as handle:
        for _ in range(200_000):  # 20 MB
            handle.write(line)
    graph = build(
        {"r": "files/ReadLines", "c": "core/Count"},
        ["r.out -> c.in"],
        inports={"in": "r.in"},
        outports={"count": "c.out"},
    )
    tracemalloc.start()
    try:
        result = run_graph(graph, {"in": [str(path)]}, timeout=60)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result["count"] == [200_000]
    assert peak < 8_000_000, f"peak {peak} bytes: the file was not streamed"


def test_readfile_sends_the_whole_text_and_errors_for_a_missing_file(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a\nb\n")
    result = run_component("files/ReadFile", {"in": [str(path), str(tmp_path / "no")]})
    assert result["out"] == ["a\nb\n"]
    assert len(result["error"]) == 1


def test_readfile_rejects_a_path_that_is_not_a_string():
    result = run_component("files/ReadFile", {"in": [42]})
    assert result["error"][0]["input"] == 42


def test_writelines_appends_one_per_line_when_asked_and_sends_the_path_at_the_end(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    first = run_component(
        "files/WriteLines",
        {"conf": [str(path)], "in": ["a", IP.open("g"), {"k": 1}, IP.close("g")]},
    )
    assert first["out"] == [str(path)]
    run_component("files/WriteLines", {"conf": [{"path": str(path), "append": True}], "in": ["b"]})
    assert path.read_text() == 'a\n{"k":1}\nb\n'


def test_writelines_replaces_the_file_by_default_so_a_second_run_gives_the_same_file(tmp_path):
    path = tmp_path / "out.txt"
    for _run in range(2):
        run_component("files/WriteLines", {"conf": [str(path)], "in": ["a", "b"]})
    assert path.read_text() == "a\nb\n"
    run_component("files/WriteLines", {"conf": [{"path": str(path)}], "in": ["c"]})
    assert path.read_text() == "c\n"


def test_writelines_with_append_false_starts_afresh_and_an_empty_stream_makes_the_file(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old\n")
    assert run_component(
        "files/WriteLines", {"conf": [{"path": str(path), "append": False}], "in": []}
    )["out"] == [str(path)]
    assert path.read_text() == ""


def test_writelines_refuses_a_conf_without_a_path():
    with pytest.raises(ProcessFailed, match="conf needs a path"):
        run_component("files/WriteLines", {"conf": [{"append": True}], "in": ["x"]})


def test_writefile_replaces_the_content_per_ip(tmp_path):
    path = tmp_path / "f.txt"
    result = run_component("files/WriteFile", {"conf": [str(path)], "in": ["first", "second"]})
    assert result["out"] == [str(path), str(path)]
    assert path.read_text() == "second"
    assert os.listdir(tmp_path) == ["f.txt"]  # no temporary file left


def test_writefile_error_for_an_unwritable_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_component("files/WriteFile", {"conf": [str(blocker / "x.txt")], "in": ["t"]})
    assert result["out"] == [] and "cannot write" in result["error"][0]["message"]


def test_listdir_sends_sorted_entry_paths_in_a_bracket_hidden_ones_left_out(tmp_path):
    for name in ("b", "a", ".hidden"):
        (tmp_path / name).write_text("")
    out = run_component("files/ListDir", {"in": [str(tmp_path)]}, ips=True)["out"]
    assert shape(out) == [f"<{tmp_path}", str(tmp_path / "a"), str(tmp_path / "b"), f">{tmp_path}"]
    shown = run_component("files/ListDir", {"in": [str(tmp_path)], "conf": ['{"hidden": true}']})
    assert str(tmp_path / ".hidden") in shown["out"]


def test_listdir_error_for_a_missing_folder(tmp_path):
    result = run_component("files/ListDir", {"in": [str(tmp_path / "none")]})
    assert result["out"] == [] and "cannot list" in result["error"][0]["message"]


def test_stat_tells_files_folders_and_missing_paths(tmp_path):
    (tmp_path / "f").write_text("abc")
    out = run_component(
        "files/Stat", {"in": [str(tmp_path / "f"), str(tmp_path), str(tmp_path / "missing")]}
    )["out"]
    assert out[0]["is_file"] and out[0]["size"] == 3 and "T" in out[0]["modified"]
    assert out[1]["is_dir"]
    assert out[2] == {"path": str(tmp_path / "missing"), "exists": False}


def _in_folder(graph, folder):
    """The graph as read from a file in ``folder`` (read_graph_file sets this property)."""
    graph.properties["baseDir"] = str(folder)
    return graph


def test_relative_paths_are_relative_to_the_graph_files_folder_and_absolute_ones_stay(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.txt").write_text("one\ntwo\n")
    graph = _in_folder(
        build(
            {
                "read": "files/ReadLines",
                "write": "files/WriteLines",
                "stat": "files/Stat",
                "list": "files/ListDir",
            },
            edges=["read.out -> write.in"],
            iips={"read.in": "data/in.txt", "write.conf": "out/copy.txt"},
            inports={"stat": "stat.in", "list": "list.in"},
            outports={"written": "write.out", "stat": "stat.out", "listed": "list.out"},
        ),
        tmp_path,
    )
    result = run_graph(graph, {"stat": ["data/in.txt", str(tmp_path / "nope")], "list": ["data"]})
    assert (tmp_path / "out" / "copy.txt").read_text() == "one\ntwo\n"
    assert result["written"] == ["out/copy.txt"]  # paths travel on as the graph gives them
    assert [(s["path"], s["exists"]) for s in result["stat"]] == [
        ("data/in.txt", True),
        (str(tmp_path / "nope"), False),
    ]
    assert result["listed"] == [os.path.join("data", "in.txt")]


def test_a_missing_relative_file_says_where_it_was_looked_for(tmp_path):
    graph = _in_folder(
        build(
            {"read": "files/ReadFile"},
            inports={"in": "read.in"},
            outports={"out": "read.out", "error": "read.error"},
        ),
        tmp_path,
    )
    [error] = run_graph(graph, {"in": ["missing.txt"]})["error"]
    assert error["message"] == (
        f"cannot read missing.txt (as {tmp_path / 'missing.txt'}): No such file or directory"
    )
