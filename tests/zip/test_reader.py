"""ZipReader: zipfile compatibility, the formats it reads, and what it rejects."""

from __future__ import annotations

import copy
import io
import itertools
import multiprocessing
import os
import pickle
import random
import sys
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import randread
from randread.zip import methods
from tests.conftest import CORPORA, run_threads
from tests.zipbuilder import Archive, Entry

ZIP64_FIELDS = ("uncompressed", "compressed", "offset", "disk")


def make_zip(
    files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED, **kwargs: object
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method, **kwargs) as archive:  # type: ignore[arg-type]
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# -- zipfile compatibility -----------------------------------------------------

INFO_ATTRIBUTES = (
    "filename",
    "orig_filename",
    "file_size",
    "compress_size",
    "compress_type",
    "CRC",
    "date_time",
    "comment",
    "extra",
    "external_attr",
    "internal_attr",
    "header_offset",
    "flag_bits",
    "create_system",
    "create_version",
    "extract_version",
    "volume",
)

names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\\"),
    min_size=1,
    max_size=30,
)
contents = st.one_of(
    st.binary(max_size=5000),
    st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=10), st.integers(1, 20_000)),
)
zip_methods = st.sampled_from(
    [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)


@st.composite
def zipfile_archives(draw: st.DrawFn) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # zipfile cannot read back a comment holding an EOCD signature (randread
        # can: see test_comments_containing_an_end_of_central_directory_signature).
        archive.comment = draw(st.binary(max_size=100).filter(lambda c: b"PK\x05\x06" not in c))
        for name in draw(st.lists(names, max_size=8, unique=True)):
            info = zipfile.ZipInfo(
                name, draw(st.sampled_from([(1980, 1, 1, 0, 0, 0), (2024, 2, 29, 23, 59, 58)]))
            )
            info.compress_type = draw(zip_methods)
            info.comment = draw(st.binary(max_size=20))
            info.external_attr = draw(st.integers(0, 0xFFFFFFFF))
            with archive.open(info, "w", force_zip64=draw(st.booleans())) as out:
                out.write(draw(contents))
    data = buffer.getvalue()
    # zipfile takes the 20 bytes before the EOCD for a zip64 locator when they
    # start with its signature, whatever they belong to (an entry's attributes,
    # name or comment), and then cannot read the archive.
    end = data.rindex(b"PK\x05\x06")
    assume(data[end - 20 : end - 16] != b"PK\x06\x07")
    return data


def assert_same_as_zipfile(data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as reference, randread.ZipReader(data) as reader:
        assert reader.namelist() == reference.namelist()
        assert reader.comment == reference.comment
        assert len(reader) == len(reference.namelist())
        for ours, theirs in zip(reader.infolist(), reference.infolist(), strict=True):
            assert isinstance(ours, zipfile.ZipInfo)
            for attribute in INFO_ATTRIBUTES:
                assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
            assert ours.is_dir() == theirs.is_dir()
            expected = reference.read(theirs)
            assert reader.read(ours) == expected
            with reader.open(ours) as stream:
                assert stream.read() == expected
            buffer = bytearray(len(expected) + 3)
            assert reader.read_into(ours, buffer) == len(expected)
            assert buffer[: len(expected)] == expected
        assert reader.testzip() is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=zipfile_archives())
def test_matches_zipfile_on_archives_zipfile_writes(data: bytes) -> None:
    assert_same_as_zipfile(data)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=zipfile_archives())
def test_plain_zlib_and_fast_backends_agree(
    data: bytes, monkeypatch_module: pytest.MonkeyPatch
) -> None:
    with randread.ZipReader(data) as reader:
        fast = [reader.read(name) for name in reader.namelist()]
    with monkeypatch_module.context() as patch:
        patch.setattr(methods, "_libdeflate", None)
        patch.setattr(methods, "_isal_zlib", None)
        with randread.ZipReader(data) as reader:
            assert [reader.read(info) for info in reader.infolist()] == fast
            for info, expected in zip(reader.infolist(), fast, strict=True):
                with reader.open(info) as stream:
                    assert stream.read() == expected


@pytest.fixture(scope="module")
def monkeypatch_module() -> pytest.MonkeyPatch:
    return pytest.MonkeyPatch()


