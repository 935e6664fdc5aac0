# SPDX-License-Identifier: GPL-2.0-only
"""`tcpkeep audit` against the real kernel: idle times of real connections
in their histogram slots and buckets, the keepalive class read back from
each socket (off, kernel default, policy, other), a writer stuck
retransmitting to a vanished peer listed with its process and then reaped
by the policy's user timeout, a real Dovecot's sessions, every key of
`audit --json` in the README, and bad command lines. Needs root. Ports
27xxx; loopback, or namespaces and a veth pair the test makes
(10.213.9.0/30, MailNet's 10.213.7.0/24), all removed at the end.

Kernels: the audit iterator (iter/tcp) is there from 5.9, so every
listing is asserted on every kernel the vm tests boot. What 5.10 lacks is
bpf_setsockopt from an iterator (5.15): a policy pinned or set after a
connection opened cannot reach it. The tests assert that documented
degradation there (said once, the connection keeps its options, the audit
still shows it as it was) and, on every kernel, reap a stuck writer with
a policy that was in place before its connection was made."""
import collections
import json
import math
import os
import re
import select
import socket
import subprocess
import sys
import time

import pytest

from conftest import (CAN, LACKS, ROOT, TCPKEEP, keepalive_options, leftovers, quiet_port,
                      run_tcpkeep, tk_programs)
from mailnet import MailNet, list_namespaces, ns_path, purge_stale, unique_prefix

HERE = os.path.dirname(os.path.abspath(__file__))
HELPER = os.path.join(HERE, "audithold.py")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
PIN_DIR = "/sys/fs/bpf/tcpkeep"
KERNEL_DEFAULT = (0, 7200, 75, 9, 0)
SRV_ADDR, CLI_ADDR = "10.213.9.1", "10.213.9.2"
VANISH_TABLE = "tk_audit_vanish"
CLASSES = ("off", "kernel_default", "policy", "other")


def want(idle, intvl, cnt, user_timeout=None):
    """The options a policy gives a connection (user timeout by default
    idle + intvl * cnt)."""
    ut = idle + intvl * cnt if user_timeout is None else user_timeout
    return (1, idle, intvl, cnt, ut * 1000)


# ---------------------------------------------------------------- running it

def audit(*args, stuck_after=None):
    """`tcpkeep audit --json ARGS`: the object it printed."""
    extra = ["--stuck-after", str(stuck_after)] if stuck_after else []
    p = run_tcpkeep("audit", "--json", *extra, *args)
    assert p.returncode == 0, (args, p.returncode, p.stderr)
    assert p.stderr == "", p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 1, p.stdout
    out = json.loads(lines[0])
    assert out["audit"]["available"] is True and out["audit"]["error"] is None, out["audit"]
    return out


def audit_row(out, port, direction):
    for r in out["audit"]["rows"]:
        if (r["port"], r["direction"]) == (port, direction):
            return r
    return None


def classes(r):
    return {k: (r["keepalive"][k] if r else 0) for k in CLASSES}


def conns(out, what="oldest_idle", **match):
    """The connections of list what (oldest_idle, stuck) whose fields equal match."""
    return [c for c in out["audit"][what] if match.items() <= c.items()]


def the_conn(out, what="oldest_idle", **match):
    found = conns(out, what, **match)
    assert len(found) == 1, (match, json.dumps(out["audit"][what])[:3000])
    return found[0]


def slot(idle_s):
    """The histogram slot's low_s of an idle time: 0 for [0, 2), else 2^k."""
    return 0 if idle_s < 2 else 1 << int(math.log2(idle_s))


@pytest.fixture
def nothing_pinned(root):
    """Nothing pinned before and after the test, whatever happens in it."""
    run_tcpkeep("unpin")
    try:
        yield
    finally:
        p = run_tcpkeep("unpin")
        assert p.returncode == 0, p.stderr
    assert not os.path.exists(PIN_DIR), "pins left behind"


def pin(*args):
    p = run_tcpkeep("pin", *args)
    assert p.returncode == 0, (args, p.stderr)
    return p


