# SPDX-License-Identifier: GPL-2.0-only
"""The attribution rule on both sides: the observer's transitions and the
socket dump's current states of real loopback connections land in the
same (port, direction) rows, or in none. The rule itself, case by case,
is unit-tested (tests/unit/unit_tests.c). Needs root. Ports 21600-21799,
and ports the kernel picks in the ephemeral range; loopback only."""
import socket
import time

import pytest

from conftest import CAN, ephemeral_range, quiet_port, row, trans


def listener(port=0):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(8)
    return s


def connect_from(port, lport=0):
    """A connection to port from local port lport (0: the kernel picks an
    ephemeral one), bound before the connect."""
    c = socket.socket()
    c.bind(("127.0.0.1", lport))
    c.connect(("127.0.0.1", port))
    return c


def states(frame, port, direction):
    """{state: n} of the sockets in a row now, only states with sockets."""
    r = row(frame, port, direction)
    return {k: v for k, v in r["states"].items() if v} if r else {}


def rows_of(frame, ports):
    return {(r["port"], r["direction"]) for r in frame["rows"] if r["port"] in ports}


@pytest.mark.vm
def test_service_port_rows_agree(tcpkeep):
    """A client from an ephemeral port to a service port: its transitions
    and its socket are "out" under the service port, the accepted end's
    "in", the listener's "in"; the client's port is no row."""
    port = quiet_port(21600)
    tk = tcpkeep()
    srv = listener(port)
    c = connect_from(port)
    s, _ = srv.accept()
    client_port = c.getsockname()[1]
    try:
        f = tk.frame_after(time.monotonic() + 0.05)
        assert f["states_available"] is True
        assert trans(f, port, "out", "CLOSE->SYN_SENT") == 1
        assert trans(f, port, "out", "SYN_SENT->ESTABLISHED") == 1
        assert states(f, port, "out") == {"ESTABLISHED": 1}
        assert trans(f, port, "in", "CLOSE->LISTEN") == 1
        assert trans(f, port, "in", "SYN_RECV->ESTABLISHED") == 1
        assert states(f, port, "in") == {"LISTEN": 1, "ESTABLISHED": 1}
        assert rows_of(f, {client_port}) == set()
    finally:
        for x in (c, s, srv):
            x.close()
    assert tk.stop() == 0


@pytest.mark.vm
def test_both_ephemeral_accepted_side_agrees_client_side_is_no_state_row(tcpkeep):
    """Both ends bound into the ephemeral range. The accepted end has its
    listener: "in" under the listener's port on both sides. The client's
    connect is seen by the observer only: its handshake is "out" under the
    listener's port, while the dump, which sees no handshake, cannot tell
    a client from the leftover of a closed listener and makes no row of
    it. Neither side ever makes a row of the client's port."""
    lo, hi = ephemeral_range()
    tk = tcpkeep()
    srv = listener(0)
    b = srv.getsockname()[1]
    c = connect_from(b)
    s, _ = srv.accept()
    a = c.getsockname()[1]
    assert lo <= a <= hi and lo <= b <= hi
    try:
        f = tk.frame_after(time.monotonic() + 0.05)
        assert f["states_available"] is True
        assert trans(f, b, "in", "CLOSE->LISTEN") == 1
        assert trans(f, b, "in", "LISTEN->SYN_RECV") == 1
        assert trans(f, b, "in", "SYN_RECV->ESTABLISHED") == 1
        assert states(f, b, "in") == {"LISTEN": 1, "ESTABLISHED": 1}
        assert trans(f, b, "out", "SYN_SENT->ESTABLISHED") == 1
        assert states(f, b, "out") == {}
        assert rows_of(f, {a}) == set()
    finally:
        c.close()
        time.sleep(0.05)
        s.close()
        srv.close()
    f = tk.frame_after(time.monotonic() + 0.05)
    if CAN["lifetimes"]:
        # the lifetime slot carries the handshake's row to the close
        assert trans(f, b, "out", "FIN_WAIT2->CLOSE") == 1
        assert trans(f, b, "in", "LAST_ACK->CLOSE") == 1
    else:
        assert trans(f, b, "out", "FIN_WAIT2->CLOSE") == 0
        assert trans(f, b, "in", "LAST_ACK->CLOSE") == 0
    # the client's TIME_WAIT: the dump cannot place it either
    assert states(f, b, "out") == {}
    assert rows_of(f, {a}) == set()
    assert tk.stop() == 0


@pytest.mark.vm
def test_both_ephemeral_without_a_handshake_is_unattributed_on_both_sides(tcpkeep):
    """A connection between two ephemeral ports, made before tcpkeep
    started and whose listener has gone: neither side knows how it began,
    and the rule gives it no row. The dump makes none of either socket;
    the observer counts their closing transitions as unattributed."""
    lo, hi = ephemeral_range()
    srv = listener(0)
    b = srv.getsockname()[1]
    c = connect_from(b)
    s, _ = srv.accept()
    srv.close()
    a = c.getsockname()[1]
    assert lo <= a <= hi and lo <= b <= hi
    tk = tcpkeep()
    try:
        f0 = tk.frame_after(time.monotonic() + 0.05)
        assert f0["states_available"] is True
        assert rows_of(f0, {a, b}) == set()
    finally:
        c.close()
        time.sleep(0.05)
        s.close()
    f1 = tk.frame_after(time.monotonic() + 0.05)
    assert rows_of(f1, {a, b}) == set()
    # client: ESTABLISHED->FIN_WAIT1->FIN_WAIT2->CLOSE; accepted end:
    # ESTABLISHED->CLOSE_WAIT->LAST_ACK->CLOSE
    assert f1["unattributed"] - f0["unattributed"] >= 6
    assert tk.stop() == 0
