"""Who may do what: capabilities per client and, per graph, which exported ports it may use.

:class:`Permissions` turns a secret (or none) into a :class:`Grant`, which answers the only
questions the protocol layer asks: may this client send that command, receive that kind of
message, send to or receive from that port, instantiate that component. Graphs the operator
loads are trusted. The three configurations: docs/deployment.md ("Secrets", "Permissions file").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from flowpy.errors import FlowpyError

#: Every capability flowpy implements, in the order ``runtime:runtime`` reports them.
ALL_CAPABILITIES: tuple[str, ...] = (
    "protocol:runtime",
    "protocol:graph",
    "graph:readonly",
    "protocol:component",
    "component:getsource",
    "component:setsource",
    "protocol:network",
    "network:control",
    "network:status",
    "network:data",
    "network:persist",
    "protocol:trace",
)

#: Capabilities that are only ever granted by name in a permissions file.
EXPLICIT_ONLY = frozenset({"component:setsource"})

_GRAPH = frozenset({"protocol:graph"})
_CONTROL = frozenset({"network:control", "protocol:network"})

#: Input command -> capabilities of which any one allows it (protocol-notes.md, "Capabilities").
#: A protocol name alone (``"graph"``) covers every command of that protocol.
COMMAND_CAPABILITIES: dict[str, frozenset[str]] = {
    "runtime:getruntime": frozenset(),
    "runtime:packet": frozenset({"protocol:runtime"}),
    "graph": _GRAPH,
    "component:list": frozenset({"protocol:component"}),
    "component:getsource": frozenset({"component:getsource"}),
    "component:source": frozenset({"component:setsource"}),
    "network:start": _CONTROL,
    "network:stop": _CONTROL,
    "network:debug": _CONTROL,
    "network:getstatus": frozenset({"network:status"}) | _CONTROL,
    "network:edges": frozenset({"network:data", "protocol:network"}),
    "network:persist": frozenset({"network:persist"}),
    "trace": frozenset({"protocol:trace"}),
    # The live counts show what network:getstatus shows, edge by edge.
    "flowpy:stats": frozenset({"network:status"}) | _CONTROL,
    # The link extension moves runtime:packet traffic, so it needs what runtime:packet needs.
    "flowpy": frozenset({"protocol:runtime"}),
}

#: Kinds of broadcast output -> capabilities of which any one lets a client receive it.
#: These follow the ``outputs`` lists of the capability definitions in the fbp-protocol
#: schema, which strict clients (fbp-client) check every received message against.
OUTPUT_CAPABILITIES: dict[str, frozenset[str]] = {
    "graph": frozenset({"protocol:graph", "graph:readonly"}),
    "runtime": frozenset({"protocol:runtime"}),
    "component": frozenset({"protocol:component"}),
    "network-status": frozenset({"network:status", "network:control", "protocol:network"}),
    "network-data": frozenset({"network:data", "protocol:network"}),
    "trace": frozenset({"protocol:trace"}),
}


class PermissionsError(FlowpyError, ValueError):
    """The permissions document is malformed; the message says where."""


@dataclass(frozen=True)
class PortAccess:
    """Exported ports of one graph a client may use (lower case: ports match any case)."""

    inports: frozenset[str]
    outports: frozenset[str]


@dataclass(frozen=True)
class ComponentRule:
    """Which components a secret's holder may instantiate, as globs (``fnmatch``: ``*``
    matches any text, ``/`` included; names match in any case, as the registry finds them).

    The rule: a component is allowed when it matches no negative glob (``!exec/*``) and, if
    there is any positive glob, at least one of them. The order of the list does not matter,
    and a negative always wins; a list of negatives only allows everything else; an empty
    list allows nothing.
    """

    allow: tuple[str, ...]
    deny: tuple[str, ...]

    @classmethod
    def parse(cls, globs: Any, where: str) -> ComponentRule:
        """The rule of a ``components`` glob list; PermissionsError names ``where`` if bad."""
        if not isinstance(globs, list) or not all(isinstance(g, str) for g in globs):
            raise PermissionsError(f"{where}.components must be a list of glob strings")
        allow: list[str] = []
        deny: list[str] = []
        for glob in globs:
            pattern = glob[1:] if glob.startswith("!") else glob
            if not pattern:
                raise PermissionsError(f"{where}.components: empty glob {glob!r}")
            (deny if glob.startswith("!") else allow).append(pattern.lower())
        return cls(tuple(allow), tuple(deny))

    def refusal(self, component: str) -> str | None:
        """Why ``component`` is not allowed (the rule it breaks), or None if it is."""
        name = component.lower()
        for glob in self.deny:
            if fnmatchcase(name, glob):
                return f"it matches '!{glob}'"
        if not self.allow and self.deny:
            return None
        if any(fnmatchcase(name, glob) for glob in self.allow):
            return None
        listed = ", ".join(f"'{glob}'" for glob in self.allow)
        return f"it matches none of {listed}" if listed else "the list of components is empty"


@dataclass(frozen=True)
class Grant:
    """What one client may do. ``ports`` None means every port of every graph;
    ``components`` None means every component."""

    capabilities: frozenset[str]
    ports: Mapping[str, PortAccess] | None = None
    components: ComponentRule | None = None
    _answers: dict[tuple[str, str], bool] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    def has_any(self, capabilities: Iterable[str]) -> bool:
        """Does the grant hold at least one of ``capabilities``?"""
        return any(c in self.capabilities for c in capabilities)

    def may_send(self, protocol: str, command: str) -> bool:
        """May this client send ``protocol:command``? (Unknown commands: the dispatcher's job.)
        Asked for every message, so the answers are kept."""
        answers = self._answers
        key = (protocol, command)
        answer = answers.get(key)
        if answer is None:
            answer = answers[key] = self._may_send(protocol, command)
        return answer

    def _may_send(self, protocol: str, command: str) -> bool:
        needed = COMMAND_CAPABILITIES.get(f"{protocol}:{command}")
        if needed is None:
            needed = COMMAND_CAPABILITIES.get(protocol)
        if needed is None:
            return True
        return not needed or self.has_any(needed)

    def may_receive(self, kind: str) -> bool:
        """May this client receive broadcasts of ``kind`` (a key of OUTPUT_CAPABILITIES)?"""
        return self.has_any(OUTPUT_CAPABILITIES[kind])

    def may_send_to(self, graph: str, port: str) -> bool:
        """May this client send ``runtime:packet`` to that exported inport of ``graph``?"""
        if "protocol:runtime" not in self.capabilities:
            return False
        if self.ports is None:
            return True
        access = self.ports.get(graph)
        return access is not None and str(port).lower() in access.inports

    def may_receive_from(self, graph: str, port: str) -> bool:
        """May this client receive ``runtime:packet`` from that exported outport of ``graph``?"""
        if "protocol:runtime" not in self.capabilities:
            return False
        if self.ports is None:
            return True
        access = self.ports.get(graph)
        return access is not None and str(port).lower() in access.outports

    def component_refusal(self, component: str) -> str | None:
        """Why this client may not instantiate ``component`` (None: it may)."""
        if self.components is None:
            return None
        return self.components.refusal(component)

    def listed_capabilities(self) -> list[str]:
        """This client's capabilities in the canonical order, for ``runtime:runtime``."""
        return [c for c in ALL_CAPABILITIES if c in self.capabilities]


NOTHING = Grant(frozenset(), {})
OPEN = Grant(frozenset(ALL_CAPABILITIES) - EXPLICIT_ONLY, None)
SECRET_HOLDER = OPEN


class Permissions:
    """Maps presented secrets to grants. Immutable once built, so safe to share across threads."""

    def __init__(
        self, secret: str | None = None, document: Mapping[str, Any] | None = None
    ) -> None:
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise PermissionsError("the secret must be a non-empty string")
        self.open = secret is None and document is None
        self._grants: dict[str, Grant] = {}
        self._anonymous = OPEN if self.open else NOTHING
        if document is not None:
            self._load(document)
        if secret is not None:
            self._grants[secret] = SECRET_HOLDER

    def _load(self, document: Mapping[str, Any]) -> None:
        if not isinstance(document, Mapping):
            raise PermissionsError("the permissions document must be a JSON object")
        unknown = set(document) - {"secrets", "anonymous"}
        if unknown:
            raise PermissionsError(f"unknown keys in the permissions document: {sorted(unknown)}")
        secrets = document.get("secrets", {})
        if not isinstance(secrets, Mapping):
            raise PermissionsError("'secrets' must be an object mapping secrets to grants")
        for token, entry in secrets.items():
            if not token:
                raise PermissionsError("a secret must be a non-empty string")
            self._grants[token] = _parse_grant(entry, f"secrets[{token[:3]}...]")
        if "anonymous" in document:
            self._anonymous = _parse_grant(document["anonymous"], "anonymous")

    @property
    def has_secrets(self) -> bool:
        """Is there any secret a client could present (``--secret``, or ``secrets`` in the
        permissions document)?"""
        return bool(self._grants)

    def knows(self, secret: str | None) -> bool:
        """Is ``secret`` one of this runtime's secrets (not one that gets the anonymous grant)?"""
        return bool(secret) and secret in self._grants

    def grant_for(self, secret: str | None) -> Grant:
        """The grant of a client presenting ``secret`` (None or unknown: the anonymous grant)."""
        if secret:
            grant = self._grants.get(secret)
            if grant is not None:
                return grant
        return self._anonymous


def _parse_grant(entry: Any, where: str) -> Grant:
    if not isinstance(entry, Mapping):
        raise PermissionsError(f"{where} must be an object with 'capabilities'")
    unknown = set(entry) - {"capabilities", "graphs", "components"}
    if unknown:
        raise PermissionsError(f"{where}: unknown keys {sorted(unknown)}")
    capabilities = entry.get("capabilities", [])
    if not isinstance(capabilities, list) or not all(isinstance(c, str) for c in capabilities):
        raise PermissionsError(f"{where}.capabilities must be a list of strings")
    bad = [c for c in capabilities if c not in ALL_CAPABILITIES]
    if bad:
        raise PermissionsError(
            f"{where}: unknown capabilities {bad} (known: {', '.join(ALL_CAPABILITIES)})"
        )
    components = None
    if "components" in entry:
        components = ComponentRule.parse(entry["components"], where)
    if "graphs" not in entry:
        return Grant(frozenset(capabilities), None, components)
    graphs = entry["graphs"]
    if not isinstance(graphs, Mapping):
        raise PermissionsError(f"{where}.graphs must be an object mapping graph ids to ports")
    ports: dict[str, PortAccess] = {}
    for graph, access in graphs.items():
        if not isinstance(access, Mapping):
            raise PermissionsError(f"{where}.graphs[{graph}] must be an object")
        lists = {}
        for key in ("inports", "outports"):
            names = access.get(key, [])
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise PermissionsError(f"{where}.graphs[{graph}].{key} must be a list of strings")
            lists[key] = frozenset(n.lower() for n in names)
        extra = set(access) - {"inports", "outports"}
        if extra:
            raise PermissionsError(f"{where}.graphs[{graph}]: unknown keys {sorted(extra)}")
        ports[graph] = PortAccess(lists["inports"], lists["outports"])
    return Grant(frozenset(capabilities), ports, components)


def required_for(protocol: str, command: str) -> frozenset[str] | None:
    """Capabilities of which one is needed for an input command (None: not in the table)."""
    needed = COMMAND_CAPABILITIES.get(f"{protocol}:{command}")
    return needed if needed is not None else COMMAND_CAPABILITIES.get(protocol)
