"""The array-pass central directory parser (randread.zip.central) on edge cases.

Each archive is built byte by byte here; the expected entries come from
zipfile or are spelled out, and malformed input must give randread's own
errors with the message a one-header-at-a-time walk gives.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest

import randread
from randread.errors import UnsupportedFeatureError, ZipFormatError, ZipNameDecodeError
from randread.zip.directory import Directory, read_directory
from tests.zipbuilder import CDH, EOCD, ZIP64_EOCD, ZIP64_LOCATOR
from tests.zipbuilder import MAX16 as M16
from tests.zipbuilder import MAX32 as M32

UTF8 = 0x800


def header(
    name: bytes = b"a",
    extra: bytes = b"",
    *,
    flags: int = 0,
    needed: int = 20,
    compressed: int = 0,
    uncompressed: int = 0,
    offset: int = 0,
    disk: int = 0,
    extra_length: int | None = None,
) -> bytes:
    """One central directory file header (4.3.12) with its name and extra field."""
    return (
        CDH.pack(
            0x02014B50,
            20,
            needed,
            flags,
            0,
            0,
            0x21,
            0,
            compressed,
            uncompressed,
            len(name),
            len(extra) if extra_length is None else extra_length,
            0,
            disk,
            0,
            0,
            offset,
        )
        + name
        + extra
    )


def archive(
    records: list[bytes],
    *,
    count: int | None = None,
    prefix: bytes = b"",
    zip64: bool = False,
    directory_offset: int = 0,
) -> bytes:
    """A central directory at ``directory_offset`` (as recorded) and its end records."""
    directory = b"".join(records)
    count = len(records) if count is None else count
    if not zip64:
        end = EOCD.pack(0x06054B50, 0, 0, count, count, len(directory), directory_offset, 0)
        return prefix + directory + end
    record = ZIP64_EOCD.pack(
        0x06064B50, 44, 45, 45, 0, 0, count, count, len(directory), directory_offset
    )
    locator = ZIP64_LOCATOR.pack(0x07064B50, 0, len(directory), 1)
    end = EOCD.pack(0x06054B50, 0, 0, M16, M16, M32, M32, 0)
    return prefix + directory + record + locator + end


def zip64_extra(*values: int) -> bytes:
    data = b"".join(struct.pack("<Q", value) for value in values)
    return struct.pack("<HH", 1, len(data)) + data


def unicode_path(raw_name: bytes, name: bytes) -> bytes:
    data = struct.pack("<BI", 1, zlib.crc32(raw_name)) + name
    return struct.pack("<HH", 0x7075, len(data)) + data


def read(data: bytes, encoding: str | None = None) -> Directory:
    return read_directory(randread.BytesReadAt(data), metadata_encoding=encoding)


def names(directory: Directory) -> list[str]:
    return [entry.name for entry in directory.entries()]


# -- zip64 values and the base offset ------------------------------------------------


def test_zip64_field_running_past_the_directory_end_is_a_format_error() -> None:
    # The last header's zip64 field claims 8 bytes and has none: the zip64
    # gather must not read past the directory (it raised IndexError).
    data = archive([header(b"z", b"\x01\x00\x08\x00", uncompressed=M32)])
    with pytest.raises(ZipFormatError) as caught:
        read(data)
    assert str(caught.value) == (
        "central directory entry 0 at 0x0 ('z'): extra field 0x0001 at +0 claims 8 bytes "
        "but only 0 remain"
    )


def test_zip64_field_overrun_with_every_value_saturated() -> None:
    extra = b"\x01\x00\x18\x00" + bytes(8)
    record = header(b"z", extra, uncompressed=M32, compressed=M32, offset=M32)
    with pytest.raises(ZipFormatError, match=r"extra field 0x0001 at \+0 claims 24 bytes"):
        read(archive([record]))


@pytest.mark.parametrize("name", [b"a", b"\xe9"])
def test_zip64_offset_plus_prepended_data_does_not_wrap(name: bytes) -> None:
    # Ten bytes were prepended; the zip64 offset plus those ten is past 2**64.
    # It must not wrap to 5 (a real position in the file) and never raise
    # OverflowError (it did for a name that is not plain ASCII): it is held
    # at 2**64 - 1, past the end of any file, and reading the entry says so.
    offset = 2**64 - 5
    data = archive([header(name, zip64_extra(offset), offset=M32)], prefix=b"X" * 10)
    directory = read(data)
    assert directory.base_offset == 10
    [entry] = directory.entries()
    assert entry.header_offset == 2**64 - 1
    assert entry.data_limit == len(data)
    with randread.ZipReader(data) as reader, pytest.raises(ZipFormatError, match="past the end"):
        reader.read(entry.name)


@pytest.mark.parametrize("recorded", [2**64 - 1, 2**63 + 5])
def test_base_offset_below_minus_2_63_is_a_format_error(recorded: int) -> None:
    # A zip64 record puts the directory near 2**64; it is found where the end
    # records begin instead, so the base offset is hugely negative.
    data = archive([header(b"a")], zip64=True, directory_offset=recorded)
    with pytest.raises(ZipFormatError) as caught:
        read(data)
    assert str(caught.value) == (
        "central directory entry 0 at 0x0 ('a'): local header offset 0x0 lies before the "
        f"start of the file (the offsets count {recorded} bytes that are not there)"
    )


def test_negative_base_offset_with_a_zip64_offset_above_2_63() -> None:
    offset = 2**63 + 100
    data = archive([header(b"a", zip64_extra(offset), offset=M32)], zip64=True, directory_offset=40)
    directory = read(data)
    assert directory.base_offset == -40
    assert directory.entry(0).header_offset == offset - 40


@pytest.mark.parametrize(
    ("saturated", "extra", "expected"),
    [
        ((True, False, False), zip64_extra(7), (7, 6, 0)),
        ((False, True, False), zip64_extra(9), (5, 9, 0)),
        ((False, False, True), zip64_extra(11), (5, 6, 11)),
        ((True, True, True), zip64_extra(7, 9, 11), (7, 9, 11)),
        ((True, True, False), zip64_extra(7, 9) + b"\x00\x00", (7, 9, 0)),
        ((True, False, True), zip64_extra(7, 11, 99), (7, 6, 11)),
        ((True, False, False), b"\x34\x12\x02\x00ab" + zip64_extra(7), (7, 6, 0)),
        ((True, False, False), b"", (M32, 6, 0)),  # an old writer's 2**32 - 1 bytes
    ],
)
def test_zip64_values(saturated: tuple[bool, bool, bool], extra: bytes, expected: tuple) -> None:
    wide_u, wide_c, wide_o = saturated
    record = header(
        b"z",
        extra,
        uncompressed=M32 if wide_u else 5,
        compressed=M32 if wide_c else 6,
        offset=M32 if wide_o else 0,
    )
    entry = read(archive([record, header(b"y")])).entry(0)
    assert (entry.uncompressed_size, entry.compressed_size, entry.header_offset) == expected


def test_zip64_field_too_short_for_the_disk_number() -> None:
    record = header(b"z", zip64_extra(7), uncompressed=M32, disk=M16)
    with pytest.raises(ZipFormatError, match=r"zip64 extra field \(8 bytes\) has no disk start"):
        read(archive([record]))


def test_saturated_compressed_size_without_zip64_field() -> None:
    with pytest.raises(ZipFormatError, match="has no zip64 extra field"):
        read(archive([header(b"q", compressed=M32)]))


# -- framing, counts and the fallback walk -------------------------------------------


def test_empty_directory() -> None:
    directory = read(archive([]))
    assert len(directory) == 0
    assert directory.name_list() == []
    assert directory.find("a") == -1


def test_zero_length_name_last_in_the_directory() -> None:
    directory = read(archive([header(b"x"), header(b"")]))
    assert names(directory) == ["x", ""]
    assert directory.find("") == 1
    assert directory.find("x") == 0


def test_signature_inside_names_extras_and_trailing_bytes() -> None:
    records = [
        header(b"PK\x01\x02"),
        header(b"b", b"\xaa\xaa\x04\x00PK\x01\x02"),
        b"PK\x01\x02junk",  # after the declared count: ignored
    ]
    directory = read(archive(records, count=2))
    assert names(directory) == ["PK\x01\x02", "b"]
    assert directory.entry(1).directory_offset == 50


def test_declared_count_larger_than_actual() -> None:
    with pytest.raises(ZipFormatError) as caught:
        read(archive([header(b"a"), header(b"b")], count=5))
    assert str(caught.value) == (
        "central directory at 0x0: end of central directory declares 5 entries but the "
        "directory (94 bytes) holds 2"
    )


def test_declared_count_smaller_than_actual_lists_every_header() -> None:
    assert names(read(archive([header(b"a"), header(b"b"), header(b"c")], count=1))) == [
        "a",
        "b",
        "c",
    ]


def test_error_in_an_earlier_header_comes_before_a_framing_error() -> None:
    records = [header(b"ok"), header(b"\xff\xfe", flags=UTF8), header(b"b", extra_length=500)]
    with pytest.raises(ZipNameDecodeError, match="central directory entry 1 at 0x30"):
        read(archive(records))
    records = [header(b"a", needed=64), header(b"b", extra_length=500)]
    with pytest.raises(UnsupportedFeatureError, match=r"entry 0 at 0x0: needs version 6\.4"):
        read(archive(records))


def test_framing_error_after_headers_that_parse() -> None:
    records = [header(b"\xe9"), header(b"b", extra_length=500)]
    with pytest.raises(ZipFormatError, match=r"entry 1 at 0x2f: file name \(1\), extra field"):
        read(archive(records))


def test_more_than_65535_entries_with_zip64_end_records() -> None:
    count = 70_000
    data = archive([header(b"w%d" % i) for i in range(count)], zip64=True)
    directory = read(data)
    assert directory.zip64
    assert len(directory) == count
    assert directory.find("w69999") == count - 1
    assert directory.entry(65_536).name == "w65536"


# -- extra fields ------------------------------------------------------------------


def test_many_tiny_extra_fields_in_many_entries() -> None:
    tiny = b"".join(struct.pack("<HH", 0xCAFE, 0) for _ in range(30))
    records = [
        header(b"m%d" % i, tiny + (zip64_extra(1000 + i) if i % 2 else b""), uncompressed=M32)
        for i in range(100)
    ]
    directory = read(archive(records))
    sizes = [entry.uncompressed_size for entry in directory.entries()]
    assert sizes == [M32 if i % 2 == 0 else 1000 + i for i in range(100)]


def test_few_entries_with_many_tiny_extra_fields_and_a_late_overrun() -> None:
    tiny = b"".join(struct.pack("<HH", 0xCAFE, 0) for _ in range(40))
    records = [header(b"a", tiny), header(b"b", tiny + b"\xaa\xaa\x09\x00abc")]
    with pytest.raises(ZipFormatError, match=r"entry 1 .*\('b'\): extra field 0xaaaa at \+160"):
        read(archive(records))


def test_extra_field_padding_is_accepted() -> None:
    records = [header(b"a", b"\x00"), header(b"b", b"\x01\x02\x03"), header(b"c")]
    assert names(read(archive(records))) == ["a", "b", "c"]


def test_unicode_path_fields() -> None:
    records = [
        header(b"n1", unicode_path(b"n1", "uni\u00e9".encode())),
        header(b"n2", unicode_path(b"other", b"zz")),  # CRC of another name: ignored
        header(b"n3", unicode_path(b"n3", b"")),  # empty: ignored
        header(b"n4", unicode_path(b"n4", b"a\x00b")),  # cut at the NUL, as zipfile does
    ]
    directory = read(archive(records))
    assert names(directory) == ["uni\u00e9", "n2", "n3", "a"]
    assert directory.entry(0).raw_name == b"n1"
    assert directory.find("uni\u00e9") == 0


def test_unicode_path_field_that_is_not_utf8() -> None:
    with pytest.raises(ZipFormatError, match=r"Corrupt Unicode Path extra field"):
        read(archive([header(b"n", unicode_path(b"n", b"\xff"))]))


# -- names ------------------------------------------------------------------------


def test_names_match_zipfile() -> None:
    records = [
        header(b"a"),
        header(b"x\x00y"),
        header(b"\x00"),
        header(b"caf\xc3\xa9", flags=UTF8),
        header(b"\xe6\x97\xa5\x00z", flags=UTF8),
        header(b"caf\x82"),
        header(b""),
        header(b"d/"),
    ]
    data = archive(records)
    directory = read(data)
    with zipfile.ZipFile(io.BytesIO(data)) as reference:
        assert names(directory) == reference.namelist()
        assert directory.name_list() == reference.namelist()
        assert [entry.raw_name for entry in directory.entries()] == [
            info.orig_filename.encode("utf-8" if info.flag_bits & UTF8 else "cp437")
            for info in reference.infolist()
        ]


def test_cp437_names_and_metadata_encoding() -> None:
    records = [header(b"\x80\x81\xff"), header(b"ascii"), header(b"\x82\xa0"), header(b"")]
    assert names(read(archive(records))) == ["\u00c7\u00fc\u00a0", "ascii", "\u00e9\u00e1", ""]
    assert names(read(archive(records[2:]), "cp932")) == ["\u3042", ""]
    with pytest.raises(ZipNameDecodeError, match=r"cannot be decoded as cp932"):
        read(archive(records), "cp932")
    with pytest.raises(ValueError, match="unknown metadata_encoding 'nope'"):
        read(archive(records), "nope")


def test_utf8_flagged_names() -> None:
    records = [header(b"caf\xc3\xa9", flags=UTF8), header(b"plain", flags=UTF8)]
    assert names(read(archive(records), "cp932")) == ["caf\u00e9", "plain"]
    with pytest.raises(ZipNameDecodeError, match="flagged UTF-8 but is not valid UTF-8"):
        read(archive([header(b"ok"), header(b"\xc3", flags=UTF8)]))


def test_duplicates_find_the_last() -> None:
    records = [header(b"d"), header(b"e"), header(b"d"), header(b"d\x00x"), header(b"e")]
    directory = read(archive(records))
    assert names(directory) == ["d", "e", "d", "d", "e"]
    assert directory.find("d") == 3
    assert directory.find_all("d") == [0, 2, 3]
    assert directory.find("e") == 4
    assert directory.find("d\x00x") == -1


def test_long_names_are_found() -> None:
    records = [header(b"x" * 600), header(b"y" * 513), header(b"x" * 600), header(b"x" * 599)]
    directory = read(archive(records))
    assert directory.find("x" * 600) == 2
    assert directory.find("y" * 513) == 1
    assert directory.find("x" * 599) == 3
    assert directory.find("x" * 601) == -1
