"""The persisted central directory index (``ZipReader(..., index_cache=DIR)``).

An index is a cache: used when it matches the archive, rebuilt when it is
missing, stale, truncated, corrupt or of another version, and never able to
change what a reader returns or raises.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import randread
from randread import cli
from randread.readat.remote import DEFAULT_TAIL_WINDOW
from randread.zip import index as zip_index
from randread.zip.directory import Directory, read_directory
from tests.conftest import CORPORA, run_threads
from tests.zipbuilder import Archive, Entry


def make_zip(count: int, *, prefix: str = "", method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for number in range(count):
            archive.writestr(f"{prefix}dir{number % 7}/file_{number:05d}.txt", b"x" * number)
    return buffer.getvalue()


def index_files(cache: Path) -> list[Path]:
    return sorted(cache.glob(f"*{zip_index.INDEX_SUFFIX}"))


def snapshot(reader: randread.ZipReader) -> list[tuple[Any, ...]]:
    """Everything a user sees of the directory, for comparing two readers."""
    return [
        (
            info.filename,
            info.date_time,
            info.compress_type,
            info.CRC,
            info.compress_size,
            info.file_size,
            info.header_offset,
            info.extra,
            info.comment,
            info.external_attr,
            info.flag_bits,
            info.create_system,
        )
        for info in reader.infolist()
    ]


def open_status(source: Any, cache: Path, **options: Any) -> tuple[str | None, list[Any]]:
    """Open, read everything; return the index status after that, and what was seen.

    Sections of a mapped index are checked when used, so a damaged one may
    only be found (and the reader switched to a fresh parse) by the reads.
    """
    with randread.ZipReader(source, index_cache=cache, **options) as reader:
        contents = [(name, reader.read(name)) for name in reader.namelist()]
        seen = [snapshot(reader), contents, reader.comment]
        return reader._index_status, seen


def records(directory: Directory) -> tuple[Any, ...]:
    """Everything a Directory holds, for comparing a parsed one with a loaded one."""
    return (
        list(directory.entries()),
        directory.name_list(),
        bytes(directory.central_directory),
        directory.comment,
        directory.base_offset,
        directory.central_directory_offset,
        directory.central_directory_size,
        directory.end_of_central_directory_offset,
        directory.zip64,
    )


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "data.zip"
    path.write_bytes(make_zip(200))
    return path


def test_second_open_uses_the_index_and_sees_the_same_archive(
    archive: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    with randread.ZipReader(archive) as plain:
        expected = [snapshot(plain), [(n, plain.read(n)) for n in plain.namelist()], plain.comment]
        directory = plain._directory
    assert open_status(archive, cache) == ("built", expected)
    assert len(index_files(cache)) == 1
    assert open_status(archive, cache) == ("hit", expected)
    with randread.ZipReader(archive, index_cache=cache) as warm:
        assert records(warm._directory) == records(directory)
        assert "dir1/file_00001.txt" in warm
        assert len(warm) == 200


def test_a_warm_open_does_not_parse_the_directory(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    randread.ZipReader(archive, index_cache=cache).close()

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError

    monkeypatch.setattr(zip_index, "read_directory", refuse)
    with randread.ZipReader(archive, index_cache=cache) as reader:
        assert reader.read("dir3/file_00003.txt") == b"xxx"


def test_a_changed_archive_makes_the_index_stale(archive: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert open_status(archive, cache)[0] == "built"
    stat = archive.stat()
    archive.write_bytes(make_zip(150, prefix="new/"))
    assert open_status(archive, cache)[0] == "rebuilt"
    # Same size and modification time, other end records: still stale.
    data = make_zip(150, prefix="old/")
    assert len(data) == archive.stat().st_size
    archive.write_bytes(data)
    os.utime(archive, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    status, (_, contents, _) = open_status(archive, cache)
    assert status == "rebuilt"
    assert contents[0][0] == "old/dir0/file_00000.txt"
    assert open_status(archive, cache)[0] == "hit"
    assert len(index_files(cache)) == 1  # one index per archive location


def test_the_metadata_encoding_is_part_of_the_identity(tmp_path: Path) -> None:
    data = Archive([Entry(b"caf\xe9", b"1")]).build()
    cache = tmp_path / "cache"
    with randread.ZipReader(data, index_cache=cache) as reader:
        assert reader.namelist() == ["caf\u0398"]  # cp437
    with randread.ZipReader(data, index_cache=cache, metadata_encoding="latin-1") as reader:
        assert reader._index_status == "built"
        assert reader.namelist() == ["caf\xe9"]
    with randread.ZipReader(data, index_cache=cache) as reader:
        assert reader._index_status == "hit"
        assert reader.namelist() == ["caf\u0398"]


def damage_cases(data: bytes) -> dict[str, bytes]:
    header = zip_index._HEADER
    identity_length = header.unpack_from(data)[2]
    payload_start = header.size + identity_length + (-identity_length % 8)
    flipped = bytearray(data)
    flipped[payload_start + 100] ^= 0x40
    other_version = bytearray(data)
    struct.pack_into("<I", other_version, 8, zip_index.INDEX_VERSION + 1)
    other_magic = bytearray(data)
    other_magic[0:8] = b"PK\x03\x04\x00\x00\x00\x00"
    return {
        "empty": b"",
        "truncated header": data[:20],
        "truncated payload": data[:-1],
        "extended": data + b"\x00",
        "flipped payload byte": bytes(flipped),
        "other version": bytes(other_version),
        "other magic": bytes(other_magic),
        "garbage": os.urandom(len(data)),
    }


@pytest.mark.parametrize(
    "case",
    [
        "empty",
        "truncated header",
        "truncated payload",
        "extended",
        "flipped payload byte",
        "other version",
        "other magic",
        "garbage",
    ],
)
def test_a_damaged_index_is_rebuilt_never_trusted(archive: Path, tmp_path: Path, case: str) -> None:
    cache = tmp_path / "cache"
    _, expected = open_status(archive, cache)
    (path,) = index_files(cache)
    path.write_bytes(damage_cases(path.read_bytes())[case])
    assert open_status(archive, cache) == ("rebuilt", expected)
    assert open_status(archive, cache) == ("hit", expected)


def test_an_index_of_another_archive_is_not_used(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    first.write_bytes(make_zip(30, prefix="a/"))
    second.write_bytes(make_zip(30, prefix="b/"))
    open_status(first, cache)
    open_status(second, cache)
    one, other = index_files(cache)
    one_bytes, other_bytes = one.read_bytes(), other.read_bytes()
    one.write_bytes(other_bytes)  # swapped by mistake
    other.write_bytes(one_bytes)
    for path, prefix in ((first, "a/"), (second, "b/")):
        status, (_, contents, _) = open_status(path, cache)
        assert status == "rebuilt"
        assert contents[0][0] == f"{prefix}dir0/file_00000.txt"


class Reparse:
    """The rebuild step of a loaded index: parses ``data`` again and counts the calls."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls = 0

    def __call__(self) -> Directory:
        self.calls += 1
        return read_directory(randread.BytesReadAt(self.data))


