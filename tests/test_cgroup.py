# SPDX-License-Identifier: GPL-2.0-only
"""--cgroup scope, and living beside other tools' sockops programs.
Each test makes its own cgroup under the cgroup v2 root and its own bpffs
instance, and removes both. Needs root. Ports 22xxx, loopback only."""
import json
import os
import subprocess
import sys
import tempfile

import pytest

from conftest import ROOT, TCPKEEP, cgroup2_root, sockops_attached

OTHER = os.path.join(ROOT, "build", "other_sockops.bpf.o")

# Runs inside the test cgroup: one connection on loopback, prints the
# options of the accepted and the initiating socket.
CHILD = r"""
import json, socket, sys
port = int(sys.argv[1])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(4)
c = socket.create_connection(("127.0.0.1", port)); s, _ = srv.accept()
opt = lambda x: [x.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                 x.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)]
print(json.dumps({"server": opt(s), "client": opt(c)}))
"""




@pytest.fixture
def cgroup(root):
    path = os.path.join(cgroup2_root(), f"tcpkeep-test-{os.getpid()}")
    os.mkdir(path)
    yield path
    os.rmdir(path)


@pytest.fixture
def other_tool(cgroup):
    """Attach another tool's sockops program to the test cgroup:
    other_tool(flag); detached before the cgroup is removed."""
    bpffs = tempfile.mkdtemp(prefix="tcpkeep-bpffs-")
    pin = os.path.join(bpffs, "other")
    attached = []

    def attach(*flag):
        cg = cgroup
        subprocess.run(["bpftool", "cgroup", "attach", cg, "sock_ops", "pinned", pin,
                        *flag], check=True)
        attached.append(cg)

    mounted = False
    try:
        subprocess.run(["mount", "-t", "bpf", "bpf", bpffs], check=True)
        mounted = True
        subprocess.run(["bpftool", "prog", "load", OTHER, pin, "type", "sockops"],
                       check=True)
        yield attach
    finally:
        # also when the load or the test failed: no attachment, mount or
        # directory is left behind
        for cg in attached:
            subprocess.run(["bpftool", "cgroup", "detach", cg, "sock_ops", "pinned", pin])
        if mounted:
            subprocess.run(["umount", bpffs], check=True)
        os.rmdir(bpffs)


def sockops_on(cg):
    return sorted(p["name"] for p in sockops_attached(cg))


def run_in_cgroup(cg, port):
    def enter():
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))

    p = subprocess.run([sys.executable, "-c", CHILD, str(port)], preexec_fn=enter,
                       capture_output=True, text=True, timeout=30, check=True)
    return json.loads(p.stdout)


def run_here(port):
    p = subprocess.run([sys.executable, "-c", CHILD, str(port)],
                       capture_output=True, text=True, timeout=30, check=True)
    return json.loads(p.stdout)


@pytest.mark.vm
def test_cgroup_option_limits_the_policy_to_that_subtree(tcpkeep, cgroup):
    port = 22101
    tk = tcpkeep("--no-defaults", "-k", f"{port}:idle=44", "--cgroup", cgroup)
    assert sockops_on(cgroup) == ["tk_sockops"]
    inside = run_in_cgroup(cgroup, port)
    assert inside == {"server": [1, 44], "client": [1, 44]}
    outside = run_here(port)
    assert outside == {"server": [0, 7200], "client": [0, 7200]}
    assert tk.stop() == 0
    assert sockops_on(cgroup) == []


@pytest.mark.vm
def test_exclusive_sockops_of_another_tool_is_named(other_tool, cgroup):
    other_tool()  # no flag: exclusive
    p = subprocess.run([TCPKEEP, "--no-defaults", "-k", "22111", "--cgroup", cgroup,
                        "-c", "1"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    last = p.stderr.strip().splitlines()[-1]
    assert "another tool holds it exclusively" in last, p.stderr
    assert "without BPF_F_ALLOW_MULTI" in last
    assert sockops_on(cgroup) == ["other_sockops"]


@pytest.mark.vm
def test_coexists_with_another_tools_multi_program(tcpkeep, other_tool, cgroup):
    port = 22121
    other_tool("multi")
    tk = tcpkeep("--no-defaults", "-k", f"{port}:idle=55", "--cgroup", cgroup)
    assert sockops_on(cgroup) == ["other_sockops", "tk_sockops"]
    assert run_in_cgroup(cgroup, port) == {"server": [1, 55], "client": [1, 55]}
    assert tk.stop() == 0
    assert sockops_on(cgroup) == ["other_sockops"]
