# SPDX-License-Identifier: GPL-2.0-only
"""The bound on the exposition's series, against a real kernel: a host
that connects to some 200 ports exports them as port="other", a listener
and a policy port have series of their own, --ports adds one, state
gauges appear once non-zero and stay, and everything stays within the
bound README's Cardinality section states (read from README, so the two
cannot drift apart). Needs root; ports 24800-25399, loopback only."""
import os
import re
import socket
import struct
import subprocess
import time

import pytest

from conftest import ROOT, TCPKEEP, ports_in_use, quiet_port, run_tcpkeep
from test_metrics import check_exposition, labels, val, wait_http

README = os.path.join(ROOT, "README.md")
KEEPALIVE = ("tcpkeep_keepalive_applied_total", "tcpkeep_keepalive_errors_total")
POLICY_GAUGES = ("tcpkeep_keepalive_idle_seconds", "tcpkeep_keepalive_interval_seconds",
                 "tcpkeep_keepalive_probes", "tcpkeep_user_timeout_seconds")


def tk(*args):
    p = run_tcpkeep(*args, timeout=60)
    assert p.returncode == 0, p.stderr
    return p


def cardinality_section():
    with open(README) as f:
        text = f.read()
    start = text.index("### Cardinality")
    end = text.index("\n## ", start)
    return text[start:end]


def table(sec, heading):
    """{metric: count} of the README table whose heading row starts so."""
    lines = sec[sec.index(heading):].splitlines()[2:]
    rows = {}
    for line in lines:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[re.match(r"`(tcpkeep_\w+)`", cells[0]).group(1)] = int(cells[1])
    return rows


def documented():
    """What README states: series per (port, direction) and per port by
    metric, the policy gauges per port, the formula's terms and the bucket
    bounds."""
    sec = cardinality_section()
    per_row = table(sec, "| series | per (port, direction) |")
    per_port = table(sec, "| series | per exported port |")
    gauges = table(sec, "| series | per port with a policy in force |")
    f = re.search(r"series ≤ (\d+)·P \+ (\d+)·\(N − P\) \+ (\d+) \+ (\d+)", sec)
    policed, plain, other, nolabel = map(int, f.groups())
    les = re.search(r"`le` = ([0-9., and\n]+) seconds", sec).group(1)
    les = [x for x in re.split(r"[,\s]+|and", les) if x]
    return (per_row, per_port, sum(gauges.values()), (policed, plain, other, nolabel),
            les)


def test_readme_bound_adds_up():
    per_row, per_port, gauges, (policed, plain, other, nolabel), les = documented()
    ka = sum(per_row[m] for m in KEEPALIVE)
    row = sum(per_row.values()) - ka
    port = sum(per_port.values())
    assert plain == 2 * row + port and other == plain
    assert policed == 2 * (row + ka) + port + gauges
    assert len(les) == 12


def closed_ports(start, n):
    """n ports from start up that nothing listens on or uses."""
    used, out = ports_in_use(), []
    for p in range(start, start + 3 * n):
        if p not in used:
            out.append(p)
            if len(out) == n:
                return out
    raise AssertionError(f"not {n} free ports from {start}")


def refused(ports):
    n = 0
    for p in ports:
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", p))
        except ConnectionRefusedError:
            n += 1
        finally:
            s.close()
    return n


class Listener:
    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)

    def connect(self, n=1):
        """n connections, closed by the client first, then the server."""
        for _ in range(n):
            c = socket.create_connection(self.sock.getsockname())
            s, _ = self.sock.accept()
            c.close()
            s.close()

    def close(self):
        self.sock.close()


@pytest.fixture
def listeners():
    made = []

    def make(port):
        made.append(Listener(port))
        return made[-1]

    yield make
    for lst in made:
        lst.close()


@pytest.fixture
def pinned(root):
    run_tcpkeep("unpin")
    yield lambda *args: tk("pin", *args)
    run_tcpkeep("unpin")


def ports_of(series):
    return {dict(lab)["port"] for _, lab in series if "port" in dict(lab)}


def rows_of(series):
    return {(dict(lab)["port"], dict(lab)["direction"])
            for _, lab in series if "direction" in dict(lab)}


