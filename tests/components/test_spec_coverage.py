"""Every component of the libraries has an fbp-spec suite (tests/specs/<library>.yaml, run by
tests/e2e/test_conformance.py against a served flowpy) and a pytest module."""

import re
from pathlib import Path

from flowpy.engine.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "tests" / "specs"
#: The libraries of issue 14 (other libraries, such as the brokers', are tested their own way).
LIBRARIES = ("files", "strings", "objects", "csv", "flow", "time", "math", "exec", "http")


def topics() -> set[str]:
    found = set()
    for path in SPECS.glob("*.yaml"):
        found.update(re.findall(r'^topic:\s*"([^"]+)"', path.read_text(encoding="utf-8"), re.M))
    return found


def library_components() -> list[str]:
    return [name for name in Registry().names() if name.split("/")[0] in LIBRARIES]


def test_every_library_component_has_an_fbp_spec_suite():
    missing = sorted(set(library_components()) - topics())
    assert not missing, f"components without an fbp-spec suite in tests/specs/: {missing}"


def test_every_library_has_its_spec_file_and_test_module():
    for library in LIBRARIES:
        assert (SPECS / f"{library}.yaml").exists(), library
        assert (ROOT / "tests" / "components" / f"test_{library}.py").exists(), library


def test_the_library_has_more_than_sixty_components():
    assert len(Registry().names()) > 60
