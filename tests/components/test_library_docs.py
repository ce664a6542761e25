"""The worked examples of docs/components/*.md are true: every ```fbp block that an
"Output:" block follows is run with ``python -m flowpy run`` and prints exactly that; and
every page links only to files that exist."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs" / "components").glob("*.md"))
#: A graph block (never reaching past its own fence) followed by its "Output:" block.
EXAMPLE = re.compile(r"```fbp\n((?:(?!```).)*?)```\n\nOutput[^\n]*:\n\n```\n(.*?)```", re.S)

pytestmark = pytest.mark.integration


def examples():
    for page in PAGES:
        for number, match in enumerate(EXAMPLE.finditer(page.read_text(encoding="utf-8")), 1):
            yield pytest.param(match.group(1), match.group(2), id=f"{page.stem}-{number}")


@pytest.mark.parametrize("graph, expected", list(examples()))
def test_worked_example_prints_what_the_page_says(tmp_path, graph, expected):
    path = tmp_path / "example.fbp"  # beside examples/, as if saved in the repository root
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    path.write_text(graph, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "flowpy", "run", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


def test_every_library_page_has_a_worked_example_and_links_resolve():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        if page.name != "README.md":
            assert "```fbp" in text, f"{page.name} has no worked example"
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", text):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
