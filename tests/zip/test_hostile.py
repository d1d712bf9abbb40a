"""ZipReader on hostile input: malformed, truncated and corrupted archives, bad local headers.

Each case names the error it must raise and the words of its message; the
entries a damage leaves alone still read.
"""

from __future__ import annotations

import tracemalloc
import zlib
from pathlib import Path

import pytest
import zstandard

import randread
from randread.zip import methods
from tests.conftest import run_threads
from tests.zipbuilder import Archive, Entry

GOOD = [Entry("a.txt", b"alpha" * 200), Entry("b.txt", b"beta" * 300, method=0)]


def corrupt(data: bytes, offset: int, replacement: bytes) -> bytes:
    return data[:offset] + replacement + data[offset + len(replacement) :]


def _good() -> bytes:
    return Archive(GOOD).build()


def _cd_offset(data: bytes) -> int:
    return data.rindex(b"PK\x01\x02", 0, data.rindex(b"PK\x01\x02"))


BAD_ARCHIVES = {
    "empty file": (b"", randread.ZipFormatError, "too short"),
    "not a zip": (
        b"hello world, this is text and not a zip archive",
        randread.ZipFormatError,
        "not a zip file",
    ),
    "truncated at the end": (_good()[:-5], randread.ZipFormatError, "end of central directory"),
    "truncated in the central directory": (
        _good()[: _cd_offset(_good()) + 10],
        randread.ZipFormatError,
        "end of central directory",
    ),
    "central directory past end of file": (
        Archive(GOOD, cd_offset_override=10**9).build(),
        randread.ZipFormatError,
        "central directory",
    ),
    "central directory size larger than the file": (
        Archive(GOOD, cd_size_override=10**8).build(),
        randread.ZipFormatError,
        "central directory size",
    ),
    "more entries declared than present": (
        Archive(GOOD, entries_total_override=3000).build(),
        randread.ZipFormatError,
        "declares 3000 entries",
    ),
    "bad central directory signature": (
        corrupt(_good(), _cd_offset(_good()), b"PK\x01\x09"),
        randread.ZipFormatError,
        "signature",
    ),
    "multi-disk": (
        corrupt(_good(), len(_good()) - 18, b"\x01\x00"),
        randread.UnsupportedFeatureError,
        "multi-disk",
    ),
    "zip64 end record missing": (
        corrupt(
            Archive(GOOD, zip64_end=True).build(),
            Archive(GOOD).build().rindex(b"PK\x05\x06"),
            b"XXXX",
        ),
        randread.ZipFormatError,
        "zip64",
    ),
    "extra field overruns": (
        Archive([Entry("a", b"x", extra=b"\x01\x02\xff\x00abc")]).build(),
        randread.ZipFormatError,
        "extra field 0x0201",
    ),
    "zip64 extra too short": (
        Archive(
            [Entry("a", b"x", extra=b"\x01\x00\x04\x00abcd", size_override=0xFFFFFFFF)]
        ).build(),
        randread.ZipFormatError,
        r"zip64 extra field \(4 bytes\) has no uncompressed size \(file size\)",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ARCHIVES), ids=str)
def test_bad_archives_fail_at_open(case: str) -> None:
    data, error, message = BAD_ARCHIVES[case]
    with pytest.raises(error, match=message):
        randread.ZipReader(data)


#: entries whose uncompressed size is in a zip64 extra field (sizes past 4 GiB)
ZIP64_SIZE = frozenset({"uncompressed"})


def zstd_frame_claiming(content: bytes, claimed: int) -> bytes:
    """A zstd frame of ``content`` whose header claims ``claimed`` bytes (RFC 8878 3.1.1.1)."""
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(content)
    assert frame[4] == 0  # frame header descriptor: no content size, a window descriptor
    # An 8-byte frame content size field goes after the window descriptor.
    return frame[:4] + b"\xc0" + frame[5:6] + claimed.to_bytes(8, "little") + frame[6:]