def check_bound(series):
    """Each row and port within README's counts, the whole within its formula."""
    per_row, per_port, gauges, (policed, plain, other, nolabel), les = documented()
    for port, d in rows_of(series):
        for metric, most in per_row.items():
            n = sum(1 for name, lab in series
                    if re.sub(r"_(bucket|sum|count)$", "", name) == metric and
                    dict(lab).get("port") == port and dict(lab).get("direction") == d)
            assert n <= most, (metric, port, d, n)
    for port in ports_of(series):
        for metric, most in per_port.items():
            mine = [dict(lab) for name, lab in series
                    if name == metric and dict(lab).get("port") == port]
            assert len(mine) <= most, (metric, port, mine)
            assert all(set(lab) == {"port"} for lab in mine), (metric, mine)
    exported = ports_of(series) - {"other"}
    with_policy = {dict(lab)["port"] for name, lab in series if name in KEEPALIVE}
    assert "other" not in with_policy
    bound = policed * len(with_policy) + plain * len(exported - with_policy) + other + nolabel
    assert sum(1 for _, lab in series if "port" not in dict(lab)) == nolabel
    assert len(series) <= bound, (len(series), bound)
    got = sorted({dict(lab)["le"] for name, lab in series
                  if name == "tcpkeep_connection_duration_seconds_bucket"}, key=float)
    assert got == les + ["+Inf"]
    # the audit's idle histogram has its own, fewer buckets, or none at all
    # when the audit is unavailable
    idle = sorted({dict(lab)["le"] for name, lab in series
                   if name == "tcpkeep_connections_idle_seconds_bucket"}, key=float)
    assert idle in ([], ["60", "600", "3600", "21600", "86400", "+Inf"])
    return bound


def test_remote_ports_fold_and_the_bound_holds(pinned, listeners):
    pol, off = 24801, 24802
    lst = quiet_port(24810, 40)
    pinned("--no-defaults", "-k", f"{pol}:idle=30", "-k", f"{off}:off")
    listeners(pol).connect(3)
    listeners(off).connect(1)
    listening = listeners(lst)
    listening.connect(2)
    remote = closed_ports(24900, 200)
    made = refused(remote)
    assert made == len(remote)
    text = tk("metrics").stdout
    series = check_exposition(text)
    bound = check_bound(series)
    print(f"{len(series)} series, bound {bound}")
    ports = ports_of(series)
    assert {str(pol), str(off), str(lst), "other"} <= ports
    assert not ports & {str(p) for p in remote}
    assert val(series, "tcpkeep_transitions_total", port="other", direction="out",
               from_state="syn_sent", to_state="close") >= made
    assert val(series, "tcpkeep_connections", port=str(lst), direction="in",
               state="listen") == 1
    assert val(series, "tcpkeep_transitions_total", port=str(lst), direction="in",
               from_state="syn_recv", to_state="established") == 2
    # keepalive counters where the enforcer acts, nowhere else
    assert val(series, "tcpkeep_keepalive_applied_total", port=str(pol), direction="in") == 3
    assert {dict(lab)["port"] for name, lab in series if name in KEEPALIVE} == {str(pol)}
    assert {dict(lab)["port"] for name, lab in series if name in POLICY_GAUGES} == {str(pol)}
    # port pressure: the listener's queue and backlog, the ports the clients
    # of pol still hold (their TIME_WAIT), and no listener gauges for "other"
    assert val(series, "tcpkeep_listen_queue_length", port=str(lst)) == 0
    assert val(series, "tcpkeep_listen_queue_limit", port=str(lst)) == 64
    held = val(series, "tcpkeep_ephemeral_ports_used", port=str(pol))
    assert held >= 3
    assert val(series, "tcpkeep_ephemeral_ports_used_ratio", port=str(pol)) == pytest.approx(
        held / val(series, "tcpkeep_local_port_range_size"))
    assert ("tcpkeep_listen_queue_length", frozenset({("port", "other")})) not in series
    # a state gauge only once non-zero: in one scrape, never a zero
    zero = [lab for name, lab in series if name == "tcpkeep_connections" and
            series[(name, lab)] == 0]
    assert not zero, zero


