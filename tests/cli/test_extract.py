"""``randread extract``: all or nothing, and never outside the directory."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from randread.cli import extract as extract_module
from tests.cli.helpers import (
    ALL_BYTES,
    ENTRIES,
    TEXT,
    UNICODE_NAME,
    assert_one_line_error,
    corrupt_entry,
    files_under,
    invoke,
    run,
    write_zip,
)


def test_extract_writes_every_entry(sample_zip: Path, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = run("extract", sample_zip, target)
    assert result.returncode == 0
    assert result.stdout.decode() == f"extracted {len(ENTRIES)} entries to {target}\n"
    for name, (data, _method) in ENTRIES.items():
        if name.endswith("/"):
            assert (target / name).is_dir()
        else:
            assert (target / name).read_bytes() == data
    expected = {"notes", *(name.rstrip("/") for name in ENTRIES)}
    assert files_under(target) == sorted(expected)


def test_extract_refuses_an_escaping_name_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("fine.txt", b"fine")
        archive.writestr("../escaped.txt", b"outside")
        archive.writestr("later.txt", b"later")
    target = tmp_path / "out"
    assert_one_line_error(run("extract", path, target), "'../escaped.txt'", "nothing was extracted")
    assert not target.exists()
    assert not (tmp_path / "escaped.txt").exists()


def test_extract_only_the_names_given(sample_zip: Path, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = invoke("extract", sample_zip, target, "hello.txt", UNICODE_NAME)
    assert result.exit_code == 0
    assert result.stdout == f"extracted 2 entries to {target}\n"
    assert files_under(target) == sorted(["hello.txt", "notes", UNICODE_NAME])


def test_extract_of_a_missing_name_writes_nothing(sample_zip: Path, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = invoke("extract", sample_zip, target, "hello.txt", "nope.txt")
    assert result.exit_code == 1
    assert "no entry named 'nope.txt'" in result.stderr
    assert not target.exists()


def test_extract_is_all_or_nothing_when_an_entry_is_corrupt(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "bad.zip")
    corrupt_entry(path, "data/big.bin")  # after hello.txt and all-bytes.bin
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_bytes(b"already here")
    result = invoke("extract", path, target)
    assert result.exit_code == 1
    assert "data/big.bin" in result.stderr
    assert files_under(target) == ["keep.txt"]  # no partial files, no staging directory


def test_extract_replaces_existing_files(sample_zip: Path, tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "hello.txt").write_bytes(b"old")
    assert invoke("extract", sample_zip, target, "hello.txt").exit_code == 0
    assert (target / "hello.txt").read_bytes() == TEXT


@pytest.mark.parametrize(
    "name", ["/etc/passwd", "a/../../b", "..", "\\windows\\x", "C:/x", "a\\..\\..\\b"]
)
def test_extract_refuses_names_that_leave_the_directory(tmp_path: Path, name: str) -> None:
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("fine.txt", b"fine")
        archive.writestr(zipfile.ZipInfo(name), b"bad")
    target = tmp_path / "out"
    result = invoke("extract", path, target)
    assert result.exit_code == 1
    assert "would be written outside" in result.stderr
    assert not target.exists()


@pytest.mark.parametrize("name", ["a.txt", "a/b/c.txt", "dir/", "a..b", "..a/b", ".hidden/x"])
def test_ordinary_names_do_not_escape(name: str) -> None:
    assert not extract_module._escapes(name)


@pytest.mark.skipif(sys.platform == "win32", reason="needs symbolic links")
def test_extract_refuses_to_follow_a_link_out_of_the_directory(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "a.zip", {"data/x.txt": (b"x", zipfile.ZIP_STORED)})
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "out"
    target.mkdir()
    (target / "data").symlink_to(outside)
    result = invoke("extract", path, target)
    assert result.exit_code == 1
    assert "leads outside" in result.stderr
    assert list(outside.iterdir()) == []


def test_bundle_extract(sample_bundle: Path, tmp_path: Path) -> None:
    target = tmp_path / "out"
    assert invoke("extract", sample_bundle, target).exit_code == 0
    for name, (data, _method) in ENTRIES.items():
        if not name.endswith("/"):
            assert (target / name).read_bytes() == data
    assert (target / "data").is_dir()


def test_extract_refuses_an_existing_file_as_directory(sample_zip: Path, tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_bytes(b"keep me")
    result = invoke("extract", sample_zip, target)
    assert result.exit_code == 2
    assert "exists and is not a directory" in result.output
    assert target.read_bytes() == b"keep me"


def test_extract_refuses_an_entry_name_given_as_directory(
    sample_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("extract", sample_zip, "hello.txt")
    assert result.exit_code == 2
    assert "hello.txt looks like an entry name" in result.output
    assert "-d" in result.output
    assert list(tmp_path.iterdir()) == []


def test_extract_with_directory_option_takes_every_argument_as_a_name(
    sample_zip: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = invoke("extract", "-d", out, sample_zip, "hello.txt", "data/all-bytes.bin")
    assert result.exit_code == 0, result.output
    assert files_under(out) == ["data", "data/all-bytes.bin", "hello.txt"]
    assert invoke("extract", sample_zip).exit_code == 2


def test_an_existing_directory_named_like_an_entry_is_a_directory(
    sample_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hello.txt").mkdir()
    result = invoke("extract", sample_zip, "hello.txt", "data/all-bytes.bin")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hello.txt" / "data" / "all-bytes.bin").read_bytes() == ALL_BYTES
