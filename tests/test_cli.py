# SPDX-License-Identifier: GPL-2.0-only
"""The loader's command line and views: terminal and pipe rendering,
--json schema, -c, SIGTERM, bad usage."""
import json
import os
import pty
import re
import select
import signal
import subprocess
import time

import pytest

from conftest import (OBSERVER_PROGS, ROOT, TCPKEEP, loopback_connections, need_root, programs_gone,
                      quiet_port, tk_programs)

HOME = "\033[H"
CLEAR = HOME + "\033[2J"


def run_on_pty(args, timeout=30):
    """Run tcpkeep with its stdout on a pseudo-terminal; return output, rc."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(TCPKEEP, [TCPKEEP, *args])
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise AssertionError("tcpkeep on a pty did not exit: " + out.decode())
    if not done:
        _, status = os.waitpid(pid, 0)
    os.close(fd)
    return out.decode(errors="replace"), os.waitstatus_to_exitcode(status)


def test_terminal_view_redraws_in_place(root, time_wait_room):
    port = quiet_port(21400)
    loopback_connections(port, 3)  # TIME_WAIT sockets from before the start still show
    out, rc = run_on_pty(["-i", "0.3", "-c", "3", "-p", str(port)])
    assert rc == 0, out
    # each frame from the top-left corner, the screen cleared only for the first
    assert out.count(HOME) == 3 and out.count(CLEAR) == 1, out
    assert "PORT DIR" in out and "observer tp_btf" in out
    assert f"{port:5d} out" in out


def test_pipe_view_appends_frames_with_histograms(root):
    port = 21102
    p = subprocess.Popen([TCPKEEP, "-i", "0.5", "-c", "2", "-p", str(port)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # wait until attached, then make connections that close
    for line in p.stderr:
        if "attached" in line:
            break
    loopback_connections(port, 5)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert CLEAR not in out and "\033[" not in out
    assert out.count("PORT DIR") == 2
    assert f"port {port} out: connection lifetime, 5 closed" in out, out
    assert "usecs" in out and "|*" in out


@pytest.mark.vm
def test_json_frames_follow_the_schema(tcpkeep):
    port = 21103
    tk = tcpkeep("-p", str(port))
    loopback_connections(port, 2)
    f = tk.frame_after()
    json.dumps(f)
    for key, typ in (("time", str), ("monotonic", float), ("interval_s", float),
                     ("observer", str), ("missed", int), ("unattributed", int),
                     ("missed_detail", dict), ("lifetimes_untracked", int),
                     ("memory", dict), ("rows", list), ("policy", list)):
        assert isinstance(f[key], typ), key
    assert f["observer"] in ("tp_btf", "raw_tp")
    assert {r["port"] for r in f["rows"]} == {port}
    for r in f["rows"]:
        assert r["direction"] in ("in", "out")
        for name, value in r["transitions"].items():
            a, b = name.split("->")
            assert a.isupper() and b.isupper() and isinstance(value, int)
        assert set(r["states"]) >= {"ESTABLISHED", "TIME_WAIT", "CLOSE_WAIT", "LISTEN"}
        life = r["lifetime"]
        assert life["unit"] == "us"
        assert sum(b["count"] for b in life["buckets"]) == life["count"]
        assert life["buckets"][-1]["high"] is None
        assert life["buckets"][-1]["count"] == life["overflow"]
        assert set(r["keepalive"]) == {"applied", "errors", "dead_peers"}
    out = [r for r in f["rows"] if r["direction"] == "out"][0]
    assert out["transitions"]["CLOSE->SYN_SENT"] == 2
    assert tk.stop() == 0


def test_count_exits_by_itself(root):
    before = tk_programs()
    p = subprocess.run([TCPKEEP, "--json", "-i", "0.2", "-c", "4"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    frames = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(frames) == 4
    gaps = [b["monotonic"] - a["monotonic"] for a, b in zip(frames, frames[1:])]
    assert all(g > 0 for g in gaps)
    assert programs_gone(set(tk_programs()) - set(before))


def test_status_shows_its_own_namespaces_port_sysctls(root):
    """status reads the sysctls of the network namespace it runs in: one
    made here, with a range of its own."""
    ns = f"tk-sysctl-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        inside = ["ip", "netns", "exec", ns]
        subprocess.run([*inside, "sysctl", "-qw", "net.ipv4.ip_local_port_range=40000 40999"],
                       check=True)
        st = json.loads(subprocess.run([*inside, TCPKEEP, "status", "--json"],
                                       capture_output=True, text=True, timeout=60).stdout)
        got = st["sysctls"]
        assert got["net.ipv4.ip_local_port_range"] == [40000, 40999]
        assert got["net.ipv4.tcp_tw_reuse"] in (0, 1, 2)
        assert isinstance(got["net.ipv4.tcp_max_tw_buckets"], int)
        text = subprocess.run([*inside, TCPKEEP, "status"], capture_output=True, text=True,
                              timeout=60).stdout
        assert "sysctls:       net.ipv4.ip_local_port_range = 40000 40999 (1000 ports)\n" in text
        assert re.search(r"^ +net\.ipv4\.tcp_tw_reuse = \d", text, re.M), text
        # tcpkeep's own namespace, not the one it was started from
        host = json.loads(subprocess.run([TCPKEEP, "status", "--json"], capture_output=True,
                                         text=True, timeout=60).stdout)["sysctls"]
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            assert host["net.ipv4.ip_local_port_range"] == [int(x) for x in f.read().split()]
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def test_sigterm_detaches_everything(tcpkeep):
    tk = tcpkeep()
    mine = tk.programs()
    assert {OBSERVER_PROGS["set_state"], OBSERVER_PROGS["nested"],
            "tk_error_report_btf"} <= set(mine.values())
    assert tk.stop() == 0
    assert programs_gone(mine)


@pytest.mark.parametrize("args", [
    ["-i", "0"], ["-i", "abc"], ["-i", "-1"], ["-i", "1e9"], ["-i"],
    ["-c", "0"], ["-c", "-3"], ["-c", "2x"],
    ["-p", "0"], ["-p", "65536"], ["-p", "abc"], ["-p", "1-"], ["-p", "10-5"],
    ["-p", ""], ["-p", "80,,443"],
    ["--bogus"], ["frobnicate"], ["run", "extra"],
])
def test_bad_usage_exits_2_with_one_line(args):
    p = subprocess.run([TCPKEEP, *args], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, (args, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tcpkeep: "), p.stderr
    assert p.stdout == ""


@pytest.mark.parametrize("args,token", [
    (["status", "-c", "1"], "option '-c' does not apply"),
    (["status", "--interval", "2"], "option '--interval' does not apply"),
    (["pin", "-Zv"], "unknown option '-Z'"),
    (["--json", "-Zv"], "unknown option '-Z'"),
    (["--no-def=1"], "option '--no-defaults' takes no value"),
    (["run", "--bogus=3"], "unknown option '--bogus'"),
    (["top", "-i"], "option '-i' needs a value"),
    (["top", "--interval"], "option '--interval' needs a value"),
    (["-i", "0x10"], "bad interval '0x10'"),
    (["-i", "1e2"], "bad interval '1e2'"),
    (["unpin", "-k", "993"], "option '-k' does not apply"),
    (["--json=1"], "option '--json' takes no value"),
    (["--jsonx"], "unknown option '--jsonx'"),
])
def test_errors_name_the_token_as_typed(args, token):
    p = subprocess.run([TCPKEEP, *args], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, (args, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and token in lines[0], (args, p.stderr)


def test_help_has_usage_and_examples():
    p = subprocess.run([TCPKEEP, "--help"], capture_output=True, text=True)
    assert p.returncode == 0
    assert "usage: tcpkeep" in p.stdout and "examples:" in p.stdout


COMMANDS = ["run", "pin", "unpin", "status", "top", "policy", "metrics", "audit"]


def help_of(*args):
    p = subprocess.run([TCPKEEP, *args], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and not p.stderr, (args, p.returncode, p.stderr)
    return p.stdout


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_has_help_with_examples(cmd):
    """`tcpkeep help CMD`, `CMD -h` and `CMD --help` all print that command's
    help, on stdout, exit 0, with its usage and an example of it, and no
    other command's usage."""
    asked = [("help", cmd), (cmd, "-h"), (cmd, "--help")]
    if cmd == "policy":
        asked += [("policy", "set", "-h"), ("policy", "list", "--help")]
    texts = {a: help_of(*a) for a in asked}
    full = help_of("help")
    for a, text in texts.items():
        usage = [l for l in text.splitlines() if l.lstrip().startswith(("usage:", "tcpkeep "))]
        assert usage and all(f"tcpkeep {cmd}" in l or (cmd == "run" and "[run]" in l)
                             for l in usage), (a, usage)
        examples = text.split("\nexamples:\n", 1)[1].splitlines()
        assert any(f"tcpkeep {cmd}" in e or (cmd == "run" and e.startswith("  sudo tcpkeep"))
                   for e in examples), (a, examples)
        assert len(text) < len(full)
    # -h after the command's own options still helps with that command
    if cmd in ("run", "top"):
        assert help_of(cmd, "-i", "2", "-h") == texts[("help", cmd)]