def test_every_damaged_byte_or_length_is_refused_or_harmless() -> None:
    """A flipped byte makes the index refused at open, or is found on use, or changes nothing."""
    data = Archive(
        [Entry("a", b"alpha"), Entry("b/c", b""), Entry("caf\xe9", b"x")], comment=b"hi"
    ).build()
    directory = read_directory(randread.BytesReadAt(data))
    expected = records(directory)
    identity = "size=1;tail=x"
    encoded = zip_index.encode_index(directory, identity)
    reparse = Reparse(data)
    assert records(zip_index.decode_index(encoded, identity, reparse)) == expected
    assert reparse.calls == 0
    refused = found = 0
    for position in range(len(encoded)):
        damaged = bytearray(encoded)
        damaged[position] ^= 0xFF
        reparse = Reparse(data)
        try:
            loaded = zip_index.decode_index(bytes(damaged), identity, reparse)
        except zip_index._InvalidIndexError:
            refused += 1
            continue
        # by name, one entry at a time (the checks made on a warm open's first read)
        for ordinal, name in enumerate(directory.name_list()):
            assert loaded.entry(loaded.find(name)) == directory.entry(ordinal)
        assert records(loaded) == expected
        found += reparse.calls
    assert refused
    assert found
    for length in range(len(encoded)):
        with pytest.raises(zip_index._InvalidIndexError):
            zip_index.decode_index(encoded[:length], identity, Reparse(data))


