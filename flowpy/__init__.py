"""flowpy: a flow-based-programming runtime with one OS thread per process.

The public face, for component authors and embedders::

    from flowpy import Component, InPort, InPorts, OutPort, OutPorts, IP

with the common shapes ``Transform`` and ``Aggregate``, ``BadInput``/``reject`` for input a
component cannot handle, and helpers for IIPs and raw batches (docs/writing-components.md).
The layers, each a package, are mapped in docs/architecture.md; the component library is
installed as ``flowpy_components``, and ``flowpy.testing`` runs components for tests.
"""

__version__ = "0.1.0"

from flowpy.engine.component import Component  # noqa: E402 - __version__ first: others import it
from flowpy.engine.connection import EndOfStream, NetworkStopped  # noqa: E402
from flowpy.engine.ip import IP, count_data, raw_data  # noqa: E402
from flowpy.engine.network import Network, NetworkError, NetworkListener  # noqa: E402
from flowpy.engine.ports import InPort, InPorts, OutPort, OutPorts, next_data  # noqa: E402
from flowpy.engine.shapes import Aggregate, BadInput, Transform, reject  # noqa: E402
from flowpy.errors import FlowpyError  # noqa: E402
from flowpy.graphs.model import Graph, GraphError  # noqa: E402

__all__ = [
    "IP",
    "Aggregate",
    "BadInput",
    "Component",
    "EndOfStream",
    "FlowpyError",
    "Graph",
    "GraphError",
    "InPort",
    "InPorts",
    "Network",
    "NetworkError",
    "NetworkListener",
    "NetworkStopped",
    "OutPort",
    "OutPorts",
    "Transform",
    "__version__",
    "count_data",
    "raw_data",
    "next_data",
    "reject",
]
