# SPDX-License-Identifier: GPL-2.0-only
"""End-to-end "vanished mail client" fixture with a real Dovecot server.

Topology (everything is private to the test and torn down afterwards)::

    netns {prefix}-srv                      netns {prefix}-cli
    dovecot (imap + pop3)                   python imaplib/poplib client
    veth-srv 10.213.7.1/24  <---- veth ---->  veth-cli 10.213.7.2/24

No traffic ever leaves these two namespaces: the only routes are the
connected /24 on the veth pair and loopback.

Typical use::

    with MailNet(14143, 14110, unique_prefix("mnx")) as net:
        cli = net.imap_client()            # logged in, holding the socket
        net.vanish_client()                # client's ingress now drops all
        conns = net.server_conns(14143)    # what the server kernel believes

Requires root, iproute2, nftables, util-linux nsenter, dovecot-imapd and
dovecot-pop3d.  Commands are run in a namespace with
``nsenter --net=/run/netns/NAME`` (unlike ``ip netns exec`` it does not
remount /sys, so /sys/fs/bpf stays visible).

Dovecot 2.3 sets SO_KEEPALIVE on its inet listeners (seen with strace:
setsockopt(SO_KEEPALIVE) before bind()), so every accepted IMAP/POP3 socket
inherits it, with no TCP_KEEPIDLE/INTVL/CNT: `ss -tno` on the server shows
timer:(keepalive,119min,0), the kernel default 7200 s.  Without a policy a
vanished client is therefore only reaped after ~2 h 11 min (7200 + 9 * 75 s).
"""

from __future__ import annotations

import atexit
import dataclasses
import grp
import os
import pwd
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import Callable, Iterable, List, Optional, Sequence, TypeVar

_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin",
                                "/sbin", "/usr/bin", "/bin"])


def tool(name: str) -> str:
    """Absolute path of a system tool (also looks in the sbin dirs), or name if not found."""
    return shutil.which(name, path=_SEARCH_PATH) or name


PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
DOVECOT = tool("dovecot")
NETNS_DIR = "/run/netns"

DEFAULT_SERVER_ADDR = "10.213.7.1"
DEFAULT_CLIENT_ADDR = "10.213.7.2"
DEFAULT_PREFIXLEN = 24
SRV_IF = "veth-srv"
CLI_IF = "veth-cli"

TEST_USER = "mailtest"
TEST_PASSWORD = "mailnet-pw"

# Account the mail (post-login imap/pop3) processes run as.
MAIL_USER = "nobody"
MAIL_GROUP = "nogroup"

VANISH_TABLE = "mailnet_vanish"

T = TypeVar("T")


class MailNetError(RuntimeError):
    """Raised when the fixture cannot be set up or a namespaced command fails."""


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

_counter = 0


def unique_prefix(tag: str = "mn") -> str:
    """Return a namespace-name prefix unique to this process: '{tag}{pid}-{n}'."""
    global _counter
    _counter += 1
    return f"{tag}{os.getpid()}-{_counter}"


def wait_until(fn: Callable[[], T], timeout: float, interval: float = 0.1) -> Optional[T]:
    """Poll fn() until it returns a truthy value or timeout elapses; return the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def ns_path(name: str) -> str:
    """Path of the bind-mounted namespace file created by `ip netns add NAME`."""
    return os.path.join(NETNS_DIR, name)


def ns_argv(ns: str, argv: Sequence[str]) -> List[str]:
    """Argument vector that runs argv inside network namespace ns (via nsenter --net)."""
    argv = [str(a) for a in argv]
    if argv and "/" not in argv[0]:
        argv[0] = tool(argv[0])
    return [tool("nsenter"), f"--net={ns_path(ns)}", "--", *argv]


def list_namespaces(prefix: str = "") -> List[str]:
    """Names of named network namespaces (in /run/netns) starting with prefix."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(prefix))


