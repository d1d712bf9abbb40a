"""Fixtures of the command-line tests: sample archives, plain output, a stand-in converter."""

from __future__ import annotations

from pathlib import Path

import pytest

import randread
from tests.cli.helpers import FakeConvert, run, write_zip


@pytest.fixture(scope="module")
def sample_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A zip with stored, deflated, binary, large, unicode and directory entries (read only)."""
    return write_zip(tmp_path_factory.mktemp("cli") / "sample.zip")


@pytest.fixture(autouse=True)
def plain_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output as in a pipe, whatever the environment running the tests asks for."""
    for variable in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def fake_convert(monkeypatch: pytest.MonkeyPatch) -> FakeConvert:
    fake = FakeConvert()
    monkeypatch.setattr(randread, "convert", fake, raising=False)
    return fake


@pytest.fixture(scope="module")
def sample_bundle(sample_zip: Path) -> Path:
    path = sample_zip.with_name("sample.rrb")
    result = run("convert", sample_zip, path)
    assert result.returncode == 0, result.stderr
    assert "entries" in result.stdout.decode()
    assert result.stderr == b""
    return path


@pytest.fixture
def files_dir(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    root.mkdir()
    (root / "a.txt").write_bytes(b"alpha" * 100)
    return root