def test_getinfo_read_open_by_name_and_missing_names() -> None:
    data = make_zip({"a.txt": b"alpha", "dir/": b"", "dir/b.txt": b"beta" * 1000})
    with randread.ZipReader(data) as reader:
        assert "a.txt" in reader
        assert "nope" not in reader
        assert list(reader) == ["a.txt", "dir/", "dir/b.txt"]
        assert reader.getinfo("dir/").is_dir()
        assert reader.read("dir/b.txt") == b"beta" * 1000
        with pytest.raises(KeyError, match="nope"):
            reader.getinfo("nope")
        with pytest.raises(KeyError):
            reader.read("nope")
        with pytest.raises(TypeError, match="ZipInfo"):
            reader.read(42)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="mode"):
            reader.open("a.txt", "w")
        # A ZipInfo from zipfile works too.
        reference = zipfile.ZipFile(io.BytesIO(data))
        assert reader.read(reference.getinfo("a.txt")) == b"alpha"


def test_duplicate_names_keep_every_entry() -> None:
    data = Archive([Entry("same", b"first"), Entry("same", b"second")]).build()
    with randread.ZipReader(data) as reader:
        assert reader.namelist() == ["same", "same"]
        assert reader.read("same") == b"second"  # the last one, as zipfile
        first, second = reader.infolist()
        assert reader.read(first) == b"first"
        assert reader.read(second) == b"second"


def test_open_streams_seek_and_have_their_own_positions() -> None:
    payload = bytes(random.Random(5).getrandbits(8) for _ in range(300_000))
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2):
        data = make_zip({"big": payload}, method)
        with randread.ZipReader(data) as reader:
            first = reader.open("big")
            second = reader.open("big")
            assert first.seekable()
            assert first.read(1000) == payload[:1000]
            assert second.read(10) == payload[:10]
            first.seek(200_000)
            assert first.read(5) == payload[200_000:200_005]
            first.seek(-100, io.SEEK_END)
            assert first.read() == payload[-100:]
            first.seek(50)  # backwards: decompression restarts
            assert first.read(50) == payload[50:100]
            assert first.tell() == 100
            assert second.read() == payload[10:]
            first.close()
            second.close()


def test_entry_readat_is_zero_copy_for_stored_entries(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(make_zip({"s": b"stored data" * 100, "d": b"x" * 1000}, zipfile.ZIP_STORED))
    with randread.ZipReader(path) as reader:
        section = reader.entry_readat("s")
        assert section.size == 1100
        assert section.read_at(0, 11) == b"stored data"
        view = section.view_at(11, 11)
        assert view.tobytes() == b"stored data"
        assert view.readonly
    deflated = make_zip({"d": b"x" * 1000})
    with randread.ZipReader(deflated) as reader:
        with pytest.raises(randread.UnsupportedFeatureError, match="stored"):
            reader.entry_readat("d")


def test_read_into_checks_the_buffer() -> None:
    data = make_zip({"a": b"12345"})
    with randread.ZipReader(data) as reader:
        with pytest.raises(ValueError, match="too small"):
            reader.read_into("a", bytearray(4))
        with pytest.raises(TypeError, match="writable"):
            reader.read_into("a", b"123456")


# -- formats -------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [frozenset(c) for n in range(1, 5) for c in itertools.combinations(ZIP64_FIELDS, n)],
    ids=lambda fields: "+".join(sorted(fields)),
)
def test_zip64_extra_field_in_every_combination(fields: frozenset[str]) -> None:
    entries = [
        Entry("before", b"b" * 100),
        Entry("wide", b"hello zip64 " * 50, zip64=fields),
        Entry("after", b"a" * 100, method=0),
    ]
    with randread.ZipReader(Archive(entries).build()) as reader:
        assert reader.read("wide") == b"hello zip64 " * 50
        info = reader.getinfo("wide")
        assert info.file_size == 600
        assert reader.read("after") == b"a" * 100


@pytest.mark.parametrize("zip64_end", [False, True])
@pytest.mark.parametrize("descriptor", ["32", "64"])
@pytest.mark.parametrize("signature", [True, False])
@pytest.mark.parametrize("method", [0, 8])
def test_data_descriptors(zip64_end: bool, descriptor: str, signature: bool, method: int) -> None:
    entries = [
        Entry(
            f"e{i}",
            bytes([i]) * (i * 100),
            method=method,
            descriptor=descriptor,
            descriptor_signature=signature,
        )
        for i in range(4)
    ]
    data = Archive(entries, zip64_end=zip64_end).build()
    with randread.ZipReader(data) as reader:
        for i in range(4):
            assert reader.read(f"e{i}") == bytes([i]) * (i * 100)
            with reader.open(f"e{i}") as stream:
                assert stream.read() == bytes([i]) * (i * 100)


