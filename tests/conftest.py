# SPDX-License-Identifier: GPL-2.0-only
"""Shared pieces of tcpkeep's tests: running the real binary as root
against the real kernel, and checking that nothing is left behind."""
import contextlib
import ctypes
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TCPKEEP = os.path.join(ROOT, "build", "tcpkeep")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "vm: a kernel-facing test that `make vmtest` also runs in a guest "
        "under each Debian kernel")


def kernel_version():
    """(major, minor) of the running kernel."""
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return int(m.group(1)), int(m.group(2))


KERNEL = kernel_version()
# What the running kernel can do, by the floors in the README's kernel
# table: the tests' own expectation, which tcpkeep (probing by loading)
# must meet. Where a kernel lacks one, tcpkeep must say this, once.
CAN = {
    "lifetimes": KERNEL >= (5, 12),
    "dead_peers": KERNEL >= (5, 14),
    "existing_connections": KERNEL >= (5, 15),
}
# the observer's programs: without lifetimes (a kernel before 5.12) the
# tp_btf pair is the one built without compare-and-exchange
OBSERVER_PROGS = {"set_state": "tk_set_state_btf", "nested": "tk_nested_btf"}
if not CAN["lifetimes"]:
    OBSERVER_PROGS = {k: v + "_nl" for k, v in OBSERVER_PROGS.items()}
LACKS = {
    "lifetimes": "this kernel lacks BPF compare-and-exchange (needs Linux 5.12): "
                 "no lifetimes",
    "dead_peers": "this kernel lacks the sock:inet_sk_error_report tracepoint "
                  "(needs Linux 5.14): dead peers are not counted",
    "existing_connections": "this kernel lacks bpf_setsockopt from a socket iterator "
                            "(needs Linux 5.15): connections opened before now keep "
                            "their options",
}


def sysctl_path(name):
    return "/proc/sys/" + name.replace(".", "/")


@contextlib.contextmanager
def sysctl_at_least(name, value):
    """Raise an integer sysctl to at least value for the block, then put
    the old value back. Tests set what they rely on: a 2 GiB guest has
    tcp_max_tw_buckets 8192, and past it sockets skip TIME_WAIT."""
    path = sysctl_path(name)
    with open(path) as f:
        old = f.read().strip()
    if int(old) < value:
        with open(path, "w") as f:
            f.write(str(value))
    try:
        yield
    finally:
        with open(path, "w") as f:
            f.write(old)


@pytest.fixture
def time_wait_room():
    """Room for the TIME_WAIT sockets a test counts, whatever came before."""
    with sysctl_at_least("net.ipv4.tcp_max_tw_buckets", 262144):
        yield


def unavailable(why):
    """A test whose prerequisite is missing (root, a tool, a clean host):
    skipped where a developer runs it, a failure in CI, never a skip that
    looks green there."""
    if os.environ.get("CI"):
        pytest.fail(why + "; CI must run this test")
    pytest.skip(why)


def need_root():
    """Tests that attach BPF need root."""
    if os.geteuid() != 0:
        unavailable("needs root: run the tests with sudo")


@pytest.fixture
def root():
    need_root()


