"""The staples of issue 26: flow/CountBy, flow/GroupBy, strings/Regex, strings/Base64*,
math/Modulo, math/Scale, math/Random, time/Trigger, files/MakeDir, Remove, Move, Copy,
files/Path and core/ReadEnv."""

import os

import pytest

from flowpy import IP
from flowpy.testing import ProcessFailed, run_component

OPEN, CLOSE = IP.open, IP.close


def shape(ips):
    return [
        f"<{ip.data}" if ip.is_open else f">{ip.data}" if ip.is_close else ip.data for ip in ips
    ]


# -- flow/CountBy, flow/GroupBy ------------------------------------------------------------------


def test_countby_counts_values_most_first_at_the_end_of_the_stream():
    result = run_component("flow/CountBy", {"in": ["a", "b", "a", "c", "a", "c"]})
    assert result["out"] == [{"a": 3, "c": 2, "b": 1}]
    assert list(result["out"][0]) == ["a", "c", "b"]


def test_countby_with_a_key_expression_and_top_n_per_substream():
    people = [
        OPEN("x"),
        {"city": "Oslo"},
        {"city": "Rome"},
        {"city": "Oslo"},
        CLOSE("x"),
        OPEN("y"),
        CLOSE("y"),
    ]
    result = run_component(
        "flow/CountBy", {"in": people, "conf": ['{"key": "city", "top": 1}']}, ips=True
    )
    assert shape(result["out"]) == ["<x", {"Oslo": 2}, ">x", "<y", {}, ">y"]


def test_countby_keys_other_values_by_their_json_text_and_reports_failing_keys():
    assert run_component("flow/CountBy", {"in": [1, 1, True, None]})["out"] == [
        {"1": 2, "true": 1, "null": 1}
    ]
    result = run_component("flow/CountBy", {"in": ["ab", 5], "conf": ["length(@)"]})
    assert result["out"] == [{"2": 1}]
    assert result["error"][0]["input"] == 5 and "length()" in result["error"][0]["message"]


def test_groupby_lists_values_per_key_in_arrival_order():
    people = [{"n": "a", "c": "Oslo"}, {"n": "b", "c": "Rome"}, {"n": "c", "c": "Oslo"}]
    assert run_component("flow/GroupBy", {"in": people, "conf": ["c"]})["out"] == [
        {"Oslo": [people[0], people[2]], "Rome": [people[1]]}
    ]


# -- strings/Regex, strings/Base64Encode, strings/Base64Decode ----------------------------------


def test_regex_extracts_named_groups_one_group_or_the_match_and_rejects_the_rest():
    conf = '{"pattern": "(?P<user>\\\\w+)@(?P<host>\\\\w+)"}'
    result = run_component("strings/Regex", {"in": ["to ann@home", "nobody"], "conf": [conf]})
    assert result["out"] == [{"user": "ann", "host": "home"}]
    assert result["rejected"] == ["nobody"]
    assert run_component("strings/Regex", {"in": ["v1.2"], "conf": ["v(\\d+)"]})["out"] == ["1"]
    assert run_component("strings/Regex", {"in": ["ab12"], "conf": ["\\d+"]})["out"] == ["12"]


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("test", [True, False]),
        ("filter", ["a1b22"]),
        ("all", [["1", "22"], []]),
    ],
)
def test_regex_modes(mode, expected):
    conf = f'{{"pattern": "\\\\d+", "mode": "{mode}"}}'
    assert (
        run_component("strings/Regex", {"in": ["a1b22", "none"], "conf": [conf]})["out"] == expected
    )


def test_regex_refuses_a_bad_pattern_or_mode_and_rejects_non_strings():
    with pytest.raises(ProcessFailed, match="bad pattern"):
        run_component("strings/Regex", {"in": ["x"], "conf": ["("]})
    with pytest.raises(ProcessFailed, match="unknown mode 'grep'"):
        run_component("strings/Regex", {"in": ["x"], "conf": ['{"pattern": "x", "mode": "grep"}']})
    result = run_component("strings/Regex", {"in": [5, "x"], "conf": ["x"]})
    assert result["out"] == ["x"] and result["error"][0]["input"] == 5


def test_base64_round_trip_urlsafe_and_bad_input():
    encoded = run_component("strings/Base64Encode", {"in": ["héllo?>"]})["out"]
    assert encoded == ["aMOpbGxvPz4="]
    assert run_component(
        "strings/Base64Encode", {"in": ["héllo?>"], "conf": ['{"urlsafe": true}']}
    )["out"] == ["aMOpbGxvPz4="]
    assert run_component("strings/Base64Encode", {"in": ["??>"], "conf": ['{"urlsafe": true}']})[
        "out"
    ] == ["Pz8-"]
    assert run_component("strings/Base64Decode", {"in": encoded + ["aMOpbGxvPz4"]})["out"] == [
        "héllo?>",
        "héllo?>",
    ]
    result = run_component("strings/Base64Decode", {"in": ["not base64!", "/w=="]})
    assert [e["input"] for e in result["error"]] == ["not base64!", "/w=="]


# -- math/Modulo, math/Scale, math/Random --------------------------------------------------------


