"""``randread verify``: checksums of every entry, a bundle's index, problems listed."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from rich.console import Console

import randread
from randread.cli import verify as verify_module
from tests.cli.helpers import (
    ENTRIES,
    corrupt_entry,
    flip_byte,
    header_offset,
    invoke,
    run,
    write_zip,
)


def test_verify_good_archive(sample_zip: Path) -> None:
    result = run("verify", sample_zip)
    assert result.returncode == 0
    assert result.stderr == b""  # no progress bar when stderr is not a terminal
    assert result.stdout.decode().splitlines() == [
        f"{sample_zip}: {len(ENTRIES)} entries checked, no problems"
    ]


def test_verify_reports_a_corrupted_entry(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "bad.zip")
    corrupt_entry(path, "data/all-bytes.bin")
    result = run("verify", path)
    stdout = result.stdout.decode()
    assert result.returncode == 1
    assert b"Traceback" not in result.stderr
    offset = header_offset(path, "data/all-bytes.bin")
    lines = stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"FAIL data/all-bytes.bin (local header at 0x{offset:x}): ")
    assert "CRC" in lines[0]
    assert lines[1] == f"{path}: {len(ENTRIES)} entries checked, 1 problem"


def test_verify_reports_a_corrupted_deflate_stream(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "bad.zip")
    corrupt_entry(path, "hello.txt")
    result = run("verify", path)
    assert result.returncode == 1
    assert b"Traceback" not in result.stderr
    assert result.stdout.decode().startswith("FAIL hello.txt (local header at 0x0): ")


def test_verify_lists_at_most_max_problems(tmp_path: Path) -> None:
    entries = {f"file{i}.bin": (bytes([i]) * 100, zipfile.ZIP_STORED) for i in range(6)}
    path = write_zip(tmp_path / "bad.zip", entries)
    for name in entries:
        corrupt_entry(path, name)
    result = invoke("verify", "--max-problems", "4", path)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines[:4]] == [f"file{i}.bin" for i in range(4)]
    assert lines[4:] == ["... and 2 more", f"{path}: 6 entries checked, 6 problems"]


def test_verify_counts_an_unreadable_entry_as_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "encrypted.zip"
    data = bytearray(write_zip(path, {"secret.txt": (b"x" * 10, zipfile.ZIP_STORED)}).read_bytes())
    # Set the "encrypted" flag bit in the local and the central header.
    data[6] |= 1
    central = data.rindex(b"PK\x01\x02")
    data[central + 8] |= 1
    path.write_bytes(bytes(data))
    result = invoke("verify", path)
    assert result.exit_code == 1
    assert "FAIL secret.txt" in result.stdout
    assert "encrypted" in result.stdout


def test_verify_shows_progress_on_a_terminal(
    sample_zip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = io.StringIO()
    monkeypatch.setattr(
        verify_module, "stderr_console", lambda: Console(file=terminal, force_terminal=True)
    )
    monkeypatch.setattr(verify_module, "_PROGRESS_MIN_BYTES", 0)
    result = invoke("verify", sample_zip)
    assert result.exit_code == 0
    assert terminal.getvalue()


def test_verify_shows_no_progress_for_a_small_archive(
    sample_zip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = io.StringIO()
    monkeypatch.setattr(
        verify_module, "stderr_console", lambda: Console(file=terminal, force_terminal=True)
    )
    assert invoke("verify", sample_zip).exit_code == 0
    assert terminal.getvalue() == ""


def test_verify_reports_a_corrupted_bundle_entry(sample_zip: Path, tmp_path: Path) -> None:
    path = tmp_path / "plain.rrb"
    assert invoke("convert", "--codec", "none", sample_zip, path).exit_code == 0
    with randread.BundleReader(path) as reader:
        offset = reader.getinfo("data/all-bytes.bin").data_offset
    flip_byte(path, offset + 100)
    result = run("verify", path)
    assert result.returncode == 1
    assert b"Traceback" not in result.stderr
    assert f"FAIL data/all-bytes.bin (data at 0x{offset:x}): " in result.stdout.decode()
    assert result.stdout.decode().endswith(f"{len(ENTRIES)} entries checked, 1 problem\n")


def test_verify_checks_a_bundle_index(sample_zip: Path, tmp_path: Path) -> None:
    path = tmp_path / "damaged.rrb"
    assert invoke("convert", sample_zip, path).exit_code == 0
    footer = path.stat().st_size - 128
    with path.open("rb") as file:
        file.seek(footer + 24)  # the footer's hash_table_offset (formats/bundle.md)
        hash_table_offset = int.from_bytes(file.read(8), "little")
    flip_byte(path, hash_table_offset + 3)
    result = invoke("verify", path)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("FAIL index: ")
    assert "checksum" in lines[0]
    assert lines[-1].startswith(f"{path}: {len(ENTRIES)} entries checked, ")
