"""The engine: information packets, bounded connections, ports, components, and the network
that runs a graph as one thread per process. The bottom layer: it imports nothing of flowpy
but the error base, so a component author needs nothing else (docs/architecture.md)."""