BAD_ENTRIES = {
    "local header signature": (
        [Entry("a", b"data"), Entry("ok", b"fine")],
        lambda data: corrupt(data, 0, b"PK\x03\x09"),
        randread.ZipFormatError,
        "invalid local file header signature 0x09034b50 at 0x0",
    ),
    "local name differs": (
        [Entry("a", b"data", local_name=b"b.txt"), Entry("ok", b"fine")],
        None,
        randread.ZipFormatError,
        "File name b'b.txt'",
    ),
    "local method differs": (
        [Entry("a", b"data", method=8, local_method=0), Entry("ok", b"fine")],
        None,
        randread.ZipFormatError,
        "method 0",
    ),
    "CRC mismatch": (
        [Entry("a", b"data" * 100, crc=0x12345678), Entry("ok", b"fine")],
        None,
        randread.ZipChecksumError,
        "Bad CRC-32 for file 'a'",
    ),
    "output larger than declared": (
        [Entry("a", b"z" * 100_000, size_override=1000), Entry("ok", b"fine")],
        None,
        randread.ZipFormatError,
        "larger than the declared size 1000",
    ),
    "output smaller than declared": (
        [Entry("a", b"z" * 1000, size_override=5000), Entry("ok", b"fine")],
        None,
        randread.ZipFormatError,
        "ends after 1000 of the declared 5000",
    ),
    "corrupt deflate data": (
        [Entry("a", b"z", compressed=b"\xff\xff\xff\xff" * 4), Entry("ok", b"fine")],
        None,
        randread.ZipFormatError,
        "deflate",
    ),
    "stored sizes differ": (
        [Entry("a", b"12345", method=0, size_override=2147483647), Entry("ok", b"fine")],
        None,
        randread.ZipFormatError,
        "stored entry has compressed size 5",
    ),
    "data runs past the end": (
        [
            Entry("ok", b"fine"),
            Entry("a", b"x" * 50, method=0, compressed_size_override=10**6, size_override=10**6),
        ],
        None,
        randread.ZipFormatError,
        "runs past the end of the file",
    ),
    "local header past the end": (
        [Entry("a", b"x", offset_override=10**7), Entry("ok", b"fine")],
        None,
        randread.ZipFormatError,
        "runs past the end of the file",
    ),
    # Found by fuzz/fuzz_zip.py. read() and open() agree on corrupt data past
    # the declared size (here all of it: the entry is empty)...
    "corrupt bzip2 data of an empty entry": (
        [Entry("a", b"", method=12, compressed=b"\xff" * 14), Entry("ok", b"fine")],
        None,
        randread.ZipFormatError,
        r"entry 'a' \(bzip2, data at 0x1f\): invalid compressed data",
    ),
    "corrupt deflate data of an empty entry": (
        [Entry("a", b"", method=8, compressed=b"\xff\xff"), Entry("ok", b"fine")],
        None,
        randread.ZipFormatError,
        r"entry 'a' \(deflate, data at 0x1f\): invalid deflate data",
    ),
    "zstd entry with no frame header": (
        [Entry("a", b"", method=93, compressed=b"abc"), Entry("ok", b"fine")],
        None,
        randread.ZipFormatError,
        r"entry 'a' \(zstandard, data at 0x1f\): invalid zstd data",
    ),
    # ... and a declared size the data cannot hold never sizes an allocation.
    "deflate size of 1 TiB": (
        [Entry("a", b"z" * 1000, zip64=ZIP64_SIZE, size_override=1 << 40), Entry("ok", b"fine")],
        None,
        randread.ZipFormatError,
        "ends after 1000 of the declared 1099511627776 bytes",
    ),
    "deflate size of 2**64 - 1": (
        [Entry("a", b"z" * 1000, zip64=ZIP64_SIZE, size_override=2**64 - 1), Entry("ok", b"fine")],
        None,
        randread.ZipFormatError,
        "ends after 1000 of the declared 18446744073709551615 bytes",
    ),
    "zstd size of 1 TiB": (
        [
            Entry("a", b"z" * 1000, method=93, zip64=ZIP64_SIZE, size_override=1 << 40),
            Entry("ok", b"fine"),
        ],
        None,
        randread.ZipFormatError,
        "ends after 1000 of the declared 1099511627776 bytes",
    ),
    "zstd frame and entry both claiming 1 TiB": (
        [
            Entry(
                "a",
                b"z" * 1000,
                method=93,
                compressed=zstd_frame_claiming(b"z" * 1000, 1 << 40),
                zip64=ZIP64_SIZE,
                size_override=1 << 40,
            ),
            Entry("ok", b"fine"),
        ],
        None,
        randread.ZipFormatError,
        r"entry 'a' \(zstandard, data at 0x33\)",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ENTRIES), ids=str)
