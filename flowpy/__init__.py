"""flowpy: a flow-based-programming runtime with one OS thread per process.

The public face, for component authors and embedders::

    from flowpy import Component, InPort, InPorts, OutPort, OutPorts, IP

and the common shapes, ``Transform`` (one data IP at a time) and ``Aggregate`` (one result
per bracketed substream), with ``BadInput``/``reject`` for input a component cannot handle
``next_data`` for an IIP, and ``raw_data``/``count_data`` for components that handle whole
batches in raw form (docs/writing-components.md).

Layers, each a package (docs/architecture.md): ``engine`` (IPs, connections, ports,
components, networks), ``graphs`` (the model and its file formats), ``wire`` (message shapes
and the JSON policy), ``runtime``, ``protocol``, ``server``, ``link``, ``cli``; the component
library is installed as ``flowpy_components``. ``flowpy.testing`` runs a component or a small
graph with given inputs for a test.
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
