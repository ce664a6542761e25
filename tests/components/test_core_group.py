"""core/Group: brackets around every `size` data IPs, nested brackets kept whole."""

import pytest
from engine_helpers import Collect, build, run_to_end


def shape(ips):
    """IPs as short strings: '<g', 'data', '>g'."""
    return [
        f"<{ip.data}" if ip.is_open else f">{ip.data}" if ip.is_close else ip.data for ip in ips
    ]


def group(items, **options):
    iips = {"e.conf": items}
    iips.update({f"g.{port}": value for port, value in options.items()})
    Collect.seen.pop("c", None)
    rec = run_to_end(
        build(
            {"e": "test/Emit", "g": "core/Group", "c": "test/Collect"},
            ["e.out -> g.in", "g.out -> c.in"],
            iips,
        )
    )
    assert rec.errors == []
    return shape(Collect.seen.get("c", []))


def test_without_size_the_whole_stream_is_one_bracket():
    assert group([1, 2, 3]) == ["<group", 1, 2, 3, ">group"]


def test_every_size_data_ips_get_a_bracket_and_the_rest_closes_at_the_end():
    assert group(list(range(5)), size=2, group="w") == [
        "<w",
        0,
        1,
        ">w",
        "<w",
        2,
        3,
        ">w",
        "<w",
        4,
        ">w",
    ]


def test_a_numeric_string_size_counts_as_from_the_command_line():
    assert group([1, 2], size="1") == ["<group", 1, ">group", "<group", 2, ">group"]


def test_brackets_of_the_stream_stay_whole_inside_ours():
    items = [{"<": "a"}, 1, 2, 3, {">": "a"}, 4]
    assert group(items, size=2, group="g") == ["<g", "<a", 1, 2, 3, ">a", ">g", "<g", 4, ">g"]


def test_an_empty_stream_gives_no_brackets():
    assert group([]) == []


@pytest.mark.parametrize("size", [0, -1, True, "x", 1.5])
def test_a_bad_size_is_a_process_error(size):
    Collect.seen.pop("c", None)
    rec = run_to_end(
        build(
            {"e": "test/Emit", "g": "core/Group", "c": "test/Collect"},
            ["e.out -> g.in", "g.out -> c.in"],
            {"e.conf": [1], "g.size": size},
        )
    )
    assert [node for node, *_ in rec.errors] == ["g"]
    assert "size must be a positive integer" in rec.errors[0][1]
