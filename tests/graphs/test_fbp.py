"""Tests for flowpy.graphs.fbp, the .fbp parser and writer.

The reference for the language is the npm ``fbp`` package. Rather than restating what it
produces, the corpus in tests/graphs/fbp_corpus is parsed by it (tests/js/fbp_oracle.js, once per
session) and flowpy must give the same JSON, reject the same files and point at the same
place. The oracle tests need ``npm ci --prefix tests/js``; without it they fail (not skip) so
that a missing install cannot pass for a green run.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from processes import JS, NODE_MODULES

from flowpy.graphs.fbp import FbpSyntaxError, parse, serialize

CORPUS = Path(__file__).resolve().parent / "fbp_corpus"
FILES = sorted(CORPUS.glob("*.fbp"))
VALID = [path for path in FILES if not path.name.startswith("invalid_")]
INSTALL_HINT = "run `npm ci --prefix tests/js` to install the reference parser (npm fbp)"


def read(path: Path) -> str:
    """The file exactly as node reads it: UTF-8, line endings untouched."""
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()


def write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


# ---------------------------------------------------------------------------- oracle


class Oracle:
    """Runs tests/fbp_oracle.js over many files at once (starting node is the slow part)
    and fails the calling test, rather than erroring or skipping, when it cannot run."""

    def __init__(self) -> None:
        self.problem: str | None = None
        if not (NODE_MODULES / "fbp").is_dir():
            self.problem = f"tests/js/node_modules/fbp is missing: {INSTALL_HINT}"
        elif shutil.which("node") is None:
            self.problem = f"node is not on PATH; install Node.js, then {INSTALL_HINT}"

    def run(self, paths: list[Path]) -> dict[str, Any]:
        """Map each path's name to the reference's graph or {"error", "line", "column"}."""
        if self.problem:
            pytest.fail(self.problem, pytrace=False)
        result = subprocess.run(
            ["node", str(JS / "fbp_oracle.js"), *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"fbp_oracle.js failed ({INSTALL_HINT}):\n{result.stderr}", pytrace=False)
        return {Path(key).name: value for key, value in json.loads(result.stdout).items()}


class LazyResults:
    """Oracle results computed on first use, so that a missing install fails each test
    that needs it with the install hint instead of erroring in a fixture."""

    def __init__(self, oracle: Oracle, paths: list[Path]) -> None:
        self.oracle, self.paths, self.results = oracle, paths, None

    def __getitem__(self, name: str) -> Any:
        if self.results is None:
            self.results = self.oracle.run(self.paths)
        return self.results[name]


@pytest.fixture(scope="module")
def oracle() -> Oracle:
    return Oracle()


@pytest.fixture(scope="module")
def reference(oracle: Oracle) -> LazyResults:
    """The reference's result for every corpus file."""
    return LazyResults(oracle, FILES)


@pytest.fixture(scope="module")
def reference_of_serialized(oracle: Oracle, tmp_path_factory) -> LazyResults:
    """The reference's result for flowpy's serialization of every valid corpus file."""
    folder = tmp_path_factory.mktemp("serialized")
    paths = []
    for path in VALID:
        target = folder / path.name
        write(target, serialize(parse(read(path), path.name)))
        paths.append(target)
    return LazyResults(oracle, paths)


def utf16_column(text: str, line: int, column: int) -> int:
    """Convert flowpy's column (code points) to the reference's (UTF-16 code units).
    Lines break as in both parsers: CR LF, CR, LF, U+2028, U+2029, with an LF right
    after CR, U+2028 or U+2029 not starting another line."""
    current, start, after_break = 1, 0, False
    for offset, char in enumerate(text):
        if char == "\n" and after_break:
            start, after_break = offset + 1, False
            continue
        if current == line:
            break
        after_break = char in "\r\u2028\u2029"
        if char in "\n\r\u2028\u2029":
            current, start = current + 1, offset + 1
    prefix = text[start : start + column - 1]
    return 1 + sum(2 if ord(char) > 0xFFFF else 1 for char in prefix)


def assert_same_as_reference(text: str, name: str, expected: dict) -> None:
    """flowpy parses like the reference: same graph, or rejected at the same place."""
    if "error" in expected:
        with pytest.raises(FbpSyntaxError) as caught:
            parse(text, name)
        error = caught.value
        if "line" in expected:  # syntax errors; the reference has no place for others
            place = (error.line, utf16_column(text, error.line, error.column))
            assert place == (expected["line"], expected["column"]), (
                f"{error} -- reference: {expected['error']}"
            )
    else:
        assert parse(text, name) == expected


# ------------------------------------------------------------------ corpus vs reference


