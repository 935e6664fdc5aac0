# SPDX-License-Identifier: GPL-2.0-only
"""contrib/install-deps: installs only what is missing, keeps the services of
what it installed from starting, stops and disables them, and leaves what
was there before alone.

Most tests run the real script with apt-get, dpkg-query, systemctl and
update-rc.d replaced by recording stand-ins on PATH, and its policy-rc.d
redirected into a temporary directory, so no package is installed and no
service of this machine touched. The last one runs the script for real:
everything it lists is installed here, so a run must install nothing.
Needs root (the script refuses otherwise)."""
import os
import re
import subprocess
import textwrap

import pytest

from conftest import unavailable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "contrib", "install-deps")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="install-deps needs root")

# What the stand-in archive holds: package -> (dependencies, shipped files).
# dovecot-core comes in as a dependency only; the units are real files of
# this machine's dovecot and prometheus (read for their [Install] section,
# never acted on: systemctl is a stand-in), the init scripts do not exist.
ARCHIVE = {
    "dovecot-imapd": (["dovecot-core"], []),
    "dovecot-pop3d": (["dovecot-core"], []),
    "dovecot-core": ([], ["/lib/systemd/system/dovecot.service",
                          "/lib/systemd/system/dovecot.socket",
                          "/etc/init.d/tcpkeep-test-no-such-dovecot"]),
    "prometheus": ([], ["/lib/systemd/system/prometheus.service",
                        "/etc/init.d/tcpkeep-test-no-such-prometheus"]),
}

STUBS = {
    # the installed set is one package name a line in $STUB/db
    "dpkg-query": r'''
        #!/bin/bash
        db=$STUB/db
        if [ "$1" = -L ]; then
            grep -qx "$2" "$db" || exit 1
            cat "$STUB/files/$2" 2>/dev/null; exit 0
        fi
        # -W -f=FORMAT [PACKAGE]
        fmt=$2; pkg=${3:-}
        if [ -n "$pkg" ]; then
            grep -qx "$pkg" "$db" || exit 1
            printf 'install ok installed'; exit 0
        fi
        while read -r p; do echo "install ok installed $p"; done < "$db"
        ''',
    "apt-get": r'''
        #!/bin/bash
        echo "apt-get $*" >> "$STUB/log"
        [ "$1" = update ] && exit 0
        # what invoke-rc.d would be told about starting a service now
        if [ -x "$POLICY" ]; then "$POLICY" dovecot start; echo "policy $?" >> "$STUB/log"
        else echo "policy none" >> "$STUB/log"; fi
        [ -n "${STUB_APT_FAIL:-}" ] && { echo "E: stand-in failure" >&2; exit 100; }
        for a in "$@"; do
            case $a in -*|install|DPkg::*) continue ;; esac
            echo "$a" >> "$STUB/db"
            cat "$STUB/deps/$a" 2>/dev/null >> "$STUB/db" || true
        done
        sort -u -o "$STUB/db" "$STUB/db"
        ''',
    "systemctl": r'''
        #!/bin/bash
        echo "systemctl $*" >> "$STUB/log"
        ''',
    "update-rc.d": r'''
        #!/bin/bash
        echo "update-rc.d $*" >> "$STUB/log"
        ''',
}


def wanted():
    """The build and test lists of the script, read from the script itself."""
    with open(SCRIPT) as f:
        text = f.read()
    lists = dict(re.findall(r"^(build|test)=\(([^)]*)\)", text, re.M))
    assert set(lists) == {"build", "test"}
    return lists["build"].split() + lists["test"].split()


@pytest.fixture
def stub(tmp_path):
    bindir = tmp_path / "bin"
    for d in ("bin", "files", "deps"):
        (tmp_path / d).mkdir()
    for name, body in STUBS.items():
        p = bindir / name
        p.write_text(textwrap.dedent(body).lstrip())
        p.chmod(0o755)
    for pkg, (deps, files) in ARCHIVE.items():
        (tmp_path / "deps" / pkg).write_text("".join(d + "\n" for d in deps))
        (tmp_path / "files" / pkg).write_text("".join(f + "\n" for f in files))
    (tmp_path / "log").write_text("")
    policy = tmp_path / "policy-rc.d"
    env = dict(os.environ, STUB=str(tmp_path), POLICY=str(policy),
               INSTALL_DEPS_POLICY_RC_D=str(policy),
               PATH=f"{bindir}:{os.environ['PATH']}")

    class Stub:
        dir = tmp_path

        def db(self, pkgs):
            (tmp_path / "db").write_text("".join(p + "\n" for p in sorted(pkgs)))

        def installed(self):
            return set((tmp_path / "db").read_text().split())

        def run(self, *extra_env):
            e = dict(env, **dict(extra_env))
            (tmp_path / "log").write_text("")
            return subprocess.run([SCRIPT, "test"], env=e, capture_output=True,
                                  text=True, timeout=60)

        def log(self):
            return (tmp_path / "log").read_text().splitlines()

    s = Stub()
    s.policy = policy
    yield s


