# SPDX-License-Identifier: GPL-2.0-only
"""The half-open story end to end: a real Dovecot (IMAP and POP3) in one
network namespace, a real client (imaplib, poplib) in another, joined by a
veth pair with private addresses that exist only inside them. After login
the client vanishes: its namespace drops everything arriving for it.

With a short keepalive policy tcpkeep makes the server reap the dead
connection and counts it as a dead peer; without a policy Dovecot's own
SO_KEEPALIVE (kernel defaults, 2 h 11 min) keeps it ESTABLISHED.
Needs root."""
import time

import pytest

from conftest import CAN, row
from mailnet import MailNet, purge_stale, unique_prefix, wait_until

IMAP, POP3, UNPOLICED = 143, 110, 1143
IDLE, INTVL, CNT = 2, 1, 2
DEADLINE = IDLE + INTVL * CNT + 2  # seconds after the client goes quiet


@pytest.fixture
def mailnet(root):
    purge_stale("tkm")
    with MailNet(IMAP, POP3, unique_prefix("tkm")) as net:
        yield net


def dead_peers(tk, port):
    r = row(tk.frame_after(), port, "in")
    return r["keepalive"]["dead_peers"] if r else 0


@pytest.mark.vm
@pytest.mark.parametrize("proto,port", [("imap", IMAP), ("pop3", POP3)])
def test_vanished_client_is_reaped_and_counted(tcpkeep, mailnet, proto, port):
    spec = f"{IMAP},{POP3}:idle={IDLE},intvl={INTVL},cnt={CNT}"
    tk = tcpkeep("--no-defaults", "-k", spec, "-p", f"{IMAP},{POP3}")
    client = mailnet.connect_client(proto)
    conn = mailnet.wait_idle(client)
    # the policy is on the server's socket: a keepalive timer of seconds,
    # not Dovecot's inherited 2 hours
    assert conn.keepalive and conn.timer_expires <= IDLE, conn.raw
    before = dead_peers(tk, port)

    # a lid closed: nothing arrives and nothing leaves (the client's own
    # keepalive, set by the same policy for "out", must not reset it first)
    mailnet.vanish_client(drop_output=True)
    quiet = time.monotonic()
    assert mailnet.wait_server_gone(client, timeout=DEADLINE), \
        mailnet.server_conn_for(client)
    assert time.monotonic() - quiet <= DEADLINE
    assert client.alive(), "the client must vanish, not close"
    assert mailnet.vanish_dropped() >= CNT, "probes never reached the client"
    # Dovecot itself saw its read fail with ETIMEDOUT (it logs a moment later)
    assert wait_until(lambda: "Connection timed out" in mailnet.dovecot_log(), 5), \
        mailnet.dovecot_log()[-2000:]

    f = tk.frame_after()
    r = row(f, port, "in")
    # reaped on every kernel; counted where the kernel has the tracepoint
    assert f["dead_peers_available"] is CAN["dead_peers"]
    assert r["keepalive"]["dead_peers"] == before + CAN["dead_peers"]
    assert r["keepalive"]["applied"] >= 1
    assert not any(r["keepalive"]["errors"].values())
    assert tk.stop() == 0


@pytest.mark.vm
def test_without_policy_the_vanished_client_stays(tcpkeep, mailnet):
    # IMAP has no policy here (exempt), so only Dovecot's own keepalive runs
    tk = tcpkeep("--no-defaults", "-k", f"{IMAP}:off", "-k", f"{UNPOLICED}:idle=1")
    client = mailnet.connect_client("imap")
    conn = mailnet.wait_idle(client)
    assert conn.timer_expires > 3600, conn.raw  # the kernel's 7200 s

    mailnet.vanish_client(drop_output=True)
    time.sleep(DEADLINE + 1)
    conn = mailnet.server_conn_for(client)
    assert conn is not None and conn.established, conn
    assert conn.timer_count == 0, "no probe may have been sent yet"
    f = tk.frame_after()
    r = row(f, IMAP, "in")
    assert r is None or r["keepalive"]["dead_peers"] == 0
    assert tk.stop() == 0
