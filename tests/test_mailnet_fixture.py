# SPDX-License-Identifier: GPL-2.0-only
"""Self-tests of the mailnet fixture (real Dovecot in a netns), without tcpkeep.

Run as root:  /usr/bin/python3 -m pytest tests/test_mailnet_fixture.py -v
"""

import os
import time

import pytest

import mailnet
from conftest import unavailable
from mailnet import MailNet, MailNetError

IMAP_PORT = 14143
POP3_PORT = 14110
TAG = "mnf"              # namespace names: mnf<pid>-<n>-srv / -cli
VANISH_SECONDS = 8.0     # scenario time for the "nothing reaps it" baseline

_missing = [b for b in ("ip", "nft", "nsenter", "ss", "sysctl", "dovecot")
            if not os.path.isabs(mailnet.tool(b))]


@pytest.fixture(scope="module", autouse=True)
def _requirements():
    """Skip (locally) when not root or tools are missing; under CI that is a failure,
    like conftest.need_root(), so a skipped suite never looks green there."""
    why = None
    if os.geteuid() != 0:
        why = "needs root (creates network namespaces, veth, nftables; runs dovecot)"
    elif _missing:
        why = f"missing tools: {', '.join(_missing)} (apt-get install iproute2 nftables " \
              "util-linux dovecot-imapd dovecot-pop3d)"
    if why:
        unavailable(why)
    # namespaces left by an earlier, killed run of this file (creator pid gone)
    mailnet.purge_stale(TAG)
    yield


@pytest.fixture
def net():
    with MailNet(IMAP_PORT, POP3_PORT, mailnet.unique_prefix(TAG)) as n:
        yield n


# connecting from the server namespace to a closed port on the client:
# prints "refused" (client kernel answered with RST) or "timeout" (dropped).
_SYN_PROBE = """
import socket, sys
s = socket.socket()
s.settimeout(float(sys.argv[3]))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("connected")
except ConnectionRefusedError:
    print("refused")
except (socket.timeout, TimeoutError):
    print("timeout")
"""


def _syn_probe(n, timeout=1.5):
    res = n.run_srv([mailnet.PYTHON, "-c", _SYN_PROBE, n.client_addr, "9", str(timeout)],
                    timeout=timeout + 10)
    return res.stdout.strip()


def _assert_server_sees(n, client, port):
    est = n.server_established(port, processes=True)
    mine = [c for c in est if c.peer_port == client.local_port]
    assert len(mine) == 1, f"server-side sockets on :{port}: {[c.raw for c in n.server_conns(port)]}"
    conn = mine[0]
    assert conn.local_addr == n.server_addr and conn.local_port == port
    assert conn.peer_addr == n.client_addr
    return conn


def _assert_logged(n, text, timeout=5.0):
    # Dovecot's log process writes the file asynchronously
    assert mailnet.wait_until(lambda: text in n.dovecot_log(), timeout), n.dovecot_log()


@pytest.mark.parametrize("proto,port", [("imap", IMAP_PORT), ("pop3", POP3_PORT)])
def test_login_established(net, proto, port):
    client = getattr(net, f"{proto}_client")()
    assert client.alive()
    conn = _assert_server_sees(net, client, port)
    # after login the socket belongs to the post-login process of the protocol
    assert conn.users and f'"{proto}"' in conn.users, conn.raw
    _assert_logged(net, f"{proto}-login: Info: Login: user=<{net.user}>")
    # the client end is ESTABLISHED too
    cli = net.client_conns(port)
    assert [c.state for c in cli if c.local_port == client.local_port] == ["ESTAB"]


def test_dovecot_arms_only_kernel_default_keepalive(net):
    """Dovecot 2.3 sets SO_KEEPALIVE on its inet listeners (inherited by accepted
    sockets) but no TCP_KEEPIDLE/INTVL/CNT, so the server socket shows the
    kernel default (tcp_keepalive_time = 7200 s) keepalive timer."""
    idle = net.run_srv(["sysctl", "-n", "net.ipv4.tcp_keepalive_time"]).stdout.strip()
    assert idle == "7200", f"namespace default tcp_keepalive_time is {idle}"
    for client in (net.imap_client(), net.pop3_client()):
        conn = net.server_conn_for(client)
        assert conn is not None and conn.established
        assert conn.keepalive, f"expected a keepalive timer: {conn.raw}"
        assert conn.timer_expires > 100 * 60, conn.raw
    # the python clients do not enable keepalive: no timer on their sockets
    ports = {c.local_port for c in net.clients}
    mine = [c for c in net.client_conns(IMAP_PORT) + net.client_conns(POP3_PORT)
            if c.local_port in ports]
    assert len(mine) == 2
    for c in mine:
        assert c.established and c.timer_name is None, c.raw


