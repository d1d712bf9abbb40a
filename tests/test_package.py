"""The installed package: version, public API, console script."""

from __future__ import annotations

import subprocess
import sys

import randread


def test_version_is_a_string() -> None:
    assert isinstance(randread.__version__, str)
    assert randread.__version__.count(".") >= 2


def test_all_names_exist() -> None:
    for name in randread.__all__:
        assert hasattr(randread, name), name


def test_cli_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "randread", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert randread.__version__ in result.stdout
