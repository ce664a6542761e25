"""Read and write graphs in the noflo / fbp-graph JSON format.

``dump(load(doc)) == doc`` for every well-formed document: the model keeps what it does not
interpret (docs/architecture.md, "Graph formats"; the format: docs/graphs.md).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any, TypeVar, cast

from flowpy.wire.jsonpolicy import json_type

from .model import Edge, Graph, GraphError, Initial, PortRef, is_valid_index

__all__ = ["load", "dump", "loads", "dumps", "load_file", "save_file"]

SECTIONS = ("properties", "inports", "outports", "groups", "processes", "connections")
_PORT_KEYS = {"process", "port", "index"}
_T = TypeVar("_T")


# -- loading -------------------------------------------------------------------------


def load(doc: dict[str, Any], name: str | None = None) -> Graph:
    """Build a Graph from a parsed document; GraphError names the first problem found.

    `name` is used only when the document's properties give none.
    """
    if not isinstance(doc, dict):
        raise GraphError(f"graph document: expected an object, got {_kind(doc)}")
    properties = _section(doc, "properties", dict)
    if "name" in properties and not isinstance(properties["name"], str):
        raise GraphError(f"properties.name: expected a string, got {_kind(properties['name'])}")
    case_sensitive = doc.get("caseSensitive", False)
    if not isinstance(case_sensitive, bool):
        raise GraphError(f"caseSensitive: expected true or false, got {_kind(case_sensitive)}")

    graph = Graph()
    graph.properties = copy.deepcopy(properties)
    if name is not None and "name" not in properties:
        graph.name = name
    graph.extra = {k: copy.deepcopy(v) for k, v in doc.items() if k not in SECTIONS}
    graph.omitted_keys = {k for k in SECTIONS if k not in doc}

    _load_processes(graph, _section(doc, "processes", dict))
    _load_connections(graph, _section(doc, "connections", list))
    for kind in ("inports", "outports"):
        _load_exports(graph, kind, _section(doc, kind, dict))
    _load_groups(graph, _section(doc, "groups", list))
    return graph


def _load_processes(graph: Graph, processes: dict[str, Any]) -> None:
    for pid, spec in processes.items():
        path = f"processes.{pid}"
        if not pid:
            raise GraphError("processes: a process id must not be empty")
        spec = _expect(spec, dict, path)
        component = _text(spec.get("component"), f"{path}.component")
        node = graph.add_node(pid, component, _metadata(spec, path))
        node.extra = _extra(spec, {"component", "metadata"})


def _load_connections(graph: Graph, connections: list[Any]) -> None:
    for i, conn in enumerate(connections):
        path = f"connections[{i}]"
        conn = _expect(conn, dict, path)
        if "src" in conn and "data" in conn:
            raise GraphError(f"{path}: has both 'src' (an edge) and 'data' (an IIP)")
        if "src" not in conn and "data" not in conn:
            raise GraphError(f"{path}: needs 'src' (an edge) or 'data' (an IIP)")
        if "tgt" not in conn:
            raise GraphError(f"{path}.tgt: missing")
        tgt = _port(graph, conn["tgt"], f"{path}.tgt")
        metadata = _metadata(conn, path)
        item: Edge | Initial
        if "src" in conn:
            src = _port(graph, conn["src"], f"{path}.src")
            if graph.find_edge(src, tgt) is not None:
                raise GraphError(f"{path}: duplicate connection {src} -> {tgt}")
            item = graph.add_edge(src, tgt, metadata)
            item.extra = _extra(conn, {"src", "tgt", "metadata"})
        else:
            item = graph.add_initial(conn["data"], tgt, metadata)
            item.extra = _extra(conn, {"data", "tgt", "metadata"})


def _port(graph: Graph, spec: Any, path: str) -> PortRef:
    spec = _expect(spec, dict, path)
    unknown = sorted(set(spec) - _PORT_KEYS)
    if unknown:
        raise GraphError(f"{path}: unknown key {unknown[0]!r}")
    process = _process(graph, spec.get("process"), f"{path}.process")
    port = _text(spec.get("port"), f"{path}.port")
    index = spec.get("index")
    if "index" in spec and (index is None or not is_valid_index(index)):
        raise GraphError(
            f"{path}.index: expected a non-negative integer or a string, got {index!r}"
        )
    return PortRef(process, port, index)


def _load_exports(graph: Graph, kind: str, exports: dict[str, Any]) -> None:
    add = graph.add_inport if kind == "inports" else graph.add_outport
    for public, spec in exports.items():
        path = f"{kind}.{public}"
        if not public:
            raise GraphError(f"{kind}: an exported port name must not be empty")
        spec = _expect(spec, dict, path)
        process = _process(graph, spec.get("process"), f"{path}.process")
        port = _text(spec.get("port"), f"{path}.port")
        export = add(public, process, port, _metadata(spec, path))
        export.extra = _extra(spec, {"process", "port", "metadata"})


def _load_groups(graph: Graph, groups: list[Any]) -> None:
    for i, spec in enumerate(groups):
        path = f"groups[{i}]"
        spec = _expect(spec, dict, path)
        name = _text(spec.get("name"), f"{path}.name")
        if graph.group(name) is not None:
            raise GraphError(f"{path}.name: duplicate group {name!r}")
        if "nodes" not in spec:
            raise GraphError(f"{path}.nodes: missing")
        nodes = _expect(spec["nodes"], list, f"{path}.nodes")
        for j, member in enumerate(nodes):
            if not isinstance(member, str):
                raise GraphError(f"{path}.nodes[{j}]: expected a string, got {_kind(member)}")
            if member not in graph.nodes:
                raise GraphError(f"{path}.nodes[{j}]: unknown process {member!r}")
            if member in nodes[:j]:
                raise GraphError(f"{path}.nodes[{j}]: process {member!r} listed twice")
        group = graph.add_group(name, nodes, _metadata(spec, path))
        group.extra = _extra(spec, {"name", "nodes", "metadata"})


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise GraphError(f"{path}: expected a non-empty string, got {_kind(value)}")
    return value


def _process(graph: Graph, value: Any, path: str) -> str:
    """A reference to a process that the document declares."""
    if _text(value, path) not in graph.nodes:
        raise GraphError(f"{path}: unknown process {value!r}")
    return cast(str, value)


def _section(doc: dict[str, Any], key: str, kind: type[_T]) -> _T:
    return _expect(doc[key], kind, key) if key in doc else kind()


def _expect(value: Any, kind: type[_T], path: str) -> _T:
    if not isinstance(value, kind):
        wanted = "an object" if kind is dict else "a list"
        raise GraphError(f"{path}: expected {wanted}, got {_kind(value)}")
    return value


def _metadata(spec: dict[str, Any], path: str) -> dict[str, Any] | None:
    if "metadata" not in spec:
        return None
    return _expect(spec["metadata"], dict, f"{path}.metadata")


def _extra(spec: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """Keys the model does not carry; an empty metadata object counts, so it survives."""
    extra = {k: copy.deepcopy(v) for k, v in spec.items() if k not in known}
    if spec.get("metadata") == {}:
        extra["metadata"] = {}
    return extra


def _kind(value: Any) -> str:
    """A value as error messages describe it: its JSON type (the one namer, in the JSON
    policy), with the value itself for numbers and strings."""
    kind = json_type(value)
    if kind in ("number", "string"):
        return f"the {kind} {value!r}"
    return {"boolean": "a boolean", "array": "a list", "object": "an object"}.get(kind, kind)


# -- dumping ---------------------------------------------------------------------------


def _connections_in_order(graph: Graph) -> list[Edge | Initial]:
    """Edges and IIPs in the order they were added (a file keeps its order)."""
    connections: list[Edge | Initial] = [*graph.edges, *graph.initials]
    return sorted(connections, key=lambda c: c.seq)


def dump(graph: Graph) -> dict[str, Any]:
    """The graph as a JSON-ready document (fresh objects, safe to modify)."""
    with graph.lock:
        sections: dict[str, Any] = {
            "properties": copy.deepcopy(graph.properties),
            "inports": {p: _dump_export(e) for p, e in graph.inports.items()},
            "outports": {p: _dump_export(e) for p, e in graph.outports.items()},
            "groups": [
                _item({"name": g.name, "nodes": list(g.nodes)}, g.metadata, g.extra)
                for g in graph.groups
            ],
            "processes": {
                n.id: _item({"component": n.component}, n.metadata, n.extra)
                for n in graph.nodes.values()
            },
            "connections": [_dump_connection(c) for c in _connections_in_order(graph)],
        }
        doc: dict[str, Any] = {}
        if "caseSensitive" in graph.extra:
            doc["caseSensitive"] = graph.extra["caseSensitive"]
        for key in SECTIONS:
            if sections[key] or key not in graph.omitted_keys:
                doc[key] = sections[key]
        for key, value in graph.extra.items():
            doc.setdefault(key, copy.deepcopy(value))
        return doc


def _item(
    fields: dict[str, Any], metadata: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
    if metadata:
        fields["metadata"] = copy.deepcopy(metadata)
    for key, value in extra.items():
        fields.setdefault(key, copy.deepcopy(value))
    return fields


def _dump_export(export: Any) -> dict[str, Any]:
    return _item({"process": export.process, "port": export.port}, export.metadata, export.extra)


def _dump_port(ref: PortRef) -> dict[str, Any]:
    out: dict[str, Any] = {"process": ref.node, "port": ref.port}
    if ref.index is not None:
        out["index"] = ref.index
    return out


def _dump_connection(conn: Edge | Initial) -> dict[str, Any]:
    if isinstance(conn, Edge):
        fields = {"src": _dump_port(conn.src), "tgt": _dump_port(conn.tgt)}
    else:
        fields = {"data": copy.deepcopy(conn.data), "tgt": _dump_port(conn.tgt)}
    return _item(fields, conn.metadata, conn.extra)


# -- text and files ---------------------------------------------------------------------


def loads(text: str | bytes, name: str | None = None) -> Graph:
    """Parse JSON text into a Graph; bad JSON is a GraphError too."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise GraphError(f"invalid JSON: {exc}") from None
    return load(doc, name=name)