def test_a_well_checksummed_index_with_impossible_offsets_is_not_trusted() -> None:
    """Section CRCs made to match a lie: the entry check still refuses the record."""
    data = Archive([Entry("a", b"alpha"), Entry("b", b"beta")]).build()
    directory = read_directory(randread.BytesReadAt(data))
    encoded = bytearray(zip_index.encode_index(directory, "id"))
    header = zip_index._HEADER
    identity_length = header.unpack_from(encoded)[2]
    payload = header.size + identity_length + (-identity_length % 8)
    number = [name for name, _, _ in zip_index._SECTIONS].index("directory_offset")
    entry_at = payload + zip_index._SUMMARY.size + number * zip_index._SECTION.size
    offset, length, _, _ = zip_index._SECTION.unpack_from(encoded, entry_at)
    struct.pack_into("<Q", encoded, payload + offset, 2**64 - 46)
    section = encoded[payload + offset : payload + offset + length]
    zip_index._SECTION.pack_into(encoded, entry_at, offset, length, zlib.crc32(section), 0)
    table_end = zip_index._SUMMARY.size + len(zip_index._SECTIONS) * zip_index._SECTION.size
    table_end += -table_end % 8
    struct.pack_into("<I", encoded, 24, zlib.crc32(encoded[payload : payload + table_end]))
    reparse = Reparse(data)
    loaded = zip_index.decode_index(bytes(encoded), "id", reparse)
    assert loaded.entry(loaded.find("a")) == directory.entry(0)
    assert reparse.calls == 1
    assert loaded.index_status == "rebuilt"


