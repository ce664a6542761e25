"""core/Bridge: a graph on another runtime, used from this one like a subgraph."""

from __future__ import annotations

import logging
from typing import Any

from flowpy import Component, InPort, InPorts, OutPort, OutPorts
from flowpy.link import LinkConfig, LinkError, ProcessLink

log = logging.getLogger(__name__)


class Bridge(Component):
    """Links this network to a graph on another FBP runtime: IPs on `in[port]` go to the
    remote graph's exported inport `port`, and what its exported outport `port` sends comes
    out of `out[port]`, in order, across reconnects.

    conf: a URL (`ws://host:port`) or an object {url, secret, graph, window, start,
    reconnect: {initial, max}, map: {in: {"0": "remote_in"}, out: {"0": "remote_out"}}}.
    status: dicts for every connection state change, remote port connect/disconnect and
    remote restarts. error: dicts for what went wrong (see docs/bridge.md).
    """

    icon = "exchange"
    reaches = ("network",)
    inports = InPorts(
        InPort(
            "conf",
            description="URL, or object {url, secret, graph, window, start, reconnect, map}",
            required=True,
        ),
        InPort(
            "in",
            addressable=True,
            description="index: the remote graph's exported inport (or a number in conf.map.in)",
        ),
    )
    outports = OutPorts(
        OutPort(
            "out",
            addressable=True,
            description="index: the remote graph's exported outport (or a number in conf.map.out)",
        ),
        OutPort(
            "status",
            datatype="object",
            description="connection state changes and remote port events, as dicts",
        ),
        OutPort(
            "error", datatype="object", description="what went wrong, as dicts {type, message, ...}"
        ),
    )

    link = None

    def run(self) -> None:
        """Map the connected slots to the remote ports conf names, then run the link."""
        try:
            config = LinkConfig.parse(self.conf())  # a URL, or the object (or its JSON text)
        except LinkError as exc:
            self._send_error({"type": "config", "message": str(exc)})
            raise
        in_port, out_port = self.inports["in"], self.outports["out"]
        inputs = {}
        for slot in in_port.connected_slots():
            inputs[config.map_in.get(str(slot), str(slot))] = in_port[slot]
        outputs = {}
        for slot in out_port.connected_slots():
            outputs[config.map_out.get(str(slot), str(slot))] = out_port[slot]
        runner = _BridgeLink(self, config, inputs, outputs)
        self.link = runner.link  # the running Link, for inspection (state, stats)
        runner.run()

    def _send_error(self, info: dict) -> None:
        error = self.outports["error"]
        if error.is_connected:
            error.send_data(info)


class _BridgeLink(ProcessLink):
    """Where the Bridge's reports go: `status` and `error` (or the log when unconnected)."""

    def __init__(self, bridge: Bridge, *args: Any) -> None:
        super().__init__(bridge, *args)
        self.bridge = bridge
        self.unmapped_counts: dict[str, int] = {}

    def status(self, info: dict) -> None:
        port = self.bridge.outports["status"]
        if port.is_connected:
            port.send_data(info)
        else:
            log.info("%s: %s", self.bridge.node_id, info)

    def error(self, info: dict) -> None:
        port = self.bridge.outports["error"]
        if port.is_connected:
            port.send_data(info)
        else:
            log.warning("%s: %s", self.bridge.node_id, info.get("message"))

    def unmapped(self, port: str, event: str, payload: Any) -> None:
        errors = self.bridge.outports["error"]
        if errors.is_connected:
            info = {
                "type": "unmapped",
                "port": port,
                "event": event,
                "message": f"remote outport {port!r} is not connected to out[]",
            }
            if payload is not None:
                info["payload"] = payload
            errors.send_data(info)
            return
        count = self.unmapped_counts.get(port, 0) + 1
        self.unmapped_counts[port] = count
        if count == 1:
            log.warning(
                "%s: packets from remote outport %r are dropped: it is not connected "
                "to out[] (counted in unmapped_counts)",
                self.bridge.node_id,
                port,
            )