def _proc_stat(pid: int) -> Optional[List[str]]:
    """Fields 3.. of /proc/PID/stat (state, ppid, ...), or None if the pid does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # the comm field (2) may contain spaces/parens
    return data[data.rfind(")") + 2:].split()


def _proc_start_time(pid: int) -> Optional[str]:
    rest = _proc_stat(pid)
    return rest[19] if rest and len(rest) > 19 else None   # field 22: starttime


@dataclasses.dataclass(frozen=True)
class ProcId:
    """A process identity that survives pid reuse (pid + kernel start time)."""

    pid: int
    start: Optional[str]
    comm: str = ""

    def exists(self) -> bool:
        """True if this very process still has a /proc entry (running or zombie)."""
        rest = _proc_stat(self.pid)
        return bool(rest) and len(rest) > 19 and rest[19] == self.start

    def alive(self) -> bool:
        """True if this very process exists and is not a zombie."""
        rest = _proc_stat(self.pid)
        return bool(rest) and len(rest) > 19 and rest[19] == self.start and rest[0] != "Z"


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def netns_pids(ns: str) -> List[ProcId]:
    """Processes whose network namespace is the named namespace ns (like `ip netns pids`)."""
    try:
        st = os.stat(ns_path(ns))
    except OSError:
        return []
    key = (st.st_dev, st.st_ino)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            pst = os.stat(f"/proc/{pid}/ns/net")
        except OSError:
            continue
        if (pst.st_dev, pst.st_ino) == key:
            found.append(ProcId(pid, _proc_start_time(pid), _comm(pid)))
    return found


def _kill(procs: Iterable[ProcId], sig: int) -> None:
    for p in procs:
        if p.alive():
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass


def kill_namespace_processes(ns: str, grace: float = 2.0) -> None:
    """SIGTERM every process inside ns, then SIGKILL whatever is left after grace seconds."""
    def alive():
        return [p for p in netns_pids(ns) if p.alive()]
    procs = alive()
    if not procs:
        return
    _kill(procs, signal.SIGTERM)
    if wait_until(lambda: not alive(), grace, 0.05):
        return
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:   # also catches children forked meanwhile
        left = alive()
        if not left:
            return
        _kill(left, signal.SIGKILL)
        time.sleep(0.05)


def delete_namespace(ns: str) -> None:
    """Kill everything inside ns and delete it (its veth end disappears with it)."""
    if not os.path.exists(ns_path(ns)):
        return
    kill_namespace_processes(ns)
    subprocess.run([tool("ip"), "netns", "delete", ns], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)


_STALE_RE = re.compile(r"^(?P<tag>[A-Za-z_]+)(?P<pid>\d+)-\d+-(srv|cli)$")
_STALE_TMP_RE = re.compile(r"^mailnet-(?P<tag>[A-Za-z_]+)(?P<pid>\d+)-\d+-")
TMP_ROOT = "/tmp"


def purge_stale(tag: str) -> List[str]:
    """Remove leftovers of killed runs: '{tag}{pid}-N-srv/cli' namespaces (and their
    processes) and /tmp/mailnet-{tag}{pid}-N-* dirs whose creating pid is gone."""
    removed = []
    for name in list_namespaces(tag):
        m = _STALE_RE.match(name)
        if not m or m.group("tag") != tag or os.path.exists(f"/proc/{m.group('pid')}"):
            continue
        delete_namespace(name)
        removed.append(name)
    for name in os.listdir(TMP_ROOT):
        m = _STALE_TMP_RE.match(name)
        if not m or m.group("tag") != tag or os.path.exists(f"/proc/{m.group('pid')}"):
            continue
        shutil.rmtree(os.path.join(TMP_ROOT, name), ignore_errors=True)
        removed.append(os.path.join(TMP_ROOT, name))
    return removed


# --------------------------------------------------------------------------
# ss parsing
# --------------------------------------------------------------------------

def parse_ss_duration(text: str) -> Optional[float]:
    """Convert an ss timer value ('119min', '1min30sec', '4.512ms' = 4.512 s, '200ms') to seconds."""
    if text == "":
        return 0.0
    m = re.fullmatch(r"(?:(\d+)min)?(?:(\d+)(sec|\.))?(?:(\d+)ms)?", text)
    if not m:
        return None
    minutes, secs, sep, ms = m.groups()
    total = int(minutes or 0) * 60.0 + int(secs or 0)
    if ms:
        total += int(ms) / 1000.0
    return total


def _split_hostport(s: str):
    host, _, port = s.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return host, int(port)
    except ValueError:
        return host, None


@dataclasses.dataclass
class Conn:
    """One TCP socket as reported by `ss -tanoH` (optionally with -p)."""

    state: str                       # "ESTAB", "LISTEN", "CLOSE-WAIT", ...
    recv_q: int
    send_q: int
    local_addr: str
    local_port: Optional[int]
    peer_addr: str
    peer_port: Optional[int]
    timer_name: Optional[str]        # "keepalive", "on", "persist", "timewait", ... or None
    timer_expires: Optional[float]   # seconds until the timer fires (None if no timer)
    timer_count: Optional[int]       # retransmits / keepalive probes sent so far
    users: Optional[str]             # the users:((...)) text if -p was used
    raw: str

    @property
    def established(self) -> bool:
        return self.state == "ESTAB"

    @property
    def keepalive(self) -> bool:
        """True if the kernel's keepalive timer is the armed timer on this socket."""
        return self.timer_name == "keepalive"


