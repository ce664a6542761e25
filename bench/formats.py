"""Format components: documents/s through yaml/Parse, xml/Parse and html/Select in a network,
each beside its baseline, the library called in a plain loop on the same documents.

The documents are the worked examples' files (examples/data/services.yaml, catalog.xml,
page.html). A component's figure is N divided by the time from the network's start to its
end, fed through an exported inport with options as an IIP (as a graph file gives them);
the baseline parses the same N documents in this thread. The ratio says what the network
costs on top of the library (threads, connections, making values JSON-like); the figures
themselves are the library's. Runs are interleaved, so drift in the machine's load hits both
alike. Also: the same YAML through libyaml's C loader (what yaml/Parse would gain with it).

    python bench/formats.py [--count 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flowpy.graphs.model import Graph, PortRef  # noqa: E402
from flowpy.testing import run_graph  # noqa: E402

DATA = ROOT / "examples" / "data"


def through_network(component: str, conf: Any, documents: list[str]) -> float:
    graph = Graph("bench")
    graph.add_node("p", component)
    graph.add_inport("in", "p", "in")
    graph.add_outport("out", "p", "out")
    if conf is not None:
        graph.add_initial(conf, PortRef("p", "conf"))
    start = time.perf_counter()
    run_graph(graph, {"in": documents}, timeout=600)
    return len(documents) / (time.perf_counter() - start)


def in_a_loop(parse: Callable[[str], Any], documents: list[str]) -> float:
    start = time.perf_counter()
    for document in documents:
        parse(document)
    return len(documents) / (time.perf_counter() - start)


def cases() -> list[tuple[str, str, Any, Callable[[str], Any]]]:
    import defusedxml.ElementTree
    import soupsieve
    import yaml
    from bs4 import BeautifulSoup

    links = soupsieve.compile("a")
    return [
        ("yaml/Parse", "services.yaml", None, yaml.safe_load),
        ("xml/Parse", "catalog.xml", None, defusedxml.ElementTree.fromstring),
        (
            "html/Select",
            "page.html",
            "a",
            lambda text: links.select(BeautifulSoup(text, "html.parser")),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import yaml

    c_loader = getattr(yaml, "CSafeLoader", None)
    figures: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        for component, name, conf, parse in cases():
            documents = [(DATA / name).read_text(encoding="utf-8")] * args.count
            figures.setdefault(component, []).append(through_network(component, conf, documents))
            figures.setdefault(f"{component} baseline", []).append(in_a_loop(parse, documents))
            if component == "yaml/Parse" and c_loader is not None:
                figures.setdefault("yaml, libyaml's CSafeLoader", []).append(
                    in_a_loop(lambda text: yaml.load(text, Loader=c_loader), documents)
                )
    for case, values in figures.items():
        print(
            f"{case:32} {statistics.median(values):>10,.0f} documents/s (median of {len(values)})"
        )


if __name__ == "__main__":
    main()
