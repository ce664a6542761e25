"""What a participant tells MsgFlo: its queue names, the component it announces and when it
announces itself (the discovery message's timing; the message itself is built by
:meth:`~flowpy.link.broker.participant.Participant.definition`).

Kept apart from the participant because these are MsgFlo's conventions, read from msgflo
0.12.3 and msgflo-nodejs (docs/distributed.md), not flowpy's own behaviour.
"""

from __future__ import annotations

from collections.abc import Iterator

#: MsgFlo's default discovery period (seconds); a participant announces itself 2.2 times in it.
DEFAULT_DISCOVERY_PERIOD = 60.0

#: Seconds after the start at which a participant announces itself again, before the period
#: takes over (only those sooner than one period apart): a coordinator started alongside
#: (``msgflo-setup --discover``) may not listen yet at the first announcement, and MQTT keeps
#: no message for a late subscriber.
STARTUP_ANNOUNCEMENTS = (1.0, 2.0, 4.0, 8.0)


def announcement_waits(period: float) -> Iterator[float]:
    """The waits between announcements after the first: along :data:`STARTUP_ANNOUNCEMENTS`
    while they come sooner than the regular interval (``period / 2.2``), then that interval
    for ever."""
    interval = period / 2.2
    elapsed = 0.0
    for at in STARTUP_ANNOUNCEMENTS:
        if at - elapsed >= interval:
            break
        yield at - elapsed
        elapsed = at
    while True:
        yield interval


def msgflo_component(name: str) -> str:
    """The component a participant announces by default: ``flowpy/NAME``, NAME the last part
    of a component name (``core/Repeat`` -> ``flowpy/Repeat``) or a graph file's stem.

    msgflo 0.12.3's coordinator files every discovered definition under the announced name,
    looking it up first as given, then by its last part (``Repeat``), and then writes to the
    entry of the name as given: an announced ``core/Repeat`` beside a library key ``Repeat``
    and no key ``core/Repeat`` throws ``Cannot set properties of undefined``. A library key
    announced exactly is always safe, so the default is the key docs/distributed.md uses, and
    a library.json entry can pass its own key with ``--component #COMPONENT``."""
    return "flowpy/" + name.rstrip("/").rpartition("/")[2]


def queue_name(role: str, port: str, prefix: str = "") -> str:
    """MsgFlo's queue for a port: ``ROLE.PORT`` with the port in upper case (msgflo-nodejs
    ``participant.addQueues``; the role keeps its case)."""
    return f"{prefix}{role}.{port.upper()}"
