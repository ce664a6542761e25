"""Everything one flowpy process serves: graphs and their networks, clients, permissions,
persistence, link sessions, tracing. Transport-free and protocol-free (see :mod:`.runtime`)."""

from __future__ import annotations

from .clients import ClientHandle, Request, Sink
from .runtime import PROTOCOL_VERSION, RUNTIME_TYPE, Runtime

__all__ = ["PROTOCOL_VERSION", "RUNTIME_TYPE", "ClientHandle", "Request", "Runtime", "Sink"]