class Sockets:
    """Listeners and connections on loopback, all closed at the end."""

    def __init__(self):
        self.all = []

    def listener(self, port):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(16)
        self.all.append(s)
        return s

    def connect(self, srv):
        """A connection to listener srv: (client end, accepted end)."""
        c = socket.create_connection(srv.getsockname(), timeout=10)
        s, _ = srv.accept()
        self.all += [c, s]
        return c, s

    def close(self):
        for s in self.all:
            s.close()


@pytest.fixture
def sockets():
    s = Sockets()
    try:
        yield s
    finally:
        s.close()


def exchange(c, s):
    """A byte each way: both ends have just received data (and its ACK)."""
    c.sendall(b"q")
    assert s.recv(1) == b"q"
    s.sendall(b"a")
    assert c.recv(1) == b"a"


# ---------------------------------------------------------------- namespaces

class Holder:
    """A tests/audithold.py process in a namespace: commands in, JSON out."""

    def __init__(self, ns, name, tag):
        cmd = ["nsenter", f"--net={ns_path(ns)}", "--", PYTHON, HELPER,
               "--name", name, "--tag", tag]
        self.name = name
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    @property
    def pid(self):
        return self.proc.pid

    def cmd(self, *words, timeout=180):
        line = " ".join(str(w) for w in words)
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        answer = self.proc.stdout.readline() if ready else ""
        if not answer:
            raise AssertionError(f"{self.name} gave no answer to {line!r}: {self.kill()}")
        reply = json.loads(answer)
        assert "error" not in reply, (self.name, line, reply)
        return reply

    def options(self, i):
        return tuple(self.cmd("options", i)["options"])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        err = "" if self.proc.stderr.closed else self.proc.stderr.read()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()
        return err


