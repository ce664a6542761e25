"""The formats of issue 26: yaml/Parse and yaml/Format, xml/Parse and xml/Format (the one
mapping, hostile documents refused through defusedxml), html/Select, and the one-line
"pip install 'flowpy-fbp[x]'" failure when a library is missing."""

import re
import subprocess
import sys

import pytest
from processes import ROOT, python_env

from flowpy import IP
from flowpy.testing import ProcessFailed, run_component

OPEN, CLOSE = IP.open, IP.close
#: The keys of every failure on an `error` port (docs/graphs.md, "When a process fails").
FAILURE_KEYS = {"node", "component", "type", "message", "input", "time"}


def shape(ips):
    return [
        f"<{ip.data}" if ip.is_open else f">{ip.data}" if ip.is_close else ip.data for ip in ips
    ]


def messages(result):
    assert all(set(error) >= FAILURE_KEYS for error in result["error"]), result["error"]
    return [error["message"] for error in result["error"]]


# -- yaml/ -----------------------------------------------------------------------------------

#: JSON-like values, among them strings YAML would read as something else if written bare.
VALUES = [
    {"name": "ann", "tags": ["a", "b"], "age": 30, "ratio": 0.5, "ok": True, "none": None},
    ["yes", "no", "null", "1.0", "2024-01-02", "~", "", " padded ", "multi\nline\n"],
    {"nested": {"deeper": [{"x": [1, 2, {"y": "z"}]}]}, "unicode": "Zürich ✓"},
    "a plain string",
    42,
    None,
    [],
    {},
]


def test_yaml_format_then_parse_gives_every_json_like_value_back():
    texts = run_component("yaml/Format", {"in": VALUES})["out"]
    assert all(isinstance(text, str) for text in texts)
    assert run_component("yaml/Parse", {"in": texts})["out"] == VALUES


def test_yaml_parse_makes_json_like_values_of_what_yaml_adds():
    text = (
        "day: 2024-01-02\n"
        "when: 2024-01-02 10:30:00\n"
        "blob: !!binary aGk=\n"
        "set: !!set {b: null, a: null}\n"
        "2: two\n"
        "null: yes\n"
        "nan: .nan\n"
    )
    [value] = run_component("yaml/Parse", {"in": [text]})["out"]
    assert value == {
        "day": "2024-01-02",
        "when": "2024-01-02T10:30:00",
        "blob": "aGk=",
        "set": ["a", "b"],
        "2": "two",
        "null": True,
        "nan": None,
    }


def test_yaml_format_options_and_brackets():
    result = run_component(
        "yaml/Format",
        {
            "in": [OPEN("g"), {"b": {"c": 1}, "a": 2}, CLOSE("g")],
            "conf": ['{"indent": 4, "sort_keys": true}'],
        },
        ips=True,
    )
    assert shape(result["out"]) == ["<g", "a: 2\nb:\n    c: 1", ">g"]


def test_yaml_parse_all_sends_the_documents_of_a_text_in_one_bracket():
    result = run_component(
        "yaml/Parse", {"in": ["a: 1\n---\n- 2\n", "x"], "conf": ['{"all": true}']}, ips=True
    )
    assert shape(result["out"]) == [
        "<documents",
        {"a": 1},
        [2],
        ">documents",
        "<documents",
        "x",
        ">documents",
    ]


def test_bad_yaml_goes_to_error_in_the_failure_shape_and_the_stream_goes_on():
    result = run_component("yaml/Parse", {"in": ["a: [1, 2", "a: 1\n---\nb: 2\n", 7, "ok: 1"]})
    assert result["out"] == [{"ok": 1}]
    first, second, third = messages(result)
    assert first.startswith("not YAML: ") and "(line 1, column 9)" in first
    assert second == (
        "not YAML: expected a single document in the stream, but found another document "
        "(line 2, column 1)"
    )
    assert third == "yaml/Parse wants YAML text, not 7"
    assert [error["input"] for error in result["error"]] == ["a: [1, 2", "a: 1\n---\nb: 2\n", 7]
    assert {error["component"] for error in result["error"]} == {"yaml/Parse"}