def dumps(graph: Graph, indent: int | None = 2) -> str:
    """The graph as JSON text; GraphError if some value (an IIP, metadata) is not JSON."""
    try:
        return json.dumps(dump(graph), indent=indent, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise GraphError(f"graph {graph.name!r} cannot be written as JSON: {exc}") from None


def load_file(path: str | os.PathLike[str]) -> Graph:
    """Read a .json graph; unnamed graphs are named after the file's stem.

    Document errors are GraphErrors prefixed with the path; I/O errors stay OSErrors.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        return loads(text, name=path.stem)
    except GraphError as exc:
        raise GraphError(f"{path}: {exc}") from None


def save_file(graph: Graph, path: str | os.PathLike[str]) -> None:
    """Write the graph atomically: readers see the old file or the new one, never half."""
    write_text_atomically(path, dumps(graph) + "\n")


def write_text_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with ``text`` so that readers see the old file or the new one, never half.

    The text goes to a temporary file in the same directory, is flushed and fsynced,
    renamed over `path`, and the directory is fsynced so the rename survives a crash.
    On any failure the temporary file is removed and an existing file is left intact.
    """
    path = Path(path)
    data = text.encode("utf-8")
    directory = path.parent
    tmp = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            _keep_mode_of(path, handle.fileno())
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _keep_mode_of(path: Path, fd: int) -> None:
    """A rewritten graph keeps the permissions of the file it replaces."""
    if not hasattr(os, "fchmod"):
        return
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    os.fchmod(fd, mode)


def _fsync_directory(directory: Path) -> None:
    """Best effort: some platforms and filesystems cannot open or sync a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
