"""The component library and docs/writing-components.md speak only the one vocabulary: no
deprecated reader, sender, mixin, helper, declaration form or import path, so what a new
author copies from either is what flowpy will keep."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: What was replaced -> a pattern that finds it in source or in a docs page.
DEPRECATED = {
    "recv_data()": r"\.recv_data\(\)",
    "recv_any()": r"\.recv_any\(",
    "recv_any_many()": r"\.recv_any_many\(",
    "port.data()": r"(port|inports\[[^\]]*\])\.data\(\)",
    "port.items()": r"(port|inports\[[^\]]*\])\.items\(\)",
    "open_bracket()": r"\.open_bracket\(",
    "close_bracket()": r"\.close_bracket\(",
    "TransformMixin": r"\bTransformMixin\b",
    "AggregateMixin": r"\bAggregateMixin\b",
    "text_options": r"\btext_options\b",
    "recv_data_or_end": r"\brecv_data_or_end\b",
    "a list of ports": r"\b(in|out)ports = \[",
    "the engine's import path": r"from flowpy\.engine\.component import [^\n]*\b(In|Out)Ports?\b",
}
SOURCES = [
    path
    for path in sorted((ROOT / "components").rglob("*.py"))
    if path.name != "base.py" or path.parent.name != "_support"  # it defines the aliases
] + [ROOT / "docs" / "writing-components.md"]


#: The guide's last section maps the old names to the new ones: the one place they appear.
MIGRATION = "## Names from earlier releases"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_library_and_its_guide_use_only_the_vocabulary(path):
    text = path.read_text(encoding="utf-8").split(MIGRATION)[0]
    found = [name for name, pattern in DEPRECATED.items() if re.search(pattern, text)]
    assert not found, f"{path.relative_to(ROOT)} uses deprecated {', '.join(found)}"