def test_corpus_is_broad() -> None:
    assert len(VALID) >= 25
    assert len(FILES) - len(VALID) >= 10


@pytest.mark.npm
@pytest.mark.parametrize("path", FILES, ids=lambda path: path.stem)
def test_parse_matches_reference(path: Path, reference: LazyResults) -> None:
    assert_same_as_reference(read(path), path.name, reference[path.name])


@pytest.mark.npm
def test_reference_rejects_the_invalid_files(reference: LazyResults) -> None:
    """Guard the corpus itself: invalid_* files are the ones the reference rejects."""
    for path in FILES:
        assert ("error" in reference[path.name]) == path.name.startswith("invalid_"), path


@pytest.mark.npm
@pytest.mark.parametrize("path", VALID, ids=lambda path: path.stem)
def test_serialized_text_means_the_same_to_the_reference(
    path: Path, reference_of_serialized: LazyResults
) -> None:
    """What flowpy writes is read back by the reference as the original graph."""
    assert reference_of_serialized[path.name] == parse(read(path), path.name)


@pytest.mark.npm
def test_mutated_corpus_matches_reference(oracle: Oracle, tmp_path: Path) -> None:
    """Differential fuzzing: random edits of the corpus, mostly invalid, must be accepted
    or rejected (at the same place) exactly as the reference does."""
    rng = random.Random(20240601)
    pieces = list(" \t\n\r'\"\\#@,.:=()[]{}-0123456789aZ_/") + [
        "->",
        " -> ",
        "INPORT=",
        "OUTPORT=",
        "DEFAULT_INPORT=",
        "# @name x\n",
        "(A)",
        "a(A)",
        "true",
        "'x'",
        "[1]",
        '{"a":1}',
        "\u2028",
        "\r\n",
        "IN ",
        " OUT",
        "[0]",
        ":x=1",
        "1e5",
    ]
    bases = [read(path) for path in FILES]
    paths = []
    for number in range(400):
        text = rng.choice(bases)
        for _ in range(rng.randint(1, 3)):
            at = rng.randint(0, len(text))
            choice = rng.random()
            if choice < 0.4:
                text = text[:at] + rng.choice(pieces) + text[at:]
            elif choice < 0.7:
                text = text[:at] + text[at + rng.randint(1, 3) :]
            else:
                text = text[:at] + rng.choice(pieces) + text[at + 1 :]
        paths.append(tmp_path / f"mutant{number}.fbp")
        write(paths[-1], text)
    results = oracle.run(paths)
    for path in paths:
        assert_same_as_reference(read(path), path.name, results[path.name])


# ----------------------------------------------------------------------------- writer


@pytest.mark.parametrize("path", VALID, ids=lambda path: path.stem)
@pytest.mark.parametrize("case_sensitive", [False, True], ids=["lowercased", "case"])
def test_serialize_round_trip(path: Path, case_sensitive: bool) -> None:
    graph = parse(read(path), path.name, case_sensitive=case_sensitive)
    text = serialize(graph)
    assert parse(text, "serialized", case_sensitive=case_sensitive) == graph, text


def test_serialize_writes_readable_fbp() -> None:
    graph = parse(
        "# @runtime python\n# @name Demo\nINPORT=read.IN:FILE\n"
        "'x.txt' -> IN read(ReadFile) OUT -> IN[1] show(Output:x=3)\n"
    )
    assert serialize(graph) == (
        "# @runtime python\n"
        "# @name Demo\n"
        "INPORT=read.IN:FILE\n"
        "\n"
        "'x.txt' -> IN read(ReadFile)\n"
        "read OUT -> IN[1] show(Output:x=3)\n"
    )


def graph_with(connections: list[dict], **processes: str) -> dict:
    return {
        "inports": {},
        "outports": {},
        "groups": [],
        "caseSensitive": False,
        "processes": {name: {"component": comp} for name, comp in processes.items()},
        "connections": connections,
    }


@pytest.mark.parametrize(
    "data",
    [
        "plain",
        "it's",
        "ends with a backslash\\",
        "\\'",
        "'",
        "",
        "two\nlines",
        "tab\there",
        "unicode ✓ 😀",
        "lone \ud800 surrogate",
        "a \\ b",
        "\u2028",
        0,
        -1,
        2.5,
        1e-7,
        10**20,
        True,
        False,
        None,
        [],
        {},
        [1, "two", None],
        {"nested": {"list": [True, {"x": 1.5}]}, "quote": 'it\'s "fine"'},
    ],
)
def test_serialize_iip_data(data: Any) -> None:
    graph = graph_with([{"data": data, "tgt": {"process": "a", "port": "in"}}], a="A")
    assert parse(serialize(graph)) == graph


