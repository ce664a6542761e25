"""Lanes: how a message waits on its way to one client.

The runtime says which lane each message takes; the transport keeps the promise. One ordered
queue per client carries every lane but debug, so replies, news and packets keep their order;
debug data has a queue of its own and gives way.

=========  =====================================  ================================================
lane       for                                     when the client reads too slowly
=========  =====================================  ================================================
URGENT     replies to the client's own requests,   never waits; written before debug data queued
           runtime:packet connect/disconnect      earlier; past the hard limit the client is cut
NEWS       broadcasts: graph acks to others,      never waits; written in order with debug data;
           status, ports, errors, output          past the hard limit the client is cut
STREAM     runtime:packet / flowpy:packet data    the sender waits for room (back-pressure);
                                                   written before debug data queued earlier
DEBUG      network:data and friends               dropped (and counted) when its queue is full
=========  =====================================  ================================================

Only the graph outport handler sends on STREAM, so it is the only thread that ever waits for
a client, and it holds no lock anybody else needs while it does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lane:
    name: str
    #: A sender waits for room rather than overfilling the client's queue.
    waits: bool
    #: Dropped (and counted) when the client's queue for it is full.
    droppable: bool
    #: Written before debug data that was queued earlier.
    urgent: bool

    def __repr__(self) -> str:
        return f"<lane {self.name}>"


URGENT = Lane("urgent", waits=False, droppable=False, urgent=True)
NEWS = Lane("news", waits=False, droppable=False, urgent=False)
STREAM = Lane("stream", waits=True, droppable=False, urgent=True)
DEBUG = Lane("debug", waits=False, droppable=True, urgent=False)
