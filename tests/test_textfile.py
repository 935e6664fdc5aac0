# SPDX-License-Identifier: GPL-2.0-only
"""`tcpkeep metrics --textfile` cannot be turned against root: an
unprivileged user who can write to the textfile directory plants symlinks
at the temporary and the target names, and the paths an admin could get
wrong (/dev/null, a directory, a missing directory, /proc) are refused
before anything is read. Needs root (tcpkeep runs as root; the attacker
runs as nobody)."""
import os
import pathlib
import select
import shutil
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import TCPKEEP, run_tcpkeep

NOBODY = 65534
SECRET = "root:secret-hash:19000:0:99999:7:::\n"


@pytest.fixture
def pinned(root):
    run_tcpkeep("unpin")
    p = run_tcpkeep("pin", "--no-defaults")
    assert p.returncode == 0, p.stderr
    yield
    assert run_tcpkeep("unpin").returncode == 0


@pytest.fixture
def shared_dir():
    """A directory the attacker (nobody) may write to, as a group-writable
    collector directory would be, and a root-only victim file beside it.
    Not under pytest's tmp_path: nobody could not reach it there."""
    base = tempfile.mkdtemp(prefix="tcpkeep-textfile-")
    try:
        os.chmod(base, 0o711)
        d = os.path.join(base, "collector")
        os.mkdir(d)
        os.chown(d, NOBODY, NOBODY)
        os.chmod(d, 0o777)
        victim = os.path.join(base, "shadow")
        with open(victim, "w") as f:
            f.write(SECRET)
        os.chmod(victim, 0o600)
        yield pathlib.Path(d), pathlib.Path(victim)
    finally:
        shutil.rmtree(base)


def start_as_nobody(fn):
    """fn() in a child process as nobody, until the returned stop() is
    called (or 60 s pass); stop() waits for the child."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(w)
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not select.select([r], [], [], 0)[0]:
                fn()
            code = 0
        finally:
            os._exit(code)
    os.close(r)

    def stop():
        os.close(w)
        os.waitpid(pid, 0)
    return stop


def metrics_textfile(path, *args):
    return subprocess.run([TCPKEEP, "metrics", "--textfile", str(path), *args],
                          capture_output=True, text=True, timeout=60)


def write_under_attack(d, victim, swap):
    """tcpkeep writes the textfile 30 times while nobody links every name
    it could guess, the old fixed temporary names included, to the victim;
    with swap it also replaces every temporary file it sees with such a
    link (the directory is not sticky). (exit code, stderr)."""
    target = d / "tcpkeep.prom"
    proc = subprocess.Popen([TCPKEEP, "metrics", "--textfile", str(target), "-i", "0.1",
                             "-c", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)

    def plant():
        for n in (f"tcpkeep.prom.tmp.{proc.pid}", ".tcpkeep.prom.tmp", "tcpkeep.prom.tmp"):
            try:
                os.symlink(victim, d / n)
            except FileExistsError:
                pass
        for n in os.listdir(d) if swap else ():
            if n != "tcpkeep.prom" and not os.path.islink(d / n):
                try:
                    os.unlink(d / n)
                    os.symlink(victim, d / n)
                except OSError:
                    pass

    stop = start_as_nobody(plant)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        stop()
    assert victim.read_text() == SECRET
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    return proc.returncode, err


def test_planted_symlinks_never_redirect_a_write(pinned, shared_dir):
    d, victim = shared_dir
    rc, err = write_under_attack(d, victim, swap=False)
    assert rc == 0, err
    target = d / "tcpkeep.prom"
    assert stat.S_ISREG(os.lstat(target).st_mode)
    assert "tcpkeep_build_info" in target.read_text()
    links = [n for n in os.listdir(d) if n != "tcpkeep.prom"]
    assert links and all(os.readlink(d / n) == str(victim) for n in links)


def test_swapped_temporary_files_are_never_written_through(pinned, shared_dir):
    """In a directory that is not sticky the attacker can rename anything,
    the target included; all tcpkeep can and must promise is that it never
    writes into a file it did not just create. It stops, saying so, when
    it finds a link where its target was."""
    d, victim = shared_dir
    rc, err = write_under_attack(d, victim, swap=True)
    assert rc == 0 or ("refusing to replace" in err and "symbolic link" in err), err


@pytest.mark.parametrize("kind", ["symlink", "fifo", "device", "directory"])
def test_a_target_that_is_not_a_regular_file_is_refused(root, shared_dir, kind):
    d, victim = shared_dir
    target = d / "tcpkeep.prom"
    if kind == "symlink":
        os.symlink(victim, target)
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "device":
        os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # like /dev/null
    else:
        target.mkdir()
    before = os.lstat(target)
    p = metrics_textfile(target)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and str(target) in lines[0], p.stderr
    after = os.lstat(target)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert victim.read_text() == SECRET
    assert sorted(os.listdir(d)) == ["tcpkeep.prom"], "a temporary file was left"


@pytest.mark.parametrize("path,why", [
    ("/nonexistent-tcpkeep-dir/t.prom", "its directory does not exist"),
    ("/proc/sys/kernel/tcpkeep.prom", "cannot create a file"),
    ("/dev/null", "not a regular file"),
    ("/tmp", "is a directory"),
    ("/tmp/", "names a directory"),
])
def test_bad_textfile_paths_exit_2_before_reading_anything(root, path, why):
    # nothing is pinned: a path checked only after opening the pins would
    # say "nothing is pinned" and exit 1 instead
    run_tcpkeep("unpin")
    p = metrics_textfile(path)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and why in lines[0] and path in lines[0], p.stderr


def test_textfile_replaces_a_regular_file_and_is_world_readable(pinned, shared_dir):
    d, _ = shared_dir
    target = d / "tcpkeep.prom"
    target.write_text("old\n")
    old = os.umask(0o077)
    try:
        p = metrics_textfile(target, "-c", "1")
    finally:
        os.umask(old)
    assert p.returncode == 0, p.stderr
    assert "tcpkeep_build_info" in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(d) == ["tcpkeep.prom"]
