"""What a participant tells MsgFlo: its queue names, the discovery message (the component it
announces, its ports and their queues) and when it announces itself.

Kept apart from the participant because these are MsgFlo's conventions, read from msgflo
0.12.3 and msgflo-nodejs (docs/distributed.md), not flowpy's own behaviour.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flowpy.engine.ports import find_port

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


def payload(
    participant_id: str,
    role: str,
    graph: Any,
    registry: Any,
    inqueues: dict[str, str],
    outqueues: dict[str, str],
    component: str = "",
    label: str = "",
    icon: str = "",
) -> dict[str, Any]:
    """The ``payload`` of a discovery message: the participant, its component (default
    :func:`msgflo_component` of the graph's name) and its ports with their queues and the
    datatypes of the internal ports they export."""

    def ports(direction: str, queues: dict[str, str]) -> list[dict[str, Any]]:
        return [
            {
                "id": port.lower(),
                "type": _datatype(graph, registry, direction, port),
                "queue": queue,
                "options": {},
            }
            for port, queue in queues.items()
        ]

    props = getattr(graph, "properties", None) or {}
    return {
        "id": participant_id,
        "role": role,
        "component": component or msgflo_component(str(graph.name)),
        "label": label or str(props.get("description") or graph.name),
        "icon": icon or str(props.get("icon") or "cogs"),
        "inports": ports("in", inqueues),
        "outports": ports("out", outqueues),
    }


def _datatype(graph: Any, registry: Any, direction: str, public: str) -> str:
    exports = graph.inports if direction == "in" else graph.outports
    export = exports.get(public)
    try:
        node = graph.nodes[export.process]
        cls = registry.get(node.component)
        spec = find_port(cls.port_specs(direction), export.port, node.component)
    except (AttributeError, KeyError):
        return "all"
    return spec.datatype if spec is not None else "all"
