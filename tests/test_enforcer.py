# SPDX-License-Identifier: GPL-2.0-only
"""The enforcer against the real kernel: options seen through getsockopt
on both ends, exemptions, live policy changes, existing connections, bad
specs. Needs root. Ports 22xxx, loopback only."""
import json
import os
import re
import socket
import struct
import subprocess

import pytest

from conftest import (CAN, LACKS, TCPKEEP, LoopbackConn, accepted_options,
                      keepalive_options, ports_in_use, row, set_own_options)

KERNEL_DEFAULT = (0, 7200, 75, 9, 0)


def policy_of(idle, intvl, cnt, user_timeout_s):
    return (1, idle, intvl, cnt, user_timeout_s * 1000)


@pytest.mark.vm
@pytest.mark.parametrize("spec,expected", [
    ("idle=77,intvl=11,cnt=3", policy_of(77, 11, 3, 77 + 11 * 3)),
    ("idle=10,intvl=5,cnt=2,user-timeout=45", policy_of(10, 5, 2, 45)),
    ("cnt=7", policy_of(300, 60, 7, 300 + 60 * 7)),
    ("user-timeout=0", (1, 300, 60, 5, 0)),
])
def test_policy_reaches_both_ends_not_the_listener(tcpkeep, spec, expected):
    port = 22001
    tk = tcpkeep("--no-defaults", "-k", f"{port}:{spec}", "-p", str(port))
    c = LoopbackConn(port)
    try:
        # the listener keeps its own: children would inherit anything put there
        assert keepalive_options(c.srv) == KERNEL_DEFAULT
        assert keepalive_options(c.server) == expected
        assert keepalive_options(c.client) == expected
    finally:
        c.close()
    f = tk.frame_after()
    for direction in ("in", "out"):
        ka = row(f, port, direction)["keepalive"]
        assert ka["applied"] == 1 and not any(ka["errors"].values()), ka
    assert tk.stop() == 0


@pytest.mark.vm
def test_ports_without_policy_off_and_no_defaults_are_untouched(tcpkeep):
    tk = tcpkeep("--no-defaults", "-k", "22011-22013:idle=50", "-k", "22012:off")
    conns = {p: LoopbackConn(p) for p in (22011, 22012, 22014)}
    try:
        assert keepalive_options(conns[22011].server)[:2] == (1, 50)
        assert keepalive_options(conns[22011].client)[:2] == (1, 50)
        for p in (22012, 22014):  # off, and no policy at all
            for s in (conns[p].server, conns[p].client, conns[p].srv):
                assert keepalive_options(s) == KERNEL_DEFAULT, p
    finally:
        for c in conns.values():
            c.close()
    f = tk.frame_after()
    assert [p["port"] for p in f["policy"]] == [22011, 22012, 22013]
    assert {"port": 22012, "off": True} in f["policy"]
    assert tk.stop() == 0


@pytest.mark.vm
def test_builtin_defaults_cover_the_mail_ports(tcpkeep):
    tk = tcpkeep()
    f = tk.frame()
    table = {p["port"]: p for p in f["policy"]}
    assert sorted(table) == [110, 143, 993, 995]
    for p in table.values():
        assert (p["idle"], p["intvl"], p["cnt"], p["user_timeout"]) == (300, 60, 5, 600)
    assert tk.stop() == 0
    tk = tcpkeep("--no-defaults", "-k", "22021")
    assert [p["port"] for p in tk.frame()["policy"]] == [22021]
    assert tk.stop() == 0


@pytest.mark.vm
def test_ipv6_connections_get_the_policy(tcpkeep):
    port = 22031
    tk = tcpkeep("--no-defaults", "-k", f"{port}:idle=33")
    c = LoopbackConn(port, socket.AF_INET6)
    try:
        assert keepalive_options(c.server)[:2] == (1, 33)
        assert keepalive_options(c.client)[:2] == (1, 33)
    finally:
        c.close()
    assert tk.stop() == 0


def set_options(s, opts):
    """Set (SO_KEEPALIVE, KEEPIDLE, KEEPINTVL, KEEPCNT, USER_TIMEOUT ms) on
    s; None leaves that option alone."""
    tcp = socket.IPPROTO_TCP
    names = ((socket.SOL_SOCKET, socket.SO_KEEPALIVE), (tcp, socket.TCP_KEEPIDLE),
             (tcp, socket.TCP_KEEPINTVL), (tcp, socket.TCP_KEEPCNT),
             (tcp, socket.TCP_USER_TIMEOUT))
    for (level, name), value in zip(names, opts):
        if value is not None:
            s.setsockopt(level, name, value)


