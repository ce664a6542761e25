"""What every sub-protocol module shares: the request context, the error type, field checks.

Handlers validate their payload with these helpers before touching anything, so a bad field
is reported as ``<protocol>:error`` naming the field, and nothing has changed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal, overload

from flowpy.errors import FlowpyError
from flowpy.wire.jsonpolicy import json_type as _type_name

if TYPE_CHECKING:
    from .host import Host

#: Exact texts fbp-test and noflo clients compare against.
NO_GRAPH = "No graph specified"
GRAPH_NOT_FOUND = "Requested graph not found"


class ProtocolError(FlowpyError):
    """A request that cannot be carried out; answered with ``<protocol>:error`` {message}."""

    def __init__(self, message: str, protocol: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.protocol = protocol


@overload
def string(
    payload: dict[str, Any], key: str, *, required: Literal[True] = ..., empty: bool = ...
) -> str: ...
@overload
def string(
    payload: dict[str, Any], key: str, *, required: bool, empty: bool = ...
) -> str | None: ...
def string(
    payload: dict[str, Any], key: str, *, required: bool = True, empty: bool = False
) -> str | None:
    """``payload[key]`` as a string; ProtocolError naming the field if missing or not one."""
    value = payload.get(key)
    if value is None:
        if required:
            raise ProtocolError(f"'{key}' is required")
        return None
    if not isinstance(value, str):
        raise ProtocolError(f"'{key}' must be a string, got {_type_name(value)}")
    if not value and not empty:
        raise ProtocolError(f"'{key}' must not be empty")
    return value


def boolean(
    payload: dict[str, Any], key: str, *, required: bool = False, default: bool = False
) -> bool:
    """The boolean at ``key`` (``default`` when absent); ProtocolError if it is not one."""
    value = payload.get(key)
    if value is None:
        if required:
            raise ProtocolError(f"'{key}' is required")
        return default
    if not isinstance(value, bool):
        raise ProtocolError(f"'{key}' must be a boolean, got {_type_name(value)}")
    return value


def integer(payload: dict[str, Any], key: str, *, minimum: int, maximum: int) -> int | None:
    """The integer at ``key`` within bounds (None when absent); ProtocolError otherwise."""
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError(f"'{key}' must be an integer, got {_type_name(value)}")
    if not minimum <= value <= maximum:
        raise ProtocolError(f"'{key}' must be between {minimum} and {maximum}, got {value}")
    return value


@overload
def obj(payload: dict[str, Any], key: str, *, required: Literal[True]) -> dict[str, Any]: ...
@overload
def obj(payload: dict[str, Any], key: str, *, required: bool = ...) -> dict[str, Any] | None: ...
def obj(payload: dict[str, Any], key: str, *, required: bool = False) -> dict[str, Any] | None:
    """The object at ``key`` (None when absent, unless ``required``); ProtocolError otherwise."""
    value = payload.get(key)
    if value is None:
        if required:
            raise ProtocolError(f"'{key}' is required")
        return None
    if not isinstance(value, dict):
        raise ProtocolError(f"'{key}' must be an object, got {_type_name(value)}")
    return value


def port(payload: dict[str, Any], key: str) -> dict[str, Any]:
    """A port object ``{node, port, index?}`` with the types the schemas demand."""
    value = obj(payload, key, required=True)
    assert value is not None
    node = string(value, "node")
    name = string(value, "port")
    out: dict[str, Any] = {"node": node, "port": name}
    index = value.get("index")
    if index is not None:
        if isinstance(index, bool) or not isinstance(index, (int, str, float)):
            raise ProtocolError(
                f"'{key}.index' must be a number or a string, got {_type_name(index)}"
            )
        if isinstance(index, float):
            if not index.is_integer() or index < 0:
                raise ProtocolError(f"'{key}.index' must be a non-negative integer, got {index}")
            index = int(index)
        if isinstance(index, int) and index < 0:
            raise ProtocolError(f"'{key}.index' must not be negative, got {index}")
        out["index"] = index
    return out


# -- metadata: the schemas type a few well-known keys; acks must honour them -------------------


@overload
def node_metadata(
    payload: dict[str, Any], key: str = ..., *, required: Literal[True]
) -> dict[str, Any]: ...
@overload
def node_metadata(
    payload: dict[str, Any], key: str = ..., *, required: bool = ...
) -> dict[str, Any] | None: ...
def node_metadata(
    payload: dict[str, Any], key: str = "metadata", *, required: bool = False
) -> dict[str, Any] | None:
    """Node/port metadata; ``x``/``y`` must be numbers and are rounded to the schema's integers.

    A ``None`` value is kept: it means "delete this key" in change commands.
    """
    meta = obj(payload, key, required=required)
    if meta is None:
        return None
    meta = dict(meta)
    for name in ("x", "y"):
        if name in meta:
            meta[name] = _as_int(meta[name], f"{key}.{name}")
    return meta


def _as_int(value: Any, where: str) -> int | None:
    """A number as the integer the schema wants (None passes through: it deletes a key)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"'{where}' must be a number, got {_type_name(value)}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ProtocolError(f"'{where}' must be a finite number")
        return int(round(value))
    return value


def edge_metadata(
    payload: dict[str, Any], key: str = "metadata", *, required: bool = False
) -> dict[str, Any] | None:
    """Edge/IIP metadata: ``route`` an integer, ``schema`` a string, ``secure`` a boolean."""
    meta = obj(payload, key, required=required)
    if meta is None:
        return None
    meta = dict(meta)
    if "route" in meta:
        meta["route"] = _as_int(meta["route"], f"{key}.route")
    if meta.get("schema") is not None and not isinstance(meta["schema"], str):
        raise ProtocolError(f"'{key}.schema' must be a string, got {_type_name(meta['schema'])}")
    if meta.get("secure") is not None and not isinstance(meta["secure"], bool):
        raise ProtocolError(f"'{key}.secure' must be a boolean, got {_type_name(meta['secure'])}")
    return meta


@overload
def group_metadata(
    payload: dict[str, Any], key: str = ..., *, required: Literal[True]
) -> dict[str, Any]: ...
@overload
def group_metadata(
    payload: dict[str, Any], key: str = ..., *, required: bool = ...
) -> dict[str, Any] | None: ...
def group_metadata(
    payload: dict[str, Any], key: str = "metadata", *, required: bool = False
) -> dict[str, Any] | None:
    """Group metadata: ``description`` a string."""
    meta = obj(payload, key, required=required)
    if meta is None:
        return None
    if meta.get("description") is not None and not isinstance(meta["description"], str):
        raise ProtocolError(
            f"'{key}.description' must be a string, got {_type_name(meta['description'])}"
        )
    return dict(meta)


# -- graphs --------------------------------------------------------------------------------------


def graph_id(payload: dict[str, Any]) -> str:
    """The ``graph`` field, with the exact error texts clients compare against."""
    value = payload.get("graph")
    if value is None or value == "":
        raise ProtocolError(NO_GRAPH)
    if not isinstance(value, str):
        raise ProtocolError(f"'graph' must be a string, got {_type_name(value)}")
    return value


def hosted_graph(runtime: Host, payload: dict[str, Any]) -> Any:
    """The runtime's hosted graph named by ``payload['graph']``, or ProtocolError."""
    gid = graph_id(payload)
    hosted = runtime.get_graph(gid)
    if hosted is None:
        raise ProtocolError(GRAPH_NOT_FOUND)
    return hosted
