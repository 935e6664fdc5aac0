# SPDX-License-Identifier: GPL-2.0-only
"""The pinned lifecycle against the real kernel: pin, re-pin, a loader
killed mid-pin, many pin/unpin cycles, live policy commands, status, and
the refusals of run/top/unpin. Every test starts and ends with nothing
pinned, and checks that BPF programs, maps, links and pins go away.
Needs root. Ports 23001-23099, loopback only.

Other tools (or other tests running at the same time) may hold tcpkeep
programs of their own, e.g. a `tcpkeep run`: objects that a live process
holds an fd of are never counted as the pin's, nor as left behind."""
import fcntl
import json
import os
import socket
import subprocess
import time

import pytest

from conftest import (CAN, LACKS, OBSERVER_PROGS, TCPKEEP, LoopbackConn, accepted_options,
                      cgroup2_root, keepalive_options, programs_gone, quiet_port, row, run_tcpkeep,
                      set_own_options, sockops_attached, tk_programs, trans)

PIN_DIR = "/sys/fs/bpf/tcpkeep"
TK_MAPS = {"transitions", "conns", "uncounted", "slots", "ka_stats", "policy", "nested"}
KERNEL_DEFAULT = (0, 7200, 75, 9, 0)


# ---------------------------------------------------------------- helpers

def pin(*args):
    p = run_tcpkeep("pin", *args)
    assert p.returncode == 0, f"tcpkeep pin {' '.join(args)}: {p.returncode}\n{p.stderr}"
    return p


def unpin():
    p = run_tcpkeep("unpin")
    assert p.returncode == 0, f"tcpkeep unpin: {p.returncode}\n{p.stderr}"
    return p


def status():
    p = run_tcpkeep("status", "--json")
    assert p.stdout.strip(), p.stderr
    return p.returncode, json.loads(p.stdout)


