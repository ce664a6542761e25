"""flowpy: a flow-based-programming runtime with one OS thread per process.

The engine (ip, connection, ports, component, graph, network) lives in this package;
the component library lives in the top-level ``components`` package.
"""

__version__ = "0.1.0"