def test_ports_option_adds_a_port(pinned, listeners):
    port = quiet_port(24850, 40)
    pinned("--no-defaults")
    gone = listeners(port)
    gone.connect(4)
    gone.close()  # no listener left: only --ports can export it now
    folded = check_exposition(tk("metrics").stdout)
    assert str(port) not in ports_of(folded)
    kept = check_exposition(tk("metrics", "--ports", str(port)).stdout)
    check_bound(kept)
    assert val(kept, "tcpkeep_transitions_total", port=str(port), direction="out",
               from_state="syn_sent", to_state="established") == 4


def test_common_closes_are_known_pairs(pinned, listeners):
    """Orderly closes from either side, a reset, a half-close and a refused
    connect: every transition is one of the table's pairs, none "other"."""
    port, closed = quiet_port(24870, 20), closed_ports(25300, 1)[0]
    pinned("--no-defaults")
    lst = listeners(port)
    lst.connect(2)  # client first
    for how in ("server-first", "reset", "half-close"):
        c = socket.create_connection(("127.0.0.1", port))
        s, _ = lst.sock.accept()
        if how == "server-first":
            s.close()
            c.recv(1)
            c.close()
        elif how == "reset":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
            s.close()
        else:
            c.shutdown(socket.SHUT_WR)
            s.recv(1)
            s.shutdown(socket.SHUT_WR)
            c.recv(1)
            c.close()
            s.close()
    assert refused([closed]) == 1
    lst.close()
    time.sleep(0.2)  # let the last FINs and ACKs land
    series = check_exposition(tk("metrics", "--ports", f"{port},{closed}").stdout)
    mine = {(dict(lab)["from_state"], dict(lab)["to_state"])
            for name, lab in series if name == "tcpkeep_transitions_total" and
            dict(lab)["port"] in (str(port), str(closed))}
    assert ("syn_sent", "close") in mine and ("established", "close") in mine
    assert ("other", "other") not in mine, mine


@pytest.fixture
def metrics_listen(pinned):
    procs = []

    def start(*args):
        web = quiet_port(24890, 10)
        p = subprocess.Popen([TCPKEEP, "metrics", "--listen", f"127.0.0.1:{web}", *args],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(p)
        url = f"http://127.0.0.1:{web}/metrics"
        wait_http(url)
        return lambda: check_exposition(wait_http(url)[2])

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=30)


def wait_for(cond, what, timeout=10):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def ss_count(*filt):
    out = subprocess.run(["ss", "-tnH", *filt], capture_output=True, text=True).stdout
    return len(out.splitlines())


def test_series_stay_once_exported(pinned, listeners, metrics_listen):
    """One long-running endpoint: a state gauge that went back to zero
    stays as a zero, a port whose listener closed stays exported, and a
    port that starts listening leaves other."""
    port, later = quiet_port(24860, 10), quiet_port(24880, 10)
    pinned("--no-defaults")
    scrape = metrics_listen()
    lst = listeners(port)
    c = socket.create_connection(("127.0.0.1", port))
    s, _ = lst.sock.accept()
    before = listeners(later)
    before.connect(3)
    before.close()
    first = scrape()
    assert val(first, "tcpkeep_connections", port=str(port), direction="in",
               state="established") == 1
    assert str(later) not in ports_of(first)
    c.close()
    s.close()
    lst.close()
    wait_for(lambda: ss_count("state", "established", f"sport = :{port}") == 0 and
             ss_count("state", "listening", f"sport = :{port}") == 0, "sockets left")
    listeners(later)  # joins the exported set from now on
    second = scrape()
    assert val(second, "tcpkeep_connections", port=str(port), direction="in",
               state="established") == 0
    assert val(second, "tcpkeep_connections", port=str(port), direction="in",
               state="listen") == 0
    assert val(second, "tcpkeep_transitions_total", port=str(later), direction="out",
               from_state="syn_sent", to_state="established") == 3
    # every series of the first scrape is still there, ports included
    lost = [k for k in first if k not in second and k[0] != "tcpkeep_transitions_total"]
    assert not lost, lost
    check_bound(second)