def test_vanished_client_stays_established_without_policy(net):
    imap = net.imap_client()
    pop3 = net.pop3_client()
    before = {p: net.server_conn_for(c) for p, c in ((IMAP_PORT, imap), (POP3_PORT, pop3))}

    # sanity: before vanishing, the client kernel answers (RST for a closed port)
    assert _syn_probe(net) == "refused"

    net.vanish_client()

    # the drop is the client's ingress, not the server's egress
    assert net.run_srv(["nft", "list", "ruleset"]).stdout.strip() == ""
    ruleset = net.run_cli(["nft", "list", "ruleset"]).stdout
    assert "hook input" in ruleset and f'iifname "{net.cli_if}"' in ruleset, ruleset
    assert _syn_probe(net) == "timeout"
    assert net.vanish_dropped() >= 1

    time.sleep(VANISH_SECONDS)

    for port, client in ((IMAP_PORT, imap), (POP3_PORT, pop3)):
        assert client.alive(), "client process must keep its socket open"
        conn = _assert_server_sees(net, client, port)
        assert conn.established, conn.raw
        assert conn.send_q == 0 and conn.timer_name != "on", conn.raw
        # still only Dovecot's kernel-default keepalive: nothing probes within minutes
        assert conn.keepalive and conn.timer_expires > 100 * 60, conn.raw
        assert conn.timer_count == 0, conn.raw
        assert (conn.local_port, conn.peer_port) == (before[port].local_port,
                                                      before[port].peer_port)
        cli = [c for c in net.client_conns(port) if c.local_port == client.local_port]
        assert [c.state for c in cli] == ["ESTAB"]


def test_positive_control_namespace_keepalive_reaps_vanished_client(net):
    """Proves the scenario can detect reaping: shorten the server namespace's
    keepalive sysctls (Dovecot already sets SO_KEEPALIVE), then the vanished
    client's connection is dropped by the server after ~2 + 2*1 s. Before the
    vanish, answered probes keep it alive."""
    for key, value in (("tcp_keepalive_time", 2), ("tcp_keepalive_intvl", 1),
                       ("tcp_keepalive_probes", 2)):
        net.sysctl(net.srv_ns, f"net.ipv4.{key}", value)
    imap = net.imap_client()
    pop3 = net.pop3_client()
    time.sleep(3)   # > keepalive_time: probes sent and answered
    for client in (imap, pop3):
        conn = net.server_conn_for(client)
        assert conn and conn.established and conn.keepalive, conn
    net.vanish_client()
    for client in (imap, pop3):
        assert net.wait_server_gone(client, timeout=15), net.server_conn_for(client)
        assert client.alive()
    assert net.vanish_dropped() >= 2          # the unanswered probes
    _assert_logged(net, "failed: Connection timed out")
    # the client never saw anything: its end is still ESTABLISHED (half-open)
    cli = [c for c in net.client_conns(IMAP_PORT) if c.local_port == imap.local_port]
    assert [c.state for c in cli] == ["ESTAB"]


def _snapshot(n):
    procs = set(n.dovecot_pids())
    procs |= {mailnet.ProcId(c.pid, mailnet._proc_start_time(c.pid)) for c in n.clients}
    return procs


def _procs_mentioning(text):
    hits = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    hits.append(int(pid))
        except OSError:
            pass
    return hits


def _assert_gone(n, procs):
    assert mailnet.list_namespaces(n.prefix) == []
    # strict: not even a zombie may be left behind
    left = [p for p in procs if p.exists()]
    assert left == [], f"processes survived cleanup: {left}"
    assert _procs_mentioning(n.conf_path) == []
    assert not os.path.exists(n.tmpdir)


def test_cleanup_leaves_nothing():
    n = MailNet(IMAP_PORT, POP3_PORT, mailnet.unique_prefix(TAG))
    with n:
        n.imap_client()
        n.pop3_client()
        n.vanish_client()
        procs = _snapshot(n)
        assert any(p.comm == "dovecot" for p in procs)
        assert any(p.comm == "imap" for p in procs) and any(p.comm == "pop3" for p in procs)
        assert set(mailnet.list_namespaces(n.prefix)) == {n.srv_ns, n.cli_ns}
    _assert_gone(n, procs)
    n.close()   # idempotent
    _assert_gone(n, procs)


def test_cleanup_after_failure_inside_block():
    n = MailNet(IMAP_PORT, POP3_PORT, mailnet.unique_prefix(TAG))
    with pytest.raises(ZeroDivisionError):
        with n:
            n.imap_client()
            procs = _snapshot(n)
            1 / 0
    _assert_gone(n, procs)


def test_cleanup_after_failed_start():
    # same port twice: dovecot cannot bind the second listener and exits
    n = MailNet(IMAP_PORT, IMAP_PORT, mailnet.unique_prefix(TAG), start_timeout=5)
    with pytest.raises(MailNetError):
        n.start()
    assert mailnet.list_namespaces(n.prefix) == []
    assert _procs_mentioning(n.conf_path) == []
    assert not os.path.exists(n.tmpdir)