def listener(port, opts=None):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if opts:
        set_options(srv, opts)
    srv.bind(("127.0.0.1", port))
    srv.listen(8)
    return srv


def ss_ms(text):
    """Milliseconds of an ss timer: 1min49sec, 49sec, 4.123ms (4.123 s), 123ms."""
    m = re.fullmatch(r"(?:(\d+)min)?(?:(\d+)(?:sec|\.))?(?:(\d+)ms)?", text)
    assert m and text, text
    mins, secs, ms = (int(g or 0) for g in m.groups())
    return (mins * 60 + secs) * 1000 + ms


def keepalive_timer_ms(port, end):
    """Time left on the keepalive timer of the one established connection
    of port, its accepted end ("server") or its initiating one ("client");
    None when no keepalive timer is armed."""
    side = "sport" if end == "server" else "dport"
    out = subprocess.run(["ss", "-Htno", "state", "established", f"( {side} = :{port} )"],
                         check=True, capture_output=True, text=True).stdout
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    m = re.search(r"timer:\(keepalive,([^,]+),", lines[0])
    return ss_ms(m.group(1)) if m else None


# An application's own options, option by option equal to or different
# from the policy below (None: not set): the connection ends with the
# policy whatever the listener had, and only what differs needs setting.
OWN_VS_POLICY = {
    "equal": (1, 61, 7, 3, 82000),
    "keepalive-off": (None, 61, 7, 3, 82000),
    "keepalive-off-explicitly": (0, 61, 7, 3, 82000),
    "idle": (1, 7000, 7, 3, 82000),
    "intvl": (1, 61, 70, 3, 82000),
    "cnt": (1, 61, 7, 9, 82000),
    "user-timeout": (1, 61, 7, 3, 5000),
    "cnt-and-user-timeout": (1, 61, 7, 4, None),
    "keepalive-only": (1, None, None, None, None),
}
POLICY = "idle=61,intvl=7,cnt=3,user-timeout=82"


@pytest.mark.vm
@pytest.mark.parametrize("case", OWN_VS_POLICY)
def test_connections_end_with_the_policy_whatever_the_listener_had(tcpkeep, case):
    """Two connections: the enforcer learns HZ from the first idle time it
    sets, so the second compares the times too."""
    port = 22071
    own = OWN_VS_POLICY[case]
    want = policy_of(61, 7, 3, 82)
    tk = tcpkeep("--no-defaults", "-k", f"{port}:{POLICY}", "-p", str(port))
    srv = listener(port, own)
    had = keepalive_options(srv)
    try:
        for n in range(2):
            client = socket.socket()
            set_options(client, own)
            client.settimeout(10)
            client.connect(("127.0.0.1", port))
            server, _ = srv.accept()
            try:
                assert keepalive_options(server) == want, n
                assert keepalive_options(client) == want, n
                assert keepalive_options(srv) == had
                for end in ("server", "client"):
                    left = keepalive_timer_ms(port, end)
                    assert left is not None and left <= 61000, (n, end, left)
            finally:
                client.close()
                server.close()
    finally:
        srv.close()
    f = tk.frame_after()
    for direction in ("in", "out"):
        ka = row(f, port, direction)["keepalive"]
        assert ka["applied"] == 2 and not any(ka["errors"].values()), ka
    assert tk.stop() == 0


@pytest.mark.vm
def test_listener_options_changed_after_attach_do_not_reach_connections(tcpkeep):
    """The application changes its listener's options after listen() and
    after tcpkeep attached: every new connection still ends with the
    policy, and the listener keeps each change."""
    port = 22081
    want = policy_of(61, 7, 3, 82)
    srv = listener(port)
    try:
        tk = tcpkeep("--no-defaults", "-k", f"{port}:{POLICY}")
        steps = [None, OWN_VS_POLICY["equal"], OWN_VS_POLICY["idle"],
                 (0, None, None, None, None), (1, 61, None, None, 0), (None, 5, 5, 5, 5000)]
        for n, opts in enumerate(steps, 1):
            if opts:
                set_options(srv, opts)
            had = keepalive_options(srv)
            assert accepted_options(srv) == want, (n, had)
            assert keepalive_options(srv) == had
        f = tk.frame_after()
        ka = row(f, port, "in")["keepalive"]
        assert ka["applied"] == len(steps) and not any(ka["errors"].values()), ka
        assert tk.stop() == 0
    finally:
        srv.close()


