"""What a running network tells those who listen: lifecycle, traffic of exported ports, errors.

The runtime's hosted graph, ``flowpy run`` and tests are listeners; a listener implements
the methods it cares about.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .ip import IP

if TYPE_CHECKING:
    from .network import Network


class NetworkListener:
    """Receives a network's lifecycle and traffic events. Every method is optional.

    Methods are called from network threads. ``outport_ip`` may block to apply
    back-pressure, but must return soon after ``network.stopping`` is set; ``stopping`` is
    called right after that flag is set, before any thread is joined, so a listener can wake
    whatever it blocks on. (The event names are verbs in the past tense; a listener keeping
    its own state should not name attributes ``started``/``stopped``.)
    """

    def started(self, network: Network) -> None: ...

    def stopping(self, network: Network) -> None: ...

    def port_event(self, network: Network, direction: str, port: str, event: str) -> None: ...

    def outport_ip(self, network: Network, port: str, ip: IP) -> None: ...

    def outport_ips(self, network: Network, port: str, ips: list[IP]) -> None:
        """Several IPs that left ``port`` back to back (the outport handler had them queued).
        Override to handle them at once; by default each goes to ``outport_ip``."""
        for ip in ips:
            self.outport_ip(network, port, ip)

    def process_error(self, network: Network, node: str, message: str, tb: str) -> None: ...

    def output(self, network: Network, node: str, text: str) -> None: ...

    def discarded(self, network: Network, count: int, drained: bool) -> None:
        """A stop discarded ``count`` IPs still inside the network; ``drained`` is False if a
        drain was asked for and did not finish (deadline, or cut short)."""

    def edit_discarded(self, network: Network, count: int, why: str) -> None:
        """A live edit of the running network (``why``: "removing process 'x'") discarded
        ``count`` IPs that were waiting on what it took away. The network goes on running."""

    def finished(self, network: Network) -> None: ...

    def stopped(self, network: Network) -> None: ...
