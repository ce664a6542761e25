"""Remote subgraphs as components: ``remote/NAME`` runs the main graph of another runtime.

``flowpy serve --remote NAME=URL`` (repeatable) registers, for each remote runtime, a
component whose inports and outports are the exported ports of that runtime's main graph,
discovered by connecting once at registration. A graph (or noflo-ui) then uses the remote
graph like any component; each process of it opens its own :class:`flowpy.link.Link` (the
Bridge's machinery: send window, reconnects, the flowpy link extension when the remote has
it) when the network starts, and starts the remote network if it is not running.

The URL may carry options in its query: ``ws://host:3569?secret=S&graph=G&start=0&window=N``
(``secret``: the token to present; ``graph``: another graph than the main one; ``start=0``:
never start the remote network).

    from .remote import register_remotes
    register_remotes(registry, ["calc=ws://10.0.0.5:3569?secret=s3cret"])   # -> ["remote/calc"]
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterable
from typing import Any, ClassVar

from flowpy.engine.component import Component, InPort, OutPort
from flowpy.engine.ports import PortSpec
from flowpy.errors import FlowpyError

from .client import Client, ClientError, RequestError
from .config import LinkConfig, LinkError
from .process import ProcessLink

log = logging.getLogger(__name__)

LIBRARY = "remote"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class RemoteError(FlowpyError):
    """A remote cannot be registered: bad spec, unreachable, refused, or no such graph."""


class RemoteSubgraph(Component):
    """Base of every ``remote/NAME`` class; ``remote_component`` fills in the class attributes."""

    abstract = True  # not a component by itself
    icon = "cloud"
    remote_config: ClassVar[LinkConfig]
    #: lower-case local port name -> the remote's exported port name
    remote_inports: ClassVar[dict[str, str]] = {}
    remote_outports: ClassVar[dict[str, str]] = {}

    def run(self) -> None:
        inputs = {remote: self.inports[local] for local, remote in self.remote_inports.items()
                  if self.inports[local].is_connected}
        outputs = {remote: self.outports[local] for local, remote in self.remote_outports.items()
                   if self.outports[local].is_connected}
        _RemoteLink(self, copy.deepcopy(self.remote_config), inputs, outputs).run()


class _RemoteLink(ProcessLink):
    """State changes and errors as console output (``network:output``), the rest logged."""

    def status(self, info: dict) -> None:
        if info.get("type") == "state":
            text = f"{info['state']} ({info.get('mode') or info.get('reason') or info['url']})"
            self.component.console(f"{self.component.node_id}: {text}")
        else:
            log.info("%s: %s", self.component.node_id, info)

    def error(self, info: dict) -> None:
        self.component.console(f"{self.component.node_id}: {info.get('message')}")


def parse_spec(spec: str) -> tuple[str, LinkConfig]:
    """``NAME=URL`` → (NAME, its link configuration); start defaults to on."""
    name, sep, url = spec.partition("=")
    name, url = name.strip(), url.strip()
    if not sep or not _NAME.match(name):
        raise RemoteError(f"--remote {spec!r}: expected NAME=ws://host:port (NAME of letters, "
                          "digits, '_', '-', '.')")
    if "start=" not in url.partition("?")[2]:
        url += ("&" if "?" in url else "?") + "start=1"
    try:
        return name, LinkConfig.parse(url)
    except LinkError as exc:
        raise RemoteError(f"--remote {name}: {exc}") from None


def discover(config: LinkConfig) -> tuple[str, dict, dict]:
    """Connect once: (graph id, runtime:runtime payload, runtime:ports payload of the graph)."""
    try:
        with Client(config.url, config.secret, timeout=config.timeout,
                    name="flowpy-remote-discovery") as client:
            runtime = client.getruntime()
            if "protocol:runtime" not in (runtime.get("capabilities") or []):
                raise RemoteError(f"{config.url} does not let this secret send or receive "
                                  "packets (wrong or missing secret?)")
            graph = config.graph or runtime.get("graph")
            if not graph:
                raise RemoteError(f"{config.url} has no main graph: add ?graph=ID to the URL")
            try:  # also a barrier: runtime:ports has arrived once this is answered
                client.network_status(graph)
            except RequestError as exc:
                if "not found" in exc.message.lower():
                    raise RemoteError(f"graph {graph!r} not found on {config.url}") from None
            ports = client.ports.get(graph)
    except ClientError as exc:
        raise RemoteError(f"cannot discover {config.url}: {exc}") from None
    if ports is None:
        raise RemoteError(f"graph {graph!r} on {config.url} exports no port this secret may use")
    return graph, runtime, ports


def remote_component(name: str, config: LinkConfig | str | dict) -> type[RemoteSubgraph]:
    """A component class for the graph ``config`` points at, its ports discovered now."""
    if not isinstance(config, LinkConfig):
        config = LinkConfig.parse(config)
    graph, runtime, ports = discover(config)
    config = copy.deepcopy(config)
    config.graph = graph
    inports: list[PortSpec] = []
    outports: list[PortSpec] = []
    remote_in: dict[str, str] = {}  # lower-case local port name -> the remote's name
    remote_out: dict[str, str] = {}
    for infos, specs, table, cls in ((ports.get("inPorts") or [], inports, remote_in, InPort),
                                     (ports.get("outPorts") or [], outports, remote_out, OutPort)):
        for info in infos:
            port_id = str(info.get("id"))
            if port_id.lower() in table:
                raise RemoteError(f"remote/{name}: ports {table[port_id.lower()]!r} and "
                                  f"{port_id!r} differ only in case")
            table[port_id.lower()] = port_id
            specs.append(cls(port_id, datatype=str(info.get("type") or "all"),
                             description=str(info.get("description") or "")))
    label = runtime.get("label") or runtime.get("type") or "runtime"
    description = (f"Graph {graph!r} of the {label} runtime at {config.url}, run there; "
                   "its exported ports are this component's ports.")
    class_name = "Remote_" + re.sub(r"\W", "_", name)
    return type(class_name, (RemoteSubgraph,), {
        "__doc__": description, "description": description, "abstract": False,
        "inports": inports, "outports": outports, "remote_config": config,
        "remote_inports": remote_in, "remote_outports": remote_out,
        "__module__": __name__,
    })


def register_remotes(registry: Any, specs: Iterable[str]) -> list[str]:
    """Register ``remote/NAME`` for each ``NAME=URL`` spec; returns the names registered.

    Raises RemoteError (naming the spec) if any remote cannot be reached or described;
    nothing is registered then.
    """
    made = []
    for spec in specs:
        name, config = parse_spec(spec)
        try:
            made.append((f"{LIBRARY}/{name}", remote_component(name, config)))
        except RemoteError as exc:
            raise RemoteError(f"--remote {name}: {exc}") from None
    for full, cls in made:
        registry.register(full, cls)
    return [full for full, _ in made]
