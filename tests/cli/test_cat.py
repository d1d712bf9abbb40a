"""``randread cat``: exact bytes on stdout, and the errors around them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import BIG, ENTRIES, assert_one_line_error, run


@pytest.mark.parametrize("name", ["data/all-bytes.bin", "data/big.bin", "hello.txt"])
def test_cat_writes_the_exact_bytes(sample_zip: Path, name: str) -> None:
    result = run("cat", sample_zip, name)
    assert result.returncode == 0
    assert result.stderr == b""
    assert result.stdout == ENTRIES[name][0]


def test_cat_into_a_closed_pipe_ends_quietly(sample_zip: Path) -> None:
    with subprocess.Popen(  # noqa: S603 - this interpreter, on a file the tests wrote
        [sys.executable, "-m", "randread", "cat", os.fspath(sample_zip), "data/big.bin"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        assert process.stdout.read(10) == BIG[:10]
        process.stdout.close()
        stderr = process.stderr.read()
        process.wait(60)
    assert b"Traceback" not in stderr
    assert b"Exception ignored" not in stderr


def test_cat_of_a_missing_entry(sample_zip: Path) -> None:
    assert_one_line_error(run("cat", sample_zip, "nope.txt"), "no entry named 'nope.txt'")


def test_cat_of_a_directory_entry_is_an_error(sample_zip: Path) -> None:
    result = run("cat", sample_zip, "data/")
    assert_one_line_error(result, "'data/' is a directory entry")
    assert result.stdout == b""
