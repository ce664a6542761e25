"""Exceptions shared by the engine's modules."""

from flowpy.errors import FlowpyError


class NetworkError(FlowpyError):
    """The graph cannot run as it is (unknown component, port, node, bad index, a cycle of
    subgraphs), or the network is not in a state to do what was asked."""
