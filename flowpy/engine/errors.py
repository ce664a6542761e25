"""Exceptions shared by the engine's modules."""


class NetworkError(Exception):
    """The graph cannot run as it is (unknown component, port, node, bad index, a cycle of
    subgraphs), or the network is not in a state to do what was asked."""
