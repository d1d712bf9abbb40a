"""The ``randread`` command line, end to end and in process.

End-to-end tests run ``python -m randread`` in a subprocess and check what a
user or a script sees: exit statuses, stdout bytes, and stderr with no
traceback. The faster in-process tests use click's CliRunner for the rest.
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

import randread
from randread import cli

DATE_TIME = (2021, 3, 4, 5, 6, 8)
TEXT = b"The quick brown fox jumps over the lazy dog.\n" * 300
ALL_BYTES = bytes(range(256)) * 8 + b"\r\n\x00\x1a\r"
#: larger than the CLI's 1 MiB streaming chunk, so cat and verify loop
BIG = random.Random(1).randbytes(3 << 20)
UNICODE_NAME = "notes/naïve ☃.txt"
COMMENT = b"sample archive"
#: name -> (content, method); "data/" is a directory entry
ENTRIES: dict[str, tuple[bytes, int]] = {
    "hello.txt": (TEXT, zipfile.ZIP_DEFLATED),
    "data/": (b"", zipfile.ZIP_STORED),
    "data/all-bytes.bin": (ALL_BYTES, zipfile.ZIP_STORED),
    "data/big.bin": (BIG, zipfile.ZIP_STORED),
    UNICODE_NAME: ("naïve ☃\n".encode(), zipfile.ZIP_DEFLATED),
}


def write_zip(path: Path, entries: dict[str, tuple[bytes, int]] = ENTRIES) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, (data, method) in entries.items():
            info = zipfile.ZipInfo(name, DATE_TIME)
            info.compress_type = method
            archive.writestr(info, data)
        archive.comment = COMMENT
    return path


def data_offset(path: Path, name: str) -> int:
    """Where the data of zip entry ``name`` starts (after its local header)."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    with path.open("rb") as file:
        file.seek(info.header_offset + 26)
        lengths = file.read(4)
    name_length = int.from_bytes(lengths[:2], "little")
    extra_length = int.from_bytes(lengths[2:], "little")
    return info.header_offset + 30 + name_length + extra_length


def flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as file:
        file.seek(offset)
        byte = file.read(1)[0]
        file.seek(offset)
        file.write(bytes([byte ^ 0xFF]))