def test_lists_the_packages_other_parts_need():
    assert {"tmux", "lintian", "dovecot-imapd", "prometheus"} <= set(wanted())


def test_quiets_only_what_it_installed_and_second_run_is_a_no_op(stub):
    # prometheus was there before: an administrator's, left as it is
    pkgs = set(wanted())
    stub.db(pkgs - {"dovecot-imapd", "dovecot-pop3d"})
    r = stub.run()
    assert r.returncode == 0, r.stderr
    assert "install-deps: installing dovecot-imapd dovecot-pop3d\n" in r.stdout
    log = stub.log()
    assert "policy 101" in log, "services could start during the install"
    assert not stub.policy.exists(), "temporary policy-rc.d left behind"
    assert {"dovecot-core", "dovecot-imapd", "dovecot-pop3d"} <= stub.installed()
    # the pulled-in dovecot-core's units, not prometheus's
    assert "systemctl disable --quiet dovecot.service dovecot.socket" in log, log
    assert not any("prometheus" in l for l in log if not l.startswith("apt-get")), log
    assert "update-rc.d tcpkeep-test-no-such-dovecot disable" in log, log
    # without systemd as PID 1 nothing is stopped through systemctl
    if not os.path.isdir("/run/systemd/system"):
        assert not any(l.startswith("systemctl stop") for l in log), log

    again = stub.run()
    assert again.returncode == 0, again.stderr
    assert "installing" not in again.stdout + again.stderr
    assert stub.log() == [], "a second run did something"


def test_temporary_policy_removed_when_apt_fails(stub):
    stub.db(set(wanted()) - {"prometheus"})
    r = stub.run(("STUB_APT_FAIL", "1"))
    assert r.returncode != 0
    assert "policy 101" in stub.log()
    assert not stub.policy.exists()
    assert not any(l.startswith(("systemctl", "update-rc.d")) for l in stub.log())


def test_an_existing_policy_rc_d_is_left_alone(stub):
    own = "#!/bin/sh\n# the administrator's\nexit 0\n"
    stub.policy.write_text(own)
    stub.policy.chmod(0o755)
    stub.db(set(wanted()) - {"prometheus"})
    r = stub.run()
    assert r.returncode == 0, r.stderr
    assert "policy 0" in stub.log()
    assert stub.policy.read_text() == own
    # it let services start, so they are stopped and disabled afterwards
    assert "systemctl disable --quiet prometheus.service" in stub.log()


def debian_service_processes():
    """Processes of the packaged dovecot and prometheus services: children
    of init running the binary with the packages' default configuration
    (the tests' own instances run with a -c / --config.file of theirs)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if ppid != 1 or not argv:
            continue
        if argv[0].endswith("/dovecot") and (
                "-c" not in argv or "/etc/dovecot/dovecot.conf" in argv):
            found.append((pid, argv))
        if argv[0].endswith("/prometheus") and not any(
                a.startswith("--config.file") and "/etc/prometheus/" not in a
                for a in argv):
            found.append((pid, argv))
    return found


def test_real_run_on_this_machine_installs_nothing():
    """Everything is installed here: the real script, real apt and dpkg,
    must install nothing, say nothing, change no package and start nothing."""
    def state():
        return subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Status}\n"],
                              capture_output=True, text=True, check=True).stdout
    missing = [p for p in wanted() if "install ok installed" not in subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True).stdout]
    if missing:
        unavailable(f"not installed here: {missing}; run contrib/install-deps test")
    before = state()
    policy_before = os.path.exists("/usr/sbin/policy-rc.d")
    r = subprocess.run([SCRIPT, "test"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""
    assert state() == before
    assert os.path.exists("/usr/sbin/policy-rc.d") == policy_before
    assert debian_service_processes() == []