_TIMER_RE = re.compile(r"timer:\((?P<name>[^,()]*),(?P<exp>[^,()]*),(?P<cnt>\d+)\)")
_USERS_RE = re.compile(r"users:\(\(.*?\)\)")


def parse_ss_line(line: str) -> Optional[Conn]:
    """Parse one line of `ss -tanoH [-p]` output into a Conn (None if unparsable)."""
    parts = line.split()
    if len(parts) < 5:
        return None
    state, recv_q, send_q, local, peer = parts[:5]
    laddr, lport = _split_hostport(local)
    paddr, pport = _split_hostport(peer)
    tm = _TIMER_RE.search(line)
    um = _USERS_RE.search(line)
    try:
        rq, sq = int(recv_q), int(send_q)
    except ValueError:
        return None
    return Conn(
        state=state, recv_q=rq, send_q=sq,
        local_addr=laddr, local_port=lport, peer_addr=paddr, peer_port=pport,
        timer_name=tm.group("name") if tm else None,
        timer_expires=parse_ss_duration(tm.group("exp")) if tm else None,
        timer_count=int(tm.group("cnt")) if tm else None,
        users=um.group(0) if um else None,
        raw=line.rstrip(),
    )


# --------------------------------------------------------------------------
# client program run inside the client namespace
# --------------------------------------------------------------------------

_CLIENT_SCRIPT = textwrap.dedent(r"""
    import sys, time
    proto, host, port, user, password, hold = sys.argv[1:7]
    port = int(port); hold = float(hold)
    try:
        if proto == "imap":
            import imaplib
            conn = imaplib.IMAP4(host, port, timeout=10)
            conn.login(user, password)
            conn.select("INBOX")
            conn.noop()
            sock = conn.sock
        elif proto == "pop3":
            import poplib
            conn = poplib.POP3(host, port, timeout=10)
            conn.user(user)
            conn.pass_(password)
            conn.stat()
            sock = conn.sock
        else:
            raise SystemExit("unknown protocol " + proto)
    except Exception as exc:
        print("error %s: %r" % (type(exc).__name__, exc), flush=True)
        sys.exit(2)
    # From here on the socket is never touched nor closed by us: we just sleep.
    sock.settimeout(None)
    print("ready %d" % sock.getsockname()[1], flush=True)
    time.sleep(hold)
""")