class Pair:
    """Two namespaces joined by a veth pair: a writer (server) in one, a
    reader (client) in the other, each a tests/audithold.py process."""

    def __init__(self):
        self.tag = f"tka-{os.getpid()}"
        self.srv_ns, self.cli_ns = f"{self.tag}-srv", f"{self.tag}-cli"
        self.holders = []
        self.made = []
        for ns in (self.srv_ns, self.cli_ns):
            # one left by a run of the same pid that was killed: not ours to keep
            if os.path.exists(ns_path(ns)):
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            subprocess.run(["ip", "netns", "add", ns], check=True)
            self.made.append(ns)
            subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "link", "add", "tka-srv", "netns", self.srv_ns, "type", "veth",
                        "peer", "name", "tka-cli", "netns", self.cli_ns], check=True)
        for ns, dev, addr in ((self.srv_ns, "tka-srv", SRV_ADDR),
                              (self.cli_ns, "tka-cli", CLI_ADDR)):
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                            f"net.ipv6.conf.{dev}.disable_ipv6=1"], capture_output=True)
            subprocess.run(["ip", "-n", ns, "addr", "add", f"{addr}/30", "dev", dev], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", dev, "up"], check=True)
        self.server = self.holder(self.srv_ns, "tk-audit-writer")
        self.client = self.holder(self.cli_ns, "tk-audit-reader")
        self.srv_inode = os.stat(ns_path(self.srv_ns)).st_ino
        assert self.server.cmd("netns")["inode"] == self.srv_inode

    def holder(self, ns, name):
        h = Holder(ns, name, self.tag)
        self.holders.append(h)
        return h

    def connect(self, port):
        """A connection from the client to the server's listener on port:
        (the server's index of it, the client's local port)."""
        c = self.client.cmd("connect", SRV_ADDR, port)
        s = self.server.cmd("accept")
        assert s["peer_port"] == c["local_port"]
        return s["index"], c["local_port"]

    def vanish(self, client_port):
        """The client's namespace drops everything arriving for client_port:
        that peer is gone without a word, the others stay."""
        have = subprocess.run(["ip", "netns", "exec", self.cli_ns, "nft", "list", "table",
                               "inet", VANISH_TABLE], capture_output=True).returncode == 0
        if not have:
            rules = (f"table inet {VANISH_TABLE} {{\n"
                     "  chain input {\n"
                     "    type filter hook input priority -300; policy accept;\n"
                     "  }\n"
                     "}\n")
            subprocess.run(["ip", "netns", "exec", self.cli_ns, "nft", "-f", "-"],
                           input=rules, text=True, check=True)
        subprocess.run(["ip", "netns", "exec", self.cli_ns, "nft", "add", "rule", "inet",
                        VANISH_TABLE, "input", "tcp", "dport", str(client_port), "counter",
                        "drop"], check=True)

    def stuck_writer(self, port):
        """A connection whose client vanished and whose server then wrote
        until its send buffer was full: (server index, client port)."""
        i, cport = self.connect(port)
        self.vanish(cport)
        assert self.server.cmd("fill", i)["sent"] > 0
        return i, cport

    def cleanup(self):
        for h in self.holders:
            h.kill()
        for ns in self.made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def leftovers(self):
        return leftovers(self.tag, "audithold.py")


@pytest.fixture
def pair(root):
    p = Pair()
    try:
        yield p
    finally:
        p.cleanup()
    # the vanish table went with the client's namespace
    assert p.leftovers() == ([], []), "namespaces or processes left behind"


def wait_stuck(client_port, *args, timeout=120, stuck_after=2):
    """Audit until the server end of the connection from client_port is
    listed as stuck; that audit's output and the listed connection."""
    deadline = time.monotonic() + timeout
    while True:
        out = audit("--netns", *args, stuck_after=stuck_after)
        found = conns(out, "stuck", remote_port=client_port)
        if found:
            assert len(found) == 1, found
            return out, found[0]
        assert time.monotonic() < deadline, json.dumps(out["audit"])[:4000]
        time.sleep(0.5)


# ---------------------------------------------------------------- 1: idle times

@pytest.mark.vm
def test_idle_times_land_in_their_slot_and_buckets(root, sockets):
    """Two loopback connections: one quiet for about 2.5 s, one that has
    just exchanged data. Each end's idle time lies between what the test's
    own clock allows, the row's histogram and buckets count exactly the
    listed idle times, and nothing is over 10 min."""
    port = quiet_port(27001)
    srv = sockets.listener(port)
    old_c, old_s = sockets.connect(srv)
    exchange(old_c, old_s)
    t_old = time.monotonic()
    time.sleep(2.5)
    new_c, new_s = sockets.connect(srv)
    exchange(new_c, new_s)
    t_new = time.monotonic()
    out = audit("-p", str(port))
    t_end = time.monotonic()
    # the audit read the sockets between t_new and t_end; delayed ACKs
    # and jiffies may make an idle time a little shorter, never longer
    slack = 0.3
    ends = {"old": (old_c, old_s, t_old), "new": (new_c, new_s, t_new)}
    idle = {}
    for name, (c, s, t) in ends.items():
        for direction, sock in (("in", s), ("out", c)):
            conn = the_conn(out, port=port, direction=direction,
                            local_port=sock.getsockname()[1],
                            remote_port=sock.getpeername()[1])
            assert conn["state"] == "ESTABLISHED" and conn["keepalive"] == "off", conn
            assert conn["stuck"] is False and conn["retransmits"] == 0, conn
            assert conn["pid"] == os.getpid(), conn
            assert t_new - t - slack <= conn["idle_s"] <= t_end - t + 0.05, (name, conn)
            idle[name, direction] = conn["idle_s"]
    for direction in ("in", "out"):
        assert idle["new", direction] < idle["old", direction]
        if t_end - t_old < 4:
            # quiet for 2.5 s and read within 4 s: slot [2, 4)
            assert slot(idle["old", direction]) == 2, idle
        if t_end - t_new < 2:
            assert slot(idle["new", direction]) == 0, idle

    for direction in ("in", "out"):
        r = audit_row(out, port, direction)
        mine = [idle[n, direction] for n in ("old", "new")]
        assert r["established"] == 2
        assert classes(r) == {"off": 2, "kernel_default": 0, "policy": 0, "other": 0}
        hist = {(b["low_s"], b["high_s"]): b["count"] for b in r["idle"]["histogram"]}
        expected = collections.Counter((slot(v), 2 if slot(v) == 0 else 2 * slot(v))
                                       for v in mine)
        assert hist == dict(expected), (r["idle"], mine)
        buckets = r["idle"]["buckets"]
        assert list(buckets) == ["60", "600", "3600", "21600", "86400", "+Inf"]
        for le, n in buckets.items():
            assert n == (2 if le == "+Inf" else sum(v <= int(le) for v in mine)), (le, r)
        assert buckets["60"] == 2, "idle for seconds: in the first bucket"
        for over in ("over_10m", "over_1h", "over_1d"):
            assert r["idle"][over] == 0, r["idle"]
        assert abs(r["idle"]["sum_s"] - sum(mine)) < 0.01, (r["idle"], mine)
        assert r["stuck"] == {"count": 0, "oldest_s": 0.0}
        # keepalive off: a dead peer here is never reaped, whatever the policy would do
        assert r["today"] == {"never_reaped": 2, "reap_within_s": None}
        assert r["would"]["source"] == "default"
        assert r["would"]["probe_now"] == 0 and r["would"]["probe_within_idle"] == 2
    # longest idle first
    listed = [c["idle_s"] for c in out["audit"]["oldest_idle"] if c["port"] == port]
    assert listed == sorted(listed, reverse=True)


# ---------------------------------------------------------------- 2: classes

def class_conns(sockets, srv):
    """On listener srv: an accepted end with keepalive off, one with
    SO_KEEPALIVE only (the kernel's times), one with the application's own
    TCP_KEEPIDLE=77. Clients set nothing. {class: (client, accepted)}."""
    made = {}
    for name in ("off", "kernel_default", "other"):
        c, s = sockets.connect(srv)
        if name != "off":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if name == "other":
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 77)
        made[name] = (c, s)
    return made


