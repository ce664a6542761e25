"""The FBP protocol layer: message in, messages out, no sockets.

:class:`Endpoint` is the entry point a transport hands frames to. One module per
sub-protocol (``<name>_commands.py``), each with a ``COMMANDS`` table from command name to
handler. A handler takes ``(runtime, request, payload)``: it validates the payload
(:mod:`.fields`), acts through the runtime and answers with ``runtime.reply`` /
``runtime.broadcast``, or raises :class:`ProtocolError`, which becomes ``<protocol>:error``
{message}. What handlers may use of the runtime is :class:`~.host.Host`.
"""

from __future__ import annotations

from .endpoint import PROTOCOLS, Endpoint, dispatch
from .fields import ProtocolError

__all__ = ["PROTOCOLS", "Endpoint", "ProtocolError", "dispatch"]