_PROBE_SCRIPT = textwrap.dedent(r"""
    import socket, sys, time
    host = sys.argv[1]; ports = [int(p) for p in sys.argv[2:-1]]; deadline = time.monotonic() + float(sys.argv[-1])
    pending = list(ports)
    while pending and time.monotonic() < deadline:
        port = pending[0]
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                s.settimeout(2)
                banner = s.recv(512)
            if banner.startswith((b"* OK", b"+OK")):
                pending.pop(0)
                continue
        except OSError:
            pass
        time.sleep(0.05)
    print("ok" if not pending else "timeout %r" % pending, flush=True)
    sys.exit(0 if not pending else 1)
""")


# Dovecot's master leaves some children (e.g. "log") to exit after it does.  If
# they got re-parented to a PID 1 that does not reap (as in some containers),
# they would linger as zombies; so dovecot runs under this small subreaper,
# which forwards SIGTERM/SIGINT/SIGHUP to the master and reaps every
# descendant before exiting with the master's exit code.
_REAPER_SCRIPT = textwrap.dedent(r"""
    import ctypes, os, signal, sys
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)                  # PR_SET_CHILD_SUBREAPER
    libc.prctl(15, b"mailnet-reaper", 0, 0, 0)  # PR_SET_NAME
    argv = sys.argv[1:]
    child = os.fork()
    if child == 0:
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    def forward(sig, frame):
        try:
            os.kill(child, sig)
        except ProcessLookupError:
            pass
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, forward)
    status = 0
    while True:
        try:
            pid, st = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid == child:
            status = os.waitstatus_to_exitcode(st)
    sys.exit(status if status >= 0 else 128 - status)
""")