def test_help_lines_fit_80_columns():
    for args in [("help",)] + [("help", c) for c in COMMANDS]:
        long = [l for l in help_of(*args).splitlines() if len(l) > 80]
        assert not long, (args, long)


def test_help_for_what_is_not_a_command_is_bad_usage():
    for args, token in [(("help", "bogus"), "bogus"), (("help", "pin", "x"), "x")]:
        p = subprocess.run([TCPKEEP, *args], capture_output=True, text=True, timeout=30)
        assert p.returncode == 2 and not p.stdout
        assert len(p.stderr.splitlines()) == 1 and token in p.stderr


def test_not_root_is_one_clear_line():
    nobody = 65534
    if os.geteuid() != 0:
        need_root()

    def drop():
        os.setgid(nobody)
        os.setuid(nobody)

    p = subprocess.run([TCPKEEP, "-c", "1"], capture_output=True, text=True,
                       preexec_fn=drop, timeout=30)
    assert p.returncode == 1
    need = "CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and CAP_DAC_OVERRIDE"
    assert p.stderr.strip() == (f"tcpkeep: run needs {need}; missing {need} "
                                "(run it as root, or grant them)")


def man_text():
    """The man page as man renders it, hyphens plain."""
    page = os.path.join(ROOT, "contrib", "tcpkeep.8")
    p = subprocess.run(["man", "-l", "-P", "cat", page], capture_output=True, text=True,
                       env={**os.environ, "MANWIDTH": "200", "LC_ALL": "C.UTF-8"},
                       timeout=60, check=True)
    return p.stdout.replace("\u2010", "-").replace("\u2212", "-")


