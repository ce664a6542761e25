"""The documentation stays true: the generated component reference matches the registry."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_component_reference_is_up_to_date():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    generated = subprocess.run(
        [sys.executable, "-m", "flowpy", "components", "--markdown"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=ROOT,
    ).stdout
    committed = (ROOT / "docs" / "components.md").read_text(encoding="utf-8")
    assert committed == generated, (
        "docs/components.md is stale: run "
        "`python -m flowpy components --markdown > docs/components.md`"
    )


def test_every_doc_link_points_at_a_file_that_exists():
    import re

    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", doc.read_text(encoding="utf-8")):
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"
