"""What flowpy puts on the wire and takes from it, shared by the runtime, the server, the
client and the link: message shapes, the one JSON policy, and the lanes of a connection."""

from __future__ import annotations

from .events import DEBUG_COMMANDS, PACKET_EVENTS, event_of, ip_of
from .jsonpolicy import MAX_DEPTH, JsonPolicyError, encode, json_type, jsonable, parse, problem_in
from .lanes import DEBUG, NEWS, REPORT, STREAM, URGENT, Lane
from .messages import NO_RESPONSE_TO, edge_id, graph_ack, message, port_dict, timestamp

__all__ = [
    "DEBUG_COMMANDS",
    "PACKET_EVENTS",
    "event_of",
    "ip_of",
    "json_type",
    "DEBUG",
    "MAX_DEPTH",
    "NEWS",
    "NO_RESPONSE_TO",
    "REPORT",
    "STREAM",
    "URGENT",
    "JsonPolicyError",
    "Lane",
    "parse",
    "problem_in",
    "edge_id",
    "encode",
    "graph_ack",
    "jsonable",
    "message",
    "port_dict",
    "timestamp",
]