@pytest.mark.vm
@pytest.mark.parametrize("own_idle", [None, 7000, 61])
def test_the_keepalive_timer_runs_on_the_policy_idle(tcpkeep, own_idle):
    """A listener with SO_KEEPALIVE on arms its child's keepalive timer at
    the clone with its own idle; the child's timer must run on the
    policy's. Without SO_KEEPALIVE, the timer tcpkeep arms must too."""
    port = 22091
    tk = tcpkeep("--no-defaults", "-k", f"{port}:idle=61,intvl=7,cnt=3")
    srv = listener(port, None if own_idle is None else (1, own_idle, None, None, None))
    try:
        for n in range(2):  # the second after HZ is learnt
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            s, _ = srv.accept()
            try:
                for end in ("server", "client"):
                    left = keepalive_timer_ms(port, end)
                    assert left is not None and 50000 < left <= 61000, (n, end, left)
            finally:
                c.close()
                s.close()
    finally:
        srv.close()
    assert tk.stop() == 0


def map_id(pid, name):
    """ID of the BPF map called name that process pid holds."""
    out = json.loads(subprocess.run(["bpftool", "-j", "map", "show"], check=True,
                                    capture_output=True, text=True).stdout)
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("map_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    found = [m["id"] for m in out if m["id"] in ids and m.get("name") == name]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.vm
def test_policy_change_reaches_the_next_connection_without_restart(tcpkeep):
    port = 22041
    tk = tcpkeep("--no-defaults", "-k", f"{port}:idle=40")
    c = LoopbackConn(port)
    assert keepalive_options(c.server)[1] == 40
    c.close()
    # change the policy in the map, as a dashboard or `tcpkeep policy` would
    mid = map_id(tk.proc.pid, "policy")
    key = struct.pack("<H", port)
    value = struct.pack("<5I", 90, 9, 4, 0, 0)
    subprocess.run(["bpftool", "map", "update", "id", str(mid), "key", "hex",
                    *[f"{b:02x}" for b in key], "value", "hex",
                    *[f"{b:02x}" for b in value]], check=True)
    c = LoopbackConn(port)
    try:
        assert keepalive_options(c.server) == (1, 90, 9, 4, 0)
        assert keepalive_options(c.client) == (1, 90, 9, 4, 0)
    finally:
        c.close()
    assert tk.stop() == 0


@pytest.mark.vm
def test_a_listener_keeps_its_own_options_after_run_stops(tcpkeep):
    """What an application set on its listener is what its connections get
    once tcpkeep is gone, and what a port without policy gets meanwhile."""
    port = 22061
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    own = set_own_options(srv)
    srv.bind(("127.0.0.1", port))
    srv.listen(8)
    try:
        tk = tcpkeep("--no-defaults", "-k", f"{port}:idle=13")
        assert accepted_options(srv)[:2] == (1, 13)
        assert keepalive_options(srv) == own
        assert tk.stop() == 0
        assert accepted_options(srv) == own
    finally:
        srv.close()


@pytest.mark.vm
def test_existing_connections_are_updated_at_attach(tcpkeep):
    port = 22051
    c = LoopbackConn(port)
    try:
        assert keepalive_options(c.server) == KERNEL_DEFAULT
        tk = tcpkeep("--no-defaults", "-k", f"{port}:idle=21,intvl=7,cnt=2", "-p", str(port))
        want = policy_of(21, 7, 2, 35)
        if not CAN["existing_connections"]:
            # the kernel cannot: both ends keep what they had, as said
            assert c.ends() == (KERNEL_DEFAULT, KERNEL_DEFAULT)
            assert tk.stderr.count(LACKS["existing_connections"]) == 1, tk.stderr
            assert tk.stop() == 0
            return
        assert keepalive_options(c.server) == want
        assert keepalive_options(c.client) == want
        assert keepalive_options(c.srv) == KERNEL_DEFAULT
        # the accepted end + the initiating end; never the listener
        assert "keepalive policy set on 2 existing sockets (0 failed)" in tk.stderr
        f = tk.frame()
        assert row(f, port, "in")["keepalive"]["applied"] == 1
        assert row(f, port, "out")["keepalive"]["applied"] == 1
        assert tk.stop() == 0
    finally:
        c.close()


@pytest.mark.vm
def test_existing_connections_with_keepalive_of_their_own_get_the_policy_timer(tcpkeep):
    """Existing connections whose ends run keepalive on their own idle
    (their timers armed long ago) end with the policy's options and a
    timer on the policy's idle."""
    port = 22101
    srv = listener(port)
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    s, _ = srv.accept()
    try:
        own = set_own_options(s)
        set_own_options(c)
        tk = tcpkeep("--no-defaults", "-k", f"{port}:idle=61,intvl=7,cnt=3", "-p", str(port))
        if not CAN["existing_connections"]:
            assert (keepalive_options(s), keepalive_options(c)) == (own, own)
            assert tk.stop() == 0
            return
        want = policy_of(61, 7, 3, 82)
        assert (keepalive_options(s), keepalive_options(c)) == (want, want)
        for end in ("server", "client"):
            left = keepalive_timer_ms(port, end)
            assert left is not None and left <= 61000, (end, left)
        assert "keepalive policy set on 2 existing sockets (0 failed)" in tk.stderr
        assert tk.stop() == 0
    finally:
        for x in (c, s, srv):
            x.close()


@pytest.mark.parametrize("spec,token", [
    ("0", "'0'"), ("65536", "'65536'"), ("abc", "'abc'"),
    ("993:idle=0", "'0' for idle"), ("993:cnt=128", "'128' for cnt"),
    ("993:intvl=32768", "'32768' for intvl"), ("993:idle=x", "'x' for idle"),
    ("993:color=blue", "unknown key 'color'"), ("", "empty keepalive spec"),
    ("993:", "empty option list"), ("993:idle=5,idle=6", "'idle' given twice"),
    ("993:idle", "'idle' is not KEY=VALUE"), ("993:idle=5,", "empty KEY=VALUE"),
    ("1-2000", "2000 ports with a keepalive policy"),
    ("7302:idle=20000,intvl=20000,cnt=127", "idle+intvl*cnt = 2560000 s"),
    ("993:user-timeout=2147484", "'2147484' for user-timeout"),
])
def test_bad_specs_exit_2_naming_the_token(root, spec, token):
    cgroup_links = subprocess.run(["bpftool", "cgroup", "tree"], capture_output=True,
                                  text=True).stdout
    p = subprocess.run([TCPKEEP, "-k", spec, "-c", "1"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tcpkeep: "), p.stderr
    assert token in lines[0], lines[0]
    assert p.stdout == ""
    assert subprocess.run(["bpftool", "cgroup", "tree"], capture_output=True,
                          text=True).stdout == cgroup_links


def test_bad_cgroup_exits_2(root, tmp_path):
    p = subprocess.run([TCPKEEP, "--cgroup", str(tmp_path), "-c", "1"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert "is not in a cgroup v2 file system" in p.stderr


@pytest.mark.vm
def test_no_defaults_alone_observes_and_changes_no_socket(tcpkeep):
    """README's observe-only form: `tcpkeep --no-defaults` counts a mail
    port's connections but sets nothing on them, open before or after."""
    port = next((p for p in (993, 995, 143, 110) if p not in ports_in_use()), None)
    if port is None:
        pytest.fail("ports 993, 995, 143 and 110 are all in use here")
    before = LoopbackConn(port)
    try:
        tk = tcpkeep("--no-defaults", "-p", str(port))
        after = LoopbackConn(port, socket.AF_INET6)  # beside before's listener
        try:
            assert tk.frame()["policy"] == []
            for c in (before, after):
                for s in (c.server, c.client, c.srv):
                    assert keepalive_options(s) == KERNEL_DEFAULT
        finally:
            after.close()
        f = tk.frame_after()
        assert row(f, port, "in")["totals"]["new"] >= 1
        assert row(f, port, "in")["keepalive"]["applied"] == 0
        assert tk.stop() == 0
    finally:
        before.close()
