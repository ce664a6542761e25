"""Remote subgraphs as components: ``remote/NAME`` runs the main graph of another runtime.

``flowpy serve --remote NAME=URL`` registers, per remote runtime, a component whose ports are
the exported ports of its main graph, discovered by connecting once at registration
(:func:`register_remotes`). Each process of it opens its own :class:`flowpy.link.Link` when
the network starts and starts the remote network if it is not running. The URL's query
carries options (``secret``, ``graph``, ``start=0``, ``window``); docs/bridge.md ("Remote
subgraphs") has them.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from flowpy.engine.component import Component
from flowpy.engine.ports import InPort, InPorts, OutPort, OutPorts, PortSpec
from flowpy.errors import FlowpyError
from flowpy.graphs import json_format

from .client import Client, ClientError, RequestError
from .config import LinkConfig, LinkError, backoff_delay
from .process import ProcessLink

log = logging.getLogger(__name__)

LIBRARY = "remote"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class RemoteError(FlowpyError):
    """A remote cannot be registered: bad spec, unreachable, refused, or no such graph."""


class Unreachable(RemoteError):
    """The remote runtime did not answer (down, or not there yet): worth retrying."""


class RemoteSubgraph(Component):
    """Base of every ``remote/NAME`` class; ``remote_component`` fills in the class attributes."""

    abstract = True  # not a component by itself
    icon = "cloud"
    reaches = ("network",)
    remote_config: ClassVar[LinkConfig]
    #: lower-case local port name -> the remote's exported port name
    remote_inports: ClassVar[dict[str, str]] = {}
    remote_outports: ClassVar[dict[str, str]] = {}

    def run(self) -> None:
        """Link the connected ports to the remote graph until both sides are done."""
        inputs = {
            remote: self.inports[local]
            for local, remote in self.remote_inports.items()
            if self.inports[local].is_connected
        }
        outputs = {
            remote: self.outports[local]
            for local, remote in self.remote_outports.items()
            if self.outports[local].is_connected
        }
        _RemoteLink(self, copy.deepcopy(self.remote_config), inputs, outputs).run()


class _RemoteLink(ProcessLink):
    """State changes and errors as console output (``network:output``), the rest logged."""

    def status(self, info: dict[str, Any]) -> None:
        if info.get("type") == "state":
            text = f"{info['state']} ({info.get('mode') or info.get('reason') or info['url']})"
            self.component.console(f"{self.component.node_id}: {text}")
        else:
            log.info("%s: %s", self.component.node_id, info)

    def error(self, info: dict[str, Any]) -> None:
        self.component.console(f"{self.component.node_id}: {info.get('message')}")


def parse_spec(spec: str) -> tuple[str, LinkConfig]:
    """``NAME=URL`` → (NAME, its link configuration); start defaults to on."""
    name, sep, url = spec.partition("=")
    name, url = name.strip(), url.strip()
    if not sep or not _NAME.match(name):
        raise RemoteError(
            f"--remote {spec!r}: expected NAME=ws://host:port (NAME of letters, "
            "digits, '_', '-', '.')"
        )
    if "start=" not in url.partition("?")[2]:
        url += ("&" if "?" in url else "?") + "start=1"
    try:
        return name, LinkConfig.parse(url)
    except LinkError as exc:
        raise RemoteError(f"--remote {name}: {exc}") from None


def discover(config: LinkConfig) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Connect once: (graph id, runtime:runtime payload, runtime:ports payload of the graph)."""
    try:
        with Client(  # the graph's output that reaches it meanwhile is not kept: never read
            config.url,
            config.secret,
            timeout=config.timeout,
            name="flowpy-remote-discovery",
            keep_packets=False,
        ) as client:
            runtime = client.getruntime()
            if "protocol:runtime" not in (runtime.get("capabilities") or []):
                raise RemoteError(
                    f"{config.url} does not let this secret send or receive "
                    "packets (wrong or missing secret?)"
                )
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
        raise Unreachable(f"cannot discover {config.url}: {exc}") from None
    if ports is None:
        raise RemoteError(f"graph {graph!r} on {config.url} exports no port this secret may use")
    return graph, runtime, ports


