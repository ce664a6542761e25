"""xml/Parse and xml/Format, and the one mapping between XML and JSON-like values.

The mapping (docs/components/xml.md): a document is an object with one key, the root
element's name. An element is

* ``null`` when it has no attributes, no children and no text;
* its text, a string, when it has only text;
* otherwise an object: attributes under ``"@name"``, child elements under their names (a
  name that repeats holds a list, in document order), text under ``"#text"``.

Names in a namespace are written ``{uri}name``, as ElementTree writes them. Whitespace around
text is stripped, and text that is only whitespace (indentation) is dropped. Comments and
processing instructions are not kept; mixed content keeps its text, joined, but not where it
stood between the children, nor the order of children of different names. Format is the
inverse of Parse: for every value Parse produces, parsing what Format writes gives it back.

Parsing goes through defusedxml: a document that declares entities (the "billion laughs"
expansion) or refers to external ones (reading files or URLs) is refused as bad input, and
the stream goes on. Formatting needs only the standard library.
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree import ElementTree

from flowpy import BadInput, Component, InPort, InPorts, OutPort, OutPorts, Transform
from flowpy.errors import require_extra
from flowpy.wire.jsonpolicy import MAX_DEPTH
from flowpy_components._support.base import flag, positive_int, short

ATTRIBUTE = "@"
TEXT = "#text"
#: An element or attribute name: an XML name without a prefix, optionally in {namespace}.
NAME = re.compile(r"(\{[^{}]*\})?[^\W\d][\w.\-]*")
#: Characters XML 1.0 cannot carry at all, escaped or not.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _defusedxml(component: Component) -> tuple[Any, type[Exception]]:
    """defusedxml's ``fromstring`` and the base of its refusals."""
    name = type(component).component_name or type(component).__name__
    parser = require_extra("defusedxml.ElementTree", "xml", name, package="defusedxml")
    refusal = require_extra("defusedxml", "xml", name).DefusedXmlException
    return parser.fromstring, refusal


