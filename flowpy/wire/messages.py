"""Shapes of output messages: the envelope, port objects, edge ids, times.

Kept apart from the runtime and the protocol handlers because both build messages, and the
rules (which replies carry ``responseTo``, how an edge is named) must be the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

#: Outputs whose schema is the *input* message schema, which forbids ``responseTo``.
NO_RESPONSE_TO = frozenset({("runtime", "packet"), ("network", "edges")})


def message(protocol: str, command: str, payload: Any, request_id: str | None = None) -> dict:
    """An output message: ``{protocol, command, payload, responseTo?}`` and nothing else."""
    msg = {"protocol": protocol, "command": command, "payload": payload}
    if request_id is not None and (protocol, command) not in NO_RESPONSE_TO:
        msg["responseTo"] = request_id
    return msg


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
