# SPDX-License-Identifier: GPL-2.0-only
"""The C unit tests of the pure parts (no kernel), run from pytest."""
import os
import subprocess

from conftest import ROOT


def test_c_unit_tests():
    binary = os.path.join(ROOT, "build", "unit_tests")
    p = subprocess.run([binary], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip().endswith(" passed, 0 failed")
