"""What a running network tells those who listen: lifecycle, traffic of exported ports, errors.

The runtime's hosted graph, ``flowpy run``, broker participants and tests are listeners.
:class:`NetworkListener` is a :class:`typing.Protocol`: the network calls every method of it
directly, so a listener has them all. Subclassing it gives every method a default that does
nothing (``outport_ips`` hands each IP to ``outport_ip``), so a listener writes only the
methods it cares about.

The ``network`` argument is the :class:`~flowpy.engine.network.Network` that reports; it is
typed ``Any`` here so that this module need not import the network, which imports it.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from .failures import Failure
from .ip import IP


@runtime_checkable
class NetworkListener(Protocol):
    """Receives a network's lifecycle and traffic events.

    Methods are called from network threads. ``outport_ip`` may block to apply
    back-pressure, but must return soon after ``network.stopping`` is set; ``stopping`` is
    called right after that flag is set, before any thread is joined, so a listener can wake
    whatever it blocks on. (The event names are verbs in the past tense; a listener keeping
    its own state should not name attributes ``started``/``stopped``.)
    """

    def started(self, network: Any) -> None:
        """The network's processes have been started."""
        return None

    def stopping(self, network: Any) -> None:
        """A stop has begun: wake anything blocked in ``outport_ip``."""
        return None

    def port_event(self, network: Any, direction: str, port: str, event: str) -> None:
        """Exported port ``port`` (``direction`` "in" or "out") connected or disconnected."""
        return None

    def outport_ip(self, network: Any, port: str, ip: IP) -> None:
        """One IP left the exported outport ``port``; may block for back-pressure."""
        return None

    def outport_ips(self, network: Any, port: str, ips: list[IP]) -> int | None:
        """Several IPs that left ``port`` back to back (the outport handler had them queued).
        Override to handle them at once; by default each goes to ``outport_ip``. Returns how
        many of them (the last ones) could not be handed on because the network is stopping,
        which the stop counts as discarded; None (or 0) when all were."""
        for ip in ips:
            self.outport_ip(network, port, ip)
        return None

    def process_failed(self, network: Any, failure: Failure) -> bool | None:
        """A process failed while handling an IP, or outside it, and nothing caught it
        (:mod:`flowpy.engine.failures`); ``failure.outcome`` says what happens next. True
        when this listener has told the people watching; unless one did, the network logs
        the failure (an error line, the traceback at debug level). By default:
        :meth:`process_error` with its one line and traceback, which tells nobody."""
        self.process_error(network, failure.node, failure.line(), failure.traceback)
        return None

    def process_error(self, network: Any, node: str, message: str, tb: str) -> None:
        """Process ``node`` failed with ``message``; ``tb`` is its traceback."""
        return None

    def output(self, network: Any, node: str, text: str) -> None:
        """Console output ``text`` of process ``node``."""
        return None

    def discarded(self, network: Any, count: int, drained: bool) -> bool | None:
        """A stop discarded ``count`` IPs still inside the network; ``drained`` is False if a
        drain was asked for and did not finish (deadline, or cut short). True when this
        listener has told the people watching: the network's own log line about it then
        drops to info level, so they read it once."""
        return None

    def edit_discarded(self, network: Any, count: int, why: str) -> None:
        """A live edit of the running network (``why``: "removing process 'x'") discarded
        ``count`` IPs that were waiting on what it took away. The network goes on running."""
        return None

    def finished(self, network: Any) -> None:
        """Every process has ended by itself (the graph ran to completion)."""
        return None

    def stopped(self, network: Any) -> None:
        """The network has stopped and joined its threads."""
        return None


def checked_listener(listener: Any) -> NetworkListener:
    """``listener``, if it has every method of the protocol (they are called directly)."""
    if not isinstance(listener, NetworkListener):
        raise TypeError(
            f"{listener!r} is not a NetworkListener: it lacks some of its methods "
            "(subclass flowpy.NetworkListener to get a default for each)"
        )
    return listener