def policy_list():
    p = run_tcpkeep("policy", "list", "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def top_frame(port):
    """One frame of `tcpkeep top` over the pinned maps, only port."""
    p = run_tcpkeep("top", "--json", "-c", "1", "-i", "0.2", "-p", str(port))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1, p.stdout
    return json.loads(lines[0])


def bpftool(*args):
    out = subprocess.run(["bpftool", "-j", *args], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip() or "[]")




def held_by_processes():
    """{"prog", "map", "link"} -> ids that some live process holds an fd of
    (a held link or program counts its program and maps as held too)."""
    held = {"prog": set(), "map": set(), "link": set()}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fdinfo")
        except OSError:
            continue
        for fd in fds:
            try:
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    for line in f:
                        for kind in held:
                            if line.startswith(kind + "_id:"):
                                held[kind].add(int(line.split()[1]))
            except OSError:
                pass
    return held


def other_tcpkeeps():
    """Command lines of tcpkeep processes running beside the test: another
    session pinning or unpinning at the same time breaks these tests, and
    failure messages name them."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if os.path.basename(argv[0]) == b"tcpkeep":
            found.append(b" ".join(argv).decode(errors="replace").strip())
    return found


def tk_objects():
    """tcpkeep's BPF objects that no live process holds: what pins (or a
    leak) keep alive. {"prog": {id: name}, "map": {id: name},
    "link": {id: prog name}}."""
    held = held_by_processes()
    progs = bpftool("prog", "show")
    names = {p["id"]: p.get("name", "") for p in progs}
    for p in progs:
        if p["id"] in held["prog"]:
            held["map"].update(p.get("map_ids", []))
    tk_prog = {i: n for i, n in names.items()
               if n.startswith("tk_") and i not in held["prog"]}
    tk_map = {m["id"]: m.get("name", "") for m in bpftool("map", "show")
              if m["id"] not in held["map"]
              and (m.get("name") in TK_MAPS
                   or m.get("name", "").startswith(("observer.", "enforcer.")))}
    tk_link = {l["id"]: names.get(l.get("prog_id"), "") for l in bpftool("link", "show")
               if names.get(l.get("prog_id"), "").startswith("tk_")
               and l["id"] not in held["link"]}
    return {"prog": tk_prog, "map": tk_map, "link": tk_link}


def new_objects(before):
    now = tk_objects()
    return {k: {i: n for i, n in now[k].items() if i not in before[k]} for k in now}


def nothing_left(before, timeout=10):
    """Poll until no tcpkeep program, map or link beyond those of before
    is left (the kernel frees them asynchronously); what is left, or {}."""
    deadline = time.monotonic() + timeout
    while True:
        left = {k: v for k, v in new_objects(before).items() if v}
        if not left:
            return {}
        if time.monotonic() > deadline:
            return {**left, "other tcpkeep processes": other_tcpkeeps()}
        time.sleep(0.05)


def sockops_on(cg):
    """Program ids of tk_sockops attached to cgroup cg, not counting those a
    live process holds (another tool's own `tcpkeep run`)."""
    held = held_by_processes()["prog"]
    return sorted(p["id"] for p in sockops_attached(cg)
                  if p["name"] == "tk_sockops" and p["id"] not in held)


def pinned_links():
    """Sorted names of the programs of tcpkeep links alive without a process."""
    return sorted(tk_objects()["link"].values())


def attachment_details(cg):
    """For failure messages: every sockops program on cg, with its link and
    where that link is pinned, and the tcpkeep processes running now."""
    links = {l.get("prog_id"): l for l in bpftool("-f", "link", "show")
             if l.get("type") == "cgroup"}
    progs = {p["id"]: p for p in bpftool("prog", "show")}
    out = []
    for a in sockops_attached(cg):
        link = links.get(a["id"], {})
        out.append({"prog": a["id"], "name": a.get("name"),
                    "loaded_at": progs.get(a["id"], {}).get("loaded_at"),
                    "link": link.get("id"), "pinned": link.get("pinned")})
    return {"attached": out, "tcpkeep processes": other_tcpkeeps()}


def settled(get, expected, timeout=3):
    """get() once it equals expected, or its last value after timeout: a
    tcpkeep of another session that is exiting still has its programs
    attached for a moment after its fds are gone."""
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def assert_one_attachment(cg, what=""):
    """Exactly one tcpkeep sockops attachment on cg, and it is the pinned
    link's; one observer link each, no more."""
    code, st = status()
    links = {l["id"]: l for l in bpftool("link", "show")}
    assert st["links"]["sockops"] in links, (what, st)
    mine = [links[st["links"]["sockops"]]["prog_id"]]
    assert settled(lambda: sockops_on(cg), mine) == mine, \
        (what, cg, st["links"], attachment_details(cg))
    four = sorted(["tk_error_report_btf", OBSERVER_PROGS["nested"], OBSERVER_PROGS["set_state"],
                   "tk_sockops"])
    if not CAN["dead_peers"]:
        four.remove("tk_error_report_btf")
    assert settled(pinned_links, four) == four, (what, other_tcpkeeps())
    return code, st




def want(idle, intvl, cnt, user_timeout=None):
    if user_timeout is None:
        user_timeout = idle + intvl * cnt
    return (1, idle, intvl, cnt, user_timeout * 1000)


def connect_options(port):
    """Options of both ends of a new connection to port, then closed."""
    c = LoopbackConn(port)
    try:
        return c.ends()
    finally:
        c.close()


# ---------------------------------------------------------------- fixture

class Lifecycle:
    """What a test started: processes to kill, cgroups to remove."""

    def __init__(self):
        self.procs = []
        self.cgroups = []
        self.root_cg = cgroup2_root()

    def popen(self, *args):
        p = subprocess.Popen([TCPKEEP, *args], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def cgroup(self):
        path = os.path.join(self.root_cg, f"tcpkeep-lc-{os.getpid()}")
        if os.path.isdir(path):
            os.rmdir(path)
        os.mkdir(path)
        self.cgroups.append(path)
        return path


@pytest.fixture
def lc(root):
    """Nothing pinned before and after the test, whatever happens in it."""
    subprocess.run([TCPKEEP, "unpin"], capture_output=True, timeout=60)
    env = Lifecycle()
    try:
        yield env
    finally:
        for p in env.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        subprocess.run([TCPKEEP, "unpin"], capture_output=True, timeout=60)
        for cg in env.cgroups:
            if os.path.isdir(cg):
                os.rmdir(cg)


# ---------------------------------------------------------------- 1

@pytest.mark.vm
def test_pinned_keeps_counting_and_enforcing_after_the_loader_exits(lc):
    port = quiet_port(23001, span=15)
    pin("--no-defaults", "-k", f"{port}:idle=61,intvl=7,cnt=3")
    assert os.stat(PIN_DIR).st_mode & 0o7777 == 0o700
    code, st = status()
    assert code == 0, st
    # the loader is gone: no process holds the attached programs
    assert sorted(tk_objects()["link"]) == sorted(i for i in st["links"].values() if i)
    for _ in range(3):
        server, client = connect_options(port)
        assert server == want(61, 7, 3)
        assert client == want(61, 7, 3)
    f = top_frame(port)
    assert trans(f, port, "out", "SYN_SENT->ESTABLISHED") == 3, f["rows"]
    assert trans(f, port, "in", "SYN_RECV->ESTABLISHED") == 3, f["rows"]
    for direction in ("in", "out"):
        ka = row(f, port, direction)["keepalive"]
        assert ka["applied"] == 3 and not any(ka["errors"].values()), ka
    assert f["policy"] == [{"port": port, "off": False, "idle": 61, "intvl": 7,
                            "cnt": 3, "user_timeout": 82}]
    code, st = status()
    assert code == 0 and st["totals"]["keepalive_applied"] >= 6, st


# ---------------------------------------------------------------- 2

@pytest.mark.vm
def test_second_pin_replaces_the_policy_without_a_second_attachment(lc):
    port = quiet_port(23016, span=15)
    pin("--no-defaults", "-k", f"{port}:idle=40")
    assert_one_attachment(lc.root_cg)
    for _ in range(2):
        assert connect_options(port)[0][:2] == (1, 40)
    assert trans(top_frame(port), port, "out", "SYN_SENT->ESTABLISHED") == 2

    pin("--no-defaults", "-k", f"{port}:idle=80,intvl=9,cnt=2")
    code, st = assert_one_attachment(lc.root_cg)
    assert code == 0, st
    assert policy_list() == [{"port": port, "off": False, "idle": 80, "intvl": 9,
                              "cnt": 2, "user_timeout": 98}]
    assert st["policy"] == policy_list()
    f = top_frame(port)
    assert trans(f, port, "out", "SYN_SENT->ESTABLISHED") == 2, "counts lost by re-pin"
    assert trans(f, port, "in", "SYN_RECV->ESTABLISHED") == 2
    server, client = connect_options(port)
    assert server == client == want(80, 9, 2)
    assert trans(top_frame(port), port, "out", "SYN_SENT->ESTABLISHED") == 3
    # and a third pin, same policy: still one
    pin("--no-defaults", "-k", f"{port}:idle=80,intvl=9,cnt=2")
    assert_one_attachment(lc.root_cg)


def test_concurrent_pins_leave_exactly_one_working_pin(lc):
    """Two pins at once (the unit and an admin) are serialised: both
    succeed, the pin stays, one attachment."""
    port = quiet_port(23090, span=8)
    spec = ["--no-defaults", "-k", f"{port}:idle=9"]
    for _ in range(8):
        unpin()
        procs = [subprocess.Popen([TCPKEEP, "pin", *spec], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for p in procs:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
        code, _ = assert_one_attachment(lc.root_cg, "after two concurrent pins")
        assert code == 0


# ---------------------------------------------------------------- 3

KILL_DELAYS_MS = list(range(0, 80, 4)) + [100, 130, 160, 200]


def test_loader_killed_mid_pin_then_pin_and_unpin_recover(lc):
    port = quiet_port(23031, span=12)
    spec = ["--no-defaults", "-k", f"{port}:idle=45"]
    before = tk_objects()
    killed_mid_way = 0
    for n, delay in enumerate(KILL_DELAYS_MS):
        repin = n % 2 == 1          # every other round: kill a re-pin
        if repin:
            pin(*spec)
        p = lc.popen("pin", *spec)
        time.sleep(delay / 1000)
        p.kill()
        p.wait()
        # killed after it made the pin directory, before it pinned the
        # last link: a half-made pin for the next one to deal with
        if (p.returncode == -9 and not repin and os.path.exists(PIN_DIR)
                and not os.path.exists(os.path.join(PIN_DIR, "link_sockops"))):
            killed_mid_way += 1

        what = f"round {n}: SIGKILL after {delay} ms (re-pin {repin}, rc {p.returncode})"
        after = pin(*spec)
        assert "moving" not in after.stderr, what
        code, st = assert_one_attachment(lc.root_cg, what)
        assert code == 0, (what, st)
        assert not [e for e in os.listdir(PIN_DIR) if e.startswith("tmp_")], what
        assert policy_list() == [{"port": port, "off": False, "idle": 45, "intvl": 60,
                                  "cnt": 5, "user_timeout": 345}], what
        assert connect_options(port)[1][:2] == (1, 45), what
        prog_ids = set(tk_objects()["prog"]) - set(before["prog"])

        unpin()
        assert not os.path.exists(PIN_DIR), what
        assert programs_gone(prog_ids), (what, tk_programs())
        left = nothing_left(before)
        assert not left, (what, left)
        assert settled(lambda: sockops_on(lc.root_cg), []) == [], \
            (what, attachment_details(lc.root_cg))
    # the delays must cover the pin itself, not only before or after it
    assert killed_mid_way >= 1, "no SIGKILL landed while pin was working"


# ---------------------------------------------------------------- 4

def test_50_pin_unpin_cycles_leave_nothing(lc):
    before = tk_objects()
    progs_before = set(tk_programs())
    for n in range(50):
        pin("--no-defaults", "-k", "23046:idle=50")
        if n % 10 == 0:
            assert settled(lambda: len(sockops_on(lc.root_cg)), 1) == 1, \
                (n, attachment_details(lc.root_cg))
        p = unpin()
        assert "unpinned" in p.stderr, p.stderr
        assert not os.path.exists(PIN_DIR), n
    left = nothing_left(before)
    assert not left, left
    assert settled(lambda: sockops_on(lc.root_cg), []) == [], attachment_details(lc.root_cg)
    # and not held by any process either: every tk_ program now is older
    # or belongs to another live tcpkeep
    held = held_by_processes()["prog"]
    assert not {i for i in tk_programs() if i not in progs_before and i not in held}


# ---------------------------------------------------------------- 5

@pytest.mark.vm
def test_policy_set_and_del_reach_the_next_connection(lc):
    keep, port = 23051, 23052   # nothing counted here: TIME_WAIT does not matter
    pin("--no-defaults", "-k", f"{keep}:idle=30")
    assert connect_options(port) == (KERNEL_DEFAULT, KERNEL_DEFAULT)

    p = run_tcpkeep("policy", "set", f"{port}:idle=45,intvl=6,cnt=4")
    assert p.returncode == 0, p.stderr
    assert [e["port"] for e in policy_list()] == [keep, port]
    server, client = connect_options(port)
    assert server == client == want(45, 6, 4)

    p = run_tcpkeep("policy", "set", f"{port}:idle=46,user-timeout=20")
    assert p.returncode == 0, p.stderr
    server, client = connect_options(port)
    assert server == client == want(46, 60, 5, 20)

    p = run_tcpkeep("policy", "set", f"{port}:off")
    assert p.returncode == 0, p.stderr
    assert connect_options(port) == (KERNEL_DEFAULT, KERNEL_DEFAULT)

    p = run_tcpkeep("policy", "del", str(port))
    assert p.returncode == 0, p.stderr
    assert connect_options(port) == (KERNEL_DEFAULT, KERNEL_DEFAULT)
    assert policy_list() == [{"port": keep, "off": False, "idle": 30, "intvl": 60,
                              "cnt": 5, "user_timeout": 330}]
    server, client = connect_options(keep)
    assert server == client == want(30, 60, 5)


@pytest.mark.parametrize("spec", [
    "0", "65536", "abc", "23061:idle=0", "23061:cnt=128", "23061:color=blue", "",
    "23061:intvl=32768", "23061:idle=5,idle=6",
])
def test_invalid_policy_set_exits_2_and_changes_nothing(lc, spec):
    pin("--no-defaults", "-k", "23062:idle=30", "-k", "23063:off")
    before = policy_list()
    p = run_tcpkeep("policy", "set", "23064:idle=77", spec)  # a good spec first: not applied
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tcpkeep: "), p.stderr
    assert policy_list() == before
    assert status()[0] == 0


def test_policy_del_of_a_port_without_policy_changes_nothing(lc):
    pin("--no-defaults", "-k", "23066:idle=30", "-k", "23067:idle=31")
    before = policy_list()
    for args in (["23068"], ["23066", "23068"], ["23066-23068"]):
        p = run_tcpkeep("policy", "del", *args)
        assert p.returncode == 2, (args, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("tcpkeep: "), p.stderr
        assert "23068" in lines[0], lines[0]
        assert policy_list() == before, args
    for bad in ("0", "abc", "65536"):
        p = run_tcpkeep("policy", "del", bad)
        assert p.returncode == 2, (bad, p.stderr)
        assert policy_list() == before, bad


@pytest.mark.vm
def test_listeners_keep_their_own_options_across_set_off_del_unpin(lc):
    """Real listeners, one with options its application chose and one with
    none, opened before the pin. tcpkeep never changes them, so every
    accepted connection gets the policy in force, or, once the policy is
    off, deleted or unpinned, the application's own options again. A
    connection already open keeps what tcpkeep gave it."""
    app_port, plain_port = quiet_port(23130, span=8), quiet_port(23140, span=8)
    app, plain = socket.socket(), socket.socket()
    for s, port in ((app, app_port), (plain, plain_port)):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    own = set_own_options(app)
    for s, port in ((app, app_port), (plain, plain_port)):
        s.bind(("127.0.0.1", port))
        s.listen(8)
    open_conn = None
    try:
        def check(app_want, plain_want, stage):
            assert keepalive_options(app) == own, stage
            assert keepalive_options(plain) == KERNEL_DEFAULT, stage
            assert accepted_options(app) == app_want, stage
            assert accepted_options(plain) == plain_want, stage

        check(own, KERNEL_DEFAULT, "before")
        pin("--no-defaults", "-k", f"{app_port}:idle=5,intvl=2,cnt=3",
            "-k", f"{plain_port}:idle=6,intvl=2,cnt=2")
        check((1, 5, 2, 3, 11000), (1, 6, 2, 2, 10000), "pinned")
        assert run_tcpkeep("policy", "set", f"{app_port}:idle=60").returncode == 0
        check((1, 60, 60, 5, 360000), (1, 6, 2, 2, 10000), "set")
        assert run_tcpkeep("policy", "set", f"{app_port},{plain_port}:off").returncode == 0
        check(own, KERNEL_DEFAULT, "off")
        assert run_tcpkeep("policy", "set", f"{app_port}:idle=7").returncode == 0
        check((1, 7, 60, 5, 307000), KERNEL_DEFAULT, "set again")
        open_conn = socket.create_connection(app.getsockname(), timeout=10)
        open_server, _ = app.accept()
        assert run_tcpkeep("policy", "del", str(app_port)).returncode == 0
        check(own, KERNEL_DEFAULT, "del")
        assert keepalive_options(open_server)[:2] == (1, 7)   # open: kept
        open_server.close()
        assert run_tcpkeep("policy", "set", f"{app_port},{plain_port}:idle=8").returncode == 0
        check((1, 8, 60, 5, 308000), (1, 8, 60, 5, 308000), "set before unpin")
        unpin()
        check(own, KERNEL_DEFAULT, "unpinned")
    finally:
        for s in (app, plain, open_conn):
            if s:
                s.close()


@pytest.mark.vm
def test_policy_set_apply_existing_updates_an_established_connection(lc):
    port, other = 23071, 23072
    pin("--no-defaults", "-k", f"{other}:idle=30")
    c = LoopbackConn(port)
    try:
        assert c.ends() == (KERNEL_DEFAULT, KERNEL_DEFAULT)
        p = run_tcpkeep("policy", "set", f"{port}:idle=33,intvl=3,cnt=3")
        assert p.returncode == 0, p.stderr
        # without --apply-existing the open connection keeps its options
        assert c.ends() == (KERNEL_DEFAULT, KERNEL_DEFAULT)
        p = run_tcpkeep("policy", "set", f"{port}:idle=34,intvl=3,cnt=3", "--apply-existing")
        assert p.returncode == 0, p.stderr
        if CAN["existing_connections"]:
            assert "existing sockets" in p.stderr, p.stderr
            assert c.ends() == (want(34, 3, 3), want(34, 3, 3))
        else:
            assert p.stderr.count(LACKS["existing_connections"]) == 1, p.stderr
            assert c.ends() == (KERNEL_DEFAULT, KERNEL_DEFAULT)
        assert keepalive_options(c.srv) == KERNEL_DEFAULT   # listeners: never
    finally:
        c.close()


# ---------------------------------------------------------------- 6

@pytest.mark.vm
def test_status_matches_what_is_attached(lc):
    code, st = status()
    assert code == 3, st
    assert st["state"] == "not pinned" and not st["pinned"] and not st["active"]
    assert st["links"] == {"set_state": 0, "set_state_nested": 0, "error_report": 0,
                           "sockops": 0}

    pin("--no-defaults", "-k", "23081:idle=70,intvl=8,cnt=2", "-k", "23082:off")
    code, st = status()
    assert code == 0, st
    assert st["state"] == "active" and st["active"] and st["pinned"]
    assert st["pin_path"] == PIN_DIR
    assert all(v for k, v in st["kernel"].items()
               if k not in ("hides_pid1", "inet_sk_error_report")), st["kernel"]
    assert st["kernel"]["inet_sk_error_report"] is CAN["dead_peers"]
    assert st["observer"] == "tp_btf"
    links = {l["id"]: l for l in bpftool("link", "show")}
    progs = {p["id"]: p["name"] for p in bpftool("prog", "show")}
    names = {"set_state": OBSERVER_PROGS["set_state"],
             "set_state_nested": OBSERVER_PROGS["nested"],
             "error_report": "tk_error_report_btf",
             "sockops": "tk_sockops"}
    if not CAN["dead_peers"]:
        assert st["links"]["error_report"] == 0
        del names["error_report"]
    for key, name in names.items():
        assert st["links"][key] in links, (key, st["links"])
        assert progs[links[st["links"][key]]["prog_id"]] == name
    assert st["cgroup"] == lc.root_cg
    assert st["cgroup_id"] == os.stat(lc.root_cg).st_ino
    assert links[st["links"]["sockops"]]["cgroup_id"] == st["cgroup_id"]
    assert st["defunct"] is False
    assert st["policy"] == [
        {"port": 23081, "off": False, "idle": 70, "intvl": 8, "cnt": 2,
         "user_timeout": 86},
        {"port": 23082, "off": True},
    ], st["policy"]
    assert st["policy"] == policy_list()

    unpin()
    code, st = status()
    assert code == 3, st


def test_status_reports_a_defunct_sockops_link_and_pin_reattaches(lc):
    cg = lc.cgroup()
    pin("--no-defaults", "-k", "23086:idle=70", "--cgroup", cg)
    code, st = status()
    assert code == 0 and st["cgroup"] == cg, st
    assert st["cgroup_id"] == os.stat(cg).st_ino
    assert len(sockops_on(cg)) == 1
    os.rmdir(cg)
    # the kernel releases the cgroup's programs asynchronously
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        code, st = status()
        if code != 0:
            break
        time.sleep(0.1)
    assert code == 1, st
    assert st["defunct"] is True and st["state"] == "broken" and not st["active"], st
    assert st["pinned"] and st["links"]["sockops"], st

    p = pin("--no-defaults", "-k", "23086:idle=70", "--cgroup", lc.root_cg)
    assert "defunct" in p.stderr, p.stderr
    code, st = assert_one_attachment(lc.root_cg)
    assert code == 0, st
    assert st["defunct"] is False and st["cgroup"] == lc.root_cg, st
    assert connect_options(23087)[0] == KERNEL_DEFAULT
    assert connect_options(23086)[0][:2] == (1, 70)


# ---------------------------------------------------------------- 7

@pytest.mark.parametrize("args", [
    ["run", "--json", "-c", "1", "-i", "0.2"],
    ["run", "--no-defaults", "-c", "1", "-i", "0.2"],
    ["-c", "1", "-i", "0.2", "-k", "23091:idle=9"],
])
def test_run_while_pinned_is_refused_and_attaches_nothing(lc, args):
    pin("--no-defaults", "-k", "23090:idle=50")
    code, st = status()
    assert code == 0, st
    objects = tk_objects()
    p = run_tcpkeep(*args)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert p.stdout == ""
    msg = p.stderr.strip()
    assert len(msg.splitlines()) == 1 and msg.startswith("tcpkeep: "), msg
    assert "pinned" in msg and "tcpkeep top" in msg and "unpin" in msg, msg
    assert not any(new_objects(objects).values()), new_objects(objects)
    assert_one_attachment(lc.root_cg)
    code2, st2 = status()
    assert code2 == 0 and st2["links"] == st["links"], st2


def all_sockops(cg):
    """Names of every sockops program attached to cg, held or pinned."""
    return [p["name"] for p in sockops_attached(cg)]


def run_attached_or_refused(p):
    """Wait for a `tcpkeep run` on a pipe to say it attached (True) or to
    exit refusing (False, with its message)."""
    err = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = p.stderr.readline()
        err += line
        if b"attached (" in line:
            return True, err.decode()
        if not line:
            p.wait(timeout=30)
            return False, err.decode()
    raise AssertionError("run neither attached nor exited: " + err.decode())


def test_run_and_pin_racing_leave_exactly_one_enforcer(lc):
    """`run` and `pin` started together, ten times: exactly one of them
    wins, the other refuses naming the winner, and the cgroup never holds
    two tcpkeep sockops programs. The winner's policy is the one in force."""
    port = quiet_port(23110, span=8)
    wins = {"run": 0, "pin": 0}
    for n in range(10):
        args = {"run": [TCPKEEP, "run", "--no-defaults", "-k", f"{port}:idle=11",
                        "-i", "0.2"],
                "pin": [TCPKEEP, "pin", "--no-defaults", "-k", f"{port}:idle=22"]}
        order = ["run", "pin"] if n % 2 else ["pin", "run"]
        procs = {}
        for what in order:
            procs[what] = subprocess.Popen(args[what], stdout=subprocess.DEVNULL,
                                           stderr=subprocess.PIPE)
            lc.procs.append(procs[what])
        run_ok, run_err = run_attached_or_refused(procs["run"])
        _, pin_err = procs["pin"].communicate(timeout=60)
        pin_ok = procs["pin"].returncode == 0
        assert run_ok != pin_ok, (n, run_err, pin_err.decode())
        assert all_sockops(lc.root_cg) == ["tk_sockops"], (n, attachment_details(lc.root_cg))
        idle = connect_options(port)[0][1]
        if run_ok:
            wins["run"] += 1
            assert procs["pin"].returncode == 1
            assert f"tcpkeep run (pid {procs['run'].pid}) is attached" in pin_err.decode()
            assert idle == 11
            procs["run"].terminate()
            assert procs["run"].wait(timeout=30) == 0
        else:
            wins["pin"] += 1
            assert procs["run"].returncode == 1 and "is pinned" in run_err, run_err
            assert idle == 22
            unpin()
        assert settled(lambda: all_sockops(lc.root_cg), []) == [], n
    print("race winners:", wins)


def test_a_second_run_is_refused_and_status_names_the_first(lc):
    port = quiet_port(23120, span=8)
    first = subprocess.Popen([TCPKEEP, "run", "--no-defaults", "-k", f"{port}:idle=11",
                              "-i", "0.2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lc.procs.append(first)
    assert run_attached_or_refused(first)[0]
    p = run_tcpkeep("run", "--no-defaults", "-k", f"{port}:idle=33", "-c", "1")
    assert p.returncode == 1, p.stderr
    lines = p.stderr.strip().splitlines()
    assert lines == [f"tcpkeep: another tcpkeep run (pid {first.pid}) is attached: watch "
                     "it there, or stop it first"], p.stderr
    assert all_sockops(lc.root_cg) == ["tk_sockops"]
    assert connect_options(port)[0][1] == 11
    code, st = status()
    assert code == 3 and st["run_pid"] == first.pid, st
    assert f"tcpkeep run is attached (pid {first.pid})" in run_tcpkeep("status").stdout
    first.terminate()
    assert first.wait(timeout=30) == 0
    code, st = status()
    assert code == 3 and st["run_pid"] == 0, st


def test_status_tells_a_pin_in_progress_from_a_broken_one(lc):
    """A pin directory without its links is broken (exit 1) unless a pin,
    unpin or policy change holds the lock: then it is half-way (exit 4)."""
    pin("--no-defaults")
    for name in os.listdir(PIN_DIR):
        if name.startswith("link_"):
            os.unlink(os.path.join(PIN_DIR, name))
    assert status()[0] == 1
    fd = os.open("/run/tcpkeep.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        code, st = status()
        assert code == 4 and st["state"] == "pin in progress" and not st["active"], st
        assert "tcpkeep: pin in progress" in run_tcpkeep("status").stdout
    finally:
        os.close(fd)
    assert status()[0] == 1
    unpin()
    assert status()[0] == 3


# ---------------------------------------------------------------- 8

def test_top_policy_and_unpin_when_nothing_is_pinned(lc):
    assert not os.path.exists(PIN_DIR)
    for args in (["top", "-c", "1", "-i", "0.2"], ["top", "--json", "-c", "1"],
                 ["policy", "list"]):
        p = run_tcpkeep(*args)
        assert p.returncode == 1, (args, p.returncode, p.stderr)
        msg = p.stderr.strip()
        assert len(msg.splitlines()) == 1 and msg.startswith("tcpkeep: "), msg
        assert "nothing is pinned" in msg and "tcpkeep pin" in msg, msg
        assert p.stdout == ""
    p = run_tcpkeep("unpin")
    assert p.returncode == 0, p.stderr
    assert "nothing was pinned" in p.stderr, p.stderr
    assert not os.path.exists(PIN_DIR)
    assert run_tcpkeep("status").returncode == 3


# ---------------------------------------------------------------- layout

@pytest.mark.vm
def test_pinned_maps_dump_with_named_fields(lc):
    port = quiet_port(23101, span=8)
    pin("--no-defaults", "-k", f"{port}:idle=71,intvl=8,cnt=3")
    LoopbackConn(port).close()
    # with BTF, bpftool's JSON has a "formatted" form with the field names
    dump = bpftool("map", "dump", "pinned", os.path.join(PIN_DIR, "policy"))
    assert {"key": port, "value": {"idle": 71, "intvl": 8, "cnt": 3,
                                   "user_timeout": 95, "off": 0}} in [e["formatted"] for e in dump]
    dump = bpftool("map", "dump", "pinned", os.path.join(PIN_DIR, "transitions"))
    keys = [e["formatted"]["key"] for e in dump]
    assert {"port": port, "dir": 1, "from": 2, "to": 1, "pad": [0, 0, 0]} in keys, keys[:3]
    for name in ("conns", "ka_stats", "uncounted", "slots"):
        assert os.path.exists(os.path.join(PIN_DIR, name))


@pytest.mark.vm
def test_pin_mounts_bpffs_when_it_is_missing(lc):
    """In a private mount namespace without bpffs at /sys/fs/bpf, pin
    mounts it there, pins, and unpin removes everything again."""
    script = f"""
        umount /sys/fs/bpf 2>/dev/null
        findmnt -n -t bpf /sys/fs/bpf && exit 10
        {TCPKEEP} pin --no-defaults -k 23111 || exit 11
        findmnt -n -t bpf /sys/fs/bpf >/dev/null || exit 12
        stat -c %a {PIN_DIR} | grep -qx 700 || exit 13
        {TCPKEEP} status >/dev/null || exit 14
        {TCPKEEP} unpin || exit 15
        test ! -e {PIN_DIR} || exit 16
    """
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, (p.returncode, p.stderr)
    assert "pinned at" in p.stderr