def test_man_page_documents_every_command_option_and_file():
    man = man_text()
    sections = re.split(r"\n(?=[A-Z][A-Z ]+\n)", man)
    named = {s.split("\n", 1)[0]: s for s in sections}
    helped = help_of("help")
    options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+|-[a-z])\b", helped))
    assert {"--listen", "--textfile", "--ports", "--version", "-k"} <= options
    missing = [o for o in sorted(options) if not re.search(rf"(?<![\w-]){o}\b", man)]
    assert not missing, missing
    for cmd in COMMANDS + ["policy list", "policy set", "policy del", "help"]:
        assert re.search(rf"^\s+tcpkeep {cmd}\b", named["SYNOPSIS"], re.M) or cmd == "run", cmd
        assert re.search(rf"^ {{7}}{cmd}\b", named["COMMANDS"], re.M), cmd
    # every fixed path the binary itself creates or locks is in FILES
    strings = subprocess.run(["strings", "-n", "6", TCPKEEP], capture_output=True,
                             text=True, check=True).stdout.split()
    paths = {s for s in strings if re.fullmatch(r"/(run|sys/fs/bpf|etc|var)/[\w./-]+", s)}
    assert "/run/tcpkeep.lock" in paths
    for path in paths:
        assert path in named["FILES"], path