class MailClient:
    """A logged-in IMAP/POP3 client process in the client namespace that holds its socket open."""

    def __init__(self, proto: str, server_port: int, proc: subprocess.Popen, local_port: int):
        self.proto = proto
        self.server_port = server_port
        self.proc = proc
        self.pid = proc.pid
        self.local_port = local_port   # == peer port of the server-side socket

    def alive(self) -> bool:
        """True while the client process is still running (it never exits on its own before hold)."""
        return self.proc.poll() is None

    def stop(self) -> None:
        """SIGKILL the client process (its kernel then closes the socket)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()

    def __repr__(self) -> str:
        return f"MailClient({self.proto}, pid={self.pid}, local_port={self.local_port})"


# --------------------------------------------------------------------------
# the fixture
# --------------------------------------------------------------------------

_LIVE: "set[MailNet]" = set()


def _cleanup_all() -> None:
    for net in list(_LIVE):
        try:
            net.close()
        except Exception:  # pragma: no cover - best effort at interpreter exit
            pass


atexit.register(_cleanup_all)


class MailNet:
    """Two netns + veth + a private Dovecot (IMAP/POP3) + vanishing-client helpers.

    Use as a context manager (or call start()/close()).  close() is idempotent
    and is also run at interpreter exit for any instance still open.
    """

    def __init__(self, imap_port: int, pop3_port: int, prefix: Optional[str] = None, *,
                 server_addr: str = DEFAULT_SERVER_ADDR, client_addr: str = DEFAULT_CLIENT_ADDR,
                 prefixlen: int = DEFAULT_PREFIXLEN, start_timeout: float = 15.0,
                 hold_seconds: float = 120.0):
        self.imap_port = int(imap_port)
        self.pop3_port = int(pop3_port)
        self.prefix = prefix or unique_prefix()
        self.srv_ns = f"{self.prefix}-srv"
        self.cli_ns = f"{self.prefix}-cli"
        self.srv_if = SRV_IF
        self.cli_if = CLI_IF
        self.server_addr = server_addr
        self.client_addr = client_addr
        self.prefixlen = prefixlen
        self.start_timeout = start_timeout
        self.hold_seconds = hold_seconds
        self.user = TEST_USER
        self.password = TEST_PASSWORD
        self.tmpdir: Optional[str] = None
        self.conf_path: Optional[str] = None
        self.log_path: Optional[str] = None
        self.dovecot: Optional[subprocess.Popen] = None
        self.clients: List[MailClient] = []
        self._popens: List[subprocess.Popen] = []
        self._own_ns: List[str] = []      # namespaces this instance created (and may delete)
        self._started = False
        self._closed = False

    # ---- lifecycle -------------------------------------------------------

    def __enter__(self) -> "MailNet":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> "MailNet":
        """Create namespaces, veth, Dovecot config; start Dovecot and wait until it greets."""
        if self._started:
            return self
        if os.geteuid() != 0:
            raise MailNetError("MailNet needs root")
        if not os.path.exists(DOVECOT):
            raise MailNetError("dovecot binary not found (apt-get install dovecot-imapd dovecot-pop3d)")
        self._started = True
        _LIVE.add(self)
        try:
            self._setup_network()
            self._write_config()
            self._start_dovecot()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Kill clients and Dovecot, delete both namespaces and the temp dir (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            for c in self.clients:
                c.stop()
            if self.dovecot is not None and self.dovecot.poll() is None:
                try:
                    os.kill(self.dovecot.pid, signal.SIGTERM)
                    self.dovecot.wait(timeout=3)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
            for p in self._popens:
                if p.poll() is None:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            # whatever is still in the namespaces (dovecot children, helpers)
            for ns in self._own_ns:
                kill_namespace_processes(ns, grace=1.0)
            for p in self._popens:
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
                for f in (p.stdout, p.stderr, p.stdin):
                    if f:
                        try:
                            f.close()
                        except OSError:
                            pass
            for ns in self._own_ns:
                delete_namespace(ns)
        finally:
            if self.tmpdir and os.path.isdir(self.tmpdir):
                shutil.rmtree(self.tmpdir, ignore_errors=True)
            _LIVE.discard(self)

    # ---- running things in the namespaces --------------------------------

    def run_in(self, ns: str, argv: Sequence[str], *, check: bool = True, timeout: float = 30,
               input: Optional[str] = None) -> subprocess.CompletedProcess:
        """Run argv inside namespace ns (nsenter --net) and return the CompletedProcess (text)."""
        res = subprocess.run(ns_argv(ns, argv), input=input, capture_output=True, text=True,
                             timeout=timeout, check=False)
        if check and res.returncode != 0:
            raise MailNetError(f"in {ns}: {' '.join(map(str, argv))} -> rc={res.returncode}\n"
                               f"stdout: {res.stdout}\nstderr: {res.stderr}")
        return res

    def run_srv(self, argv: Sequence[str], **kw) -> subprocess.CompletedProcess:
        """run_in() the server namespace."""
        return self.run_in(self.srv_ns, argv, **kw)

    def run_cli(self, argv: Sequence[str], **kw) -> subprocess.CompletedProcess:
        """run_in() the client namespace."""
        return self.run_in(self.cli_ns, argv, **kw)

    def popen_in(self, ns: str, argv: Sequence[str], **kw) -> subprocess.Popen:
        """Start argv in ns in its own session; the process is killed by close()."""
        kw.setdefault("start_new_session", True)
        p = subprocess.Popen(ns_argv(ns, argv), **kw)
        self._popens.append(p)
        return p

    # ---- setup internals --------------------------------------------------

    def _ip(self, *args: str) -> None:
        res = subprocess.run([tool("ip"), *args], capture_output=True, text=True, timeout=30)
        if res.returncode != 0:
            raise MailNetError(f"ip {' '.join(args)} failed: {res.stderr.strip()}")

    def _setup_network(self) -> None:
        for ns in (self.srv_ns, self.cli_ns):
            if os.path.exists(ns_path(ns)):
                raise MailNetError(f"namespace {ns} already exists")
        for ns in (self.srv_ns, self.cli_ns):
            self._ip("netns", "add", ns)
            self._own_ns.append(ns)
        # create both veth ends directly inside their namespaces
        self._ip("link", "add", self.srv_if, "netns", self.srv_ns, "type", "veth",
                 "peer", "name", self.cli_if, "netns", self.cli_ns)
        for ns, ifname, addr in ((self.srv_ns, self.srv_if, self.server_addr),
                                 (self.cli_ns, self.cli_if, self.client_addr)):
            # no IPv6 chatter (RS/DAD) on the test link; best effort
            self.run_in(ns, ["sysctl", "-qw", f"net.ipv6.conf.{ifname}.disable_ipv6=1"], check=False)
            self._ip("-n", ns, "addr", "add", f"{addr}/{self.prefixlen}", "dev", ifname)
            self._ip("-n", ns, "link", "set", "lo", "up")
            self._ip("-n", ns, "link", "set", ifname, "up")

    def _write_config(self) -> None:
        self.tmpdir = tempfile.mkdtemp(prefix=f"mailnet-{self.prefix[:24]}-", dir=TMP_ROOT)
        # unprivileged dovecot processes (dovecot, dovenull, nobody) must traverse it
        os.chmod(self.tmpdir, 0o755)
        base_dir = os.path.join(self.tmpdir, "run")
        if len(base_dir) > 60:   # unix socket paths below it must stay < 108 bytes
            raise MailNetError(f"temp dir path too long for dovecot sockets: {base_dir}")
        state_dir = os.path.join(self.tmpdir, "state")
        home = os.path.join(self.tmpdir, "home", self.user)
        os.makedirs(home)
        os.makedirs(state_dir)
        mail_uid = pwd.getpwnam(MAIL_USER).pw_uid
        mail_gid = grp.getgrnam(MAIL_GROUP).gr_gid
        for d in (os.path.dirname(home), home):
            os.chown(d, mail_uid, mail_gid)
            os.chmod(d, 0o700)
        passwd = os.path.join(self.tmpdir, "passwd")
        with open(passwd, "w") as f:
            # user:password:uid:gid:gecos:home:shell:extra_fields
            f.write(f"{self.user}:{{PLAIN}}{self.password}:{mail_uid}:{mail_gid}::{home}::\n")
        # read by the auth process, which runs as default_internal_user (dovecot)
        os.chown(passwd, 0, grp.getgrnam("dovecot").gr_gid)
        os.chmod(passwd, 0o640)
        self.log_path = os.path.join(self.tmpdir, "dovecot.log")
        self.conf_path = os.path.join(self.tmpdir, "dovecot.conf")
        conf = f"""\