@pytest.mark.parametrize("adjust_offsets", [False, True], ids=["cat-stub", "zip-A"])
@pytest.mark.parametrize("zip64_end", [False, True])
def test_prepended_data(adjust_offsets: bool, zip64_end: bool) -> None:
    stub = b'#!/bin/sh\nexec python3 -m app "$0"\n' + b"\x7fELF" * 300
    entries = [Entry("__main__.py", b"print('hi')\n"), Entry("data.bin", b"\x00" * 5000, method=0)]
    data = Archive(entries, prefix=stub, adjust_offsets=adjust_offsets, zip64_end=zip64_end).build()
    with randread.ZipReader(data) as reader:
        assert reader.read("__main__.py") == b"print('hi')\n"
        assert reader.read("data.bin") == b"\x00" * 5000
        assert reader.base_offset == (0 if adjust_offsets else len(stub))
        assert reader.getinfo("__main__.py").header_offset == len(stub)


def test_comments_containing_an_end_of_central_directory_signature() -> None:
    fake = b"PK\x05\x06" + b"\x00" * 16 + b"\x00\x00"
    for comment in (fake, b"before " + fake + b" after", fake * 3):
        data = Archive([Entry("a", b"content")], comment=comment).build()
        with randread.ZipReader(data) as reader:
            assert reader.comment == comment
            assert reader.read("a") == b"content"


def test_trailing_bytes_after_the_archive_are_ignored() -> None:
    data = Archive([Entry("a", b"content")], comment=b"note", suffix=b"\x00" * 7).build()
    with randread.ZipReader(data) as reader:
        assert reader.comment == b"note"
        assert reader.read("a") == b"content"


def test_empty_archive() -> None:
    data = make_zip({})
    with randread.ZipReader(data) as reader:
        assert reader.namelist() == []
        assert reader.infolist() == []
        assert reader.testzip() is None
        assert len(reader) == 0


def test_names_utf8_flag_unicode_path_and_metadata_encoding() -> None:
    legacy = "Grüße.txt".encode("cp437")
    unicode_path_target = "七个房间.txt"
    raw_gbk = unicode_path_target.encode("gbk")
    unicode_extra_data = (
        b"\x01" + zipfile.crc32(raw_gbk).to_bytes(4, "little") + unicode_path_target.encode()
    )
    unicode_extra = len(unicode_extra_data).to_bytes(2, "little")
    entries = [
        Entry("naïve.txt".encode(), b"1", flags=1 << 11),
        Entry(legacy, b"2"),
        Entry(raw_gbk, b"3", extra=b"\x75\x70" + unicode_extra + unicode_extra_data),
        # A 0x7075 field whose CRC does not match the header name is ignored.
        Entry(b"plain.txt", b"4", extra=b"\x75\x70" + unicode_extra + unicode_extra_data),
    ]
    data = Archive(entries).build()
    with randread.ZipReader(data) as reader:
        assert reader.namelist() == ["naïve.txt", "Grüße.txt", unicode_path_target, "plain.txt"]
    with randread.ZipReader(data, metadata_encoding="latin-1") as reader:
        assert reader.namelist()[1] == legacy.decode("latin-1")
    with randread.ZipReader(make_zip({"x": b""})) as reader:
        assert reader.namelist() == ["x"]


@pytest.mark.parametrize("method", [0, 8, 12, 14, 93])
def test_methods(method: int) -> None:
    payload = b"the quick brown fox " * 2000
    data = Archive([Entry("f", payload, method=method)]).build()
    with randread.ZipReader(data) as reader:
        assert reader.read("f") == payload
        with reader.open("f") as stream:
            assert stream.read(7) == payload[:7]
            assert stream.read() == payload[7:]


def test_deflate64_when_installed() -> None:
    pytest.importorskip("inflate64")
    path = CORPORA / "rc-zip" / "found-me-deflate64.zip"
    if not path.exists():
        pytest.skip("corpora not present")
    with randread.ZipReader(path) as reader:
        assert reader.read("found-me.txt") == b"Oh no, you found me\n" * 5000


def test_deflate64_without_the_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # inflate64 is imported by the first Deflate64 read: make that import find nothing.
    monkeypatch.setattr(methods, "_inflate64", None)
    monkeypatch.setattr(methods, "_optional", lambda *_, **__: None)
    data = Archive([Entry("f", b"x", method=9, compressed=b"\x03\x00")]).build()
    with randread.ZipReader(data) as reader:
        with pytest.raises(randread.UnsupportedFeatureError, match="inflate64") as info:
            reader.read("f")
        assert info.value.method == 9


