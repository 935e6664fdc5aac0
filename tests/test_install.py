# SPDX-License-Identifier: GPL-2.0-only
"""make install honours PREFIX and DESTDIR, and the systemd unit's own
ExecStart/ExecStop lines pin and unpin for real. Needs root."""
import os
import subprocess

from conftest import ROOT, TCPKEEP
from test_units import environment_file, exec_argv


def test_install_and_unit_commands(root, tmp_path):
    dest = tmp_path / "dest"
    subprocess.run(["make", "-s", "-C", ROOT, "install", f"DESTDIR={dest}",
                    "PREFIX=/opt/tk"], check=True, capture_output=True)
    binary = dest / "opt/tk/sbin/tcpkeep"
    unit = dest / "opt/tk/lib/systemd/system/tcpkeep.service"
    man = dest / "opt/tk/share/man/man8/tcpkeep.8"
    for f in (binary, unit, man):
        assert f.is_file(), f
    assert os.access(binary, os.X_OK)
    lines = dict(line.split("=", 1) for line in unit.read_text().splitlines()
                 if line.startswith(("ExecStart=", "ExecStop=", "Type=", "RemainAfterExit=")))
    assert lines["Type"] == "oneshot" and lines["RemainAfterExit"] == "yes"
    # $TCPKEEP_ARGS from the installed /etc/default/tcpkeep, as systemd splits it
    env = environment_file(dest / "etc/default/tcpkeep")
    start, stop = exec_argv(lines["ExecStart"], env), exec_argv(lines["ExecStop"], env)
    assert start[0] == "/opt/tk/sbin/tcpkeep" and stop[0] == "/opt/tk/sbin/tcpkeep"
    # run the unit's commands with the installed binary, as systemd would
    run = lambda argv: subprocess.run([str(dest) + argv[0], *argv[1:]],
                                      capture_output=True, text=True, timeout=60)
    try:
        p = run(start)
        assert p.returncode == 0, p.stderr
        assert subprocess.run([TCPKEEP, "status"], capture_output=True).returncode == 0
    finally:
        p = run(stop)
    assert p.returncode == 0, p.stderr
    assert subprocess.run([TCPKEEP, "status"], capture_output=True).returncode == 3
