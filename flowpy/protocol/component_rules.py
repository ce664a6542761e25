"""The ``components`` rule of a client's secret, applied where a client instantiates one.

A client instantiates a component by ``graph:addnode`` (and, for a graph component, every
component of its graph at any depth) and defines one by ``component:source``. Each such
request is checked here before anything changes, against the names as the client wrote them
and as the registry knows them, so neither another case (``Exec/run``) nor an alias slips
past a glob. ``graph:changenode`` cannot change a node's component in this runtime (it
merges metadata only), so there is nothing to check there. What the operator loaded is
trusted and never checked (see :mod:`flowpy.runtime.permissions`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowpy.runtime.permissions import Grant

from .fields import ProtocolError

if TYPE_CHECKING:
    from .host import Host


def refuse_forbidden(rt: Host, grant: Grant, component: str) -> None:
    """ProtocolError naming the component and the rule it breaks, if ``grant`` may not
    instantiate ``component`` or anything inside it."""
    if grant.components is None:
        return
    for used, inside in rt.catalogue.walk(component):
        for name in dict.fromkeys((used, rt.catalogue.registered_name(used))):
            reason = grant.component_refusal(name)
            if reason is None:
                continue
            if inside is not None:
                reason = f"it contains {name!r} (in graph component {inside!r}), and {reason}"
            elif name != component:
                reason = f"it is {name!r}, and {reason}"
            raise ProtocolError(
                f"component {component!r} is not permitted to this client: "
                f"{reason} (the 'components' rule of its secret)"
            )
