# SPDX-License-Identifier: GPL-2.0-only
"""The C unit tests of the pure parts (no kernel), run from pytest."""
import codecs
import json
import os
import random
import subprocess

from conftest import ROOT


def test_c_unit_tests():
    binary = os.path.join(ROOT, "build", "unit_tests")
    p = subprocess.run([binary], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip().endswith(" passed, 0 failed")


# Hostile bytes: quotes, escapes, control bytes, each kind of invalid UTF-8.
HOSTILE = [b"", b"plain", b'"\\/', bytes(range(32)) + b"\x7f", b"a\x00b",
           "é€😀\U0010ffff\u2028".encode(), b"\xff", b"\x80", b"\xe2\x82", b"\xe2\x82x",
           b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80",
           b"\xf0\x8f\xbf\xbf", b"\xf5\xfe", b"/sys/fs/cgroup/a\xffb\n.slice"]


def _replace_per_byte(err):
    # one U+FFFD per byte of the bad sequence, as the writer does
    return "\ufffd" * (err.end - err.start), err.end


codecs.register_error("tk_per_byte", _replace_per_byte)


def test_json_writer_output_parses():
    """What the writer makes of any bytes is JSON that Python's strict
    parser takes, giving the bytes back: valid UTF-8 unchanged, each
    byte of an invalid sequence as U+FFFD."""
    binary = os.path.join(ROOT, "build", "unit_tests")
    rnd = random.Random(1)
    inputs = HOSTILE + [bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 40)))
                        for _ in range(40)]
    for data in inputs:
        p = subprocess.run([binary, "--json-string"], input=data, capture_output=True,
                           timeout=60)
        assert p.returncode == 0, (data, p.stderr)
        out = p.stdout.decode("utf-8")  # strict: valid UTF-8 or this raises
        assert out.endswith("\n") and out.count("\n") == 1, (data, out)
        text = data.decode("utf-8", "tk_per_byte")
        assert json.loads(out) == {text: text}, (data, out)
        if text.encode() == data:  # valid UTF-8 is written as is, escapes aside
            assert all(ch in out for ch in text if ord(ch) >= 0x80), (data, out)
