# SPDX-License-Identifier: GPL-2.0-only
"""What tcpkeep does on the kernel it runs on: every capability the kernel
has is on, every one it lacks is said once with the Linux that has it, and
nothing is ever blamed on the kernel that is tcpkeep's own fault. These run
on the host and, through `make vmtest`, on each Debian kernel under qemu.
Needs root."""
import json
import multiprocessing
import os
import socket
import subprocess

import pytest

from conftest import (CAN, LACKS, TCPKEEP, LoopbackConn, kernel_version, ports_in_use,
                      run_tcpkeep, trans)

pytestmark = pytest.mark.vm

REJECTED = "verifier rejected"


def possible_cpus():
    with open("/sys/devices/system/cpu/possible") as f:
        return sum(int(b) - int(a) + 1 if "-" in r else 1
                   for r in f.read().strip().split(",")
                   for a, _, b in [r.partition("-")])


def said_once_if_lacking(stderr):
    for what, can in CAN.items():
        n = stderr.count(LACKS[what])
        assert n == (0 if can else 1), (what, n, stderr)
    assert REJECTED not in stderr, stderr


def test_run_has_every_capability_the_kernel_has(tcpkeep):
    port = 24010
    c = LoopbackConn(port)  # open before tcpkeep: set only if the kernel can
    try:
        tk = tcpkeep("--no-defaults", "-k", f"{port}:idle=41,intvl=4,cnt=3", "-p", str(port))
        f = tk.frame()
        assert f["observer"] == "tp_btf"   # every supported kernel has tp_btf
        assert f["lifetimes_available"] is CAN["lifetimes"]
        assert f["dead_peers_available"] is CAN["dead_peers"]
        assert f["enforcer"] is True
        assert tk.stop() == 0
        said_once_if_lacking(tk.stderr)
        if CAN["existing_connections"]:
            assert "keepalive policy set on 2 existing sockets (0 failed)" in tk.stderr
        else:
            assert "existing sockets" not in tk.stderr
    finally:
        c.close()


@pytest.fixture
def unpinned(root):
    """Nothing pinned before and after the test."""
    subprocess.run([TCPKEEP, "unpin"], capture_output=True, timeout=60)
    yield
    subprocess.run([TCPKEEP, "unpin"], capture_output=True, timeout=60)


def test_pin_and_status_show_the_capabilities(unpinned):
    p = run_tcpkeep("pin", "--no-defaults", "-k", "24020:idle=50")
    assert p.returncode == 0, p.stderr
    said_once_if_lacking(p.stderr)
    st = run_tcpkeep("status", "--json")
    assert st.returncode == 0, st.stderr
    st = json.loads(st.stdout)
    assert st["observer"] == "tp_btf"
    assert st["kernel"]["inet_sk_error_report"] is CAN["dead_peers"]
    assert st["capabilities"] == {
        "lifetimes": CAN["lifetimes"],
        "dead_peers": CAN["dead_peers"],
        "enforcer": True,
        "existing_connections": CAN["existing_connections"],
    }, st["capabilities"]
    text = run_tcpkeep("status").stdout
    assert f"lifetimes {'on' if CAN['lifetimes'] else 'off'}" in text, text
    # the maps' memory is the kernel's own bytes_memlock of every pinned
    # map, and stays under 32 MiB on a 128-CPU host at default sizes
    mem = st["memory"]
    pinned = [os.path.join("/sys/fs/bpf/tcpkeep", n) for n in os.listdir("/sys/fs/bpf/tcpkeep")
              if not n.startswith(("link_", "prog_"))]
    kernel = sum(json.loads(subprocess.run(["bpftool", "-j", "map", "show", "pinned", p],
                                           capture_output=True, text=True, check=True).stdout)
                 ["bytes_memlock"] for p in pinned)
    assert mem["bytes"] == kernel and mem["cpus"] == possible_cpus(), (mem, kernel)
    assert mem["bytes"] <= mem["bytes_128_cpus"] < 32 << 20, mem
    # a policy change that asks for open connections says what it can do
    p = run_tcpkeep("policy", "set", "24021:idle=60", "--apply-existing")
    assert p.returncode == 0, p.stderr
    if CAN["existing_connections"]:
        assert "existing sockets" in p.stderr, p.stderr
    else:
        assert p.stderr.count(LACKS["existing_connections"]) == 1, p.stderr
    assert REJECTED not in p.stderr


def test_no_lifetimes_is_the_users_choice_not_a_lack(unpinned):
    p = run_tcpkeep("pin", "--no-lifetimes", "--no-defaults", "-k", "24030:idle=50")
    assert p.returncode == 0, p.stderr
    assert LACKS["lifetimes"] not in p.stderr and REJECTED not in p.stderr, p.stderr
    st = json.loads(run_tcpkeep("status", "--json").stdout)
    assert st["observer"] == "tp_btf" and st["capabilities"]["lifetimes"] is False


def racer(cpu, ports, arrived, errors):
    """Connect to each port at the same moment as the other racer: both
    count arrivals, spin until the other has arrived too, then connect."""
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:
        pass
    held = []
    for i, port in enumerate(ports):
        with arrived.get_lock():
            arrived.value += 1
        while arrived.value < 2 * (i + 1):
            pass
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            errors.value += 1
        held.append(s)
    for s in held:
        s.close()


def test_concurrent_first_inserts_of_one_key_are_all_counted(tcpkeep):
    """Two CPUs making the first connection to a port at the same moment
    both insert its first row; the one that loses gets EEXIST, which must
    read as such (an int: before 6.4 the helper's result is 32 bits) and
    not as a full map that drops the event."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.fail("needs two CPUs to race")
    busy = ports_in_use()
    ports = [p for p in range(24100, 24800) if p not in busy][:300]
    tk = tcpkeep()
    listeners = []
    try:
        for p in ports:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", p))
            s.listen(4)
            listeners.append(s)
        # the listeners made "in" rows; no key of a connection exists yet
        fresh = tk.frame_after()
        assert not {r["port"] for r in fresh["rows"] if r["direction"] == "out"} & set(ports)
        ctx = multiprocessing.get_context("fork")
        arrived, errors = ctx.Value("i", 0), ctx.Value("i", 0)
        procs = [ctx.Process(target=racer, args=(cpu, ports, arrived, errors))
                 for cpu in sorted(os.sched_getaffinity(0))[:2]]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
            assert p.exitcode == 0
        assert errors.value == 0
    finally:
        for s in listeners:
            s.close()
    f = tk.frame_after()
    assert f["missed_detail"]["transitions_map_full"] == 0, f["missed_detail"]
    assert f["missed_detail"]["conns_map_full"] == 0, f["missed_detail"]
    wrong = [p for p in ports
             if trans(f, p, "out", "CLOSE->SYN_SENT") != 2
             or trans(f, p, "in", "SYN_RECV->ESTABLISHED") != 2]
    # an event the kernel skipped (recursion) is counted in missed, and
    # only those may be short
    assert len(wrong) <= f["missed"], (kernel_version(), len(wrong), wrong[:10], f["missed"])
    assert tk.stop() == 0
