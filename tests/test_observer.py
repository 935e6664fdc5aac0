# SPDX-License-Identifier: GPL-2.0-only
"""The observer against the real kernel: exact counts, directions, IPv6,
refused and reset connections, lifetimes, current states. Needs root.
Each test uses its own ports (21xxx) on loopback only."""
import socket
import struct
import threading
import time

from conftest import ephemeral_range, quiet_port, row, trans


def listener(port, family=socket.AF_INET, backlog=1024):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", port))
    s.listen(backlog)
    return s


def rst_close(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def test_exact_accounting_20000_connections(tcpkeep):
    port, total, threads = 21001, 20000, 2
    tk = tcpkeep("-p", str(port))
    srv = listener(port)
    stop = threading.Event()

    def serve():
        # the server closes first: TIME_WAIT stays on its side, so the
        # clients never run out of ephemeral ports
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except socket.timeout:
                continue
            c.close()

    def client(n):
        for _ in range(n):
            c = socket.create_connection(("127.0.0.1", port))
            c.recv(1)
            c.close()

    server = threading.Thread(target=serve)
    server.start()
    try:
        clients = [threading.Thread(target=client, args=(total // threads,))
                   for _ in range(threads)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        done = time.monotonic()
    finally:
        stop.set()
        server.join()
        srv.close()
    f = tk.frame_after(done)
    missed = f["missed"]
    assert missed <= total * 0.001, f"missed {missed} of {total}"
    for direction, name in (("out", "SYN_SENT->ESTABLISHED"),
                            ("in", "LISTEN->SYN_RECV"),
                            ("in", "SYN_RECV->ESTABLISHED")):
        got = trans(f, port, direction, name)
        assert total - missed <= got <= total, (direction, name, got, missed)
    assert row(f, port, "out")["totals"]["new"] >= total - missed
    assert tk.stop() == 0


def test_ipv6_refused_and_reset_by_port_and_direction(tcpkeep):
    p6, refused_port, rst_port = 21011, 21012, 21013
    lo, hi = ephemeral_range()
    tk = tcpkeep()
    client_ports = set()

    srv6 = listener(p6, socket.AF_INET6)
    c = socket.create_connection(("::1", p6))
    s, _ = srv6.accept()
    client_ports.add(c.getsockname()[1])
    c.close()
    s.close()
    srv6.close()

    try:
        socket.create_connection(("127.0.0.1", refused_port))
        raise AssertionError("connect to a port without listener succeeded")
    except ConnectionRefusedError:
        pass

    srv = listener(rst_port)
    c = socket.create_connection(("127.0.0.1", rst_port))
    s, _ = srv.accept()
    client_ports.add(c.getsockname()[1])
    rst_close(c)
    time.sleep(0.05)
    s.close()
    srv.close()
    done = time.monotonic()

    f = tk.frame_after(done)
    assert trans(f, p6, "out", "SYN_SENT->ESTABLISHED") == 1
    assert trans(f, p6, "in", "SYN_RECV->ESTABLISHED") == 1
    assert trans(f, p6, "in", "CLOSE->LISTEN") == 1
    assert trans(f, refused_port, "out", "SYN_SENT->CLOSE") == 1
    assert row(f, refused_port, "out")["totals"]["refused"] == 1
    assert row(f, refused_port, "in") is None
    # the side that aborted and the side that received the RST
    assert trans(f, rst_port, "out", "ESTABLISHED->CLOSE") == 1
    assert row(f, rst_port, "out")["totals"]["reset"] == 1
    assert row(f, rst_port, "in")["totals"]["reset"] == 1
    rows = {(r["port"], r["direction"]) for r in f["rows"]}
    for p in client_ports:
        assert lo <= p <= hi
        assert (p, "in") not in rows and (p, "out") not in rows, f"ephemeral row {p}"
    assert tk.stop() == 0


def test_lifetime_of_200ms_connection_lands_in_its_bucket(tcpkeep):
    port = 21021
    tk = tcpkeep("-p", str(port))
    srv = listener(port)
    c = socket.create_connection(("127.0.0.1", port))
    s, _ = srv.accept()
    time.sleep(0.2)
    c.close()
    s.close()
    srv.close()
    f = tk.frame_after(time.monotonic() + 0.05)
    for direction in ("out", "in"):
        life = row(f, port, direction)["lifetime"]
        assert life["count"] == 1, (direction, life["count"])
        hit = [b for b in life["buckets"] if b["count"]]
        assert len(hit) == 1
        # 200 ms = 200000 us, in the log2 bucket [131072, 262144)
        assert hit[0]["low"] == 131072 and hit[0]["high"] == 262144, hit
        assert 200000 <= life["sum"] < 262144
    assert tk.stop() == 0


def test_current_states_include_time_wait_and_close_wait(tcpkeep):
    port = quiet_port(21200)
    tk = tcpkeep("-p", str(port))
    srv = listener(port)
    held = []
    try:
        # 3 x TIME_WAIT on the client side: the client closes first
        for _ in range(3):
            c = socket.create_connection(("127.0.0.1", port))
            s, _ = srv.accept()
            c.close()
            time.sleep(0.01)
            s.close()
        # 2 x CLOSE_WAIT on the client side: the server closes, the
        # client keeps its socket open (FIN_WAIT2 on the server side)
        for _ in range(2):
            c = socket.create_connection(("127.0.0.1", port))
            s, _ = srv.accept()
            s.close()
            held.append(c)
        time.sleep(0.05)
        f = tk.frame_after()
        out, inn = row(f, port, "out"), row(f, port, "in")
        assert f["states_available"] is True
        assert out["states"]["TIME_WAIT"] == 3
        assert out["states"]["CLOSE_WAIT"] == 2
        assert inn["states"]["FIN_WAIT2"] == 2
        assert inn["states"]["LISTEN"] == 1
    finally:
        for c in held:
            c.close()
        srv.close()
    assert tk.stop() == 0


def test_no_lifetimes_counts_the_same_without_storage(tcpkeep):
    port = 21041
    tk = tcpkeep("--no-lifetimes", "-p", str(port))
    srv = listener(port)
    for _ in range(50):
        c = socket.create_connection(("127.0.0.1", port))
        s, _ = srv.accept()
        c.close()
        s.close()
    srv.close()
    f = tk.frame_after()
    assert trans(f, port, "out", "SYN_SENT->ESTABLISHED") == 50
    assert trans(f, port, "in", "SYN_RECV->ESTABLISHED") == 50
    # closes are attributed by the port rule, not storage: same rows
    assert trans(f, port, "out", "FIN_WAIT2->CLOSE") == 50
    assert trans(f, port, "in", "LAST_ACK->CLOSE") == 50
    assert row(f, port, "in")["lifetime"]["count"] == 0
    assert f["unattributed"] == 0
    assert tk.stop() == 0
