# SPDX-License-Identifier: GPL-2.0-only
"""make deb: the package lintian accepts, apt-get installs, whose tcpkeep
runs, whose removal unpins, and whose purge leaves nothing behind. Needs
root; installs on this host and purges at the end, pass or fail."""
import glob
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import ROOT, TCPKEEP, need_root, unavailable

PIN_DIR = "/sys/fs/bpf/tcpkeep"
SBIN = "/usr/sbin/tcpkeep"
UNITDIR = "/lib/systemd/system"
DATADIR = "/usr/share/tcpkeep"
DOCDIR = "/usr/share/doc/tcpkeep"
DSH_STATE = "/var/lib/systemd/deb-systemd-helper-enabled"
DSH_MASKED = "/var/lib/systemd/deb-systemd-helper-masked"
APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")


def sh(*argv, check=True, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kw)
    if check:
        assert p.returncode == 0, f"{' '.join(argv)}: {p.returncode}\n{p.stdout}{p.stderr}"
    return p


def makefile_version():
    with open(os.path.join(ROOT, "Makefile")) as f:
        return re.search(r"^VERSION\s*:?=\s*(\S+)", f.read(), re.M).group(1)


def contrib(pattern):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "contrib", pattern)))


def expected_files():
    """Where make deb puts what contrib/ holds: the list the package must ship."""
    files = {SBIN, "/usr/share/man/man8/tcpkeep.8.gz",
             f"{DOCDIR}/copyright", f"{DOCDIR}/changelog.gz"}
    files |= {f"{UNITDIR}/{u}" for u in contrib("*.service") + contrib("*.mount")}
    files |= {f"{DATADIR}/prometheus/{r}" for r in contrib("prometheus/*.yml")}
    files |= {f"{DATADIR}/grafana/{d}" for d in contrib("grafana/*.json")}
    if os.path.exists(os.path.join(ROOT, "contrib/tcpkeep.default")):
        files.add("/etc/default/tcpkeep")
    if os.path.exists(os.path.join(ROOT, "contrib/tcpkeep.tmpfiles")):
        files.add("/usr/lib/tmpfiles.d/tcpkeep.conf")
    return files


def tcpkeep_links():
    """Symlinks under /etc/systemd naming a tcpkeep unit (enablement, masks)."""
    found = []
    for dirpath, dirs, files in os.walk("/etc/systemd"):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            if os.path.islink(p) and ("tcpkeep" in name or "tcpkeep" in os.readlink(p)):
                found.append(p)
    return sorted(found)


def dsh_files():
    return sorted(glob.glob(f"{DSH_STATE}/**/*tcpkeep*", recursive=True) +
                  glob.glob(f"{DSH_MASKED}/*tcpkeep*"))