def test_bad_entries_fail_on_read_and_leave_the_rest_readable(case: str) -> None:
    entries, mutate, error, message = BAD_ENTRIES[case]
    data = Archive(entries).build()
    if mutate is not None:
        data = mutate(data)
    with randread.ZipReader(data) as reader:
        with pytest.raises(error, match=message):
            reader.read("a")
        with pytest.raises(error, match=message), reader.open("a") as stream:
            stream.read()
        assert reader.testzip() == "a"
        assert reader.read("ok") == b"fine"


def test_bad_entries_from_threads() -> None:
    """The whole table again, from 8 threads at once on shared readers."""
    readers = {}
    for case, (entries, mutate, error, message) in BAD_ENTRIES.items():
        data = Archive(entries).build()
        readers[case] = (randread.ZipReader(mutate(data) if mutate else data), error, message)

    def work(_index: int) -> None:
        for _ in range(20):
            for reader, error, message in readers.values():
                with pytest.raises(error, match=message):
                    reader.read("a")
                assert reader.read("ok") == b"fine"

    run_threads(8, work)


def test_an_lzma_dictionary_that_cannot_be_allocated_is_a_format_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """liblzma allocates the dictionary the header asks for (up to 4 GiB) when it starts.

    Found by fuzz/fuzz_zip.py under an address space limit: the MemoryError escaped.
    """

    def out_of_memory(*_args: object, **_kwargs: object) -> None:
        raise MemoryError

    data = Archive([Entry("a", b"lzma " * 100, method=14), Entry("ok", b"fine")]).build()
    monkeypatch.setattr(methods.lzma, "LZMADecompressor", out_of_memory)
    with randread.ZipReader(data) as reader:
        message = r"entry 'a' \(lzma, data at 0x1f\): LZMA dictionary size 65536 cannot be"
        with pytest.raises(randread.ZipFormatError, match=message):
            reader.read("a")
        with pytest.raises(randread.ZipFormatError, match=message), reader.open("a") as stream:
            stream.read()
        assert reader.read("ok") == b"fine"


def test_libdeflate_is_never_asked_for_more_than_the_data_can_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """libdeflate allocates the declared size before it decodes a byte.

    Deflate expands at most 1032:1, so a larger declared size goes to zlib,
    which grows its output as it decodes. Found by fuzz/fuzz_zip.py under an
    address space limit: a MemoryError escaped.
    """
    real = methods._libdeflate
    if real is None:
        pytest.skip("libdeflate (the deflate package) is not installed")
    asked: list[int] = []

    class Spy:
        DeflateError = real.DeflateError

        @staticmethod
        def deflate_decompress(data: bytes, size: int) -> bytearray:
            asked.append(size)
            return real.deflate_decompress(data, size)  # type: ignore[no-any-return]

        @staticmethod
        def gzip_decompress(data: bytes, size: int) -> bytearray:
            asked.append(size)
            return real.gzip_decompress(data, size)  # type: ignore[no-any-return]

    monkeypatch.setattr(methods, "_libdeflate", Spy)
    content = b"z" * 1000
    data = Archive([Entry("a", content, size_override=2**31 - 1), Entry("ok", content)]).build()
    with randread.ZipReader(data) as reader:
        with pytest.raises(randread.ZipFormatError, match="ends after 1000 of the declared"):
            reader.read("a")
        assert reader.read("ok") == content
    assert asked == [1000]


def test_an_empty_entry_with_no_compressed_bytes_reads_as_empty() -> None:
    """Zero compressed bytes for an empty entry: read() and open() both accept it.

    Found by fuzz/fuzz_zip.py: for zstd, read() wanted a frame header, open() did not.
    """
    entries = [Entry(f"m{method}", b"", method=method, compressed=b"") for method in (8, 12, 93)]
    with randread.ZipReader(Archive(entries).build()) as reader:
        for name in reader.namelist():
            assert reader.read(name) == b""
            with reader.open(name) as stream:
                assert stream.read() == b""
        assert reader.testzip() is None