def test_yaml_alias_bombs_and_self_containing_anchors_are_refused():
    # A "billion laughs" of aliases: ten levels of ten aliases each, 10**10 values expanded.
    levels = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 10) + "]" for n in range(1, 10)]
    bomb = "\n".join(levels) + "\n"
    result = run_component("yaml/Parse", {"in": [bomb, "loop: &a [1, *a]", "after: 1"]})
    assert result["out"] == [{"after": 1}]
    expands, loops = messages(result)
    assert expands.startswith("the document expands to more than ")
    assert "contains itself" in loops


def test_yaml_nesting_past_the_wire_limit_is_refused():
    deep = "[" * 80 + "]" * 80
    result = run_component("yaml/Parse", {"in": [deep, "[[1]]"]})
    assert result["out"] == [[[1]]]
    assert messages(result) == ["the document nests deeper than 64 levels"]


def test_yaml_safe_loading_builds_no_python_object():
    result = run_component("yaml/Parse", {"in": ["!!python/object/apply:os.system ['true']"]})
    assert result["out"] == []
    assert "could not determine a constructor" in messages(result)[0]


def test_yaml_format_sends_a_value_it_cannot_write_to_error():
    # A Python component may send any object; the safe dumper writes only plain values.
    result = run_component("yaml/Format", {"in": [complex(1, 2), "fine"]})
    assert result["out"] == ["fine"]
    assert messages(result)[0].startswith("cannot write (1+2j) as YAML: cannot represent an object")


# -- xml/ ------------------------------------------------------------------------------------

DOCUMENTS = [
    '<library id="7"><book lang="en"><title>Dune</title><author>Herbert</author></book>'
    "<book><title>Emma</title><author>Austen</author><author>Other</author></book>"
    "<empty/></library>",
    "<p>text <b>bold</b> tail</p>",
    '<n:a xmlns:n="urn:x" n:k="v"><n:b>1</n:b><n:b>2</n:b></n:a>',
    "<root>\n  <indented>\n    yes\n  </indented>\n</root>",
    '<?xml version="1.0" encoding="UTF-8"?><only a="&lt;&amp;&quot;">&#233;&#x1F600;</only>',
]


def test_xml_parse_maps_attributes_children_repeats_and_text():
    out = run_component("xml/Parse", {"in": DOCUMENTS})["out"]
    assert out == [
        {
            "library": {
                "@id": "7",
                "book": [
                    {"@lang": "en", "title": "Dune", "author": "Herbert"},
                    {"title": "Emma", "author": ["Austen", "Other"]},
                ],
                "empty": None,
            }
        },
        {"p": {"b": "bold", "#text": "text  tail"}},
        {"{urn:x}a": {"@{urn:x}k": "v", "{urn:x}b": ["1", "2"]}},
        {"root": {"indented": "yes"}},
        {"only": {"@a": '<&"', "#text": "é😀"}},
    ]


def test_xml_format_is_the_inverse_of_parse():
    parsed = run_component("xml/Parse", {"in": DOCUMENTS})["out"]
    for conf in ["{}", '{"indent": 2, "declaration": true}']:
        texts = run_component("xml/Format", {"in": parsed, "conf": [conf]})["out"]
        assert run_component("xml/Parse", {"in": texts})["out"] == parsed


def test_xml_format_writes_what_the_mapping_says():
    values = [
        {"a": {"@n": 1, "@ok": True, "b": [None, "x"], "#text": "hi"}},
        {"a": 2.5},
        {"a": {"b": {"c": None}}},
    ]
    out = run_component("xml/Format", {"in": values, "conf": ['{"indent": 1}']})["out"]
    assert out == [
        '<a n="1" ok="true">hi<b />\n <b>x</b>\n</a>',
        "<a>2.5</a>",
        "<a>\n <b>\n  <c />\n </b>\n</a>",
    ]