def test_sources_without_a_path_are_keyed_by_content(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    data = make_zip(40)
    assert open_status(data, cache)[0] == "built"
    assert open_status(io.BytesIO(data), cache)[0] == "hit"
    assert open_status(make_zip(41), cache)[0] == "built"
    assert len(index_files(cache)) == 2


def test_a_source_without_a_location_is_checked_beyond_its_end_records(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    data = make_zip(3000)
    with randread.ZipReader(data) as reader:
        start = reader._directory.central_directory_offset
    assert len(data) - start > 2 * 65_557  # the directory starts before the digested tail
    name_at = start + 46
    assert data[name_at : name_at + 4] == b"dir0"
    other = data[:name_at] + b"DIR0" + data[name_at + 4 :]  # same size, same tail
    assert open_status(data, cache)[0] == "built"
    with randread.ZipReader(other, index_cache=cache) as reader:
        assert reader._index_status == "rebuilt"
        assert reader.namelist()[0] == "DIR0/file_00000.txt"
    with randread.ZipReader(other, index_cache=cache) as reader:
        assert reader._index_status == "hit"


def test_duplicate_names_and_odd_entries_survive_the_index(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    data = Archive(
        [Entry("same", b"first"), Entry("same", b"second"), Entry("", b"nameless")],
        comment=b"an archive comment",
    ).build()
    for expected_status in ("built", "hit"):
        with randread.ZipReader(data, index_cache=cache) as reader:
            assert reader._index_status == expected_status
            assert reader.namelist() == ["same", "same", ""]
            assert reader.read("same") == b"second"
            first, _, _ = reader.infolist()
            assert reader.read(first) == b"first"
            assert reader.comment == b"an archive comment"


def test_zip64_with_more_than_65535_entries(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number in range(65_600):
            archive.writestr(f"{number}", b"")
    data = buffer.getvalue()
    for expected_status in ("built", "hit"):
        with randread.ZipReader(data, index_cache=cache) as reader:
            assert reader._index_status == expected_status
            assert reader._directory.zip64
            assert len(reader) == 65_600
            assert reader.getinfo("65599").file_size == 0


def test_an_archive_that_fails_to_open_fails_the_same_and_leaves_no_index(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    data = bytearray(make_zip(5))
    data[-22 + 10 : -22 + 12] = b"\x09\x00"  # the EOCD declares more entries than there are
    with pytest.raises(randread.ZipFormatError) as plain:
        randread.ZipReader(bytes(data))
    with pytest.raises(randread.ZipFormatError) as cached:
        randread.ZipReader(bytes(data), index_cache=cache)
    assert str(cached.value) == str(plain.value)
    assert index_files(cache) == []


def test_an_unwritable_cache_does_not_stop_the_open(archive: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    with randread.ZipReader(archive, index_cache=blocker / "cache") as reader:
        assert reader._index_status == "built"
        assert reader.read("dir2/file_00002.txt") == b"xx"


def test_concurrent_first_opens_share_one_cache_safely(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    paths = []
    for number in range(2):
        path = tmp_path / f"{number}.zip"
        path.write_bytes(make_zip(300, prefix=f"{number}/"))
        paths.append(path)

    def open_and_check(worker: int) -> None:
        for round_number in range(5):
            path = paths[(worker + round_number) % 2]
            with randread.ZipReader(path, index_cache=cache) as reader:
                assert len(reader) == 300
                name = f"{path.stem}/dir5/file_00005.txt"
                assert reader.read(name) == b"xxxxx"

    run_threads(6, open_and_check)
    assert len(index_files(cache)) == 2
    assert list(cache.glob("*.tmp")) == []  # every temporary file was renamed or removed
    for path in paths:
        assert open_status(path, cache)[0] == "hit"


def test_a_pickled_reader_keeps_its_index_cache(archive: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with randread.ZipReader(archive, index_cache=cache) as reader:
        clone = pickle.loads(pickle.dumps(reader))
    with clone:
        assert clone._index_status == "hit"
        assert clone.read("dir1/file_00001.txt") == b"x"


def test_open_archive_passes_the_cache_to_zip_files_only(archive: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for _ in range(2):
        with randread.open_archive(archive, index_cache=cache) as reader:
            assert isinstance(reader, randread.ZipReader)
    assert reader._index_status == "hit"
    statuses = []
    for _ in range(2):
        with randread.open_archive(archive.read_bytes(), index_cache=cache) as reader:
            statuses.append(reader._index_status)
    assert statuses == ["built", "hit"]  # bytes have no location: keyed by content


def test_cli_index_cache_switch(archive: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    runner = CliRunner()
    plain = runner.invoke(cli.main, ["ls", "--long", str(archive)])
    assert plain.exit_code == 0, plain.output
    for command in (["ls", "--long"], ["info"], ["verify"]):
        first = runner.invoke(cli.main, [*command, "--index-cache", str(cache), str(archive)])
        assert first.exit_code == 0, first.output
        again = runner.invoke(cli.main, [*command, "--index-cache", str(cache), str(archive)])
        assert again.output == first.output
    assert len(index_files(cache)) == 1
    listed = runner.invoke(cli.main, ["ls", "--long", "--index-cache", str(cache), str(archive)])
    assert listed.output == plain.output
    cat = runner.invoke(
        cli.main, ["cat", "--index-cache", str(cache), str(archive), "dir4/file_00004.txt"]
    )
    assert cat.output == "xxxx"


def _corpus_archives() -> list[Path]:
    return sorted(path for path in CORPORA.glob("*/**/*") if path.suffix.lower() == ".zip")


@pytest.mark.skipif(not _corpus_archives(), reason=f"no corpora at {CORPORA}")
def test_corpus_archives_open_the_same_through_the_index(tmp_path: Path) -> None:
    """Every shared corpus archive: the same directory, or the same error, warm and cold."""
    cache = tmp_path / "cache"
    for path in _corpus_archives():
        try:
            with randread.ZipReader(path) as reader:
                expected: object = records(reader._directory)
        except Exception as exc:  # noqa: BLE001 - compared below
            expected = (type(exc), str(exc))
        for _ in range(2):
            try:
                with randread.ZipReader(path, index_cache=cache) as reader:
                    got: object = records(reader._directory)
            except Exception as exc:  # noqa: BLE001 - compared below
                got = (type(exc), str(exc))
            assert got == expected, path


def test_remote_warm_open_fetches_no_directory_and_a_new_version_is_stale(
    s3: Any, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    data = make_zip(3000)
    url = s3.put(data, "big.zip")
    s3.server.reset()
    with randread.ZipReader(url, storage_options=s3.options, index_cache=cache) as reader:
        assert reader._index_status == "built"
        assert len(s3.requests(url)) == 2  # the tail, then the rest of the directory
        expected = snapshot(reader)
    s3.server.reset()
    with randread.ZipReader(url, storage_options=s3.options, index_cache=cache) as reader:
        assert reader._index_status == "hit"
        log = s3.requests(url)
        assert len(log) == 1, log  # the tail, which opening a remote source fetches anyway
        assert log[0]["range"] == f"bytes=-{DEFAULT_TAIL_WINDOW}"
        assert snapshot(reader) == expected
        assert reader.read("dir3/file_00010.txt") == b"x" * 10
    s3.put(make_zip(3000, prefix="v2/"), "big.zip")
    with randread.ZipReader(url, storage_options=s3.options, index_cache=cache) as reader:
        assert reader._index_status == "rebuilt"
        assert reader.namelist()[0] == "v2/dir0/file_00000.txt"


def _section_position(data: bytes, name: str) -> tuple[int, int]:
    """Return where section ``name`` of an index file starts in the file, and its length."""
    header = zip_index._HEADER
    identity_length = header.unpack_from(data)[2]
    payload = header.size + identity_length + (-identity_length % 8)
    number = [section for section, _, _ in zip_index._SECTIONS].index(name)
    entry_at = payload + zip_index._SUMMARY.size + number * zip_index._SECTION.size
    offset, length, _, _ = zip_index._SECTION.unpack_from(data, entry_at)
    return payload + offset, length


@pytest.mark.parametrize(
    "section", ["compressed_size", "header_offset", "crc32", "names", "central_directory"]
)
def test_a_damaged_section_is_found_by_the_first_read_that_uses_it(
    archive: Path, tmp_path: Path, section: str
) -> None:
    """A warm open checks sections on use: the first read by name finds the damage."""
    cache = tmp_path / "cache"
    with randread.ZipReader(archive) as plain:
        name = plain.namelist()[57]
        expected = plain.read(name)
        ordinal = plain.namelist().index(name)
    open_status(archive, cache)
    (path,) = index_files(cache)
    data = bytearray(path.read_bytes())
    start, length = _section_position(bytes(data), section)
    per_entry = length // 200  # entry 57's element of a column, or a byte of its name
    if section == "names" or section == "central_directory":
        target = start + data[start : start + length].index(name.encode())
    else:
        target = start + ordinal * per_entry
    data[target] ^= 0x01
    path.write_bytes(bytes(data))
    with randread.ZipReader(archive, index_cache=cache) as reader:
        assert reader._index_status == "hit"  # nothing checked the section yet
        assert reader.read(name) == expected
        assert reader._index_status == "rebuilt"
        assert name in reader.namelist()
    assert open_status(archive, cache)[0] == "hit"  # the index file was replaced


def test_a_damaged_name_index_cannot_hide_a_name(archive: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    open_status(archive, cache)
    (path,) = index_files(cache)
    data = bytearray(path.read_bytes())
    start, length = _section_position(bytes(data), "order")
    data[start : start + length] = bytes(length)  # every bucket points at entry 0
    path.write_bytes(bytes(data))
    with randread.ZipReader(archive) as plain:
        expected = {name: plain.read(name) for name in plain.namelist()[::20]}
    with randread.ZipReader(archive, index_cache=cache) as reader:
        assert {name: reader.read(name) for name in expected} == expected
        assert reader._index_status == "rebuilt"
        assert "no/such/name" not in reader


def test_a_warm_open_and_first_read_touch_few_index_bytes(tmp_path: Path) -> None:
    """Only the header, the summary and the parts a read uses are read (mapped, not loaded)."""
    archive = tmp_path / "big.zip"
    archive.write_bytes(make_zip(3000, method=zipfile.ZIP_STORED))
    cache = tmp_path / "cache"
    open_status(archive, cache)
    checked: list[str] = []
    original = zip_index._StoredChecks.verify

    def spy(self: Any, names: Any) -> None:
        names = list(names)
        checked.extend(names)
        original(self, names)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(zip_index._StoredChecks, "verify", spy)
        with randread.ZipReader(archive, index_cache=cache) as reader:
            assert reader.read("dir3/file_00003.txt") == b"xxx"
            assert reader._index_status == "hit"
            assert checked == ["comment"]  # the sections a lookup and a read use: per entry
            assert "dir0/file_00000.txt" in reader
            with pytest.raises(KeyError):
                reader.getinfo("missing")
            assert set(checked) == {"comment", *zip_index._NAME_SECTIONS}
            assert len(reader.infolist()) == 3000
            assert set(checked) == {name for name, _, _ in zip_index._SECTIONS}


def test_duplicate_names_read_the_last_entry_through_a_warm_index(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number in range(300):
            archive.writestr(f"n{number}", b"first")
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("n7", b"second")
    path = tmp_path / "dup.zip"
    path.write_bytes(buffer.getvalue())
    cache = tmp_path / "cache"
    for expected_status in ("built", "hit"):
        with randread.ZipReader(path, index_cache=cache) as reader:
            assert reader._index_status == expected_status
            assert reader.read("n7") == b"second"
            assert reader.read("n8") == b"first"
            assert [info.filename for info in reader.infolist()].count("n7") == 2


def test_threads_share_a_warm_index_while_one_checks_it_all(archive: Path, tmp_path: Path) -> None:
    """Entry checks, name checks and the check of everything race on one mapped index."""
    cache = tmp_path / "cache"
    with randread.ZipReader(archive) as plain:
        expected = {name: plain.read(name) for name in plain.namelist()}
    open_status(archive, cache)
    names = list(expected)
    for _ in range(5):
        with randread.ZipReader(archive, index_cache=cache) as reader:

            def work(index: int, reader: randread.ZipReader = reader) -> None:
                if index == 0:
                    assert reader.namelist() == names  # checks every section
                    return
                for name in names[index::7]:
                    assert reader.read(name) == expected[name]
                assert "missing/name" not in reader

            run_threads(8, work, timeout=60)
            assert reader._index_status == "hit"