def server_end(out, port, s):
    return the_conn(out, port=port, direction="in", local_port=port,
                    remote_port=s.getpeername()[1])


@pytest.mark.vm
def test_keepalive_classes_read_back_from_the_sockets(nothing_pinned, sockets, tcpkeep):
    """Off, SO_KEEPALIVE alone, an application's own TCP_KEEPIDLE, and a
    connection made after the pinned policy of the port was set: counted
    off, kernel_default, other and policy. `audit -k` only weighs a
    policy, it changes and classifies nothing by it. A `run` with the
    policy classifies its own frames by it, and at attach gives it to the
    connections already open where the kernel can (5.15), as said."""
    port, other_port = quiet_port(27011), quiet_port(27031)
    spec = f"{port}:idle=41,intvl=6,cnt=4"
    srv = sockets.listener(port)
    made = class_conns(sockets, srv)
    before = {k: (keepalive_options(c), keepalive_options(s)) for k, (c, s) in made.items()}
    assert before["kernel_default"][1] == (1, 7200, 75, 9, 0)
    assert before["other"][1] == (1, 77, 75, 9, 0)

    # nothing pinned: -k is what would be, not what is
    out = audit("-p", str(port), "-k", spec)
    r = audit_row(out, port, "in")
    assert classes(r) == {"off": 1, "kernel_default": 1, "policy": 0, "other": 1}, r
    assert classes(audit_row(out, port, "out")) == {"off": 3, "kernel_default": 0,
                                                   "policy": 0, "other": 0}
    assert r["would"] == {"source": "given", "idle": 41, "intvl": 6, "cnt": 4,
                          "user_timeout": 65, "probe_now": 0, "probe_within_idle": 3,
                          "reap_within_s": 65}, r["would"]
    # one with keepalive off would never be reaped: no "within" for the row
    assert r["today"] == {"never_reaped": 1, "reap_within_s": None}, r["today"]
    for name, (c, s) in made.items():
        assert server_end(out, port, s)["keepalive"] == name
    assert {k: (keepalive_options(c), keepalive_options(s))
            for k, (c, s) in made.items()} == before, "the audit changed an option"
    assert not os.path.exists(PIN_DIR)

    # pinned for another port, then the port's policy for new connections only
    pin("--no-defaults", "-k", f"{other_port}:idle=30")
    p = run_tcpkeep("policy", "set", spec)
    assert p.returncode == 0, p.stderr
    c, s = sockets.connect(srv)
    made["policy"] = (c, s)
    assert keepalive_options(s) == keepalive_options(c) == want(41, 6, 4)
    out = audit("-p", str(port))
    r = audit_row(out, port, "in")
    assert r["established"] == 4
    assert classes(r) == {"off": 1, "kernel_default": 1, "policy": 1, "other": 1}, r
    assert classes(audit_row(out, port, "out")) == {"off": 3, "kernel_default": 0,
                                                   "policy": 1, "other": 0}
    assert r["would"]["source"] == "policy" and r["would"]["idle"] == 41, r["would"]
    for name, (c, s) in made.items():
        conn = server_end(out, port, s)
        assert conn["keepalive"] == name, conn
        assert (conn["keepalive_idle"], conn["keepalive_intvl"], conn["keepalive_cnt"],
                conn["user_timeout_ms"]) == keepalive_options(s)[1:], conn
    p = run_tcpkeep("unpin")
    assert p.returncode == 0, p.stderr

    # a run with the policy: its frames classify by the run's own policy
    # (the audit is asked for: without --audit a frame says it was not)
    plain = tcpkeep("--no-defaults", "-k", spec, "-p", str(port))
    f = plain.frame_after()
    assert f["audit"]["available"] is False and f["audit"]["error"] == "not asked for", \
        f["audit"]
    assert not f["audit"]["rows"] and not f["audit"]["oldest_idle"], f["audit"]
    plain.stop()
    tk = tcpkeep("--no-defaults", "--audit", "-k", spec, "-p", str(port))
    f = tk.frame_after()
    assert set(f["audit"]) == set(out["audit"]), "frames carry the same audit object"
    fin, fout = audit_row(f, port, "in"), audit_row(f, port, "out")
    if CAN["existing_connections"]:
        assert classes(fin) == {"off": 0, "kernel_default": 0, "policy": 4, "other": 0}, fin
        assert classes(fout) == {"off": 0, "kernel_default": 0, "policy": 4, "other": 0}
        for c, s in made.values():
            assert keepalive_options(s) == keepalive_options(c) == want(41, 6, 4)
    else:
        assert tk.stderr.count(LACKS["existing_connections"]) == 1, tk.stderr
        assert classes(fin) == {"off": 1, "kernel_default": 1, "policy": 1, "other": 1}, fin
        assert classes(fout) == {"off": 3, "kernel_default": 0, "policy": 1, "other": 0}
        for name in ("off", "kernel_default", "other"):
            assert keepalive_options(made[name][1]) == before[name][1], name
    assert tk.stop() == 0


