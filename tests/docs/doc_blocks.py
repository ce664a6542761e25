"""The fenced blocks of the documentation pages, each with its ``doc-test`` marker, what it
is (a command, a graph, a file, an expected output...) and the section it belongs to.

The convention these follow is described at the top of test_docs_examples.py. This module
only reads pages; running blocks is the test's business.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[ \t]*$")
CLOSE = re.compile(r"^[ \t]*```[ \t]*$")
MARKER = re.compile(r"^[ \t]*<!--\s*doc-test:(?P<body>.*?)-->[ \t]*$")
HEADING = re.compile(r"^#{1,6}[ \t]+(?P<title>.+?)[ \t]*#*[ \t]*$")
#: Prose right before an unmarked plain block that makes it the output of the step before it.
OUTPUT_LEAD = re.compile(r"^Output\b.*:$")

SHELL = {"sh", "shell", "bash", "console"}

#: Words a marker may hold, and the options (``key=value``) it may set.
WORDS = {
    "skip",
    "output",
    "run",
    "append",
    "synopsis",
    "unordered",
    "contains",
    "interrupt",
    "stderr",
}
OPTIONS = {"reason", "file", "status", "of", "ready", "check", "runtime"}


class MarkerError(ValueError):
    """A marker the convention does not allow (unknown word, skip without a reason, ...)."""


@dataclass(frozen=True)
class Marker:
    words: frozenset[str] = frozenset()
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, body: str, where: str) -> Marker:
        words, options = set(), {}
        try:
            tokens = shlex.split(body)
        except ValueError as exc:
            raise MarkerError(f"{where}: unreadable doc-test marker ({exc})") from None
        for token in tokens:
            key, equals, value = token.partition("=")
            if equals:
                if key not in OPTIONS:
                    raise MarkerError(f"{where}: unknown doc-test option {key!r}")
                options[key] = value
            elif token in WORDS:
                words.add(token)
            elif token == "runtime":
                options[token] = ""  # `runtime` alone: the default one
            else:
                raise MarkerError(f"{where}: unknown doc-test word {token!r}")
        if "skip" in words and not options.get("reason"):
            raise MarkerError(f'{where}: a skip needs reason="..."')
        return cls(frozenset(words), options)

    def __contains__(self, word: str) -> bool:
        return word in self.words


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository, e.g. "docs/getting-started.md"
    line: int  # line of the opening fence, from 1
    lang: str
    text: str  # the contents, the fence's indentation removed; ends with a newline
    marker: Marker
    lead: str  # the last line of prose before the block (its marker left out)

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def kind(self) -> str:
        """What the block is: skip, output, synopsis, file, shell, graph, python, json, ini,
        toml (checked to parse) or text (a diagram or an outline: nothing to run)."""
        marker = self.marker
        if "skip" in marker:
            return "skip"
        if "output" in marker or (not self.lang and OUTPUT_LEAD.match(self.lead)):
            return "output"
        if "synopsis" in marker:
            return "synopsis"
        if self.lang in SHELL:
            return "shell"
        if "file" in marker.options and "run" not in marker:
            return "file"
        if self.lang == "fbp":
            return "graph"
        if self.lang in ("python", "json", "ini", "toml"):
            return self.lang
        return "text"


@dataclass
class Section:
    page: str
    title: str
    number: int  # its place on the page, from 1
    blocks: list[Block] = field(default_factory=list)

    @property
    def test_id(self) -> str:
        """``getting-started:serve-the-runtime``, ``components/flow:example-routing``."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")
        return f"{self.page.removeprefix('docs/').removesuffix('.md')}:{slug}"


def pages() -> list[Path]:
    """README.md and every page under docs/, in a fixed order."""
    docs = sorted((ROOT / "docs").rglob("*.md"))
    return [ROOT / "README.md", *docs]


def read_page(path: Path) -> list[Section]:
    """The sections (one per heading; text before the first heading is one too) of a page,
    with their fenced blocks."""
    page = path.relative_to(ROOT).as_posix()
    lines = path.read_text(encoding="utf-8").split("\n")
    sections = [Section(page, Path(page).stem, 1)]
    lead, marker_line, marker_at = "", None, -1
    number = 0
    while number < len(lines):
        line = lines[number]
        fence = FENCE.match(line)
        if fence:
            end = number + 1
            while end < len(lines) and not CLOSE.match(lines[end]):
                end += 1
            if end == len(lines):
                raise MarkerError(f"{page}:{number + 1}: a fence that never closes")
            indent = len(fence.group("indent"))
            body = [
                text[indent:] if not text[:indent].strip() else text.lstrip()
                for text in lines[number + 1 : end]
            ]
            where = f"{page}:{number + 1}"
            marker = Marker.parse(marker_line, where) if marker_line is not None else Marker()
            sections[-1].blocks.append(
                Block(page, number + 1, fence.group("lang"), "\n".join(body) + "\n", marker, lead)
            )
            lead, marker_line = "", None
            number = end + 1
            continue
        if marker_line is not None:
            raise MarkerError(
                f"{page}:{marker_at + 1}: a doc-test marker must be on the line "
                "right before a fence"
            )
        found = MARKER.match(line)
        if found:
            marker_line, marker_at = found.group("body"), number
        else:
            heading = HEADING.match(line)
            if heading:
                sections.append(Section(page, heading.group("title"), len(sections) + 1))
                lead = ""
            elif line.strip():
                lead = line.strip()
        number += 1
    return [section for section in sections if section.blocks]


def all_sections() -> list[Section]:
    return [section for path in pages() for section in read_page(path)]
