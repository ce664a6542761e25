"""Lanes: how a message waits on its way to one client (the table: docs/protocol.md, "Lanes").

The runtime says which lane each message takes; the transport keeps the promise. Three queues
per client, the writer always taking from the first that holds something: replies (URGENT,
NEWS), output (STREAM, REPORT), debug (DEBUG). Only STREAM sends ever wait for a client.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The queues a lane's messages wait in, in the order they are written (see above).
REPLIES = "replies"
OUTPUT = "output"
DEBUG_QUEUE = "debug"


@dataclass(frozen=True)
class Lane:
    """How one kind of message may wait on its way to a client."""

    name: str
    #: Which of the client's queues the message waits in.
    queue: str
    #: A sender waits for room rather than overfilling the client's queue.
    waits: bool
    #: Dropped (and counted) when the client's queue for it is full.
    droppable: bool

    def __repr__(self) -> str:
        return f"<lane {self.name}>"


URGENT = Lane("urgent", REPLIES, waits=False, droppable=False)
NEWS = Lane("news", REPLIES, waits=False, droppable=False)
STREAM = Lane("stream", OUTPUT, waits=True, droppable=False)
REPORT = Lane("report", OUTPUT, waits=False, droppable=False)
DEBUG = Lane("debug", DEBUG_QUEUE, waits=False, droppable=True)