def test_xml_format_sends_values_without_an_xml_form_to_error():
    bad = [
        {"a": 1, "b": 2},
        {"a": [1, 2]},
        {"not a name": 1},
        {"a": {"@x": {"y": 1}}},
        {"a": {"b": [[1]]}},
        {"a": "\x00"},
        "text",
    ]
    result = run_component("xml/Format", {"in": [*bad, {"ok": None}]})
    assert result["out"] == ["<ok />"]
    assert messages(result) == [
        "xml/Format wants an object with one key, the root, not {'a': 1, 'b': 2}",
        "an XML document has one root, not a list of 'a' elements",
        "'not a name' is not an XML name (namespaces are written {uri}name)",
        "attribute '@x' must be a string, number or boolean, not {'y': 1}",
        "a list inside the list of 'b' has no XML form",
        "'\\x00' cannot be written in XML 1.0 text: '\\x00'",
        "xml/Format wants an object with one key, the root, not 'text'",
    ]


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{n} "' + f"&lol{n - 1 if n > 1 else ''};" * 10 + '">\n' for n in range(1, 10)
    )
    + "]>\n<lolz>&lol9;</lolz>"
)


def test_hostile_xml_is_refused_on_error_and_the_stream_goes_on(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET", encoding="utf-8")
    external = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY s SYSTEM "{secret.as_uri()}">]><r>&s;</r>'
    )
    parameter = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % s SYSTEM "{secret.as_uri()}"> %s;]><r/>'
    )
    inputs = [BILLION_LAUGHS, external, parameter, "<a><b></a>", 3, "<after/>"]
    result = run_component("xml/Parse", {"in": inputs})
    assert result["out"] == [{"after": None}]
    laughs, xxe, pe, malformed, number = messages(result)
    assert laughs.startswith("XML refused: the document declares the entity 'lol'")
    assert xxe.startswith("XML refused: the document declares the entity 's'")
    assert pe.startswith("XML refused: the document declares the entity 's'")
    assert "external references are not allowed" in laughs
    assert malformed == "not well-formed XML: mismatched tag: line 1, column 8"
    assert number == "xml/Parse wants XML text, not 3"
    assert "TOP SECRET" not in repr(result)


def test_an_external_dtd_is_never_fetched(local_server):
    # Not an entity, so defusedxml lets it through; the parser must not load it either.
    document = f'<?xml version="1.0"?><!DOCTYPE r SYSTEM "{local_server.url}/r.dtd"><r>x</r>'
    assert run_component("xml/Parse", {"in": [document]})["out"] == [{"r": "x"}]
    assert local_server.requests == []


def test_xml_parse_strip_false_keeps_text_as_written():
    result = run_component("xml/Parse", {"in": ["<a> x <b/></a>"], "conf": ["false"]})
    assert result["out"] == [{"a": {"b": None, "#text": " x "}}]


# -- html/Select -----------------------------------------------------------------------------

PAGE = """<html><body>
<h1>  Release
   <em>notes</em> </h1>
<ul id="links">
  <li><a class="ext big" href="https://example.org/a">First</a></li>
  <li><a href="/b">Second <b>one</b></a></li>
  <li><a name="anchor">No link</a></li>
</ul>
</body></html>"""


@pytest.mark.parametrize(
    "conf, expected",
    [
        ("h1", ["Release notes"]),
        ('{"selector": "#links a", "output": "@href"}', ["https://example.org/a", "/b"]),
        ('{"selector": "a.ext", "output": "@class"}', ["ext big"]),
        (
            '{"selector": "li:nth-child(2) > a", "output": "html"}',
            ['<a href="/b">Second <b>one</b></a>'],
        ),
        ("li:not(:has(a[href]))", ["No link"]),
    ],
)
def test_html_select_sends_text_attributes_or_outer_html(conf, expected):
    result = run_component("html/Select", {"in": [PAGE], "conf": [conf]}, ips=True)
    assert shape(result["out"]) == ["<select", *expected, ">select"]