def remote_component(name: str, config: LinkConfig | str | dict[str, Any]) -> type[RemoteSubgraph]:
    """A component class for the graph ``config`` points at, its ports discovered now."""
    if not isinstance(config, LinkConfig):
        config = LinkConfig.parse(config)
    graph, runtime, ports = discover(config)
    return component_from(name, config, graph, runtime, ports)


def component_from(
    name: str, config: LinkConfig, graph: str, runtime: dict[str, Any], ports: dict[str, Any]
) -> type[RemoteSubgraph]:
    """The ``remote/NAME`` class for graph ``graph`` of the runtime ``runtime`` (its
    ``runtime:runtime`` payload) exporting ``ports`` (``runtime:ports``)."""
    config = copy.deepcopy(config)
    config.graph = graph
    inports: list[PortSpec] = []
    outports: list[PortSpec] = []
    remote_in: dict[str, str] = {}  # lower-case local port name -> the remote's name
    remote_out: dict[str, str] = {}
    for infos, specs, table, cls in (
        (ports.get("inPorts") or [], inports, remote_in, InPort),
        (ports.get("outPorts") or [], outports, remote_out, OutPort),
    ):
        for info in infos:
            port_id = str(info.get("id"))
            if port_id.lower() in table:
                raise RemoteError(
                    f"remote/{name}: ports {table[port_id.lower()]!r} and "
                    f"{port_id!r} differ only in case"
                )
            table[port_id.lower()] = port_id
            specs.append(
                cls(
                    port_id,
                    datatype=str(info.get("type") or "all"),
                    description=str(info.get("description") or ""),
                )
            )
    label = runtime.get("label") or runtime.get("type") or "runtime"
    description = (
        f"Graph {graph!r} of the {label} runtime at {config.url}, run there; "
        "its exported ports are this component's ports."
    )
    class_name = "Remote_" + re.sub(r"\W", "_", name)
    return type(
        class_name,
        (RemoteSubgraph,),
        {
            "__doc__": description,
            "description": description,
            "abstract": False,
            "inports": InPorts(*inports),
            "outports": OutPorts(*outports),
            "remote_config": config,
            "remote_inports": remote_in,
            "remote_outports": remote_out,
            "__module__": __name__,
        },
    )


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


# -- serve --remote: starting while a remote is down ---------------------------------------------

#: Backoff of the background discovery of a remote that is down, in seconds.
DISCOVERY_INITIAL = 0.5
DISCOVERY_MAX = 10.0


