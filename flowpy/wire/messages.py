"""Shapes of output messages: the envelope, port objects, edge ids, times.

Kept apart from the runtime and the protocol handlers because both build messages, and the
rules (which replies carry ``responseTo``, how an edge is named) must be the same everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .jsonpolicy import jsonable

#: Outputs whose schema is the *input* message schema, which forbids ``responseTo``.
NO_RESPONSE_TO = frozenset({("runtime", "packet"), ("network", "edges")})


def message(
    protocol: str, command: str, payload: Any, request_id: str | None = None
) -> dict[str, Any]:
    """An output message: ``{protocol, command, payload, responseTo?}`` and nothing else."""
    msg = {"protocol": protocol, "command": command, "payload": payload}
    if request_id is not None and (protocol, command) not in NO_RESPONSE_TO:
        msg["responseTo"] = request_id
    return msg


def timestamp() -> str:
    """Now as an RFC 3339 date-time (the schemas' ``format: date-time``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def port_dict(node: str, port: str, index: Any = None) -> dict[str, Any]:
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


# -- graph acks ----------------------------------------------------------------------------------

_NODE_META = {"addnode", "changenode", "addinport", "addoutport"}
_EDGE_META = {"addedge", "changeedge", "addinitial"}


def graph_ack(event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The ack of a graph change as the schemas type it: a few metadata keys are typed there
    (old graph files may hold them otherwise): numbers rounded, wrong types left out."""
    payload = jsonable(payload)
    meta = payload.get("metadata")
    if isinstance(meta, dict):
        if event in _NODE_META:
            payload["metadata"] = _typed(meta, {"x": int, "y": int})
        elif event in _EDGE_META:
            payload["metadata"] = _typed(meta, {"route": int, "schema": str, "secure": bool})
        elif event in ("addgroup", "changegroup"):
            payload["metadata"] = _typed(meta, {"description": str})
    return payload


def _typed(meta: dict[str, Any], types: dict[str, type]) -> dict[str, Any]:
    """Round numbers the schema wants as integers; leave out values of the wrong type."""
    out = dict(meta)
    for key, kind in types.items():
        if key not in out:
            continue
        value = out[key]
        if kind is int and isinstance(value, float) and math.isfinite(value):
            out[key] = int(round(value))
        elif kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            del out[key]
        elif kind is not int and not isinstance(value, kind):
            del out[key]
    return out
