"""``flowpy run`` and ``flowpy components`` as a user runs them: real subprocesses."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

pytestmark = pytest.mark.integration


def flowpy(*args, stdin=None, timeout=60):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "flowpy", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )


def write_graph(tmp_path, doc, name="g.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_run_example_prints_output_lines():
    result = flowpy("run", str(EXAMPLES / "hello.json"))
    assert result.returncode == 0, result.stderr
    # Two Output nodes run concurrently: the numbers 0..4 in order, and the count 5 somewhere.
    lines = result.stdout.splitlines()
    assert [line for line in lines if line != "5"] == ["0", "1", "2", "3", "4"]
    assert lines.count("5") == 1


def test_output_prints_strings_raw_and_other_values_as_compact_json(tmp_path):
    doc = {
        "processes": {"o": {"component": "core/Output"}},
        "connections": [
            {"data": "plain text", "tgt": {"process": "o", "port": "in"}},
            {"data": {"k": [1, 2.5, None, True]}, "tgt": {"process": "o", "port": "in"}},
        ],
    }
    result = flowpy("run", write_graph(tmp_path, doc))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["plain text", '{"k":[1,2.5,null,true]}']


def test_stdin_to_stdout_pipeline_with_brackets_free_lines():
    result = flowpy(
        "run",
        str(EXAMPLES / "echo.json"),
        "--stdin",
        "in",
        "--stdout",
        "out",
        stdin="alpha\nbeta\n\ngamma",
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        "alpha",
        "beta",
        "",
        "gamma",
    ]


def test_brackets_leave_as_begingroup_and_endgroup_lines_and_format_overrides_the_suffix(
    tmp_path,
):
    graph = tmp_path / "pairs.graph"  # no .fbp suffix: --graph-format says what it is
    graph.write_text(
        "INPORT=g.IN:IN\nOUTPORT=g.OUT:OUT\n'2' -> SIZE g(core/Group)\n'pair' -> GROUP g\n"
    )
    result = flowpy(
        "run",
        str(graph),
        "--graph-format",
        "fbp",
        "--stdin",
        "in",
        "--stdout",
        "out",
        stdin="a\nb\nc\n",
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"begingroup": "pair"},
        "a",
        "b",
        {"endgroup": "pair"},
        {"begingroup": "pair"},
        "c",
        {"endgroup": "pair"},
    ]
    unknown = flowpy("run", str(graph), "--stdin", "in", stdin="")
    assert unknown.returncode != 0 and "pairs.graph" in unknown.stderr


def test_graphs_of_a_components_dir_are_subgraphs_and_may_nest(tmp_path):
    lib = tmp_path / "parts" / "text"
    lib.mkdir(parents=True)
    (lib / "Pairs.fbp").write_text(  # text/Pairs: brackets around every two lines
        "INPORT=g.IN:IN\nOUTPORT=g.OUT:OUT\n'2' -> SIZE g(core/Group)\n'pair' -> GROUP g\n"
    )
    (tmp_path / "parts" / "Twice.fbp").write_text(  # graphs/Twice: uses text/Pairs inside
        "INPORT=r.IN:IN\nOUTPORT=p.OUT:OUT\nr(core/Repeat) OUT -> IN p(text/Pairs)\n"
    )
    top = tmp_path / "top.fbp"
    top.write_text("INPORT=t.IN:IN\nOUTPORT=t.OUT:OUT\nt(graphs/Twice)\n")
    result = flowpy(
        "run",
        str(top),
        "--components-dir",
        str(tmp_path / "parts"),
        "--stdin",
        "in",
        "--stdout",
        "out",
        stdin="a\nb\nc\n",
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"begingroup": "pair"},
        "a",
        "b",
        {"endgroup": "pair"},
        {"begingroup": "pair"},
        "c",
        {"endgroup": "pair"},
    ]
    (tmp_path / "parts" / "Broken.fbp").write_text("a(core/Repeat) ->\n")
    broken = flowpy("run", str(top), "--components-dir", str(tmp_path / "parts"), stdin="")
    assert broken.returncode == 2 and "Broken.fbp" in broken.stderr


def test_python_files_of_a_components_dir_are_components(tmp_path):
    parts = tmp_path / "parts"
    (parts / "mylib").mkdir(parents=True)
    (parts / "mylib" / "shout.py").write_text(
        "from flowpy import Component, InPort, InPorts, OutPort, OutPorts\n\n\n"
        "class Shout(Component):\n"
        "    inports = InPorts(InPort('in'))\n"
        "    outports = OutPorts(OutPort('out'))\n\n"
        "    def run(self):\n"
        "        for ip in self.inports['in']:\n"
        "            self.outports['out'].send_data(ip.data.upper())\n"
    )
    (parts / "countby.py").write_text(  # directly in DIR: the file's stem is the library
        "from flowpy import Component\n\n\nclass CountBy(Component):\n"
        "    def run(self):\n        pass\n"
    )
    top = tmp_path / "top.fbp"
    top.write_text("INPORT=s.IN:IN\nOUTPORT=s.OUT:OUT\ns(mylib/Shout)\n")
    (tmp_path / "c.fbp").write_text("c(countby/CountBy)\n")
    result = flowpy(
        "run",
        str(top),
        "--components-dir",
        str(parts),
        "--stdin",
        "in",
        "--stdout",
        "out",
        stdin="a\nb\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ['"A"', '"B"']  # --stdout writes JSON lines
    countby = flowpy("run", str(tmp_path / "c.fbp"), "--components-dir", str(parts))
    assert countby.returncode == 0, countby.stderr
    (parts / "mylib" / "broken.py").write_text("import os\n\nos.no_such_function()\n")
    broken = flowpy("run", str(top), "--components-dir", str(parts), stdin="")
    assert broken.returncode == 2
    assert f"{parts / 'mylib' / 'broken.py'}:3: AttributeError" in broken.stderr


def test_count_lines_of_stdin():
    words = "".join(f"w{n}\n" for n in range(5000))
    result = flowpy(
        "run", str(EXAMPLES / "count.json"), "--stdin", "IN", "--stdout", "out", stdin=words
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["5000"]


def test_iip_override_from_the_command_line():
    result = flowpy("run", str(EXAMPLES / "hello.json"), "--iip", "numbers.conf=3")
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == ["0", "1", "2", "3"]


def test_process_error_gives_non_zero_status_and_message_on_stderr(tmp_path):
    doc = {
        "processes": {"r": {"component": "core/Range"}, "o": {"component": "core/Output"}},
        "connections": [
            {"data": "not a number", "tgt": {"process": "r", "port": "conf"}},
            {"src": {"process": "r", "port": "out"}, "tgt": {"process": "o", "port": "in"}},
        ],
    }
    result = flowpy("run", write_graph(tmp_path, doc))
    assert result.returncode == 1
    assert "process 'r' (core/Range) failed" in result.stderr
    assert "Range conf must be an integer or an object" in result.stderr


def test_invalid_graph_is_reported_with_status_2(tmp_path):
    doc = {
        "processes": {"a": {"component": "core/Repeat"}, "b": {"component": "core/Drop"}},
        "connections": [
            {"src": {"process": "a", "port": "nope"}, "tgt": {"process": "b", "port": "in"}}
        ],
    }
    result = flowpy("run", write_graph(tmp_path, doc))
    assert result.returncode == 2
    assert "has no outport 'nope'" in result.stderr
    missing = flowpy("run", str(tmp_path / "missing.json"))
    assert missing.returncode == 2 and "cannot load" in missing.stderr


def test_timeout_stops_a_network_that_never_ends(tmp_path):
    doc = {
        "inports": {"in": {"process": "r", "port": "in"}},
        "processes": {"r": {"component": "core/Repeat"}},
        "connections": [],
    }
    # stdin is a pipe that never closes within the run: the network waits on it
    read_fd, write_fd = os.pipe()
    try:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "flowpy",
                "run",
                write_graph(tmp_path, doc),
                "--stdin",
                "in",
                "--timeout",
                "0.5",
            ],
            stdin=read_fd,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env=env,
        )
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert proc.returncode == 3
    assert "timeout" in proc.stderr


def test_components_lists_the_core_library_with_ports():
    result = flowpy("components")
    assert result.returncode == 0
    for name in (
        "core/Repeat",
        "core/Drop",
        "core/Output",
        "core/Count",
        "core/Range",
        "core/Merge",
        "core/Split",
    ):
        assert name in result.stdout
    infos = json.loads(flowpy("components", "--json").stdout)
    split = next(i for i in infos if i["name"] == "core/Split")
    assert split["outPorts"] == [
        {
            "id": "out",
            "type": "all",
            "description": "the same IPs on every slot",
            "addressable": True,
        }
    ]


def test_no_progress_on_stderr_when_it_is_not_a_terminal():
    words = "".join(f"w{n}\n" for n in range(1000))
    result = flowpy(
        "run",
        str(EXAMPLES / "count.json"),
        "--stdin",
        "in",
        "--stdout",
        "out",
        "--format",
        "lines",
        stdin=words,
    )
    assert result.returncode == 0
    assert result.stderr == ""


def test_progress_on_stderr_when_it_is_a_terminal(tmp_path):
    import pty

    doc = {
        "inports": {"in": {"process": "r", "port": "in"}},
        "outports": {"out": {"process": "r", "port": "out"}},
        "processes": {"r": {"component": "core/Repeat"}},
        "connections": [],
    }
    primary, secondary = pty.openpty()
    read_fd, write_fd = os.pipe()  # stdin that never ends: the run ends by --timeout
    try:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "flowpy",
                "run",
                write_graph(tmp_path, doc),
                "--stdin",
                "in",
                "--timeout",
                "2.5",
            ],
            stdin=read_fd,
            stdout=subprocess.DEVNULL,
            stderr=secondary,
            timeout=60,
            cwd=ROOT,
            env=env,
        )
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # EIO: every writer of the terminal has gone
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(primary)
        os.close(read_fd)
        os.close(write_fd)
    text = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 3
    assert "in 0/s" in text and "out 0/s" in text


def _proc_stat(pid: int) -> tuple[int, int]:
    """(CPU ticks used so far, resident set size in kB) of a running process."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return ticks, rss