def installed():
    p = sh("dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "tcpkeep", check=False)
    return p.returncode == 0 and p.stdout.startswith("ii")


def known_to_dpkg():
    return sh("dpkg-query", "-W", "tcpkeep", check=False).returncode == 0


# other work on the host may hold dpkg's lock for a while: wait for it
APT = ["apt-get", "-y", "-q", "-o", "Dpkg::Use-Pty=0", "-o", "DPkg::Lock::Timeout=300"]


def apt(*args, check=True):
    return sh(*APT, *args, env=APT_ENV, check=check)


def install(deb):
    """apt-get install the package, once sure it brings nothing else: then
    purging it alone puts dpkg back as it was."""
    p = apt("install", "-s", "--no-install-recommends", str(deb))
    assert re.findall(r"^Inst (\S+)", p.stdout, re.M) == ["tcpkeep"], p.stdout
    apt("install", "--no-install-recommends", str(deb))


def purge():
    """Purge tcpkeep, whatever state it was left in; unpin what it left."""
    if known_to_dpkg():
        if apt("purge", "tcpkeep", check=False).returncode:
            sh("dpkg", "--purge", "--force-remove-reinstreq", "tcpkeep", check=False)
    if os.path.exists(PIN_DIR):
        sh(TCPKEEP, "unpin", check=False)


@pytest.fixture(scope="module")
def deb():
    need_root()
    # apt reads local packages as its _apt user: a directory it may enter
    out = tempfile.mkdtemp(prefix="tcpkeep-deb-")
    try:
        os.chmod(out, 0o755)
        sh("make", "-s", "-C", ROOT, "deb", f"DEB_OUT={out}")
        arch = sh("dpkg", "--print-architecture").stdout.strip()
        path = pathlib.Path(out) / f"tcpkeep_{makefile_version()}_{arch}.deb"
        assert path.is_file(), sorted(os.listdir(out))
        yield path
    finally:
        shutil.rmtree(out)


@pytest.fixture
def clean_host(deb):
    """A host without tcpkeep before the test and after it, even when the
    test failed: the package purged, its links and pins gone. (Not all of
    dpkg's list compared: other work may install packages meanwhile.)"""
    if known_to_dpkg():
        unavailable("tcpkeep is installed here already: not touching it")
    if os.path.exists(PIN_DIR):
        unavailable(f"{PIN_DIR} is pinned by someone else")
    assert not tcpkeep_links() and not dsh_files(), "tcpkeep leftovers from before"
    try:
        yield
    finally:
        purge()
    # checked after the cleanup, so even a failed test proves this
    assert not known_to_dpkg()
    assert not os.path.exists(PIN_DIR)
    assert tcpkeep_links() == [] and dsh_files() == []


def test_lintian_clean(deb):
    if not shutil.which("lintian"):
        unavailable("lintian is missing: contrib/install-deps test installs it")
    p = sh("lintian", "--fail-on", "error,warning", "--display-info",
           "--show-overrides", str(deb), check=False)
    tags = [line for line in p.stdout.splitlines() if re.match(r"[A-Z]: ", line)]
    assert p.returncode == 0, p.stdout + p.stderr
    assert not [t for t in tags if t[0] in "EW"], tags
    # every override is used and none is stale
    with open(os.path.join(ROOT, "contrib/deb/lintian-overrides")) as f:
        wanted = {m.group(1) for m in re.finditer(r"^tcpkeep: (\S+)", f.read(), re.M)}
    used = {re.match(r"O: tcpkeep: (\S+)", t).group(1) for t in tags if t.startswith("O:")}
    assert used == wanted, tags
    assert not [t for t in tags if "unused-override" in t or "mismatched-override" in t], tags


def test_control_and_binary(deb, tmp_path):
    field = lambda name: sh("dpkg-deb", "-f", str(deb), name).stdout.strip()
    assert field("Package") == "tcpkeep"
    assert field("Version") == makefile_version()
    assert field("Architecture") == sh("dpkg", "--print-architecture").stdout.strip()
    sh("dpkg-deb", "-x", str(deb), str(tmp_path))
    binary = str(tmp_path) + SBIN
    # Depends names the package of every library the binary needs
    depends = {d.split()[0] for d in field("Depends").split(", ")}
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                        sh("readelf", "-d", binary).stdout)
    assert needed
    resolved = dict(re.findall(r"^\s*(\S+) => (/\S+)", sh("ldd", binary).stdout, re.M))
    for lib in needed:
        path = resolved[lib]
        # dpkg knows a file by the path its package ships, /lib or /usr/lib
        other = path[4:] if path.startswith("/usr/") else "/usr" + path
        p = sh("dpkg", "-S", path, check=False)
        if p.returncode:
            p = sh("dpkg", "-S", other)
        owner = p.stdout.split(":")[0]
        assert owner in depends, (lib, owner, depends)
    # stripped, with a build-id, hardened as dpkg-buildflags asks
    sections = sh("readelf", "-SW", binary).stdout
    assert ".symtab" not in sections and ".debug_info" not in sections
    assert "Build ID" in sh("readelf", "-n", binary).stdout
    assert "GNU_RELRO" in sh("readelf", "-lW", binary).stdout
    dynamic = sh("readelf", "-dW", binary).stdout
    assert "BIND_NOW" in dynamic and "PIE" in dynamic
    assert "_chk@" in sh("readelf", "--dyn-syms", "-W", binary).stdout
    # the units run the installed binary, no placeholder left
    units = glob.glob(str(tmp_path) + UNITDIR + "/*")
    assert units
    for unit in units:
        with open(unit) as f:
            text = f.read()
        assert not re.search(r"@[A-Z]+@", text), unit
        for line in re.findall(r"^Exec\w+=(.*)$", text, re.M):
            for word in line.split():
                word = word.lstrip("-@:+!")
                if word.endswith("/tcpkeep"):
                    assert word == SBIN, (unit, line)


