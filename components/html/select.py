"""html/Select: CSS selectors over HTML text, through Beautiful Soup and soupsieve.

Beautiful Soup with Python's own ``html.parser`` reads any text as HTML, leniently (it never
refuses a page), with no compiled parser to install; soupsieve is the selector engine
Beautiful Soup itself uses, compiled once per process so that a bad selector fails at the
start, not on every page.
"""

from __future__ import annotations

from typing import Any

from flowpy import IP, BadInput, InPort, InPorts, OutPort, OutPorts, Transform
from flowpy.errors import require_extra
from flowpy_components._support.base import short

#: What `output` may say (besides "@NAME", an attribute) -> how an element gives it.
OUTPUTS = {
    "text": lambda element: " ".join(element.get_text().split()),
    "html": str,
}


class Select(Transform):
    """Finds the elements of each HTML text on `in` that a CSS selector matches and sends,
    for each in document order, its text (whitespace collapsed), its outer HTML, or one of
    its attributes; the matches of one text sit inside one bracket ("select"), which is
    empty when nothing matches.

    conf: {"selector": "CSS", "output": "text"} or just the selector; output "text",
    "html" or "@NAME" (the attribute NAME; elements without it are skipped). A selector
    that is not CSS fails the process at the start; a value that is not text goes to
    `error` (the failure shape of docs/graphs.md), or fails the process when `error` is not
    connected. Brackets pass through. Needs Beautiful Soup: pip install 'flowpy-fbp[html]'.
    """

    icon = "code"
    ends_with_out = False  # bad values go to `error`: read the input to its end
    inports = InPorts(
        InPort("in", datatype="string", description="HTML text"),
        InPort(
            "conf",
            description="{selector, output: text|html|@NAME}, or the selector",
            required=True,
        ),
    )
    outports = OutPorts(
        OutPort("out", datatype="string", description="one IP per match, in a bracket per text"),
        OutPort("error", datatype="object", description="a failure for a value that is not text"),
    )

    def setup(self) -> None:
        """Load the html extra and compile the selector and output form from conf."""
        name = type(self).component_name or type(self).__name__
        self.soup = require_extra("bs4", "html", name, package="beautifulsoup4").BeautifulSoup
        soupsieve = require_extra("soupsieve", "html", name)
        options = self.options({"selector": None, "output": "text"}, "selector", text=True)
        selector, output = options["selector"], options["output"]
        if not isinstance(selector, str) or not selector.strip():
            raise ValueError(f"{self.node_id}: conf needs a CSS selector, not {selector!r}")
        try:
            self.selector = soupsieve.compile(selector)
        except soupsieve.SelectorSyntaxError as exc:
            first = str(exc).splitlines()[0]
            raise ValueError(
                f"{self.node_id}: {selector!r} is not a CSS selector: {first}"
            ) from None
        if isinstance(output, str) and output.startswith("@") and len(output) > 1:
            self.attribute: str | None = output[1:]
        elif output in OUTPUTS:
            self.attribute = None
            self.render = OUTPUTS[output]
        else:
            raise ValueError(f"{self.node_id}: output must be text, html or @NAME, not {output!r}")

    def handle(self, value: Any) -> bool:
        """Send what the selector matched in a `select` bracket; False: nobody reads `out`."""
        if not isinstance(value, str):
            raise BadInput(f"html/Select wants HTML text, not {short(value)}")
        matches = self.selector.select(self.soup(value, "html.parser"))
        if self.attribute is None:
            found = [self.render(element) for element in matches]
        else:
            found = [
                _text(element.get(self.attribute))
                for element in matches
                if element.has_attr(self.attribute)
            ]
        return self.outports["out"].send_many(
            [IP.open("select"), *map(IP.make_data, found), IP.close("select")]
        )


def _text(value: Any) -> str:
    """An attribute's value: Beautiful Soup gives the multi-valued ones (class) as lists."""
    return " ".join(value) if isinstance(value, list) else str(value)