def test_serialize_random_graphs() -> None:
    """Seeded random graphs of everything the language can carry survive a round trip."""
    rng = random.Random(7)
    names = ["a", "B2", "_c", "d-e", "Long_Name-1", "true", "INPORT"]
    ports = ["in", "out", "data", "x.y", "_p2"]
    for _ in range(200):
        processes = {
            name: {"component": rng.choice(["A", "lib/B", "x-y/Z_1"])}
            for name in rng.sample(names, rng.randint(1, len(names)))
        }
        for process in processes.values():
            if rng.random() < 0.3:
                process["metadata"] = {"x": rng.randint(0, 999), "label": "L1", "routes": "r"}
        chosen = list(processes)
        connections: list[dict] = []
        for _ in range(rng.randint(0, 8)):
            tgt = {"process": rng.choice(chosen), "port": rng.choice(ports)}
            if rng.random() < 0.3:
                tgt["index"] = rng.randint(0, 12)
            if rng.random() < 0.4:
                connections.append(
                    {"data": rng.choice(["s", 1, [2], {"k": None}, True]), "tgt": tgt}
                )
            else:
                connections.append(
                    {"src": {"process": rng.choice(chosen), "port": rng.choice(ports)}, "tgt": tgt}
                )
        graph = {
            "inports": {"pub": {"process": chosen[0], "port": "in"}},
            "outports": {},
            "groups": [],
            "processes": processes,
            "connections": connections,
            "caseSensitive": False,
        }
        if rng.random() < 0.5:
            graph["properties"] = {"name": "Random graph", "environment": {"type": "py"}}
        assert parse(serialize(graph)) == graph, serialize(graph)


def test_serialize_anonymous_processes_in_chains() -> None:
    text = "'x' -> IN (noflo-core/Repeat) OUT -> IN (my-lib/Show)\n(my-lib/Show)\n"
    graph = parse(text)
    assert set(graph["processes"]) == {"_noflo_core/Repeat_1", "_my_lib/Show_1", "_my_lib/Show_2"}
    assert parse(serialize(graph)) == graph


def test_serialize_rejects_what_fbp_cannot_express() -> None:
    unwritable_twice = parse("(a-b/C) OUT -> IN x(X)\n")
    unwritable_twice["connections"].append(
        {"src": {"process": "_a_b/C_1", "port": "err"}, "tgt": {"process": "x", "port": "in"}}
    )
    cases = [
        graph_with([], **{"has space": "A"}),
        graph_with([], a="@scope/pkg"),
        graph_with(
            [{"src": {"process": "a", "port": "out"}, "tgt": {"process": "missing", "port": "in"}}],
            a="A",
        ),
        graph_with([{"data": float("nan"), "tgt": {"process": "a", "port": "in"}}], a="A"),
        graph_with([{"data": "x", "tgt": {"process": "a", "port": "in", "index": "k"}}], a="A"),
        graph_with([{"data": "x", "tgt": {"process": "a", "port": "1st"}}], a="A"),
        {**graph_with([], a="A"), "inports": {"p": {"process": "a", "port": "in", "index": 1}}},
        unwritable_twice,
    ]
    for graph in cases:
        with pytest.raises(ValueError):
            serialize(graph)


def test_serialize_leaves_out_descriptive_extras_unless_strict() -> None:
    graph = graph_with(
        [
            {
                "src": {"process": "a", "port": "out"},
                "tgt": {"process": "a", "port": "in"},
                "metadata": {"route": 1},
            }
        ],
        a="A",
    )
    graph["processes"]["a"]["metadata"] = {"label": "Has spaces", "x": -3.5, "y": 4, "icon": "cog"}
    graph["properties"] = {"description": "Not, expressible", "name": "Fine"}
    graph["groups"] = [{"name": "g", "nodes": ["a"]}]
    text = serialize(graph)
    back = parse(text)
    assert back["processes"]["a"] == {"component": "A", "metadata": {"y": 4, "icon": "cog"}}
    assert back["properties"] == {"name": "Fine"}
    assert back["connections"] == [
        {"src": {"process": "a", "port": "out"}, "tgt": {"process": "a", "port": "in"}}
    ]
    with pytest.raises(ValueError, match="cannot express"):
        serialize(graph, strict=True)


def test_serialize_keeps_port_case_when_case_sensitive() -> None:
    graph = parse("INPORT=a.In:MyIn\n'x' -> inPut a(A) outPut -> data b(B)\n", case_sensitive=True)
    text = serialize(graph)
    assert "inPut a(A)" in text and "INPORT=a.In:MyIn" in text
    assert parse(text, case_sensitive=True) == graph


# ----------------------------------------------------------------------------- parser