def test_html_select_brackets_each_text_and_reports_values_that_are_not_text():
    inputs = [OPEN("pages"), "<i>a</i><i>b</i>", ["not", "html"], "<p>none</p>", CLOSE("pages")]
    result = run_component("html/Select", {"in": inputs, "conf": ["i"]}, ips=True)
    assert shape(result["out"]) == [
        "<pages",
        "<select",
        "a",
        "b",
        ">select",
        "<select",
        ">select",
        ">pages",
    ]
    assert [error.data["message"] for error in result["error"]] == [
        "html/Select wants HTML text, not ['not', 'html']"
    ]


@pytest.mark.parametrize(
    "conf, says",
    [
        ("a[[", "'a[[' is not a CSS selector"),
        ('{"selector": "a", "output": "json"}', "output must be text, html or @NAME"),
        ('{"output": "html"}', "conf needs a CSS selector"),
    ],
)
def test_html_select_refuses_a_bad_conf_at_the_start(conf, says):
    with pytest.raises(ProcessFailed, match=re.escape(f"process: {says}")):
        run_component("html/Select", {"in": [PAGE], "conf": [conf]})


# -- a missing library -----------------------------------------------------------------------

#: component -> (module made unimportable, the package the message names, the extra).
LIBRARIES = {
    "yaml/Parse": ("yaml", "PyYAML", "yaml"),
    "yaml/Format": ("yaml", "PyYAML", "yaml"),
    "xml/Parse": ("defusedxml", "defusedxml", "xml"),
    "html/Select": ("bs4", "beautifulsoup4", "html"),
}


@pytest.mark.parametrize("component", sorted(LIBRARIES))
def test_a_missing_library_fails_the_process_naming_the_extra(component, monkeypatch):
    module, package, extra = LIBRARIES[component]
    for name in [name for name in sys.modules if name == module or name.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    expected = f"{component} needs the {package} package: pip install 'flowpy-fbp[{extra}]'"
    with pytest.raises(ProcessFailed) as failed:
        run_component(component, {"in": ["<a/>"], "conf": ["a"]})
    assert f"MissingExtra: {expected}" in str(failed.value).splitlines()[0]


def test_xml_format_needs_no_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "defusedxml", None)
    assert run_component("xml/Format", {"in": [{"a": "b"}]})["out"] == ["<a>b</a>"]


def test_flowpy_run_says_which_extra_is_missing(tmp_path):
    graph = tmp_path / "g.fbp"
    graph.write_text("'a: 1' -> IN p(yaml/Parse) OUT -> IN o(core/Output)\n", encoding="utf-8")
    code = (
        "import sys; sys.modules['yaml'] = None; "
        "from flowpy.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "run", str(graph)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=python_env(),
        timeout=60,
    )
    assert result.returncode == 1
    assert "pip install 'flowpy-fbp[yaml]'" in result.stderr.splitlines()[0]
    assert result.stdout == ""


@pytest.mark.parametrize(
    "component, conf, says",
    [
        ("yaml/Parse", '{"all": "maybe"}', "all must be true or false, not 'maybe'"),
        ("yaml/Format", "0", "indent must be a positive whole number, not 0"),
        ("xml/Parse", "maybe", "strip must be true or false, not 'maybe'"),
        ("xml/Format", '{"indent": -1}', "indent must be a whole number >= 0, not -1"),
        ("xml/Format", '{"pretty": true}', "unknown conf option(s) ['pretty']"),
    ],
)
def test_format_options_that_make_no_sense_fail_at_the_start(component, conf, says):
    with pytest.raises(ProcessFailed, match=re.escape(says)):
        run_component(component, {"in": ["a: 1"], "conf": [conf]})
