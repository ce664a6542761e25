"""The root of flowpy's one error hierarchy.

Every error flowpy raises on purpose derives from :class:`FlowpyError`, so an embedding
application can catch all of them at once; each layer defines its own subclasses next to its
code (``NetworkError`` in the engine, ``GraphError`` in graphs, ``ProtocolError`` in the
protocol, ``ClientError`` and ``LinkError`` in the link, ...). A few also derive from the
built-in they refine (``GraphError`` is a ``ValueError``), so older ``except`` clauses keep
working. ``EndOfStream`` and ``NetworkStopped`` are not errors: they end a process's loop.
"""

from __future__ import annotations


class FlowpyError(Exception):
    """Something flowpy refused or could not do, said in a sentence (``str(error)``)."""