@pytest.mark.parametrize("method", [1, 6, 95, 98, 200])
def test_unknown_and_unsupported_methods(method: int) -> None:
    data = Archive([Entry("f", b"data", method=method, compressed=b"data")]).build()
    with randread.ZipReader(data) as reader:
        assert reader.getinfo("f").compress_type == method
        with pytest.raises(randread.UnsupportedFeatureError, match=f"method {method}") as info:
            reader.read("f")
        assert info.value.method == method
        with pytest.raises(NotImplementedError):
            reader.open("f")


# -- encryption ------------------------------------------------------------------


@pytest.mark.parametrize("descriptor", [None, "32"])
@pytest.mark.parametrize("method", [0, 8])
def test_zipcrypto(descriptor: str | None, method: int) -> None:
    payload = b"secret payload " * 300
    data = Archive(
        [Entry("s", payload, method=method, password=b"pw", descriptor=descriptor)]
    ).build()
    with randread.ZipReader(data) as reader:
        with pytest.raises(randread.EncryptionError, match="password required"):
            reader.read("s")
        with pytest.raises(RuntimeError):  # zipfile's exception type
            reader.open("s")
        with pytest.raises(randread.EncryptionError, match="Bad password"):
            reader.read("s", pwd=b"wrong password")
        assert reader.read("s", pwd=b"pw") == payload
        with reader.open("s", pwd=b"pw") as stream:
            assert stream.read() == payload
        reader.setpassword(b"pw")
        assert reader.read("s") == payload
        with pytest.raises(TypeError, match="bytes"):
            reader.read("s", pwd="pw")  # type: ignore[arg-type]


def test_a_successful_read_never_lifts_the_password_check() -> None:
    """Reads of an entry skip the checks that passed before; the password is never one."""
    payload = b"secret payload " * 300
    data = Archive([Entry("s", payload, password=b"pw"), Entry("plain", payload)]).build()
    with randread.ZipReader(data) as reader:
        for _ in range(2):
            assert reader.read("s", pwd=b"pw") == payload
            assert reader.read("plain") == payload
            with pytest.raises(randread.EncryptionError, match="password required"):
                reader.read("s")
            with pytest.raises(randread.EncryptionError, match="Bad password"):
                reader.read("s", pwd=b"wrong password")


def test_zipcrypto_corpus_archive() -> None:
    path = CORPORA / "libarchive" / "test_read_format_zip_traditional_encryption_data.zip"
    if not path.exists():
        pytest.skip("corpora not present")
    with randread.ZipReader(path, pwd=b"12345678") as reader, zipfile.ZipFile(path) as reference:
        reference.setpassword(b"12345678")
        for name in reader.namelist():
            assert reader.read(name) == reference.read(name)


def test_winzip_aes_is_declined_clearly() -> None:
    aes_extra = b"\x01\x99\x07\x00\x02\x00AE\x03\x08\x00"
    data = Archive(
        [Entry("a", b"x", method=99, flags=1, compressed=b"\x00" * 30, extra=aes_extra)]
    ).build()
    with randread.ZipReader(data) as reader:
        with pytest.raises(randread.UnsupportedFeatureError, match="AES") as info:
            reader.read("a", pwd=b"pw")
        assert info.value.method == 99


# -- bad and hostile input ---------------------------------------------------------

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