class Parse(Transform):
    """Parses each XML text on `in` into a JSON-like value: {root: element}, where an
    element is null (empty), its text (text only), or an object with attributes under
    "@name", children under their names (a list when a name repeats) and text under
    "#text". Whitespace around text is stripped (conf {"strip": false} keeps it).

    Entity declarations (the "billion laughs") and external entities are refused, so are
    text that is not well-formed XML, nesting deeper than 64 levels and a value that is not
    text: each goes to `error` (the failure shape of docs/graphs.md), or fails the process
    when `error` is not connected; the stream goes on. Brackets pass through. Needs
    defusedxml: pip install 'flowpy-fbp[xml]'.
    """

    icon = "code"
    ends_with_out = False  # bad documents go to `error`: read the input to its end
    inports = InPorts(
        InPort("in", datatype="string", description="XML text"),
        InPort("conf", datatype="object", description="{strip}: strip whitespace around text"),
    )
    outports = OutPorts(
        OutPort("out", datatype="object", description="{root: element}, one per document"),
        OutPort(
            "error",
            datatype="object",
            description="a failure for text that is not well-formed or declares entities",
        ),
    )

    def setup(self) -> None:
        """Load defusedxml (the safe parser) and read the `strip` option."""
        self.fromstring, self.refused = _defusedxml(self)
        self.strip = flag(
            self.options({"strip": True}, scalar="strip")["strip"], f"{self.node_id}: strip"
        )

    def transform(self, value: Any) -> Any:
        """The XML text as a JSON-like value; BadInput for text that is not well-formed."""
        if not isinstance(value, str):
            raise BadInput(f"xml/Parse wants XML text, not {short(value)}")
        try:
            root = self.fromstring(value)
        except ElementTree.ParseError as exc:
            raise BadInput(f"not well-formed XML: {exc}") from None
        except self.refused as exc:
            raise BadInput(_refused(exc)) from None
        except ValueError as exc:  # expat's own refusals, e.g. an encoding it cannot use
            raise BadInput(f"cannot parse XML: {exc}") from None
        return {root.tag: self._element(root, 1)}

    def _element(self, element: ElementTree.Element, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise BadInput(f"the document nests deeper than {MAX_DEPTH} levels")
        node: dict[str, Any] = {ATTRIBUTE + name: v for name, v in element.attrib.items()}
        pieces = [element.text or ""] + [child.tail or "" for child in element]
        text = "".join(pieces)
        if self.strip or not text.strip():
            text = text.strip()
        repeated: set[str] = set()
        for child in element:
            value = self._element(child, depth + 1)
            if child.tag in repeated:
                node[child.tag].append(value)
            elif child.tag in node:
                node[child.tag] = [node[child.tag], value]
                repeated.add(child.tag)
            else:
                node[child.tag] = value
        if not node:
            return text or None
        if text:
            node[TEXT] = text
        return node


#: defusedxml's refusals -> what the document did, from the exception's fields.
REFUSED = {
    "EntitiesForbidden": "declares the entity {name!r}",
    "ExternalReferenceForbidden": "refers to the external resource {sysid!r}",
    "DTDForbidden": "has a DTD",
}


def _refused(exc: Exception) -> str:
    """What defusedxml refused, in words a user acts on."""
    fields = {"name": getattr(exc, "name", None), "sysid": getattr(exc, "sysid", None)}
    did = REFUSED.get(type(exc).__name__, "uses a construct defusedxml forbids").format(**fields)
    return (
        f"XML refused: the document {did} (entity declarations and external references "
        "are not allowed: they can expand without bound or read files)"
    )


class Format(Transform):
    """Writes each value on `in` as XML text: the inverse of xml/Parse ({root: element};
    "@name" keys are attributes, "#text" is text, a list repeats its element, null is an
    empty element, numbers and booleans are written as JSON writes them).

    conf: {"indent": null, "declaration": false}: indent a number of spaces to
    pretty-print; declaration true starts the text with <?xml version="1.0"?>. A value
    that has no XML form (not one root, a name that is not an XML name, a list in a list,
    an object as an attribute, a character XML cannot carry) goes to `error` (the failure
    shape), or fails the process when `error` is not connected. Brackets pass through.
    """

    icon = "code"
    ends_with_out = False  # bad values go to `error`: read the input to its end
    inports = InPorts(
        InPort("in", datatype="object", description="{root: element}, as xml/Parse makes"),
        InPort("conf", datatype="object", description="{indent, declaration}"),
    )
    outports = OutPorts(
        OutPort("out", datatype="string", description="XML text"),
        OutPort("error", datatype="object", description="a failure for a value with no XML form"),
    )

    def setup(self) -> None:
        """Read the indent and declaration options."""
        options = self.options({"indent": None, "declaration": False})
        indent = options["indent"]
        what = f"{self.node_id}: indent"
        self.indent = None if indent is None else positive_int(indent, what, allow_zero=True)
        self.declaration = flag(options["declaration"], f"{self.node_id}: declaration")

    def transform(self, value: Any) -> str:
        """The value as XML text; BadInput for anything but one root element."""
        if not isinstance(value, dict) or len(value) != 1:
            raise BadInput(f"xml/Format wants an object with one key, the root, not {short(value)}")
        [(tag, content)] = value.items()
        if isinstance(content, list):
            raise BadInput(f"an XML document has one root, not a list of {tag!r} elements")
        root = ElementTree.Element(_name(tag))
        _fill(root, content, 1)
        if self.indent is not None:
            ElementTree.indent(root, space=" " * self.indent)
        text = ElementTree.tostring(root, encoding="unicode")
        return '<?xml version="1.0"?>\n' + text if self.declaration else text


def _fill(element: ElementTree.Element, content: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise BadInput(f"the value nests deeper than {MAX_DEPTH} levels")
    if not isinstance(content, dict):
        element.text = _text(content)
        return
    for key, value in content.items():
        if key == TEXT:
            element.text = _text(value)
        elif isinstance(key, str) and key.startswith(ATTRIBUTE):
            if isinstance(value, (dict, list)):
                raise BadInput(
                    f"attribute {key!r} must be a string, number or boolean, not {short(value)}"
                )
            element.set(_name(key[1:]), _text(value) or "")
        else:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, list):
                    raise BadInput(f"a list inside the list of {key!r} has no XML form")
                _fill(ElementTree.SubElement(element, _name(key)), item, depth + 1)


def _name(name: Any) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise BadInput(f"{short(name)} is not an XML name (namespaces are written {{uri}}name)")
    return name


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float, str)):
        text = str(value)
    else:
        raise BadInput(f"{short(value)} is not text XML can hold")
    bad = NOT_XML.search(text)
    if bad:
        raise BadInput(f"{bad.group()!r} cannot be written in XML 1.0 text: {short(text)}")
    return text