def corrupt_entry(path: Path, name: str) -> None:
    """Flip one byte in the middle of the compressed data of ``name``."""
    with zipfile.ZipFile(path) as archive:
        size = archive.getinfo(name).compress_size
    flip_byte(path, data_offset(path, name) + size // 2)


def header_offset(path: Path, name: str) -> int:
    with zipfile.ZipFile(path) as archive:
        return archive.getinfo(name).header_offset


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.fixture(scope="module")
def sample_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A zip with stored, deflated, binary, large, unicode and directory entries (read only)."""
    return write_zip(tmp_path_factory.mktemp("cli") / "sample.zip")


@pytest.fixture(autouse=True)
def plain_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output as in a pipe, whatever the environment running the tests asks for."""
    for variable in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"):
        monkeypatch.delenv(variable, raising=False)


# -- end to end, through python -m randread ------------------------------------


def run(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(  # noqa: S603 - this interpreter, on files the tests wrote
        [sys.executable, "-m", "randread", *(os.fspath(arg) for arg in args)],
        capture_output=True,
        check=False,
        timeout=60,
        env=env,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[bytes], *fragments: str) -> str:
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("randread: error: ")
    for fragment in fragments:
        assert fragment in stderr
    return stderr


def test_ls_prints_names_in_archive_order(sample_zip: Path) -> None:
    result = run("ls", sample_zip)
    assert result.returncode == 0
    assert result.stderr == b""
    assert result.stdout.decode().splitlines() == list(ENTRIES)


def test_ls_json_is_a_list_of_entry_objects(sample_zip: Path) -> None:
    result = run("ls", "--json", sample_zip)
    assert result.returncode == 0
    records = json.loads(result.stdout)
    assert [record["name"] for record in records] == list(ENTRIES)
    by_name = {record["name"]: record for record in records}
    assert by_name["hello.txt"]["size"] == len(TEXT)
    assert by_name["hello.txt"]["compressed_size"] < len(TEXT)
    assert by_name["hello.txt"]["method"] == "deflate"
    assert by_name["data/big.bin"]["method"] == "stored"
    assert by_name["hello.txt"]["mtime"] == "2021-03-04T05:06:08"
    assert by_name["data/"]["is_dir"] is True
    assert by_name["hello.txt"]["is_dir"] is False


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


def test_missing_archive_is_one_line_and_status_1(tmp_path: Path) -> None:
    missing = tmp_path / "missing.zip"
    assert_one_line_error(run("ls", missing), f"{missing}: No such file or directory")


def test_file_that_is_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"just some text, no archive here\n" * 4)
    assert_one_line_error(run("info", path), f"{path}: ", "end of central directory")


def test_cat_of_a_missing_entry(sample_zip: Path) -> None:
    assert_one_line_error(run("cat", sample_zip, "nope.txt"), "no entry named 'nope.txt'")


@pytest.mark.parametrize(
    "args", [("--debug", "ls"), ("ls", "--debug")], ids=["before-command", "after-command"]
)
def test_debug_shows_the_traceback(tmp_path: Path, args: tuple[str, str]) -> None:
    result = run(*args, tmp_path / "missing.zip")
    assert result.returncode == 1
    assert b"Traceback" in result.stderr
    assert b"FileNotFoundError" in result.stderr


def test_usage_errors_exit_with_status_2(sample_zip: Path) -> None:
    result = run("ls", "--no-such-option", sample_zip)
    assert result.returncode == 2
    assert b"No such option" in result.stderr
    assert invoke("ls").exit_code == 2
    assert invoke("no-such-command").exit_code == 2


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


def test_python_m_randread_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("cat", "convert", "extract", "info", "ls", "verify"):
        assert f"  {command} " in result.stdout.decode()


# -- in process ----------------------------------------------------------------


def invoke(*args: str | os.PathLike[str]) -> Result:
    return CliRunner().invoke(cli.main, [os.fspath(arg) for arg in args])


COMMANDS = ("ls", "cat", "info", "verify", "extract", "convert", "bench")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout
    assert f"randread {command} " in result.stdout


def test_ls_long_shows_size_compressed_size_method_and_time(sample_zip: Path) -> None:
    result = invoke("ls", "--long", sample_zip)
    assert result.exit_code == 0
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["size", "compressed", "method", "modified", "name"]
    assert len(rows) == len(ENTRIES)
    hello = rows[0].split()
    compressed = zipfile.ZipFile(sample_zip).getinfo("hello.txt").compress_size
    assert hello == [
        str(len(TEXT)),
        str(compressed),
        "deflate",
        "2021-03-04",
        "05:06:08",
        "hello.txt",
    ]
    assert rows[-1].endswith(f"  {UNICODE_NAME}")


def test_info_summarizes_a_zip(sample_zip: Path) -> None:
    result = invoke("info", sample_zip)
    assert result.exit_code == 0
    fields = dict(line.split(None, 1) for line in result.stdout.splitlines() if " " in line)
    assert fields["format"] == "zip"
    assert fields["entries"] == str(len(ENTRIES))
    assert fields["methods"] == "stored 3, deflate 2"
    assert fields["comment"] == COMMENT.decode()
    total = sum(len(data) for data, _method in ENTRIES.values())
    assert fields["size"].endswith(f"({total:,} bytes)")
    assert "dictionary" not in fields


def test_info_json(sample_zip: Path) -> None:
    result = invoke("info", "--json", sample_zip)
    assert result.exit_code == 0
    facts = json.loads(result.stdout)
    with zipfile.ZipFile(sample_zip) as archive:
        infos = archive.infolist()
    assert facts["format"] == "zip"
    assert facts["entries"] == len(ENTRIES)
    assert facts["methods"] == {"stored": 3, "deflate": 2}
    assert facts["size"] == sum(info.file_size for info in infos)
    assert facts["compressed_size"] == sum(info.compress_size for info in infos)
    assert facts["ratio"] == pytest.approx(facts["compressed_size"] / facts["size"])
    assert facts["file_size"] == sample_zip.stat().st_size
    assert facts["comment"] == COMMENT.decode()


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
    monkeypatch.setattr(cli, "_stderr", lambda: Console(file=terminal, force_terminal=True))
    monkeypatch.setattr(cli, "_VERIFY_PROGRESS_MIN_BYTES", 0)
    result = invoke("verify", sample_zip)
    assert result.exit_code == 0
    assert terminal.getvalue()


def test_verify_shows_no_progress_for_a_small_archive(
    sample_zip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = io.StringIO()
    monkeypatch.setattr(cli, "_stderr", lambda: Console(file=terminal, force_terminal=True))
    assert invoke("verify", sample_zip).exit_code == 0
    assert terminal.getvalue() == ""


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
    assert not cli._escapes(name)


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


# -- convert, against a stand-in converter -----------------------------------------


@dataclass
class FakeResult:
    entries: int
    input_size: int
    output_size: int
    seconds: float
    dictionary_size: int = 0


class FakeConvert:
    """Follows the contract of randread.convert and records how it was called."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, object]]] = []

    def __call__(self, zip_path: str, bundle_path: str, **options: object) -> FakeResult:
        self.calls.append((zip_path, bundle_path, options))
        progress = options["progress"]
        assert callable(progress)
        progress(1, 2, "first.txt")
        progress(2, 2, "second.txt")
        Path(bundle_path).write_bytes(b"bundle")
        return FakeResult(entries=2, input_size=4000, output_size=1000, seconds=0.25)


@pytest.fixture
def fake_convert(monkeypatch: pytest.MonkeyPatch) -> FakeConvert:
    fake = FakeConvert()
    monkeypatch.setattr(randread, "convert", fake, raising=False)
    return fake


def test_convert_passes_only_the_options_given(
    fake_convert: FakeConvert, sample_zip: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.rrb"
    result = invoke("convert", sample_zip, output)
    assert result.exit_code == 0, result.output
    ((zip_path, bundle_path, options),) = fake_convert.calls
    assert (zip_path, bundle_path) == (os.fspath(sample_zip), os.fspath(output))
    assert set(options) == {"codec", "overwrite", "progress"}
    assert options["codec"] == "auto"
    assert options["overwrite"] is False


def test_convert_options_reach_the_converter(
    fake_convert: FakeConvert, sample_zip: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.rrb"
    output.write_bytes(b"old")
    args = ["--codec", "lz4", "--level", "3", "--no-dictionary", "--alignment", "64", "--force"]
    result = invoke("convert", *args, sample_zip, output)
    assert result.exit_code == 0, result.output
    ((_, _, options),) = fake_convert.calls
    del options["progress"]
    assert options == {
        "codec": "lz4",
        "level": 3,
        "dictionary": False,
        "alignment": 64,
        "overwrite": True,
    }


def test_convert_prints_a_summary(
    fake_convert: FakeConvert, sample_zip: Path, tmp_path: Path
) -> None:
    result = invoke("convert", sample_zip, tmp_path / "out.rrb")
    assert result.exit_code == 0
    fields = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert fields["entries"] == "2"
    assert fields["input"] == "4.0 kB (4,000 bytes)"
    assert fields["output"] == "1.0 kB (1,000 bytes)"
    assert fields["ratio"] == "25.0% of input"
    assert fields["time"] == "0.25 s"
    assert fake_convert.calls


def test_convert_quiet_prints_nothing(
    fake_convert: FakeConvert, sample_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = io.StringIO()
    monkeypatch.setattr(cli, "_stderr", lambda: Console(file=terminal, force_terminal=True))
    result = invoke("convert", "--quiet", sample_zip, tmp_path / "out.rrb")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert terminal.getvalue() == ""
    assert fake_convert.calls


def test_convert_shows_progress_on_a_terminal(
    fake_convert: FakeConvert, sample_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = io.StringIO()
    monkeypatch.setattr(cli, "_stderr", lambda: Console(file=terminal, force_terminal=True))
    assert invoke("convert", sample_zip, tmp_path / "out.rrb").exit_code == 0
    assert fake_convert.calls
    assert terminal.getvalue()


def test_convert_refuses_to_overwrite_without_force(
    fake_convert: FakeConvert, sample_zip: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.rrb"
    output.write_bytes(b"precious")
    result = invoke("convert", sample_zip, output)
    assert result.exit_code == 2
    assert "--force" in result.stderr
    assert output.read_bytes() == b"precious"
    assert not fake_convert.calls


def test_convert_refuses_to_write_over_its_input(
    fake_convert: FakeConvert, sample_zip: Path
) -> None:
    result = invoke("convert", "--force", sample_zip, sample_zip)
    assert result.exit_code == 2
    assert "input file" in result.stderr
    assert not fake_convert.calls


@pytest.mark.parametrize("alignment", ["0", "3", "8192", "-4"])
def test_convert_rejects_a_bad_alignment(
    fake_convert: FakeConvert, sample_zip: Path, tmp_path: Path, alignment: str
) -> None:
    result = invoke("convert", "--alignment", alignment, sample_zip, tmp_path / "out.rrb")
    assert result.exit_code == 2
    assert not fake_convert.calls


def test_convert_errors_are_one_line(
    monkeypatch: pytest.MonkeyPatch, sample_zip: Path, tmp_path: Path
) -> None:
    def failing(*_args: object, **_options: object) -> FakeResult:
        raise randread.UnsupportedFeatureError("the name 'a' appears more than once")

    monkeypatch.setattr(randread, "convert", failing, raising=False)
    result = invoke("convert", sample_zip, tmp_path / "out.rrb")
    assert result.exit_code == 1
    assert result.stderr == (
        f"randread: error: {sample_zip}: the name 'a' appears more than once\n"
    )


# -- bundles, with the real converter ------------------------------------------------


@pytest.fixture(scope="module")
def sample_bundle(sample_zip: Path) -> Path:
    path = sample_zip.with_name("sample.rrb")
    result = run("convert", sample_zip, path)
    assert result.returncode == 0, result.stderr
    assert "entries" in result.stdout.decode()
    assert result.stderr == b""
    return path


def test_bundle_reads_like_the_zip(sample_bundle: Path) -> None:
    listing = invoke("ls", "--json", sample_bundle)
    assert [record["name"] for record in json.loads(listing.stdout)] == list(ENTRIES)
    for name in ("data/all-bytes.bin", "data/big.bin", UNICODE_NAME):
        assert invoke("cat", sample_bundle, name).stdout_bytes == ENTRIES[name][0]
    assert invoke("verify", sample_bundle).exit_code == 0


def test_bundle_info(sample_bundle: Path) -> None:
    result = invoke("info", "--json", sample_bundle)
    assert result.exit_code == 0
    facts = json.loads(result.stdout)
    assert facts["format"] == "bundle"
    assert facts["entries"] == len(ENTRIES)
    assert facts["comment"] == COMMENT.decode()
    assert "dictionary_size" in facts
    text = invoke("info", sample_bundle).stdout
    assert "dictionary" in text


def test_bundle_extract(sample_bundle: Path, tmp_path: Path) -> None:
    target = tmp_path / "out"
    assert invoke("extract", sample_bundle, target).exit_code == 0
    for name, (data, _method) in ENTRIES.items():
        if not name.endswith("/"):
            assert (target / name).read_bytes() == data
    assert (target / "data").is_dir()


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


# -- usage errors, hints and refusals at the edges ---------------------------------


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


def test_a_url_without_fsspec_is_reported_before_any_work(
    monkeypatch: pytest.MonkeyPatch, files_dir: Path
) -> None:
    monkeypatch.setattr(cli.importlib.util, "find_spec", lambda _name: None)
    result = invoke("bench", files_dir, "s3://bucket/a.zip", "--quick")
    assert result.exit_code == 1
    assert "pip install 'randread[remote]'" in result.output
    assert "Corpus" not in result.output


def test_bench_plot_without_matplotlib_fails_before_measuring(
    monkeypatch: pytest.MonkeyPatch, files_dir: Path
) -> None:
    real_find_spec = cli.importlib.util.find_spec
    monkeypatch.setattr(
        cli.importlib.util,
        "find_spec",
        lambda name: None if name == "matplotlib" else real_find_spec(name),
    )
    result = invoke("bench", files_dir, "--quick", "--plot", "out.png")
    assert result.exit_code == 2
    assert "'--plot'" in result.output
    assert "randread[plot]" in result.output
    assert "Corpus" not in result.output


@pytest.fixture
def files_dir(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    root.mkdir()
    (root / "a.txt").write_bytes(b"alpha" * 100)
    return root


@pytest.mark.parametrize(
    ("codec", "level"), [("auto", "99"), ("zstd", "23"), ("lz4", "13"), ("lz4", "-1")]
)
def test_convert_refuses_a_level_the_codec_lacks(
    fake_convert: FakeConvert, sample_zip: Path, tmp_path: Path, codec: str, level: str
) -> None:
    result = invoke("convert", "--codec", codec, "--level", level, sample_zip, tmp_path / "o.rrb")
    assert result.exit_code == 2, result.output
    assert "'--level'" in result.output
    assert f"{level} is not" in result.output
    assert not fake_convert.calls


def test_convert_of_a_bundle_says_it_is_one(sample_bundle: Path, tmp_path: Path) -> None:
    assert_one_line_error(
        run("convert", sample_bundle, tmp_path / "again.rrb"), "is a randread bundle already"
    )
    assert not (tmp_path / "again.rrb").exists()


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


def test_convert_warns_when_the_bundle_is_not_smaller(tmp_path: Path) -> None:
    source = tmp_path / "random.zip"
    rng = random.Random(2)
    with zipfile.ZipFile(source, "w") as archive:
        for index in range(29):
            archive.writestr(f"r{index}.bin", rng.randbytes(300))
    result = invoke("convert", "--codec", "none", "--alignment", "4096", source, tmp_path / "r.rrb")
    assert result.exit_code == 0, result.output
    assert "warning: the bundle is not smaller than the zip" in result.stderr
    smaller = invoke("convert", "--codec", "none", source, tmp_path / "small.rrb")
    assert smaller.exit_code == 0
    output = (tmp_path / "small.rrb").stat().st_size
    assert ("warning" in smaller.stderr) == (output >= source.stat().st_size)


def test_convert_names_the_dictionary_when_it_made_the_bundle_larger(
    fake_convert: FakeConvert, monkeypatch: pytest.MonkeyPatch, sample_zip: Path, tmp_path: Path
) -> None:
    def larger(zip_path: str, bundle_path: str, **options: object) -> FakeResult:
        fake_convert(zip_path, bundle_path, **options)
        return FakeResult(4, 16000, 16064, 0.1, dictionary_size=16384)

    monkeypatch.setattr(randread, "convert", larger, raising=False)
    result = invoke("convert", sample_zip, tmp_path / "out.rrb")
    assert result.exit_code == 0
    assert "(100.4% of it)" in result.stderr
    assert "--no-dictionary" in result.stderr


def test_cat_of_a_directory_entry_is_an_error(sample_zip: Path) -> None:
    result = run("cat", sample_zip, "data/")
    assert_one_line_error(result, "'data/' is a directory entry")
    assert result.stdout == b""


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


def test_a_directory_given_as_archive(tmp_path: Path) -> None:
    assert_one_line_error(run("ls", tmp_path), "Is a directory")


def test_bench_takes_storage_options_next_to_local_sources(files_dir: Path) -> None:
    # The options are for URL sources; a local directory beside them is fine.
    result = invoke("bench", files_dir, "--storage-option", "anon=true", "--list-formats")
    assert result.exit_code == 0, result.output
    assert "bundle-zstd" in result.output