class RemoteDirectory:
    """``flowpy serve --remote``: registers every ``remote/NAME``, also while its runtime is
    down, and keeps trying to discover those it could not reach.

    :meth:`start` discovers each remote once. One that answers is registered; one that
    cannot be reached is registered from the ports last discovered (kept in ``cache``, a
    JSON file in the state directory) if there are any, and discovered again in the
    background, in one thread (``flowpy-remote-discovery``) with backoff, until every remote
    was found or :meth:`close` (at shutdown) stops it. A discovery that succeeds is logged,
    (re)registers the component and calls ``announce(full name)`` (``component:component``
    to the clients). A remote that answers but refuses (wrong secret, no such graph) is an
    error at :meth:`start` (``RemoteError``); in the background it is logged and retried.
    """

    def __init__(
        self,
        registry: Any,
        specs: Iterable[str],
        cache: Path | None = None,
        announce: Callable[[str], Any] | None = None,
        initial: float = DISCOVERY_INITIAL,
        maximum: float = DISCOVERY_MAX,
    ) -> None:
        self.registry = registry
        self.remotes = [parse_spec(spec) for spec in specs]  # RemoteError on a bad spec
        self.cache_path = cache
        self.announce = announce or (lambda full: None)
        self.initial, self.maximum = initial, maximum
        self._lock = threading.Lock()
        self._pending: dict[str, LinkConfig] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> list[str]:
        """Names not discovered yet."""
        with self._lock:
            return sorted(self._pending)

    def start(self) -> list[str]:
        """Register every remote (see the class docstring); the full names registered now."""
        made: list[tuple[str, type[RemoteSubgraph]]] = []
        cached = self._read_cache()
        for name, config in self.remotes:
            try:
                made.append((f"{LIBRARY}/{name}", self._discover(name, config)))
                continue
            except Unreachable as exc:
                problem = str(exc)
            except RemoteError as exc:
                raise RemoteError(f"--remote {name}: {exc}") from None
            with self._lock:
                self._pending[name] = config
            entry = self._usable(cached.get(name), config)
            if entry is None:
                log.warning(
                    "remote/%s: %s; not registered until it answers (retrying in the background)",
                    name,
                    problem,
                )
                continue
            cls = component_from(name, config, entry["graph"], entry["runtime"], entry["ports"])
            made.append((f"{LIBRARY}/{name}", cls))
            log.warning(
                "remote/%s: %s; registered with the ports of graph %r it had when "
                "last discovered (retrying in the background)",
                name,
                problem,
                entry["graph"],
            )
        for full, cls in made:
            self.registry.register(full, cls)
        if self.pending:
            self._thread = threading.Thread(target=self._retry, name="flowpy-remote-discovery")
            self._thread.start()
        return [full for full, _ in made]

    def close(self, timeout: float = 5.0) -> None:
        """Stop discovering and join the thread (a discovery under way may take up to the
        remote's ``timeout`` to give up)."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("thread %s did not end within %.1fs", thread.name, timeout)

    # -- the background thread ---------------------------------------------------------------
    def _retry(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            attempt += 1
            if self._stop.wait(backoff_delay(attempt, self.initial, self.maximum)):
                return
            with self._lock:
                pending = list(self._pending.items())
            if not pending:
                return
            for name, config in pending:
                if self._stop.is_set():
                    return
                try:
                    cls = self._discover(name, config)
                except RemoteError as exc:
                    level = logging.DEBUG if isinstance(exc, Unreachable) else logging.WARNING
                    log.log(level, "remote/%s: attempt %d: %s", name, attempt, exc)
                    continue
                full = f"{LIBRARY}/{name}"
                self.registry.register(full, cls)
                with self._lock:
                    self._pending.pop(name, None)
                log.info(
                    "remote/%s: discovered graph %r at %s (inports: %s; outports: %s)",
                    name,
                    cls.remote_config.graph,
                    config.url,
                    ", ".join(cls.remote_inports.values()) or "none",
                    ", ".join(cls.remote_outports.values()) or "none",
                )
                try:
                    self.announce(full)
                except Exception:  # noqa: BLE001 - announcing is news, never fatal
                    log.exception("remote/%s: announcing the component failed", name)

    # -- discovery and its cache ---------------------------------------------------------------
    def _discover(self, name: str, config: LinkConfig) -> type[RemoteSubgraph]:
        graph, runtime, ports = discover(config)
        cls = component_from(name, config, graph, runtime, ports)
        self._remember(name, config, graph, runtime, ports)
        return cls

    def _read_cache(self) -> dict[str, Any]:
        if self.cache_path is None:
            return {}
        try:
            document = json.loads(self.cache_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("cannot read the remotes last discovered from %s: %s", self.cache_path, exc)
            return {}
        remotes = document.get("remotes") if isinstance(document, dict) else None
        return remotes if isinstance(remotes, dict) else {}

    @staticmethod
    def _usable(entry: Any, config: LinkConfig) -> dict[str, Any] | None:
        """A cache entry for this URL and graph, or None."""
        if not isinstance(entry, dict) or entry.get("url") != config.url:
            return None
        if config.graph is not None and entry.get("graph") != config.graph:
            return None
        if not isinstance(entry.get("graph"), str) or not isinstance(entry.get("ports"), dict):
            return None
        if not isinstance(entry.get("runtime"), dict):
            return None
        return entry

    def _remember(
        self,
        name: str,
        config: LinkConfig,
        graph: str,
        runtime: dict[str, Any],
        ports: dict[str, Any],
    ) -> None:
        if self.cache_path is None:
            return
        with self._lock:
            remotes = self._read_cache()
            remotes[name] = {
                "url": config.url,
                "graph": graph,
                "ports": ports,
                "runtime": {
                    k: runtime.get(k) for k in ("id", "label", "type") if runtime.get(k) is not None
                },
            }
            try:
                self.cache_path.parent.mkdir(parents=True, exist_ok=True)
                json_format.write_text_atomically(
                    self.cache_path, json.dumps({"remotes": remotes}, indent=2) + "\n"
                )
            except OSError as exc:
                log.warning(
                    "cannot keep the ports of remote/%s in %s: %s", name, self.cache_path, exc
                )
