"""Which web pages may open the protocol WebSocket: the ``Origin`` policy of a handshake.

A handshake with an ``Origin`` is accepted only from the runtime's own origin (opened by
address or as ``localhost``, never by a DNS name: rebinding) or one the operator listed;
``null``/``file://`` only when listed; without ``Origin`` it is not a browser's and is not
affected. Why: docs/deployment.md ("Web pages and origins", "Threat model").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from flowpy.errors import FlowpyError

ANY = "*"
#: Origins without a host, compared as written (lower case).
_OPAQUE = frozenset({"null", "file://"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class OriginError(FlowpyError, ValueError):
    """An ``--allow-origin`` value that is not an origin."""


def normalise(origin: str) -> str | tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an ``scheme://host[:port]`` origin, the lower-cased text of
    an opaque one (``null``, ``file://``), or None if ``origin`` is neither."""
    text = origin.strip().lower()
    if text in _OPAQUE:
        return text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


def parse_allowed(origin: str) -> str:
    """One ``--allow-origin`` value, checked: ``*``, ``null``, ``file://`` or
    ``scheme://host[:port]``; raises :class:`OriginError` otherwise."""
    if origin.strip() == ANY:
        return ANY
    if normalise(origin) is None:
        raise OriginError(
            f"{origin!r} is not an origin: write scheme://host[:port] (e.g. "
            "https://app.flowhub.io), 'null', 'file://' or '*'"
        )
    return origin.strip()


@dataclass(frozen=True)
class OriginPolicy:
    """The origins allowed besides the runtime's own (see the module docstring)."""

    allowed: frozenset[str | tuple[str, str, int]] = frozenset()
    any: bool = False

    @classmethod
    def of(cls, origins: Iterable[str] | str | None) -> OriginPolicy:
        """From ``--allow-origin`` values (one string is one origin); raises OriginError."""
        if origins is None:
            return cls()
        if isinstance(origins, str):
            origins = [origins]
        listed = [parse_allowed(origin) for origin in origins]
        keys = frozenset(
            key for origin in listed if origin != ANY and (key := normalise(origin)) is not None
        )
        return cls(keys, ANY in listed)

    def allows(self, origin: str | None, scheme: str, host: str | None) -> bool:
        """May a handshake with this ``Origin`` header (None: none) go ahead? ``scheme`` and
        ``host`` (the ``Host`` header) are the request's, which make the runtime's own origin."""
        if origin is None or self.any:
            return True
        key = normalise(origin)
        if key is None:
            return False
        if key in self.allowed:
            return True
        if host is None or key != normalise(f"{scheme}://{host}"):
            return False
        return _names_no_domain(key[1]) if isinstance(key, tuple) else False


def _names_no_domain(hostname: str) -> bool:
    """Whether ``hostname`` is an IP address or ``localhost``: no DNS name that an attacker's
    resolver could point at this machine (DNS rebinding)."""
    if hostname in ("localhost", "localhost."):
        return True
    try:
        ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        return False
    return True