# Generated by tests/mailnet.py -- self-contained, does not include /etc/dovecot.
base_dir = {base_dir}
state_dir = {state_dir}
instance_name = mailnet-{self.prefix}
log_path = {self.log_path}
info_log_path = {self.log_path}
debug_log_path = {self.log_path}

protocols = imap pop3
listen = {self.server_addr}

ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login

default_internal_user = dovecot
default_login_user = dovenull
mail_uid = {MAIL_USER}
mail_gid = {MAIL_GROUP}
first_valid_uid = 1
mail_location = maildir:~/Maildir

# the keepalive test keeps a connection idle; never hand it to imap-hibernate
imap_hibernate_timeout = 0
mail_max_userip_connections = 200
verbose_proctitle = yes

passdb {{
  driver = passwd-file
  args = scheme=PLAIN {passwd}
}}
userdb {{
  driver = passwd-file
  args = {passwd}
}}

service imap-login {{
  inet_listener imap {{
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""
        with open(self.conf_path, "w") as f:
            f.write(conf)

    def _start_dovecot(self) -> None:
        out = open(os.path.join(self.tmpdir, "dovecot.stdout"), "wb")
        try:
            self.dovecot = self.popen_in(self.srv_ns, [PYTHON, "-c", _REAPER_SCRIPT,
                                                       DOVECOT, "-F", "-c", self.conf_path],
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)
        finally:
            out.close()
        deadline = time.monotonic() + self.start_timeout
        # 1) both listeners present in the server namespace
        def listening():
            if self.dovecot.poll() is not None:
                raise MailNetError(f"dovecot exited with {self.dovecot.returncode}:\n"
                                   f"{self.dovecot_output()}\n{self.dovecot_log()}")
            ports = {c.local_port for c in self._ss(self.srv_ns, "") if c.state == "LISTEN"}
            return {self.imap_port, self.pop3_port} <= ports
        if not wait_until(listening, self.start_timeout, 0.05):
            raise MailNetError(f"dovecot did not listen within {self.start_timeout}s:\n"
                               f"{self.dovecot_output()}\n{self.dovecot_log()}")
        # 2) a real greeting over the veth from the client namespace
        remaining = max(1.0, deadline - time.monotonic())
        res = self.run_cli([PYTHON, "-c", _PROBE_SCRIPT, self.server_addr,
                            str(self.imap_port), str(self.pop3_port), f"{remaining:.1f}"],
                           check=False, timeout=remaining + 10)
        if res.returncode != 0:
            raise MailNetError(f"dovecot not reachable from client ns: {res.stdout}{res.stderr}\n"
                               f"{self.dovecot_log()}")

    # ---- introspection ----------------------------------------------------

    def dovecot_log(self) -> str:
        """Contents of Dovecot's log file in the temp dir ('' if none)."""
        try:
            with open(self.log_path or "", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def dovecot_output(self) -> str:
        """Dovecot master's stdout/stderr (startup errors land here)."""
        try:
            with open(os.path.join(self.tmpdir or "", "dovecot.stdout"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def dovecot_pids(self) -> List[ProcId]:
        """All processes in the server namespace (reaper wrapper, dovecot master + children)."""
        return netns_pids(self.srv_ns)

    def _ss(self, ns: str, filt: str, processes: bool = False) -> List[Conn]:
        argv = ["ss", "-tanoH"] + (["-p"] if processes else []) + filt.split()
        res = self.run_in(ns, argv, timeout=15)
        conns = []
        for line in res.stdout.splitlines():
            if not line.strip() or line[0].isspace():
                continue
            c = parse_ss_line(line)
            if c:
                conns.append(c)
        return conns

    def server_conns(self, port: int, processes: bool = False) -> List[Conn]:
        """Server-side TCP sockets (all states, incl. LISTEN) with local port == port, with timers."""
        return self._ss(self.srv_ns, f"sport = :{int(port)}", processes)

    def server_established(self, port: int, processes: bool = False) -> List[Conn]:
        """Only the ESTABLISHED server-side sockets on local port == port."""
        return [c for c in self.server_conns(port, processes) if c.established]

    def client_conns(self, port: int) -> List[Conn]:
        """Client-side TCP sockets whose remote port == port."""
        return self._ss(self.cli_ns, f"dport = :{int(port)}")

    # ---- clients ----------------------------------------------------------

    def connect_client(self, proto: str = "imap", timeout: float = 15.0,
                       hold: Optional[float] = None, settle: bool = True) -> MailClient:
        """Start a client in the client ns that logs in (imap|pop3), prints 'ready', then sleeps.

        With settle=True (default) also waits until the connection is idle
        (see wait_idle()), so a following vanish_client() leaves nothing in flight.
        """
        if proto not in ("imap", "pop3"):
            raise ValueError(proto)
        port = self.imap_port if proto == "imap" else self.pop3_port
        hold = self.hold_seconds if hold is None else hold
        proc = self.popen_in(self.cli_ns,
                             [PYTHON, "-u", "-c", _CLIENT_SCRIPT, proto, self.server_addr,
                              str(port), self.user, self.password, str(hold)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self._popens.remove(proc)
        client = MailClient(proto, port, proc, local_port=-1)
        self.clients.append(client)
        line = b""
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            r, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                break
            chunk = os.read(proc.stdout.fileno(), 256)
            if not chunk:
                break
            line += chunk
        text = line.decode(errors="replace").strip()
        if not text.startswith("ready "):
            client.stop()
            err = ""
            try:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            except (OSError, ValueError):
                pass
            raise MailNetError(f"{proto} client did not get ready: {text!r} {err}\n"
                               f"{self.dovecot_log()}")
        client.local_port = int(text.split()[1])
        if settle:
            self.wait_idle(client, timeout=max(1.0, deadline - time.monotonic()))
        return client

    def wait_idle(self, client: MailClient, timeout: float = 5.0) -> Conn:
        """Wait until client's connection is quiet: ESTABLISHED both ends, all data acked.

        Right after a login the last response may still be unacknowledged
        (client delayed ACK), which would leave the server on its retransmit
        timer instead of the keepalive timer.  Returns the server-side Conn.
        """
        def idle():
            srv = self.server_conn_for(client)
            if not srv or not srv.established or srv.send_q or srv.recv_q or srv.timer_name == "on":
                return None
            cli = [c for c in self._ss(self.cli_ns, f"sport = :{client.local_port}")]
            if not cli or not all(c.established and not c.send_q and c.timer_name != "on" for c in cli):
                return None
            return srv
        conn = wait_until(idle, timeout, 0.05)
        if not conn:
            raise MailNetError(f"{client!r} connection did not become idle within {timeout}s: "
                               f"{self.server_conn_for(client)}")
        return conn

    def imap_client(self, **kw) -> MailClient:
        """connect_client('imap')."""
        return self.connect_client("imap", **kw)

    def pop3_client(self, **kw) -> MailClient:
        """connect_client('pop3')."""
        return self.connect_client("pop3", **kw)

    def server_conn_for(self, client: MailClient, processes: bool = False) -> Optional[Conn]:
        """The server-side socket belonging to client (matched by the client's source port)."""
        for c in self.server_conns(client.server_port, processes):
            if c.peer_port == client.local_port and c.state != "LISTEN":
                return c
        return None

    def wait_server_gone(self, client: MailClient, timeout: float) -> bool:
        """Wait until the server holds no ESTABLISHED socket for client (reaped); True if so."""
        def gone():
            c = self.server_conn_for(client)
            return c is None or not c.established
        return bool(wait_until(gone, timeout, 0.1))

    def sysctl(self, ns: str, key: str, value=None) -> str:
        """Read (value=None) or set a sysctl inside ns, e.g. net.ipv4.tcp_keepalive_time."""
        if value is None:
            return self.run_in(ns, ["sysctl", "-n", key]).stdout.strip()
        self.run_in(ns, ["sysctl", "-qw", f"{key}={value}"])
        return str(value)

    # ---- the vanishing act ------------------------------------------------

    def vanish_client(self, drop_output: bool = False) -> None:
        """In the client ns, drop every packet arriving on the client veth (nft input hook).

        The client process keeps its socket open; its kernel simply never sees
        the server's packets again.  With drop_output=True the client's own
        outgoing packets on the veth are dropped as well (a fully silent host).
        """
        rules = [
            f"table inet {VANISH_TABLE} {{",
            "  chain input {",
            "    type filter hook input priority -300; policy accept;",
            f'    iifname "{self.cli_if}" counter drop',
            "  }",
        ]
        if drop_output:
            rules += [
                "  chain output {",
                "    type filter hook output priority -300; policy accept;",
                f'    oifname "{self.cli_if}" counter drop',
                "  }",
            ]
        rules.append("}")
        self.run_cli(["nft", "-f", "-"], input="\n".join(rules) + "\n")

    def unvanish_client(self) -> None:
        """Remove the vanish table again (no-op if absent)."""
        self.run_cli(["nft", "delete", "table", "inet", VANISH_TABLE], check=False)

    def vanish_dropped(self) -> int:
        """Packets dropped so far by the client's vanish input rule (0 if not vanished)."""
        res = self.run_cli(["nft", "list", "chain", "inet", VANISH_TABLE, "input"], check=False)
        m = re.search(r"counter packets (\d+)", res.stdout)
        return int(m.group(1)) if m else 0

    def __repr__(self) -> str:
        return (f"MailNet(imap={self.imap_port}, pop3={self.pop3_port}, srv={self.srv_ns}, "
                f"cli={self.cli_ns}, server_addr={self.server_addr})")