def test_closed_reader_refuses_reads(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(make_zip({"a": b"x", "b": b"y"}))
    reader = randread.ZipReader(path)
    assert reader.read("a") == b"x"  # an entry read before, and one that is not
    reader.close()
    reader.close()
    for name in ("a", "b"):
        with pytest.raises(randread.ClosedError):
            reader.read(name)
    with pytest.raises(ValueError, match="closed"):
        reader.open("a")
    assert reader.namelist() == ["a", "b"]  # metadata stays available


def test_a_caller_readat_is_not_closed_by_the_reader() -> None:
    source = randread.BytesReadAt(make_zip({"a": b"x"}))
    with randread.ZipReader(source) as reader:
        assert reader.read("a") == b"x"
    assert source.read_at(0, 2) == b"PK"


def test_a_caller_readat_closed_by_its_owner_fails_the_reads_that_follow() -> None:
    source = randread.BytesReadAt(make_zip({"a": b"x"}))
    with randread.ZipReader(source) as reader:
        assert reader.read("a") == b"x"
        source.close()
        with pytest.raises(randread.ClosedError):
            reader.read("a")


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


@pytest.fixture(scope="module")
def many_entries(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    rng = random.Random(7)
    files = {}
    for index in range(3000):
        size = rng.choice([0, 1, 100, 1000, 5000, 40_000])
        files[f"dir{index % 17}/file{index}.bin"] = (
            rng.randbytes(size)
            if index % 3
            else (f"text {index} ".encode() * (size // 10 + 1))[:size]
        )
    path = tmp_path_factory.mktemp("zips") / "many.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, (name, data) in enumerate(files.items()):
            archive.writestr(
                name,
                data,
                compress_type=[zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED, zipfile.ZIP_BZIP2][
                    index % 3 if index % 50 == 0 else index % 2
                ],
            )
    path.write_bytes(buffer.getvalue())
    return path, files


def test_sixteen_threads_share_one_reader(many_entries: tuple[Path, dict[str, bytes]]) -> None:
    path, files = many_entries
    names = list(files)
    with randread.ZipReader(path) as reader:

        def work(index: int) -> None:
            rng = random.Random(index)
            for _ in range(400):
                name = rng.choice(names)
                if rng.random() < 0.5:
                    assert reader.read(name) == files[name]
                else:
                    with reader.open(name) as stream:
                        chunks = []
                        while chunk := stream.read(rng.choice([1, 100, 4096, 65536])):
                            chunks.append(chunk)
                        assert b"".join(chunks) == files[name]

        run_threads(16, work, timeout=300)


def test_pickle_reopens_by_path(many_entries: tuple[Path, dict[str, bytes]]) -> None:
    path, files = many_entries
    with randread.ZipReader(path) as reader:
        payload = pickle.dumps(reader)
        assert len(payload) < 1000  # the path, not the directory or the data
    clone = pickle.loads(payload)
    with clone:
        name = next(iter(files))
        assert clone.read(name) == files[name]
        assert clone.namelist() == list(files)


def _read_in_worker(reader: randread.ZipReader, name: str) -> bytes:
    return reader.read(name)


@pytest.mark.parametrize(
    "start_method",
    [m for m in ("spawn", "fork") if m in multiprocessing.get_all_start_methods()],
)
def test_multiprocessing_workers(
    many_entries: tuple[Path, dict[str, bytes]], start_method: str
) -> None:
    path, files = many_entries
    names = list(files)[:20]
    context = multiprocessing.get_context(start_method)
    with randread.ZipReader(path) as reader, context.Pool(2) as pool:
        results = pool.starmap(_read_in_worker, [(reader, name) for name in names], chunksize=5)
    assert results == [files[name] for name in names]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_reading_after_fork(many_entries: tuple[Path, dict[str, bytes]]) -> None:
    path, files = many_entries
    name = list(files)[3]
    with randread.ZipReader(path) as reader:
        assert reader.read(name) == files[name]
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            try:
                ok = all(reader.read(n) == files[n] for n in list(files)[:200])
                os.write(write_end, b"1" if ok else b"0")
            finally:
                os._exit(0)
        os.close(write_end)
        answer = os.read(read_end, 1)
        os.close(read_end)
        os.waitpid(pid, 0)
        assert answer == b"1"


# -- extraction --------------------------------------------------------------------


def test_extractall_keeps_everything_inside_the_target(tmp_path: Path) -> None:
    entries = [
        Entry("../escape.txt", b"1"),
        Entry("/abs/path.txt", b"2"),
        Entry("C:\\windows\\drive.txt", b"3"),
        Entry("ok/../../../up.txt", b"4"),
        Entry("dir/", b"", method=0),
        Entry("dir/inner.txt", b"5"),
        Entry(
            "link",
            b"../../outside",
            method=0,
            made_by=(3 << 8) | 20,
            external_attr=(0o120777 << 16),
        ),
    ]
    target = tmp_path / "out"
    with randread.ZipReader(Archive(entries).build()) as reader:
        reader.extractall(target)
    written = sorted(p.relative_to(target).as_posix() for p in target.rglob("*"))
    assert written == [
        "C:",
        "C:/windows",
        "C:/windows/drive.txt",
        "abs",
        "abs/path.txt",
        "dir",
        "dir/inner.txt",
        "escape.txt",
        "link",
        "ok",
        "ok/up.txt",
    ] or written == sorted(
        [
            "abs",
            "abs/path.txt",
            "dir",
            "dir/inner.txt",
            "escape.txt",
            "link",
            "ok",
            "ok/up.txt",
            "windows",
            "windows/drive.txt",
        ]
    )
    assert not (tmp_path / "escape.txt").exists()
    link = target / "link"
    assert not link.is_symlink()  # links are written as files holding the target
    assert link.read_bytes() == b"../../outside"


def test_extract_refuses_to_follow_an_existing_link_out(tmp_path: Path) -> None:
    target = tmp_path / "out"
    outside = tmp_path / "outside"
    target.mkdir()
    outside.mkdir()
    (target / "sub").symlink_to(outside)
    with randread.ZipReader(Archive([Entry("sub/file.txt", b"x")]).build()) as reader:
        with pytest.raises(randread.ZipFormatError, match="outside"):
            reader.extract("sub/file.txt", target)
    assert not (outside / "file.txt").exists()


def test_extract_returns_the_path(tmp_path: Path) -> None:
    with randread.ZipReader(make_zip({"a/b.txt": b"hello"})) as reader:
        path = reader.extract("a/b.txt", tmp_path)
    assert Path(path).read_bytes() == b"hello"
    assert Path(path) == (tmp_path / "a" / "b.txt").resolve()


def test_repr_and_fast_backend_name() -> None:
    with randread.ZipReader(make_zip({"a": b"x"})) as reader:
        assert "entries=1" in repr(reader)
    assert randread.fast_deflate_backend() in ("libdeflate", "isal", "zlib")
    assert sys.modules["randread.zip.methods"] is methods


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


def _infos_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for number in range(50):
            info = zipfile.ZipInfo(f"d/{number:02d}.txt", (2020, 1, 2, 3, 4, number % 60))
            info.comment = f"comment {number}".encode()
            info.external_attr = (0o600 + number) << 16
            archive.writestr(info, b"y" * number)
    return buffer.getvalue()


def test_infolist_infos_are_complete_zipinfos() -> None:
    """infolist() builds its infos from arrays in bulk; each carries zipfile's fields."""
    data = _infos_archive()
    with zipfile.ZipFile(io.BytesIO(data)) as theirs:
        expected = [
            (i.filename, i.date_time, i.comment, i.external_attr, i.CRC, i.file_size, i.extra)
            for i in theirs.infolist()
        ]
    with randread.ZipReader(data) as reader:
        infos = reader.infolist()
        assert infos[3] is reader.getinfo("d/03.txt")  # one object per entry, as zipfile
        infos[4].filename = "renamed.txt"  # the user's to change, as with zipfile
        copied = copy.copy(infos[5])
        pickled = pickle.loads(pickle.dumps(infos[6]))
        got = [
            (i.filename, i.date_time, i.comment, i.external_attr, i.CRC, i.file_size, i.extra)
            for i in infos
        ]
        assert repr(infos[7]).startswith("<ZipEntryInfo filename='d/07.txt'")
    assert got[4][0] == "renamed.txt"
    assert got[:4] + got[5:] == expected[:4] + expected[5:]
    assert got[4][1:] == expected[4][1:]
    for clone, number in ((copied, 5), (pickled, 6)):
        assert (clone.filename, clone.file_size, clone.comment) == (
            f"d/{number:02d}.txt",
            number,
            f"comment {number}".encode(),
        )
    with pytest.raises(AttributeError):
        infos[8].no_such_field  # noqa: B018 - the access is the test


def test_infolist_from_many_threads_at_once_is_one_complete_list() -> None:
    data = _infos_archive()
    with randread.ZipReader(data) as reader:
        lists: list[list[zipfile.ZipInfo]] = [[] for _ in range(8)]

        def work(index: int) -> None:
            lists[index] = (
                reader.infolist()
                if index % 2
                else [reader.getinfo(f"d/{number:02d}.txt") for number in range(50)]
            )

        run_threads(8, work, timeout=60)
        # one object per entry, whichever call made it first
        assert all(all(a is b for a, b in zip(got, lists[1], strict=True)) for got in lists)
    assert [(info.filename, info.file_size) for info in lists[0]] == [
        (f"d/{number:02d}.txt", number) for number in range(50)
    ]


def test_names_read_past_the_ready_memo_limit_still_read_right(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from randread.zip import reader as reader_module  # noqa: PLC0415 - patched here only

    monkeypatch.setattr(reader_module, "_READY_LIMIT", 4)
    data = _infos_archive()
    with randread.ZipReader(data) as reader:
        for _ in range(2):
            for number in range(50):
                assert reader.read(f"d/{number:02d}.txt") == b"y" * number
        assert len(reader._ready) <= 4
