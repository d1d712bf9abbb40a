"""ZipReader as a drop-in for zipfile.ZipFile: what code written for zipfile sees.

Each test states one behaviour of zipfile.ZipFile in mode "r" that a user
switching to ZipReader depends on, checked against zipfile itself where it can be.
"""

from __future__ import annotations

import io
import os
import sys
import threading
import zipfile
from pathlib import Path

import pytest

import randread
from tests.conftest import run_threads
from tests.zipbuilder import Archive, Entry

FILES = {"a.txt": b"alpha" * 100, "dir/b.bin": bytes(range(256)) * 40, "empty/": b""}


def make_zip(files: dict[str, bytes] = FILES, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def zip_path(tmp_path: Path) -> Path:
    path = tmp_path / "archive.zip"
    path.write_bytes(make_zip())
    return path


def test_is_a_zipfile_and_zipfile_path_works(zip_path: Path) -> None:
    with randread.ZipReader(zip_path) as reader:
        assert isinstance(reader, zipfile.ZipFile)
        root = zipfile.Path(reader)
        assert sorted(p.name for p in root.iterdir()) == ["a.txt", "dir", "empty"]
        assert root.joinpath("dir/b.bin").read_bytes() == FILES["dir/b.bin"]
        assert (root / "a.txt").read_text() == "alpha" * 100
        # As with zipfile, the reader now lists implied directories too, and
        # keeps reading with its own (lock-free) code.
        assert isinstance(reader, randread.ZipReader)
        assert "dir/" in reader.namelist()
        assert reader.read("a.txt") == FILES["a.txt"]
        reader.extractall(zip_path.parent / "out")
    assert (zip_path.parent / "out" / "dir" / "b.bin").read_bytes() == FILES["dir/b.bin"]


def test_zipfile_constructor_arguments(zip_path: Path) -> None:
    with randread.ZipReader(
        zip_path,
        "r",
        zipfile.ZIP_DEFLATED,
        True,
        9,
        strict_timestamps=False,
        metadata_encoding="cp437",
    ) as reader:
        assert reader.mode == "r"
        assert reader.read("a.txt") == FILES["a.txt"]
    for mode in ("w", "a", "x", "rb"):
        with pytest.raises(ValueError, match="mode"):
            randread.ZipReader(zip_path, mode)
    with pytest.raises(NotImplementedError):
        randread.ZipReader(zip_path, "r", 77)


def test_printdir_matches_zipfile(zip_path: Path) -> None:
    ours, theirs = io.StringIO(), io.StringIO()
    with randread.ZipReader(zip_path) as reader:
        reader.printdir(ours)
    with zipfile.ZipFile(zip_path) as reference:
        reference.printdir(theirs)
    assert ours.getvalue() == theirs.getvalue()


def test_zipfile_cli_lists_in_process(zip_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with randread.ZipReader(zip_path) as reader:
        reader.printdir()
    ours = capsys.readouterr().out
    zipfile.main(["-l", os.fspath(zip_path)])
    assert ours == capsys.readouterr().out


def test_filelist_name_to_info_fp_and_repr(zip_path: Path) -> None:
    with zipfile.ZipFile(zip_path) as reference:
        expected = [(i.filename, i.header_offset, i.CRC) for i in reference.filelist]
    reader = randread.ZipReader(zip_path)
    assert [(i.filename, i.header_offset, i.CRC) for i in reader.filelist] == expected
    assert set(reader.NameToInfo) == {name for name, _, _ in expected}
    assert reader.NameToInfo["a.txt"] is reader.getinfo("a.txt")
    assert reader.fp is not None
    assert f"filename={os.fspath(zip_path)!r}" in repr(reader)
    assert "mode='r'" in repr(reader)
    reader.close()
    assert reader.fp is None
    assert "[closed]" in repr(reader)
    with open(zip_path, "rb") as file, randread.ZipReader(file) as from_file:  # noqa: PTH123
        assert from_file.fp is file
        assert f"file={file!r}" in repr(from_file)
        assert from_file.filename == file.name


def test_members_behave_like_zipextfile(zip_path: Path) -> None:
    mode = "rb" if sys.version_info >= (3, 13) else "r"
    with randread.ZipReader(zip_path) as reader, zipfile.ZipFile(zip_path) as reference:
        for name in ("a.txt", "dir/b.bin"):
            with reader.open(name) as ours, reference.open(name) as theirs:
                assert ours.name == theirs.name == name
                assert ours.mode == theirs.mode == mode
                assert f"name={name!r}" in repr(ours)
                assert "compress_type=deflate" in repr(ours)
                assert ours.readline() == theirs.readline()
                assert ours.peek(1)[:1] == theirs.peek(1)[:1]
                assert ours.read1(10) == theirs.read1(10)
        member = reader.open("a.txt")
        member.close()
        assert "[closed]" in repr(member)
        for method in (member.readable, member.seekable, member.read, member.tell):
            with pytest.raises(ValueError, match="closed"):
                method()


def test_members_outlive_the_reader(zip_path: Path) -> None:
    reader = randread.ZipReader(zip_path)
    first = reader.open("a.txt")
    second = reader.open("dir/b.bin")
    source = reader.fp  # the reader's own ReadAt (no file object was passed)
    assert isinstance(source, randread.ReadAt)
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.read("a.txt")
    with pytest.raises(ValueError, match="closed"):
        reader.open("a.txt")
    with first, second:
        assert first.read() == FILES["a.txt"]
        assert second.read() == FILES["dir/b.bin"]
        assert not source.closed
    assert source.closed


def test_members_opened_and_closed_from_threads(zip_path: Path) -> None:
    reader = randread.ZipReader(zip_path)
    source = reader.fp
    assert isinstance(source, randread.ReadAt)
    opened = threading.Barrier(8)

    def work(index: int) -> None:
        member = reader.open("dir/b.bin")
        opened.wait(30)
        if index == 0:
            reader.close()  # while seven other members are open
        with member:
            assert member.read() == FILES["dir/b.bin"]

    run_threads(8, work, timeout=60)
    assert source.closed


def test_truncated_source_raises_eof_error() -> None:
    data = make_zip({"big": os.urandom(50_000)}, zipfile.ZIP_STORED)
    for method in ("read", "read1"):
        file = io.BytesIO(data)
        with randread.ZipReader(file) as reader, reader.open("big") as member:
            file.truncate(len(data) // 2)

            def drain(read: object = getattr(member, method)) -> None:
                while read(100):  # type: ignore[operator]
                    pass

            with pytest.raises(EOFError) as caught:
                drain()
            assert isinstance(caught.value, zipfile.BadZipFile)
            assert isinstance(caught.value, randread.ZipTruncatedError)


def test_zip_cut_out_of_a_larger_file_reads(tmp_path: Path) -> None:
    """Offsets larger than the real ones: zipfile works out the (negative) base."""
    stub = b"not a zip " * 20
    path = tmp_path / "appended.zip"
    path.write_bytes(stub)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("x.txt", b"payload")
    cut = path.read_bytes()[len(stub) :]
    with randread.ZipReader(cut) as reader:
        assert reader.base_offset == -len(stub)
        assert reader.read("x.txt") == b"payload"
        assert reader.getinfo("x.txt").header_offset == 0
    with open(path, "rb") as file:  # noqa: PTH123
        file.seek(len(stub))
        with zipfile.ZipFile(file) as reference:
            assert reference.read("x.txt") == b"payload"


def test_offsets_before_the_start_are_refused() -> None:
    data = Archive(
        [Entry("a", b"1"), Entry("b", b"2")], prefix=b"P" * 40, adjust_offsets=True
    ).build()[40:]
    broken = bytearray(data)
    # Move entry "a"'s recorded offset further back than the missing bytes.
    position = broken.index(b"PK\x01\x02") + 42
    broken[position : position + 4] = (0).to_bytes(4, "little")
    with pytest.raises(randread.ZipFormatError, match="before the start of the file"):
        randread.ZipReader(bytes(broken))


def test_local_and_central_names_compared_decoded() -> None:
    # zipfile's append mode rewrites the central directory with a UTF-8 name
    # for an entry whose local header keeps the cp437 one.
    buffer = io.BytesIO(Archive([Entry("\u00e9.txt".encode("cp437"), b"data")]).build())
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("new.txt", b"new")
    data = buffer.getvalue()
    with randread.ZipReader(data) as reader:
        assert reader.read("new.txt") == b"new"
        assert reader.read("\u00e9.txt") == b"data"
    with randread.ZipReader(data, metadata_encoding="latin-1") as reader:
        with pytest.raises(zipfile.BadZipFile, match="differ"):
            reader.read("\u00e9.txt")


def test_undecodable_name_raises_unicode_decode_error() -> None:
    data = Archive([Entry(b"\x88\xea.txt", b"x")]).build()
    with pytest.raises(UnicodeDecodeError) as caught:
        randread.ZipReader(data, metadata_encoding="ascii")
    assert isinstance(caught.value, zipfile.BadZipFile)
    assert isinstance(caught.value, randread.ZipNameDecodeError)
    assert "central directory entry 0" in str(caught.value)


def test_pwd_attribute_and_setpassword() -> None:
    data = Archive([Entry("s.txt", b"secret", password=b"pw")]).build()
    with randread.ZipReader(data) as reader:
        assert reader.pwd is None
        reader.pwd = b"pw"
        assert reader.read("s.txt") == b"secret"
        reader.setpassword(None)
        with pytest.raises(RuntimeError, match="password"):
            reader.read("s.txt")
        with pytest.raises(TypeError, match="pwd: expected bytes, got str"):
            reader.pwd = "pw"  # type: ignore[assignment]


def test_extract_returns_path_joined_to_what_was_passed(
    zip_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with randread.ZipReader(zip_path) as reader, zipfile.ZipFile(zip_path) as reference:
        for member in ("dir/b.bin", "empty/"):
            ours = reader.extract(member, "ours/sub")
            theirs = reference.extract(member, "theirs/sub")
            assert ours == theirs.replace("theirs", "ours")
        assert reader.extract("a.txt") == os.path.join(os.getcwd(), "a.txt")  # noqa: PTH109, PTH118


def test_extract_over_a_file_raises_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "dir").write_bytes(b"a file")
    with randread.ZipReader(make_zip()) as reader:
        with pytest.raises(NotADirectoryError):
            reader.extract("dir/b.bin", tmp_path)
    assert (tmp_path / "dir").read_bytes() == b"a file"


def test_writing_is_refused_with_value_error(zip_path: Path) -> None:
    with randread.ZipReader(zip_path) as reader:
        with pytest.raises(ValueError, match="mode"):
            reader.write(zip_path)
        with pytest.raises(ValueError, match="mode"):
            reader.writestr("x", b"y")
        with pytest.raises(ValueError, match="mode"):
            reader.open("a.txt", "w")
        with pytest.raises(ValueError, match="writing"):
            reader.comment = b"new"


def test_duplicate_names_read_the_entry_the_info_names() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("name", b"first")
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("name", b"second")
    data = buffer.getvalue()
    with randread.ZipReader(data) as reader, zipfile.ZipFile(io.BytesIO(data)) as reference:
        assert [reader.read(info) for info in reader.infolist()] == [b"first", b"second"]
        assert [reader.read(info) for info in reference.infolist()] == [b"first", b"second"]
        assert reader.read("name") == reference.read("name") == b"second"


def test_version_needed_above_6_3_is_refused() -> None:
    data = bytearray(Archive([Entry("a", b"x")]).build())
    position = data.index(b"PK\x01\x02") + 6
    data[position] = 64
    with pytest.raises(NotImplementedError, match=r"6\.4"):
        randread.ZipReader(bytes(data))


def unicode_path_extra(raw_name: bytes, name: bytes) -> bytes:
    body = b"\x01" + zipfile.crc32(raw_name).to_bytes(4, "little") + name
    return b"up" + len(body).to_bytes(2, "little") + body


def test_unicode_path_field_applies_to_flagged_names_and_must_be_utf8() -> None:
    raw = b"flagged.txt"
    good = Entry(raw, b"1", flags=0x800, extra=unicode_path_extra(raw, "\u00fcber.txt".encode()))
    with randread.ZipReader(Archive([good]).build()) as reader:
        assert reader.namelist() == ["\u00fcber.txt"]
    bad = Entry(b"plain.txt", b"1", extra=unicode_path_extra(b"plain.txt", b"\xff\xfe"))
    with pytest.raises(zipfile.BadZipFile, match=r"Unicode Path extra field \(0x7075\)"):
        randread.ZipReader(Archive([bad]).build())
