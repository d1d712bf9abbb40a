"""Errors end in one line on stderr and exit status 1; hints, ``--debug``, usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import assert_one_line_error, invoke, run


def test_missing_archive_is_one_line_and_status_1(tmp_path: Path) -> None:
    missing = tmp_path / "missing.zip"
    assert_one_line_error(run("ls", missing), f"{missing}: No such file or directory")


def test_file_that_is_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"just some text, no archive here\n" * 4)
    assert_one_line_error(run("info", path), f"{path}: ", "end of central directory")


@pytest.mark.parametrize(
    "args", [("--debug", "ls"), ("ls", "--debug")], ids=["before-command", "after-command"]
)
def test_debug_shows_the_traceback(tmp_path: Path, args: tuple[str, str]) -> None:
    result = run(*args, tmp_path / "missing.zip")
    assert result.returncode == 1
    assert b"Traceback" in result.stderr
    assert b"FileNotFoundError" in result.stderr


def test_a_truncated_zip_is_called_truncated(sample_zip: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.zip"
    cut.write_bytes(sample_zip.read_bytes()[:5000])
    for command in ("ls", "convert"):
        args = (cut, tmp_path / "cut.rrb") if command == "convert" else (cut,)
        assert_one_line_error(run(command, *args), "no end of central directory", "truncated")


def test_a_file_that_is_no_zip_gets_no_truncation_hint(tmp_path: Path) -> None:
    path = tmp_path / "notes.zip"
    path.write_bytes(b"plain text\n" * 10)
    stderr = assert_one_line_error(run("ls", path), "end of central directory")
    assert "truncated" not in stderr


def test_a_directory_given_as_archive(tmp_path: Path) -> None:
    assert_one_line_error(run("ls", tmp_path), "Is a directory")


def test_storage_option_for_a_local_file_is_a_usage_error(sample_zip: Path) -> None:
    for args in (
        ("--storage-option", "anon=true", "ls", sample_zip),
        ("ls", "--storage-option", "anon=true", sample_zip),
    ):
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        assert "'--storage-option'" in result.output
        assert "only to URL archives" in result.output


def test_a_storage_option_the_filesystem_does_not_take_is_a_usage_error() -> None:
    pytest.importorskip("s3fs")
    # s3fs refuses the option when it makes its session, before any request;
    # the endpoint is a loopback port all the same.
    result = invoke(
        "--storage-option",
        "no_such_option=1",
        "--storage-option",
        "endpoint_url=http://127.0.0.1:9",
        "ls",
        "s3://bucket/a.zip",
    )
    assert result.exit_code == 2, result.output
    assert "'--storage-option'" in result.output
    assert "no_such_option" in result.output
    assert "internal error" not in result.output