def test_modulo_has_the_sign_of_the_divisor_and_rejects_zero():
    result = run_component("math/Modulo", {"in": [7, -7, "7.5"], "conf": ["3"]})
    assert result["out"] == [1, 2, 1.5]
    failed = run_component("math/Modulo", {"in": [1], "conf": ["0"]})
    assert failed["error"][0]["input"] == 1


def test_scale_maps_ranges_downwards_and_clamps():
    conf = '{"from": [0, 10], "to": [100, 0], "clamp": true}'
    assert run_component("math/Scale", {"in": [0, 2.5, 10, 20, -5], "conf": [conf]})["out"] == [
        100,
        75,
        0,
        0,
        100,
    ]
    with pytest.raises(ProcessFailed, match="from range is empty"):
        run_component("math/Scale", {"in": [1], "conf": ['{"from": [1, 1], "to": [0, 1]}']})


def test_random_numbers_in_range_one_per_data_ip_and_repeatable_with_a_seed():
    conf = '{"min": 1, "max": 6, "integer": true, "seed": 4}'
    first = run_component("math/Random", {"in": list(range(50)), "conf": [conf]})["out"]
    assert len(first) == 50 and set(first) <= set(range(1, 7)) and len(set(first)) > 1
    assert run_component("math/Random", {"in": list(range(50)), "conf": [conf]})["out"] == first
    floats = run_component("math/Random", {"in": [OPEN("g"), 0, CLOSE("g")]}, ips=True)["out"]
    assert shape(floats)[0] == "<g" and 0 <= floats[1].data < 1


# -- time/Trigger --------------------------------------------------------------------------------


def test_trigger_sends_at_once_then_the_then_value_after_the_delay():
    result = run_component("time/Trigger", {"in": ["on"], "conf": ['{"ms": 20, "then": "off"}']})
    assert result["out"] == ["on", "off"]


def test_trigger_drops_what_arrives_during_the_wait():
    result = run_component("time/Trigger", {"in": ["a", "b", "c"], "conf": ["60000"]})
    assert result["out"] == ["a"]  # no then: the end of `in` ends it without waiting


# -- files/ --------------------------------------------------------------------------------------


def test_makedir_copy_move_remove(tmp_path):
    folder = str(tmp_path / "a" / "b")
    assert run_component("files/MakeDir", {"in": [folder, folder]})["out"] == [folder, folder]
    source = tmp_path / "a" / "note.txt"
    source.write_text("hi")
    copied = run_component("files/Copy", {"in": [[str(source), folder]]})["out"]
    assert copied == [os.path.join(folder, "note.txt")]
    again = run_component(
        "files/Copy",
        {
            "in": [{"from": str(source), "to": folder}],
        },
    )
    assert "exists already" in again["error"][0]["message"]
    moved = run_component("files/Move", {"in": [[str(source), str(tmp_path / "moved.txt")]]})
    assert moved["out"] == [str(tmp_path / "moved.txt")] and not source.exists()
    assert (tmp_path / "moved.txt").read_text() == "hi"
    tree = str(tmp_path / "a")
    refused = run_component("files/Remove", {"in": [tree]})
    assert "cannot remove" in refused["error"][0]["message"] and os.path.isdir(tree)
    assert run_component(
        "files/Remove", {"in": [tree, str(tmp_path / "moved.txt")], "conf": ['{"recursive": true}']}
    )["out"] == [tree, str(tmp_path / "moved.txt")]
    assert sorted(os.listdir(tmp_path)) == []
    missing = run_component("files/Remove", {"in": [tree], "conf": ['{"missing_ok": true}']})
    assert missing["out"] == [tree]


@pytest.mark.parametrize(
    "operation, value, expected",
    [
        ("parts", "d/x.tar.gz", {"dir": "d", "name": "x.tar.gz", "stem": "x.tar", "suffix": ".gz"}),
        ("dirname", "/a/b/c", "/a/b"),
        ("basename", "/a/b/c", "c"),
        ("stem", "a/b.txt", "b"),
        ("suffix", "a/b.txt", ".txt"),
        ("normalize", "a/./b/../c", "a/c"),
        ("join", ["a", "b", "c.txt"], "a/b/c.txt"),
    ],
)
def test_path_operations(operation, value, expected):
    assert run_component("files/Path", {"in": [value], "conf": [operation]})["out"] == [expected]


def test_path_rejects_the_wrong_kind_and_unknown_operations():
    assert run_component("files/Path", {"in": [3]})["error"][0]["input"] == 3
    with pytest.raises(ProcessFailed, match="unknown operation 'split'"):
        run_component("files/Path", {"in": ["a"], "conf": ["split"]})


def test_readenv_reads_variables_with_a_default_or_an_error(monkeypatch):
    monkeypatch.setenv("FLOWPY_TEST_VALUE", "42")
    monkeypatch.delenv("FLOWPY_TEST_UNSET", raising=False)
    result = run_component(
        "core/ReadEnv",
        {
            "in": ["FLOWPY_TEST_VALUE", "FLOWPY_TEST_UNSET"],
        },
    )
    assert result["out"] == ["42"]
    assert result["error"][0]["message"] == "environment variable FLOWPY_TEST_UNSET is not set"
    assert run_component(
        "core/ReadEnv", {"in": ["FLOWPY_TEST_UNSET"], "conf": ['{"default": "none"}']}
    )["out"] == ["none"]