# ---------------------------------------------------------------- 3: stuck writers

@pytest.mark.vm
def test_stuck_writer_listed_with_its_process_then_reaped(nothing_pinned, pair):
    """A server in a namespace of its own writes to a client that vanished
    (the client's namespace drops what arrives for it): retransmitting
    without an ACK, it is listed as stuck with the server's pid and
    command, and its age grows. A pinned policy with a user timeout then
    reaps it where the kernel can set open connections (5.15); on 5.10 it
    stays, as said. A second one, made once the policy is in place, is
    reaped by the user timeout on every kernel: the server's recv() fails
    with ETIMEDOUT and it is gone from the list."""
    port = quiet_port(27101)
    pair.server.cmd("listen", SRV_ADDR, port)
    first, first_port = pair.stuck_writer(port)
    out1, look1 = wait_stuck(first_port, "-p", str(port))
    expect = {"netns": pair.srv_inode, "family": "ipv4", "local": SRV_ADDR,
              "local_port": port, "remote": CLI_ADDR, "port": port, "direction": "in",
              "state": "ESTABLISHED", "stuck": True, "keepalive": "off",
              "user_timeout_ms": 0, "pid": pair.server.pid, "command": "tk-audit-writer"}
    assert expect.items() <= look1.items(), look1
    assert look1["retransmits"] > 0 and look1["backoff"] > 0 and look1["unacked"] > 0, look1
    assert look1["no_ack_s"] >= 2 and look1["retransmitting_s"] > 0, look1
    r = audit_row(out1, port, "in")
    assert r["stuck"]["count"] == 1 and r["stuck"]["oldest_s"] == look1["retransmitting_s"]
    # --netns: the connection's namespace has its row
    assert [n for n in out1["netns_rows"] if n["netns"] == pair.srv_inode
            and (n["port"], n["direction"]) == (port, "in")]
    # the client's end is in its own namespace, idle, not stuck
    client_end = the_conn(out1, direction="out", local_port=first_port)
    assert client_end["stuck"] is False and client_end["pid"] == pair.client.pid
    assert client_end["netns"] != pair.srv_inode

    time.sleep(0.5)
    out2, look2 = wait_stuck(first_port, "-p", str(port))
    assert out2["monotonic"] > out1["monotonic"]
    for age in ("no_ack_s", "retransmitting_s", "idle_s"):
        assert look2[age] > look1[age], (age, look1, look2)
    assert look2["inode"] == look1["inode"] and look2["pid"] == look1["pid"]
    # a default --stuck-after (10 s) may not list it yet; 1 s does, every time
    assert conns(audit("--netns", "-p", str(port), stuck_after=1), "stuck",
                 remote_port=first_port)

    p = pin("--no-defaults", "-k", f"{port}:idle=600,intvl=60,cnt=5,user-timeout=6")
    if CAN["existing_connections"]:
        assert pair.server.options(first) == want(600, 60, 5, 6)
        assert pair.server.cmd("wait_error", first, 180)["errno"] == "ETIMEDOUT"
    else:
        assert p.stderr.count(LACKS["existing_connections"]) == 1, p.stderr
        assert pair.server.options(first) == KERNEL_DEFAULT
        # past the user timeout it would have had: still there, still stuck
        assert pair.server.cmd("wait_error", first, 8)["errno"] is None
        _, still = wait_stuck(first_port, "-p", str(port))
        assert still["keepalive"] == "off" and still["user_timeout_ms"] == 0, still

    # made under the policy, on every kernel: reaped by its user timeout
    second, second_port = pair.connect(port)
    assert pair.server.options(second) == want(600, 60, 5, 6)
    pair.vanish(second_port)
    assert pair.server.cmd("fill", second)["sent"] > 0
    assert pair.server.cmd("wait_error", second, 180)["errno"] == "ETIMEDOUT"
    out = audit("--netns", "-p", str(port), stuck_after=1)
    gone = [second_port] + ([first_port] if CAN["existing_connections"] else [])
    for cport in gone:
        assert not conns(out, "stuck", remote_port=cport), out["audit"]["stuck"]
        assert not conns(out, "oldest_idle", remote_port=cport, direction="in")
    if not CAN["existing_connections"]:
        assert conns(out, "stuck", remote_port=first_port)


