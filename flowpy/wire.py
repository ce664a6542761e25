"""Shapes of what flowpy puts on the wire: message envelopes, JSON-safe values, edge ids, times.

Kept apart from the runtime and the protocol handlers because both build messages, and the
rules (which replies carry ``responseTo``, how a Python value becomes JSON) must be the same
everywhere.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

#: Outputs whose schema is the *input* message schema, which forbids ``responseTo``.
NO_RESPONSE_TO = frozenset({("runtime", "packet"), ("network", "edges")})

#: How deep a value may nest before ``jsonable`` cuts it (mirrors the input limit).
MAX_DEPTH = 64


def message(protocol: str, command: str, payload: Any, request_id: str | None = None) -> dict:
    """An output message: ``{protocol, command, payload, responseTo?}`` and nothing else."""
    msg = {"protocol": protocol, "command": command, "payload": payload}
    if request_id is not None and (protocol, command) not in NO_RESPONSE_TO:
        msg["responseTo"] = request_id
    return msg


def jsonable(value: Any, _depth: int = 0) -> Any:
    """``value`` as something ``json.dumps`` accepts and that means the same to a JS client.

    IPs may carry any Python object; the protocol can only carry JSON. Tuples and sets become
    lists, bytes become base64 text, non-finite floats and unknown objects their ``repr``.
    Plain JSON values are returned as they are (no copy), which is the common, fast case.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else repr(value)
    if _depth >= MAX_DEPTH:
        return repr(value)
    if kind is list:
        converted = [jsonable(v, _depth + 1) for v in value]
        return value if all(a is b for a, b in zip(converted, value, strict=True)) else converted
    if kind is dict and all(type(k) is str for k in value):
        items = {k: jsonable(v, _depth + 1) for k, v in value.items()}
        return value if all(items[k] is v for k, v in value.items()) else items
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, _depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return jsonable(float(value))
    if isinstance(value, str):
        return str(value)
    return repr(value)


def timestamp() -> str:
    """Now as an RFC 3339 date-time (the schemas' ``format: date-time``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def port_dict(node: str, port: str, index: Any = None) -> dict:
    """The protocol's port object ``{node, port, index?}``."""
    out: dict[str, Any] = {"node": node, "port": port}
    if index is not None:
        out["index"] = index
    return out


def _port_label(port: str, index: Any) -> str:
    return str(port).upper() + (f"[{index}]" if index is not None else "")


def edge_id(src: Mapping[str, Any] | None, tgt: Mapping[str, Any]) -> str:
    """The textual edge id noflo uses: ``Src() OUT -> IN Tgt()``, ``DATA -> IN Tgt()`` for IIPs."""
    if src is None:
        head = "DATA"
    else:
        head = f"{src['node']}() {_port_label(src['port'], src.get('index'))}"
    return f"{head} -> {_port_label(tgt['port'], tgt.get('index'))} {tgt['node']}()"