def test_install_status_purge(deb, clean_host):
    version = makefile_version()
    install(deb)
    assert installed()
    assert sh("dpkg-query", "-W", "-f", "${Version}", "tcpkeep").stdout == version

    files = sh("dpkg", "-L", "tcpkeep").stdout.splitlines()
    missing = expected_files() - set(files)
    assert not missing, missing
    for f in expected_files():
        assert os.path.isfile(f), f
    if "/etc/default/tcpkeep" in files:
        conffiles = sh("dpkg-query", "-W", "-f", "${Conffiles}", "tcpkeep").stdout
        assert "/etc/default/tcpkeep" in conffiles

    # installing attached nothing and enabled nothing, but told
    # deb-systemd-helper which links each unit would make
    assert not os.path.exists(PIN_DIR)
    assert tcpkeep_links() == []
    # the lock the sandboxed unit may write but not create, made at install
    st = os.stat("/run/tcpkeep.lock")
    assert (st.st_mode & 0o7777, st.st_uid) == (0o600, 0)
    units = [os.path.basename(f) for f in files if f.startswith(UNITDIR + "/")
             and os.path.isfile(f)]
    for u in units:
        assert os.path.exists(f"{DSH_STATE}/{u}.dsh-also"), u

    p = sh(SBIN, "status", check=False)
    assert p.returncode == 3, p.stdout + p.stderr
    assert p.stdout.splitlines()[0] == "tcpkeep: not pinned"
    assert re.search(rf"^pin path:\s+{PIN_DIR} \(nothing pinned\)$", p.stdout, re.M), p.stdout
    p = sh(SBIN, "--version")
    assert re.match(rf"tcpkeep {re.escape(version)} \(libbpf v[\d.]+\)$", p.stdout.strip()), p.stdout

    # the admin enables the boot unit (offline: systemd may not be PID 1)
    sh("systemctl", "enable", "tcpkeep.service")
    assert tcpkeep_links(), "systemctl enable made no link"

    apt("purge", "tcpkeep")
    assert not known_to_dpkg()
    assert sh("dpkg", "-s", "tcpkeep", check=False).returncode != 0
    left = []
    for f in files:
        if not os.path.lexists(f):
            continue
        # a directory stays if another package owns it or it holds others' files
        if os.path.isdir(f) and (
                os.listdir(f) or sh("dpkg", "-S", f, check=False).returncode == 0):
            continue
        left.append(f)
    assert left == []
    assert not os.path.exists("/etc/default/tcpkeep")
    assert not os.path.exists("/run/tcpkeep.lock")
    assert not os.path.exists(DATADIR) and not os.path.exists(DOCDIR)
    assert tcpkeep_links() == []
    assert dsh_files() == []


def test_remove_unpins(deb, clean_host):
    """Removing the package leaves no program pinned without its binary."""
    install(deb)
    p = sh(SBIN, "pin")
    assert sh(SBIN, "status", check=False).returncode == 0, p.stderr
    apt("remove", "tcpkeep")
    assert not os.path.exists(PIN_DIR)
    assert not os.path.exists(SBIN)
    assert sh(TCPKEEP, "status", check=False).returncode == 3
    # removed, not purged: dpkg still knows it, until the fixture purges
    assert sh("dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "tcpkeep").stdout.startswith("rc")
