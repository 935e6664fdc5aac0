# SPDX-License-Identifier: GPL-2.0-only
"""The enforcer against the real kernel: options seen through getsockopt
on both ends, exemptions, live policy changes, existing connections, bad
specs. Needs root. Ports 22xxx, loopback only."""
import json
import os
import socket
import struct
import subprocess

import pytest

from conftest import (CAN, LACKS, TCPKEEP, LoopbackConn, accepted_options,
                      keepalive_options, row, set_own_options)

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
