"""Bound ports: slots, fan-in and fan-out, closing exactly once, case-insensitive names."""

import pytest

from flowpy import Component
from flowpy.engine.connection import Connection, EndOfStream
from flowpy.engine.ip import IP, as_ip, as_ips
from flowpy.engine.ports import (
    InPort,
    InPorts,
    InputPort,
    OutPort,
    OutPorts,
    OutputPort,
    PortError,
    normalize_index,
)


def test_declared_names_are_lower_case_and_described():
    spec = InPort("IN", datatype="string", description="text", addressable=True, required=True)
    assert spec.name == "in"
    assert spec.describe() == {
        "id": "in",
        "type": "string",
        "description": "text",
        "addressable": True,
        "required": True,
    }
    assert OutPort("Out").describe() == {"id": "out", "type": "all"}


def test_bound_ports_are_found_case_insensitively():
    port = object()
    ports = InPorts(InPort("in")).bind({"in": port})
    assert ports["IN"] is port and ports["in"] is port and "In" in ports
    with pytest.raises(PortError, match="no port named 'nope' \\(it has: in\\)"):
        ports["nope"]


def test_a_declaration_is_not_bound_and_says_so():
    declared = InPorts(InPort("in"), InPort("conf"))
    assert list(declared) == ["in", "conf"] and "CONF" in declared
    with pytest.raises(PortError, match="not bound"):
        declared["in"]


def test_plain_lists_declare_the_same_ports():
    class Old(Component):
        inports = [InPort("in")]
        outports = [OutPort("out")]

    assert isinstance(Old.inports, InPorts) and isinstance(Old.outports, OutPorts)
    assert Old.port_specs("in") == {"in": InPort("in")}


@pytest.mark.parametrize(
    "given, expected", [(None, None), ("", None), (0, 0), ("3", 3), ("name", "name"), (7, 7)]
)
def test_indexes_are_normalised(given, expected):
    assert normalize_index(given) == expected


@pytest.mark.parametrize("bad", [True, 1.5, [1]])
def test_invalid_indexes_are_refused(bad):
    with pytest.raises(PortError):
        normalize_index(bad)


def test_fan_out_sends_to_every_connection_and_closes_each_once():
    a, b = Connection(writers=1), Connection(writers=2)  # b also has another writer
    out = OutputPort(OutPort("out"), {None: [a, b]})
    out.send_data(1)
    out.close()
    out.close()  # idempotent: b keeps its other writer
    assert a.closed and not b.closed
    assert as_ips(a.recv_many()) == as_ips(b.recv_many()) == [IP.make_data(1)]


def test_addressable_outport_needs_an_index_and_slots_close_once():
    s0, s1 = Connection(), Connection()
    out = OutputPort(OutPort("out", addressable=True), {0: [s0], "x": [s1]})
    with pytest.raises(PortError, match="addressable"):
        out.send_data("no index")
    assert out.connected_slots() == [0, "x"]
    out[0].send_data("zero")
    out["x"].send_data("ex")
    out["0"].close()  # "0" and 0 are the same slot
    out.close()  # closes "x" only: slot 0 was closed already
    assert s0.closed and s1.closed
    assert as_ip(s0.recv()) == IP.make_data("zero") and as_ip(s1.recv()) == IP.make_data("ex")
    assert out[5].send_data("unconnected slot: nothing happens") is None


def test_addressable_inport_reads_slots_separately_or_merged():
    s1, s2 = Connection(), Connection()
    port = InputPort(InPort("in", addressable=True), {1: s1, "b": s2})
    s1.send(IP.make_data("one"))
    s2.send(IP.make_data("bee"))
    s1.close_writer()
    s2.close_writer()
    assert port.connected_slots() == [1, "b"]
    assert port[1].recv() == IP.make_data("one")
    assert list(port.items()) == [("b", IP.make_data("bee"))]
    with pytest.raises(EndOfStream):
        port.recv()


def test_unconnected_inport_ends_at_once():
    port = InputPort(InPort("in"), {})
    assert not port.is_connected
    assert list(port) == []
    with pytest.raises(EndOfStream):
        port.recv()


def test_recv_data_skips_brackets_and_times_out():
    conn = Connection()
    port = InputPort(InPort("in"), {None: conn})
    conn.send(IP.open("g"))
    conn.send(IP.make_data(5))
    assert port.recv_data() == 5
    with pytest.raises(TimeoutError):
        port.recv(timeout=0.01)


def test_recv_any_many_takes_a_batch_from_one_slot():
    a, b = Connection(), Connection()
    port = InputPort(InPort("in", addressable=True), {0: a, 1: b})
    a.send_many([IP.make_data(n) for n in range(3)])
    slot, batch = port.recv_any_many()
    assert slot == 0 and [ip.data for ip in batch] == [0, 1, 2]
    b.send_many([IP.make_data(n) for n in range(5)])
    slot, batch = port.recv_any_many(2)
    assert slot == 1 and [ip.data for ip in batch] == [0, 1]
    a.close_writer()
    b.close_writer()
    assert [ip.data for _, ip in port.items()] == [2, 3, 4]
    with pytest.raises(EndOfStream):
        port.recv_any_many()


def test_a_busy_slot_does_not_starve_the_others():
    """Slots are served in turn: each read starts after the slot served last."""
    conns = {slot: Connection(capacity=100) for slot in range(3)}
    port = InputPort(InPort("in", addressable=True), conns)
    for slot, conn in conns.items():
        conn.send_many([IP.make_data(f"{slot}.{n}") for n in range(3)])
    order = [port.recv_any()[0] for _ in range(9)]
    assert order == [0, 1, 2] * 3