@pytest.mark.vm
def test_stuck_writer_under_a_policy_shows_it_then_goes(nothing_pinned, pair):
    """Under a pinned policy with a user timeout of 8 s, a writer to a
    vanished peer shows in the frames of `top --audit --stuck-after 2`
    as stuck with the policy's keepalive, then is gone from them once the
    kernel aborted it (ETIMEDOUT in the server)."""
    port = quiet_port(27121)
    pin("--no-defaults", "-k", f"{port}:idle=600,intvl=60,cnt=5,user-timeout=8")
    pair.server.cmd("listen", SRV_ADDR, port)
    i, cport = pair.connect(port)
    top = subprocess.Popen([TCPKEEP, "top", "--json", "--audit", "--stuck-after", "2",
                            "-i", "0.3", "-p", str(port)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pair.vanish(cport)
        assert pair.server.cmd("fill", i)["sent"] > 0
        seen, frames = [], 0
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            ready, _, _ = select.select([top.stdout], [], [], 60)
            line = top.stdout.readline() if ready else ""
            assert line, f"no frame from top after {frames}"
            f = json.loads(line)
            frames += 1
            listed = conns(f, "stuck", remote_port=cport)
            if listed:
                seen.append(listed[0])
            elif seen:
                break
        assert seen, f"never listed as stuck in {frames} frames"
        assert not conns(f, "stuck", remote_port=cport)
        c = seen[-1]
        assert (c["keepalive"], c["user_timeout_ms"], c["pid"], c["command"]) == \
            ("policy", 8000, pair.server.pid, "tk-audit-writer"), c
        assert c["retransmitting_s"] >= seen[0]["retransmitting_s"]
        # the kernel aborts it once retransmitting for the user timeout
        assert c["retransmitting_s"] < 8 + 2, c
        assert audit_row(f, port, "in") is None or audit_row(f, port, "in")["stuck"]["count"] == 0
        assert pair.server.cmd("wait_error", i, 60)["errno"] == "ETIMEDOUT"
    finally:
        top.kill()
        top.communicate()


# ---------------------------------------------------------------- 4: Dovecot

IMAP, POP3 = 27143, 27110


@pytest.fixture
def mailnet(root):
    purge_stale("tka")
    prefix = unique_prefix("tka")
    with MailNet(IMAP, POP3, prefix) as net:
        yield net
    assert list_namespaces(prefix) == [], "MailNet left its namespaces"


def session(out, net, client):
    """The server's end of a mail client's session, as listed."""
    return the_conn(out, netns=os.stat(ns_path(net.srv_ns)).st_ino,
                    local_port=client.server_port, remote_port=client.local_port)


@pytest.mark.vm
def test_dovecot_sessions_kernel_default_then_policy(nothing_pinned, mailnet):
    """Logged-in IMAP and POP3 sessions of a real Dovecot: its SO_KEEPALIVE
    without times is kernel_default, held by the imap or pop3 process.
    With tcpkeep's policy pinned on those ports new sessions are policy;
    the open ones become policy too where the kernel can (5.15)."""
    ports = f"{IMAP},{POP3}"
    clients = {"imap": mailnet.imap_client(), "pop3": mailnet.pop3_client()}
    dovecot = {p.pid: p.comm for p in mailnet.dovecot_pids()}
    out = audit("-p", ports)
    for proto, client in clients.items():
        r = audit_row(out, client.server_port, "in")
        assert r["established"] == 1 and classes(r)["kernel_default"] == 1, r
        # imaplib and poplib set no keepalive
        assert classes(audit_row(out, client.server_port, "out"))["off"] == 1
        conn = session(out, mailnet, client)
        assert conn["keepalive"] == "kernel_default", conn
        assert (conn["keepalive_idle"], conn["keepalive_intvl"],
                conn["keepalive_cnt"]) == (7200, 75, 9), conn
        assert conn["pid"] in dovecot, (conn, dovecot)
        # after login the session's socket is the mail process's, not the login one's
        assert conn["command"] == proto == dovecot[conn["pid"]], (conn, dovecot)
        assert r["today"] == {"never_reaped": 0, "reap_within_s": 7200 + 75 * 9}
        assert r["would"]["source"] == "default"

    p = pin("--no-defaults", "-k", f"{ports}:idle=120,intvl=10,cnt=3")
    fresh = {"imap": mailnet.imap_client(), "pop3": mailnet.pop3_client()}
    out = audit("-p", ports)
    for proto in ("imap", "pop3"):
        r = audit_row(out, clients[proto].server_port, "in")
        assert r["established"] == 2, r
        if CAN["existing_connections"]:
            assert classes(r) == {"off": 0, "kernel_default": 0, "policy": 2, "other": 0}, r
        else:
            assert classes(r) == {"off": 0, "kernel_default": 1, "policy": 1, "other": 0}, r
        new = session(out, mailnet, fresh[proto])
        assert (new["keepalive"], new["keepalive_idle"], new["user_timeout_ms"]) == \
            ("policy", 120, 150000), new
        assert new["command"] == proto, new
        old = session(out, mailnet, clients[proto])
        assert old["keepalive"] == ("policy" if CAN["existing_connections"]
                                    else "kernel_default"), old
        assert r["would"]["source"] == "policy" and r["would"]["idle"] == 120
        assert r["today"]["reap_within_s"] == (150 if CAN["existing_connections"]
                                               else 7200 + 75 * 9), r["today"]
    if not CAN["existing_connections"]:
        assert p.stderr.count(LACKS["existing_connections"]) == 1, p.stderr


# ---------------------------------------------------------------- 5: README

def readme_section(heading_has):
    """The README's section under the first heading containing heading_has,
    up to the next heading of the same or a higher level; None if none."""
    with open(os.path.join(ROOT, "README.md")) as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"(#+)\s", line)
        if m and heading_has in line:
            level = len(m.group(1))
            end = next((j for j in range(i + 1, len(lines))
                        if re.match(rf"#{{1,{level}}}\s", lines[j])), len(lines))
            return "\n".join(lines[i:end])
    return None


def keys_of(v, path=""):
    """{(path, key)} of every key in v, recursively; lists by "[]"."""
    found = set()
    if isinstance(v, dict):
        for k, x in v.items():
            found.add((path, k))
            found |= keys_of(x, f"{path}.{k}" if path else k)
    elif isinstance(v, list):
        for x in v:
            found |= keys_of(x, path + "[]")
    return found


# what audit --json shares with the frames, documented in the JSON section
SHARED = {"time", "monotonic", "netns", "netns_rows", "policy"}


def mentioned(key, text):
    return re.search(rf"(?<![\w+-]){re.escape(key)}(?![\w-])", text) is not None


@pytest.mark.vm
def test_every_audit_json_key_is_in_the_readme(root, pair):
    """Every key `audit --json` writes, from a real run with rows, an idle
    connection and a stuck one, is named in the README's section on
    `audit --json`: that section's heading has "audit --json". The keys
    it shares with the frames (time, monotonic, netns, netns_rows, policy
    and theirs) may be named in the JSON section instead."""
    port = quiet_port(27201)
    pair.server.cmd("listen", SRV_ADDR, port)
    _, cport = pair.stuck_writer(port)
    out, _ = wait_stuck(cport, "-p", str(port), stuck_after=1)
    assert out["audit"]["rows"] and out["audit"]["oldest_idle"] and out["audit"]["stuck"]
    assert any(r["would"]["source"] != "off" for r in out["audit"]["rows"])
    keys = keys_of(out)
    section = readme_section("audit --json")
    assert section is not None, "README.md has no section whose heading has 'audit --json'"
    frames = readme_section("## JSON") or ""
    def shared(path, k):
        return (path or k).split(".")[0].split("[")[0] in SHARED and mentioned(k, frames)

    missing = sorted(f"{path}.{k}" if path else k for path, k in keys
                     if not mentioned(k, section) and not shared(path, k))
    assert not missing, f"not in the README's audit --json section: {missing}"


# ---------------------------------------------------------------- 6: bad input

@pytest.mark.parametrize("args", [
    ["audit", "--stuck-after", "0"],
    ["audit", "--stuck-after", "86401"],
    ["audit", "--stuck-after", "soon"],
    ["audit", "--stuck-after"],
    ["audit", "-k", "99999"],
    ["audit", "-k", "0"],
    ["audit", "-k", "27301:idle=0"],
    ["audit", "-k", "27301:bogus=1"],
    ["audit", "-p", "0"],
    ["audit", "--interval", "1"],
    ["audit", "-i", "1"],
    ["audit", "-c", "1"],
    ["audit", "--audit"],
    ["audit", "--apply-existing"],
    ["audit", "--listen", "127.0.0.1:27399"],
    ["audit", "extra"],
    ["run", "--stuck-after", "0"],
    ["top", "--stuck-after", "-1"],
])
def test_bad_audit_usage_exits_2_and_changes_nothing(root, sockets, args):
    port = quiet_port(27301)
    srv = sockets.listener(port)
    c, s = sockets.connect(srv)
    pinned = os.path.exists(PIN_DIR)
    progs = set(tk_programs())
    p = subprocess.run([TCPKEEP, *args], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, (args, p.returncode, p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tcpkeep: "), p.stderr
    assert p.stdout == ""
    assert keepalive_options(s) == keepalive_options(c) == KERNEL_DEFAULT
    assert os.path.exists(PIN_DIR) == pinned
    assert not set(tk_programs()) - progs, "a program was loaded"
    # nothing bound either
    probe = socket.socket()
    try:
        assert probe.connect_ex(("127.0.0.1", 27399)) != 0
    finally:
        probe.close()


@pytest.mark.vm
def test_namespace_with_keepalive_time_0_is_audited(root, pair):
    """A namespace may set net.ipv4.tcp_keepalive_time to 0: its
    connections are audited all the same (tcpkeep learns HZ from another
    sysctl), their effective idle 0."""
    port = quiet_port(27211)
    pair.server.cmd("listen", SRV_ADDR, port)
    subprocess.run(["ip", "netns", "exec", pair.srv_ns, "sysctl", "-qw",
                    "net.ipv4.tcp_keepalive_time=0"], check=True)
    _, cport = pair.connect(port)
    out = audit("--netns", "-p", str(port))
    srv_end = the_conn(out, direction="in", remote_port=cport)
    assert srv_end["netns"] == pair.srv_inode and srv_end["keepalive_idle"] == 0, srv_end
    assert srv_end["keepalive"] == "off" and srv_end["pid"] == pair.server.pid
    assert the_conn(out, direction="out", local_port=cport)["keepalive_idle"] == 7200
    for direction in ("in", "out"):
        assert audit_row(out, port, direction)["established"] == 1, direction