def test_an_empty_name_is_not_a_directory() -> None:
    """zipfile's own ZipInfo.is_dir() raises IndexError for an empty name (found by fuzzing)."""
    data = Archive([Entry("", b"x"), Entry("d/", b"")]).build()
    with randread.ZipReader(data) as reader:
        assert [info.is_dir() for info in reader.infolist()] == [False, True]


def test_overlapping_entries_zip_bomb_is_rejected() -> None:
    """Data that runs into another entry (a zip bomb by overlap) fails on read.

    This is the check CPython added for CVE-2024-0450.
    """
    entries = [
        Entry("big", b"\x00" * 100_000, descriptor="32"),
        Entry("small", b"s", method=0),
    ]
    data = bytearray(Archive(entries).build())
    with randread.ZipReader(bytes(data)) as reader:
        big = reader.getinfo("big")
        small = reader.getinfo("small")
    # Make "big" claim more compressed data than it has, over "small"'s header.
    grown = small.header_offset - big.header_offset
    directory = _cd_offset(bytes(data))
    data[directory + 20 : directory + 24] = grown.to_bytes(4, "little")
    with randread.ZipReader(bytes(data)) as reader:
        with pytest.raises(randread.ZipFormatError, match="overlaps the next entry"):
            reader.read("big")
        assert reader.read("small") == b"s"
    # Two directory entries sharing one local header do not limit each other.
    shared = Archive(
        [Entry("one", b"1" * 50), Entry("two", b"1" * 50, offset_override=0, local_name=b"one")]
    ).build()
    with randread.ZipReader(shared) as reader:
        assert reader.read("one") == b"1" * 50
        with pytest.raises(randread.ZipFormatError, match="File name b'one'"):
            reader.read("two")


def _stored_block_deflate(content: bytes) -> bytes:
    """A raw deflate stream that holds ``content`` as it is (one stored block)."""
    compressor = zlib.compressobj(0, zlib.DEFLATED, -15)
    return compressor.compress(content) + compressor.flush()


@pytest.mark.parametrize("source", ["bytearray", "mmap", "pread"])
@pytest.mark.parametrize("method", [0, 8])
def test_every_read_checks_the_crc_also_of_an_entry_read_before(
    tmp_path: Path, source: str, method: int
) -> None:
    """Entries read before skip their local header checks, never the CRC-32.

    The archive is changed under an open reader (bytes the reader takes as
    fixed): each later read of the changed entry fails, from any thread, and
    reads right again once the bytes are back.
    """
    content = b"original content 0123456789 " * 20
    other = b"replaced content 0123456789 " * 20
    compressed = content if method == 0 else _stored_block_deflate(content)
    data = Archive(
        [Entry("a", content, method=method, compressed=compressed), Entry("ok", b"fine")]
    ).build()
    where = data.index(content)
    path = tmp_path / "a.zip"
    path.write_bytes(data)
    buffer = bytearray(data)

    def put(replacement: bytes) -> None:
        if source == "bytearray":
            buffer[where : where + len(replacement)] = replacement
        else:
            with path.open("r+b") as file:
                file.seek(where)
                file.write(replacement)

    if source == "bytearray":
        reader = randread.ZipReader(buffer)
    else:
        reader = randread.ZipReader(path, backend="mmap" if source == "mmap" else "pread")
    with reader:
        for _ in range(2):
            assert reader.read("a") == content
        put(other)
        message = f"Bad CRC-32 for file 'a': expected 0x{zlib.crc32(content):08x}"

        def work(_index: int) -> None:
            for _ in range(50):
                with pytest.raises(randread.ZipChecksumError, match=message):
                    reader.read("a")
                assert reader.read("ok") == b"fine"

        run_threads(4, work)
        put(content)
        assert reader.read("a") == content


# -- threads, pickling, fork ------------------------------------------------------


def test_inflate_never_sizes_a_buffer_from_a_lying_size() -> None:
    """Deflate data of a few bytes declared as 1 GiB: refused, with no 1 GiB buffer."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = compressor.compress(b"x" * 1000) + compressor.flush()
    tracemalloc.start()
    try:
        with methods.forced_deflate_backend("zlib"), pytest.raises(methods.DecodeError):
            methods.get_method(8).read_all(data, 1 << 30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20
