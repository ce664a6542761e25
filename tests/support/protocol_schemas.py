"""Validate messages against the fbp-protocol 0.9.8 JSON schemas (the npm package's own files).

The package ships one JSON document per protocol (``runtime.json``, ``graph.json``, ...) plus
``shared.json``. Each has ``input`` and ``output`` maps from command to message schema, and
refers to the others as ``#/<protocol>/...`` — references into one combined document, which
is how the JS tools load them (``tv4.addSchema('/shared/', ...)``). So we build that combined
document and validate with draft-04 rules.

Draft 4 reads an ``id`` keyword as a new base URI, which would make ``#/shared/...`` resolve
against ``output/error`` and fail; the JS validators ignore those ids for resolution, so they
are removed here (only string-valued ``id`` keywords; a *property* named ``id`` is a schema).

flowpy's own link extension (``protocol: "flowpy"``) has a schema of the same shape in the
repository, docs/schema/flowpy.json; it joins the combined document as one more protocol, so
its messages are validated by the same code.

Missing schemas are an error, never a skip: run ``npm ci --prefix tests/js`` to install them.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_DIR = (
    Path(__file__).resolve().parents[1] / "js" / "node_modules" / "fbp-protocol" / "schema" / "json"
)
PROTOCOLS = ("shared", "runtime", "graph", "component", "network", "trace")
FLOWPY_SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "schema" / "flowpy.json"


class SchemaMissing(RuntimeError):
    pass


def _strip_ids(node: Any, in_properties: bool = False) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "id" and isinstance(value, str) and not in_properties:
                continue
            out[key] = _strip_ids(value, in_properties=(key == "properties" and not in_properties))
        return out
    if isinstance(node, list):
        return [_strip_ids(v) for v in node]
    return node


@functools.cache
def root_schema() -> dict:
    """All protocol schemas as one document, keyed by protocol name."""
    if not SCHEMA_DIR.is_dir():
        raise SchemaMissing(
            f"fbp-protocol schemas not found in {SCHEMA_DIR}; run `npm ci --prefix tests/js`"
        )
    root = {}
    for name in PROTOCOLS:
        path = SCHEMA_DIR / f"{name}.json"
        if not path.is_file():
            raise SchemaMissing(f"missing schema file {path}; run `npm ci --prefix tests/js`")
        root[name] = _strip_ids(json.loads(path.read_text(encoding="utf-8")))
    root["flowpy"] = _strip_ids(json.loads(FLOWPY_SCHEMA.read_text(encoding="utf-8")))
    return root


@functools.cache
def _validator(direction: str, protocol: str, command: str) -> jsonschema.Draft4Validator:
    root = root_schema()
    try:
        schema = root[protocol][direction][command]
    except KeyError:
        raise LookupError(f"no {direction} schema for {protocol}:{command}") from None
    # The message schema, resolved against the combined document.
    document = {**root, "$schema": "http://json-schema.org/draft-04/schema#"}
    wrapper = {**document, "allOf": [{"$ref": f"#/{protocol}/{direction}/{command}"}]}
    del schema
    return jsonschema.Draft4Validator(wrapper)


def errors(message: Any, direction: str = "output") -> list[str]:
    """Every reason ``message`` is not a valid ``direction`` message (empty if valid)."""
    if not isinstance(message, dict):
        return [f"message must be an object, got {type(message).__name__}"]
    protocol, command = message.get("protocol"), message.get("command")
    try:
        validator = _validator(direction, str(protocol), str(command))
    except LookupError as exc:
        return [str(exc)]
    found = []
    for error in validator.iter_errors(message):
        where = "/".join(str(p) for p in error.absolute_path) or "<message>"
        found.append(f"{where}: {error.message}")
    # JSON itself: what we send must survive serialisation unchanged.
    try:
        if json.loads(json.dumps(message, allow_nan=False)) != message:
            found.append("message changes when serialised to JSON")
    except (TypeError, ValueError) as exc:
        found.append(f"message is not JSON-serialisable: {exc}")
    return found


def validate_output(message: Any) -> None:
    """AssertionError listing the problems if ``message`` is not a valid runtime output."""
    problems = errors(message, "output")
    if problems:
        raise AssertionError(
            f"invalid {message.get('protocol')}:{message.get('command')} message "
            f"{json.dumps(message, default=repr)[:500]}:\n  " + "\n  ".join(problems)
        )


def validate_input(message: Any) -> None:
    problems = errors(message, "input")
    if problems:
        raise AssertionError("invalid input message:\n  " + "\n  ".join(problems))
