# SPDX-License-Identifier: GPL-2.0-only
"""libFuzzer with ASan/UBSan for a fixed number of inputs, no root needed:
over the command-line parsers (whole command lines, policy specs, port
lists, numbers, listen addresses), aborting if a parse leaves a value the
kernel would refuse, or an error comes without a message or as more than
one line; and over the JSON writer, aborting if its output is not strict
JSON in valid UTF-8 or a string does not decode back to its bytes."""
import os
import shutil
import subprocess

import pytest

from conftest import ROOT


@pytest.mark.parametrize("fuzzer,corpus_dir,max_len", [
    ("fuzz_parsers", "corpus", 128),
    ("fuzz_json", "corpus_json", 256),
])
def test_survives_fuzzing(tmp_path, fuzzer, corpus_dir, max_len):
    binary = os.path.join(ROOT, "build", fuzzer)
    corpus = tmp_path / "corpus"
    shutil.copytree(os.path.join(ROOT, "tests", "fuzz", corpus_dir), corpus)
    p = subprocess.run([binary, "-runs=100000", f"-max_len={max_len}", "-seed=1",
                        f"-artifact_prefix={tmp_path}/", str(corpus)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "Done 100000 runs" in p.stderr
    assert not list(tmp_path.glob("crash-*")) and not list(tmp_path.glob("leak-*"))