def _rss_once_blocked(proc: subprocess.Popen, timeout: float = 60.0) -> int:
    """Wait until ``proc`` uses no CPU for a while (every thread waits), then its RSS in kB."""
    deadline = time.monotonic() + timeout
    last, unchanged = None, 0
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended although nobody read its stdout"
        ticks, rss = _proc_stat(proc.pid)
        unchanged = unchanged + 1 if ticks == last else 0
        if unchanged >= 5:  # half a second without one tick of CPU
            return rss
        last = ticks
        time.sleep(0.1)  # polling /proc: there is no event for "blocked"
    raise AssertionError("the run never blocked on its full stdout")


def test_a_stalled_stdout_reader_blocks_the_graph_and_memory_stays_bounded(tmp_path):
    """Nobody reads stdout: the run must block with a few thousand lines in flight, not
    buffer its whole output. 400,000 buffered IPs would take about 35 MB more than 20,000."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    runs = {}
    for count in (20_000, 400_000):
        graph = tmp_path / f"range{count}.fbp"
        graph.write_text(f"'{count}' -> CONF r(core/Range)\nOUTPORT=r.OUT:OUT\n")
        runs[count] = subprocess.Popen(
            [sys.executable, "-m", "flowpy", "run", str(graph), "--stdout", "out"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            env=env,
        )
    try:
        rss = {count: _rss_once_blocked(proc) for count, proc in runs.items()}
        assert rss[400_000] - rss[20_000] < 12_000, rss  # kB
        for count, proc in runs.items():  # now read: every line arrives, in order
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0
            assert out.split() == [str(n).encode() for n in range(count)]
    finally:
        for proc in runs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_components_says_which_reach_outside_the_process():
    listing = flowpy("components").stdout
    reaches, name = {}, ""
    for line in listing.splitlines():
        if not line.startswith(" "):
            name = line.split(":", 1)[0]
        elif line.startswith("    reaches: "):
            reaches[name] = line.split(": ", 1)[1]
    assert reaches["exec/Run"] == "exec"
    assert reaches["files/WriteFile"] == "files" and reaches["http/Request"] == "network"
    assert reaches["core/Bridge"] == "network" and reaches["mqtt/Publish"] == "network"
    assert "\ncore/Repeat: " in listing and "core/Repeat" not in reaches
    infos = json.loads(flowpy("components", "--json").stdout)  # the protocol's payloads
    assert not any("reaches" in info for info in infos)


def test_components_name_shows_one_component_with_port_types_and_descriptions(tmp_path):
    result = flowpy("components", "flow/batch")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "flow/Batch"
    assert any(
        line.split()[:3] == ["conf", "int", "required"] and "N, or {size}" in line for line in lines
    )
    assert any(line.split()[:2] == ["out", "array"] for line in lines)
    unknown = flowpy("components", "flow/Bach")
    assert unknown.returncode == 2 and "did you mean 'flow/Batch'" in unknown.stderr
    (tmp_path / "mine.py").write_text(
        "from flowpy import Component\n\n\nclass Mine(Component):\n    '''Mine alone.'''\n"
    )
    own = flowpy("components", "mine/Mine", "--components-dir", str(tmp_path))
    assert own.returncode == 0 and "Mine alone." in own.stdout, own.stderr


def test_components_filter_keeps_the_ones_whose_name_or_description_mention_the_word():
    result = flowpy("components", "--filter", "JSON", "--json")
    assert result.returncode == 0, result.stderr
    names = [info["name"] for info in json.loads(result.stdout)]
    assert "strings/ParseJson" in names and "http/Request" in names  # description says JSON
    assert "core/Repeat" not in names
