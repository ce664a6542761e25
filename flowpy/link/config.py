"""A link's configuration: the Bridge's ``conf`` (docs/bridge.md, "Configuration").

Parsing is strict and says what is wrong in a sentence (``LinkError``), because a ``conf``
usually comes from a graph file or noflo-ui, where a typo would otherwise surface as a
link that never connects.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flowpy.errors import FlowpyError

DEFAULT_WINDOW = 300
#: How often a blocked caller re-checks its stop event (the engine's ``stopping`` cannot wake
#: a condition variable, so waits that must end at a stop are sliced this finely).
STOP_POLL = 0.05


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Exponential backoff with jitter: ``initial * 2**(attempt-1)`` capped at ``maximum``,
    then a random value in its upper half, so retries never bunch and never come faster
    than ``initial / 2``."""
    ceiling: float = min(maximum, initial * (2 ** max(0, min(attempt - 1, 30))))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class LinkError(FlowpyError):
    """A configuration the remote cannot serve (fatal), or an invalid ``conf``."""


@dataclass
class LinkConfig:
    """What a link connects to and how it behaves; built from a Bridge's ``conf`` IIP."""

    url: str
    secret: str | None = None
    graph: str | None = None
    window: int = DEFAULT_WINDOW
    start: bool = False
    #: Stop (draining) the remote network at the end if this link started it (docs/bridge.md).
    stop: bool = True
    reconnect_initial: float = 0.2
    reconnect_max: float = 5.0
    extension: bool = True
    timeout: float = 10.0
    hello_timeout: float = 3.0
    close_timeout: float = 1.0
    map_in: dict[str, str] = field(default_factory=dict)
    map_out: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, conf: Any) -> LinkConfig:
        """A URL string, or an object ``{url, secret, graph, window, start, reconnect, map}``.

        The URL's query may carry ``secret``, ``graph``, ``window``, ``start`` and ``stop``;
        they are taken out of the URL that is dialled. Raises LinkError with a readable message.
        """
        if isinstance(conf, str) and conf.lstrip().startswith("{"):
            try:  # clients that can only send strings (noflo-ui) send the object as JSON
                conf = json.loads(conf)
            except ValueError as exc:
                raise LinkError(f"conf is not valid JSON: {exc}") from None
        if isinstance(conf, str):
            conf = {"url": conf}
        if not isinstance(conf, Mapping):
            raise LinkError(f"conf must be a URL or an object, got {type(conf).__name__}")
        known = {
            "url",
            "secret",
            "graph",
            "window",
            "start",
            "stop",
            "reconnect",
            "map",
            "extension",
            "timeout",
            "hello_timeout",
            "close_timeout",
        }
        unknown = sorted(set(conf) - known)
        if unknown:
            raise LinkError(f"conf: unknown keys {unknown} (known: {', '.join(sorted(known))})")
        url = conf.get("url")
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise LinkError(f"conf.url must be a ws:// or wss:// URL, got {url!r}")
        url, query = _split_query(url)
        options: dict[str, Any] = {**query, **{k: v for k, v in conf.items() if k != "url"}}
        config = cls(url=url)
        config.secret = _opt_str(options, "secret")
        config.graph = _opt_str(options, "graph")
        config.window = _number(options, "window", config.window, int, 1, 100_000)
        config.start = _flag(options, "start", config.start)
        config.stop = _flag(options, "stop", config.stop)
        config.extension = _flag(options, "extension", config.extension)
        for key in ("timeout", "hello_timeout", "close_timeout"):
            setattr(config, key, _number(options, key, getattr(config, key), float, 0.01, 3600))
        reconnect = options.get("reconnect") or {}
        if not isinstance(reconnect, Mapping):
            raise LinkError("conf.reconnect must be an object {initial, max} (seconds)")
        config.reconnect_initial = _number(
            reconnect, "initial", config.reconnect_initial, float, 0.001, 3600
        )
        config.reconnect_max = _number(reconnect, "max", config.reconnect_max, float, 0.001, 86400)
        config.reconnect_max = max(config.reconnect_max, config.reconnect_initial)
        mapping = options.get("map") or {}
        if not isinstance(mapping, Mapping) or set(mapping) - {"in", "out"}:
            raise LinkError('conf.map must be {"in": {index: port}, "out": {index: port}}')
        for direction in ("in", "out"):
            table = mapping.get(direction) or {}
            if not isinstance(table, Mapping) or not all(
                isinstance(v, str) and v for v in table.values()
            ):
                raise LinkError(f"conf.map.{direction} must map indexes to remote port names")
            setattr(config, f"map_{direction}", {str(k): v for k, v in table.items()})
        return config

    @property
    def label(self) -> str:
        """The URL and graph, to name this link in logs and status lines."""
        return f"{self.url} graph {self.graph}" if self.graph else self.url


def _split_query(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    taken, kept = {}, []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in ("secret", "graph", "window", "start", "stop", "extension"):
            taken[key] = value
        else:
            kept.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), taken


def _opt_str(options: Mapping[str, Any], key: str) -> str | None:
    value = options.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise LinkError(f"conf.{key} must be a string")
    return value


def _number(
    options: Mapping[str, Any], key: str, default: Any, kind: type, low: float, high: float
) -> Any:
    value = options.get(key, default)
    try:
        if isinstance(value, bool):
            raise ValueError
        number = kind(value)
    except (TypeError, ValueError):
        raise LinkError(f"conf.{key} must be a number, got {value!r}") from None
    if not low <= number <= high:
        raise LinkError(f"conf.{key} must be between {low} and {high}, got {number}")
    return number


def _flag(options: Mapping[str, Any], key: str, default: bool) -> bool:
    value = options.get(key, default)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
