"""Lanes: how a message waits on its way to one client.

The runtime says which lane each message takes; the transport keeps the promise. A client's
messages wait in three queues, and the writer always takes from the first one that holds
something:

1. **replies** (URGENT and NEWS): what the client asked for and what everybody is told, in the
   order it was made, so every client sees the same story of the graphs;
2. **output** (STREAM and REPORT): the graph's packets and what its network reports, in
   order. A client that cannot keep up makes them wait here, in the server (back-pressure),
   never in front of a reply;
3. **debug** (DEBUG): paced, and dropped (counted) when its queue is full.

=========  =====================================  ================================================
lane       for                                     when the client reads too slowly
=========  =====================================  ================================================
URGENT     replies to the client's own requests    never waits; past the hard limit the client
                                                   is cut
NEWS       broadcasts: graph acks to others,      never waits; past the hard limit the client is
           runtime:ports, component:component     cut
STREAM     runtime:packet / flowpy:packet data    the sender waits for room (back-pressure)
REPORT     what a network reports to others:      never waits; in order with STREAM; past the
           network:started/stopped/output/        hard limit the client is cut
           processerror, runtime:packet
           connect/disconnect
DEBUG      network:data and friends               paced; dropped (and counted) when its queue is
                                                   full
=========  =====================================  ================================================

Only the graph outport handler sends on STREAM, so it is the only thread that ever waits for
a client, and it holds no lock anybody else needs while it does. What the writer has already
handed to the kernel cannot be overtaken, so the transport keeps that small too
(``flowpy.server.connection``).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The queues a lane's messages wait in, in the order they are written (see above).
REPLIES = "replies"
OUTPUT = "output"
DEBUG_QUEUE = "debug"


@dataclass(frozen=True)
class Lane:
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