def prog_ids_of(pid):
    """IDs of the BPF programs process pid holds an fd of (from fdinfo)."""
    ids = set()
    fdinfo = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(fdinfo):
        try:
            with open(os.path.join(fdinfo, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def tk_programs(pid=None):
    """{id: name} of loaded BPF programs of tcpkeep (tk_ prefix), only
    those process pid holds if given."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], check=True,
                         capture_output=True, text=True).stdout
    mine = prog_ids_of(pid) if pid is not None else None
    return {p["id"]: p["name"] for p in json.loads(out or "[]")
            if p.get("name", "").startswith("tk_")
            and (mine is None or p["id"] in mine)}


def sockops_attached(cg):
    """[{"id", "name"}] of the sockops programs attached to cgroup cg (not
    inherited), asked of the kernel with BPF_PROG_QUERY: bpftool 7.1's
    `cgroup show` fails on 5.10 once a program is attached by a link."""
    bpf_prog_query, bpf_cgroup_sock_ops, nr_bpf = 16, 3, 321
    ids = (ctypes.c_uint32 * 64)()
    attr = ctypes.create_string_buffer(32)
    fd = os.open(cg, os.O_RDONLY | os.O_DIRECTORY)
    try:
        # target_fd, attach_type, query_flags, attach_flags, prog_ids, prog_cnt
        struct.pack_into("<IIIIQI", attr, 0, fd, bpf_cgroup_sock_ops, 0, 0,
                         ctypes.addressof(ids), len(ids))
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syscall(nr_bpf, bpf_prog_query, attr, len(attr)) != 0:
            raise OSError(ctypes.get_errno(), f"BPF_PROG_QUERY {cg}")
    finally:
        os.close(fd)
    count = struct.unpack_from("<I", attr, 24)[0]
    out = subprocess.run(["bpftool", "-j", "prog", "show"], check=True,
                         capture_output=True, text=True).stdout
    names = {p["id"]: p.get("name", "") for p in json.loads(out or "[]")}
    return [{"id": i, "name": names.get(i, "")} for i in ids[:count]]


def programs_gone(ids, timeout=10):
    """True once none of the program ids is loaded. The kernel frees a
    program asynchronously after its last reference goes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not set(ids) & set(tk_programs()):
            return True
        time.sleep(0.1)
    return False


def ephemeral_range():
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo, hi = f.read().split()
    return int(lo), int(hi)


def ports_in_use():
    """Local and remote ports of every TCP socket here, any state."""
    used = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            next(f)
            for line in f:
                local, remote = line.split()[1:3]
                used.add(int(local.rsplit(":", 1)[1], 16))
                used.add(int(remote.rsplit(":", 1)[1], 16))
    return used


def quiet_port(start, span=200):
    """A port from [start, start+span) that no socket uses (not even in
    TIME_WAIT from an earlier run), for tests that count current states."""
    used = ports_in_use()
    for p in range(start, start + span):
        if p not in used:
            return p
    raise AssertionError(f"no quiet port in {start}..{start + span}")


def cgroup2_root():
    """Where cgroup v2 is mounted (/sys/fs/cgroup/unified on hybrid hosts)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            if right.split()[0] == "cgroup2":
                return left.split()[4]
    raise AssertionError("no cgroup2 mount")


def keepalive_options(s):
    """(SO_KEEPALIVE, KEEPIDLE, KEEPINTVL, KEEPCNT, USER_TIMEOUT ms) of s."""
    tcp = socket.IPPROTO_TCP
    return (s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            s.getsockopt(tcp, socket.TCP_KEEPIDLE),
            s.getsockopt(tcp, socket.TCP_KEEPINTVL),
            s.getsockopt(tcp, socket.TCP_KEEPCNT),
            s.getsockopt(tcp, socket.TCP_USER_TIMEOUT))


def set_own_options(s):
    """Keepalive options an application chose for itself; what getsockopt
    then reads back."""
    tcp = socket.IPPROTO_TCP
    s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    s.setsockopt(tcp, socket.TCP_KEEPIDLE, 1234)
    s.setsockopt(tcp, socket.TCP_KEEPINTVL, 23)
    s.setsockopt(tcp, socket.TCP_KEEPCNT, 4)
    s.setsockopt(tcp, socket.TCP_USER_TIMEOUT, 56000)
    return (1, 1234, 23, 4, 56000)


def accepted_options(srv):
    """Options of the accepted end of a new connection to listener srv."""
    c = socket.create_connection(srv.getsockname(), timeout=10)
    s, _ = srv.accept()
    try:
        return keepalive_options(s)
    finally:
        s.close()
        c.close()


def run_tcpkeep(*args, timeout=60):
    """Run tcpkeep with args to the end; the CompletedProcess (text)."""
    return subprocess.run([TCPKEEP, *args], capture_output=True, text=True,
                          timeout=timeout)


class LoopbackConn:
    """A fresh listener on loopback and one connection to it."""

    def __init__(self, port, family=socket.AF_INET):
        host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        self.srv = socket.socket(family, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind((host, port))
        self.srv.listen(8)
        self.client = socket.create_connection((host, port), timeout=10)
        self.server, _ = self.srv.accept()

    def ends(self):
        """Keepalive options of the accepted and the initiating end."""
        return keepalive_options(self.server), keepalive_options(self.client)

    def close(self):
        for s in (self.client, self.server, self.srv):
            s.close()


def loopback_connections(port, n):
    """n connections to a listener on 127.0.0.1:port, each closed by the
    client first, then the server."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)
    try:
        for _ in range(n):
            c = socket.create_connection(("127.0.0.1", port))
            s, _ = srv.accept()
            c.close()
            s.close()
    finally:
        srv.close()


class Tcpkeep:
    """A running `tcpkeep run --json`: waits until attached, reads frames,
    stops with SIGTERM. Always killed at the end of the test."""

    def __init__(self, *args, interval=0.2, timeout=30, binary=TCPKEEP, env=None):
        cmd = [binary, "run", "--json", "-i", str(interval), *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.buffers = {self.proc.stdout.fileno(): b"", self.proc.stderr.fileno(): b""}
        self.stderr = ""
        self.interval = interval
        deadline = time.monotonic() + timeout
        while "attached" not in self.stderr:
            line = self._readline(self.proc.stderr, deadline)
            if line is None:
                self.kill()
                raise AssertionError("tcpkeep did not attach: " + self.stderr)
            self.stderr += line

    def _readline(self, pipe, deadline):
        """One line from pipe, or None at EOF or deadline. Reads raw bytes
        into our own buffer: select() cannot see what a buffered reader
        already pulled in."""
        fd = pipe.fileno()
        while b"\n" not in self.buffers[fd]:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self.buffers[fd] += chunk
        line, self.buffers[fd] = self.buffers[fd].split(b"\n", 1)
        return line.decode() + "\n"

    def frame(self, timeout=30):
        line = self._readline(self.proc.stdout, time.monotonic() + timeout)
        assert line is not None, "no frame from tcpkeep: " + self.stderr
        return json.loads(line)

    def frame_after(self, t=None, timeout=30):
        """The first frame whose snapshot was taken after time t
        (CLOCK_MONOTONIC, as time.monotonic()); default: now."""
        t = time.monotonic() if t is None else t
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            f = self.frame(timeout)
            if f["monotonic"] > t:
                return f
        raise AssertionError("no fresh frame from tcpkeep")

    def programs(self):
        """{id: name} of the BPF programs this tcpkeep holds."""
        return tk_programs(self.proc.pid)

    def stop(self, sig=signal.SIGTERM):
        """SIGTERM (or sig), then the exit code. The pipes are drained
        meanwhile: a tcpkeep blocked writing frames nobody read could not exit."""
        err_fd = self.proc.stderr.fileno()
        self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=30)
        self.stderr += (self.buffers[err_fd] + err).decode()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def tcpkeep(root):
    """Start tcpkeep with tcpkeep(*args); every instance is killed at the end."""
    started = []

    def start(*args, **kw):
        t = Tcpkeep(*args, **kw)
        started.append(t)
        return t

    yield start
    for t in started:
        t.kill()


def row(frame, port, direction):
    for r in frame["rows"]:
        if r["port"] == port and r["direction"] == direction:
            return r
    return None


def trans(frame, port, direction, name):
    r = row(frame, port, direction)
    return r["transitions"].get(name, 0) if r else 0


def leftovers(tag, script):
    """What a test's namespaces (named TAG-...) and holder processes
    (SCRIPT ... --tag TAG) left behind: (namespace names, pids)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True,
                            text=True).stdout
    ours = [l.split()[0] for l in listed.splitlines() if l.startswith(tag + "-")]
    procs = subprocess.run(["pgrep", "-f", f"{script} .*--tag {tag}$"],
                           capture_output=True, text=True).stdout.split()
    return ours, procs

