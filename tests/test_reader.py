# SPDX-License-Identifier: GPL-2.0-only
"""The reader against the running kernel (tests/reader/reader_check.c):
maps made like tcpkeep's with known values, read in batches and key by
key, must give the same snapshot, the known one. Needs root; attaches
and pins nothing."""
import os
import subprocess

import pytest

from conftest import KERNEL, ROOT, need_root


@pytest.mark.vm
def test_batch_and_key_by_key_reads_give_the_same_snapshot():
    need_root()
    args = [os.path.join(ROOT, "build", "reader_check")]
    # every hash map type has batch reads from Linux 5.6
    if KERNEL >= (5, 6):
        args.append("--expect-batch")
    p = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip().endswith("reader_check: ok"), p.stdout