def test_parse_shape_and_case_handling() -> None:
    graph = parse("INPORT=Read.IN:FileName\n'x' -> IN Read(ReadFile) OUT[2] -> DATA Show(Out)")
    assert graph == {
        "inports": {"filename": {"process": "Read", "port": "in"}},
        "outports": {},
        "groups": [],
        "processes": {"Read": {"component": "ReadFile"}, "Show": {"component": "Out"}},
        "connections": [
            {"data": "x", "tgt": {"process": "Read", "port": "in"}},
            {
                "src": {"process": "Read", "port": "out", "index": 2},
                "tgt": {"process": "Show", "port": "data"},
            },
        ],
        "caseSensitive": False,
    }
    sensitive = parse("INPORT=Read.IN:FileName\nRead(R) Out -> In Show(S)", case_sensitive=True)
    assert sensitive["caseSensitive"] is True
    assert sensitive["inports"] == {"FileName": {"process": "Read", "port": "IN"}}
    assert sensitive["connections"][0]["src"]["port"] == "Out"


def test_annotations_become_properties() -> None:
    graph = parse(
        "# @runtime python\n# @name Foo\n# @description Does things.\n# @my-key some value\na(A)\n"
    )
    assert graph["properties"] == {
        "environment": {"type": "python"},
        "name": "Foo",
        "description": "Does things.",
        "my-key": "some value",
    }
    assert "properties" not in parse("a(A)\n")


SYNTAX_ERRORS = [
    # text, line, column, something the message must say was expected, found
    ("'foo' --> Display(Output)\n", 1, 7, '"->"', '"-"'),
    ("a(A) OUT ->\n", 2, 1, "a JSON value", "end of input"),
    ("a(A OUT -> IN b(B)\n", 1, 4, '")"', '" "'),
    ("a(A) OUT -> IN b(B)\n\tb OUT -> IN c(C)\n", 2, 2, "a JSON value", '"b" (a tab'),
    ("'never closed -> IN a(A)\n", 2, 1, '"\'"', "end of input"),
    ("a(A:x=1.5)\n", 1, 8, "metadata character", '"."'),
    ("INPORT=a.IN[0]:X\na(A)\n", 1, 12, '":"', '"["'),
    ("\r\n\r\na(A) --> b(B)\r\n", 3, 6, '"->"', '"-"'),
    ("x(X)\u2028y(Y) ! z\n", 2, 6, "space", '"!"'),
]


@pytest.mark.parametrize(("text", "line", "column", "expected", "found"), SYNTAX_ERRORS)
def test_syntax_error_location_and_message(
    text: str, line: int, column: int, expected: str, found: str
) -> None:
    with pytest.raises(FbpSyntaxError) as caught:
        parse(text, "graph.fbp")
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.filename, error.line, error.column) == ("graph.fbp", line, column)
    message = str(error)
    assert message.startswith(f"graph.fbp:{line}:{column}: expected ")
    head, _, tail = message.partition(", found ")
    assert expected in head and tail.startswith(found)


@pytest.mark.parametrize(
    ("text", "line", "column", "what"),
    [
        ("a() OUT -> IN b(B)\n", 1, 1, 'a component for process "a"'),
        ("'x' -> IN nowhere\n", 1, 11, 'process "nowhere" (target'),
        ("a(A)\nundeclared OUT -> IN a\n", 2, 1, 'process "undeclared" (source'),
        ("INPORT=ghost.IN:x\n", 1, 8, 'process "ghost" (exported as inport "x")'),
    ],
)
def test_references_to_undeclared_processes_are_errors(
    text: str, line: int, column: int, what: str
) -> None:
    with pytest.raises(FbpSyntaxError, match=re.escape(f"expected {what}")) as caught:
        parse(text, "g.fbp")
    assert (caught.value.line, caught.value.column) == (line, column)
    assert str(caught.value).startswith(f"g.fbp:{line}:{column}: expected ")
    assert ", found " in str(caught.value)


def test_default_filename_and_deep_json() -> None:
    with pytest.raises(FbpSyntaxError) as caught:
        parse("a(A) -> -> b(B)")
    assert caught.value.filename == "<string>"
    deep = "[" * (sys.getrecursionlimit() + 10) + "]" * (sys.getrecursionlimit() + 10)
    with pytest.raises(FbpSyntaxError, match="nested"):
        parse(deep + " -> IN a(A)\n")


def test_long_chains_do_not_recurse() -> None:
    chain = " -> ".join(f"IN n{i}(Pass) OUT" for i in range(5000))
    graph = parse(f"'go' -> {chain} -> IN end(Pass)\n")
    assert len(graph["connections"]) == 5001
