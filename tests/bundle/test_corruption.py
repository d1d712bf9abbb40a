"""Damaged bundles: every kind of damage raises a randread error, and nothing else.

formats/bundle.md, "What a reader must reject", class by class: truncation,
flipped bytes anywhere, lying offsets and sizes (with the footer checksum
rebuilt so the deeper checks are reached), wrong magic and versions, unknown
flags and codecs. Errors name the record and field and give hex offsets.
Hostile zstd frames and LZ4 blocks are in test_codecs.py, a damaged name
index in test_index.py, malformed metadata maps in test_format.py.
"""

from __future__ import annotations

import contextlib
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass

import pytest

import randread
from randread.bundle import format as fmt
from tests.bundle.samples import CONTENT, ENTRY, FILES, HEX, INDEX, bundle
from tests.bundlebuilder import (
    FOOTER_SIZE,
    Entry,
    build,
    footer_of,
    patch,
    patch_record,
    record,
    refresh,
    with_footer,
)
from tests.conftest import run_threads


def test_the_base_bundles_mix_codecs() -> None:
    with randread.BundleReader(bundle()) as reader:
        codecs = {info.filename: info.codec for info in reader.infolist()}
    assert codecs == {
        "stored.bin": "none",
        "text.txt": "zstd",
        "empty": "none",
        "dir/": "none",
        "meta.txt": "zstd",
    }
    with randread.BundleReader(bundle("lz4")) as reader:
        assert reader.getinfo("text.txt").codec == "lz4"


@dataclass(frozen=True)
class Snapshot:
    """Everything a reader says about a bundle."""

    names: list[str]
    comment: bytes
    metadata: dict[str, str]
    infos: list[tuple[object, ...]]
    contents: list[bytes]


def snapshot(data: bytes) -> Snapshot:
    """Read everything; randread errors propagate, KeyError only for a damaged index."""
    with randread.BundleReader(data) as reader:
        names = reader.namelist()
        infos = reader.infolist()
        try:
            reader.verify_index()
        except randread.RandreadError:
            # Lookups may fail now, but only with a randread error or KeyError.
            for name in names:
                with contextlib.suppress(randread.RandreadError, KeyError):
                    reader.read(name)
            raise
        contents = [reader.read(name) for name in names]
        for name, content in zip(names, contents, strict=True):
            assert bytes(reader.view(name)) == content
            with reader.open(name) as stream:
                assert stream.read() == content
        assert reader.testzip() is None
        return Snapshot(
            names,
            reader.comment,
            reader.metadata,
            [
                (i.filename, i.file_size, i.CRC, i.codec, i.mtime_ns, i.mode, i.metadata)
                for i in infos
            ],
            contents,
        )


def harmless_bytes(data: bytes) -> set[int]:
    """Bytes whose damage the format lets a reader ignore, or that a decoder may not notice.

    Reserved header bytes, header flag bits 16-31, the padding, and the
    stored bytes of compressed entries (a flip there may leave the decoded
    content, and so its checksum, unchanged).
    """
    used = bytearray(len(data))
    used[:18] = b"\x01" * 18
    footer = footer_of(data)
    used[footer.index_offset :] = b"\x01" * (len(data) - footer.index_offset)
    compressed: set[int] = set()
    for index in range(footer.entry_count):
        fields = record(data, index)
        span = range(fields["data_offset"], fields["data_offset"] + fields["stored_size"])
        for position in span:
            used[position] = 1
        if fields["codec"] != fmt.CODEC_NONE:
            compressed.update(span)
    return {position for position in range(len(data)) if not used[position]} | compressed


@pytest.mark.parametrize("codec", ["auto", "lz4"])
def test_every_flipped_byte_is_caught_or_harmless(codec: str) -> None:
    data = bundle(codec)
    original = snapshot(data)
    assert original.contents == [content for _, content, _ in FILES]
    harmless = harmless_bytes(data)
    unnoticed = []
    for position in range(len(data)):
        for mask in (0xFF, 0x01):
            damaged = patch(data, position, bytes([data[position] ^ mask]))
            try:
                result = snapshot(damaged)
            except randread.RandreadError:
                continue
            assert result == original, f"byte {position} ^ {mask:#x} changed what is read"
            unnoticed.append(position)
    assert set(unnoticed) <= harmless, sorted(set(unnoticed) - harmless)


def boundaries(data: bytes) -> set[int]:
    footer = footer_of(data)
    footer_offset = len(data) - FOOTER_SIZE
    cuts = {0, 8, 31, 32, footer.index_offset, footer_offset, footer_offset + 116, len(data) - 8}
    cuts |= {len(data) - 1, 159, 160}
    for index in range(footer.entry_count):
        fields = record(data, index)
        cuts |= {fields["data_offset"], fields["data_offset"] + fields["stored_size"]}
    for offset, length in (
        (footer.entry_table_offset, 64 * footer.entry_count),
        (footer.hash_table_offset, 8 * footer.entry_count),
        (footer.hash_order_offset, 4 * footer.entry_count),
        (footer.names_offset, footer.names_length),
        (footer.metadata_offset, footer.metadata_length),
        (footer.archive_metadata_offset, footer.archive_metadata_length),
    ):
        cuts |= {offset, offset + length}
    return {cut for cut in cuts if 0 <= cut < len(data)}


@pytest.mark.parametrize("codec", ["auto", "lz4"])
def test_truncation_at_every_record_boundary(codec: str) -> None:
    data = bundle(codec)
    for cut in sorted(boundaries(data)):
        message = "too short" if cut < 160 else rf"footer at {HEX}: magic .* truncated\?"
        with pytest.raises(randread.BundleFormatError, match=message):
            randread.BundleReader(data[:cut])


def test_truncation_at_every_length_and_trailing_bytes() -> None:
    data = bundle()
    for cut in range(len(data)):
        with pytest.raises(randread.BundleFormatError):
            randread.BundleReader(data[:cut])
    for suffix in (b"\x00", b"\n", data[-8:], bytes(128)):
        with pytest.raises(randread.BundleFormatError, match=r"magic|footer checksum"):
            randread.BundleReader(data + suffix)


# -- the header and the footer ---------------------------------------------------------


def _header(data: bytes, **values: int) -> bytes:
    layout = {"version_major": (8, "<H"), "version_minor": (10, "<H"), "alignment": (12, "<I")}
    layout["flags"] = (16, "<I")
    for name, value in values.items():
        offset, form = layout[name]
        data = patch(data, offset, struct.pack(form, value))
    return data


def _footer_offset() -> int:
    return len(bundle()) - FOOTER_SIZE


BAD_AT_OPEN: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "empty file": (lambda _: b"", "file of 0 bytes is too short for a bundle"),
    "159 bytes": (lambda d: d[:32] + d[-127:], "file of 159 bytes is too short"),
    "header magic": (lambda d: patch(d, 1, b"RRX"), "file header at 0x0: magic .* not a bundle's"),
    "text-mode transfer": (lambda d: d.replace(b"\r\n", b"\n", 1), "file header at 0x0: magic"),
    "a zip file": (lambda d: b"PK\x03\x04" + d[4:], "file header at 0x0: magic"),
    "header version 2": (
        lambda d: with_footer(_header(d, version_major=2), version_major=2),
        "file header at 0x0: version 2 is not supported",
    ),
    "footer version 2": (
        lambda d: with_footer(d, version_major=2),
        rf"footer at {HEX}: version 2 is not supported",
    ),
    "minor versions differ": (
        lambda d: with_footer(d, version_minor=2),
        rf"footer at {HEX}: version 1.2 differs from the header's 1.\d",
    ),
    "must-understand flag 0": (
        lambda d: _header(d, flags=1),
        "file header at 0x0: flags 0x00000001 use features this reader does not know",
    ),
    "must-understand flag 15": (lambda d: _header(d, flags=1 << 15), "flags 0x00008000"),
    "alignment 0": (lambda d: _header(d, alignment=0), "alignment 0 is not a power of two"),
    "alignment 3": (lambda d: _header(d, alignment=3), "alignment 3 is not a power of two"),
    "alignment 8192": (lambda d: _header(d, alignment=8192), "alignment 8192 is not"),
    "footer magic": (
        lambda d: patch(d, len(d) - 3, b"XYZ"),
        rf"footer at {HEX}: magic .* truncated\?",
    ),
    "footer checksum": (
        lambda d: patch(d, len(d) - FOOTER_SIZE + 8, b"\x07"),
        rf"footer at {HEX}: footer checksum {HEX} does not match its content \({HEX}\)",
    ),
    "index offset below the header": (
        lambda d: with_footer(d, index_offset=24),
        rf"footer at {HEX}: index offset 0x18 is not an 8-aligned offset between 0x20 and {HEX}",
    ),
    "index offset unaligned": (
        lambda d: with_footer(d, index_offset=footer_of(d).index_offset + 4),
        "index offset .* is not an 8-aligned offset",
    ),
    "index offset past the footer": (
        lambda d: with_footer(d, index_offset=len(d)),
        "index offset .* is not an 8-aligned offset",
    ),
    "index offset far past the end": (
        lambda d: with_footer(d, index_offset=1 << 63),
        "index offset 0x8000000000000000",
    ),
    "entry count too large": (
        lambda d: with_footer(d, entry_count=1 << 40),
        rf"footer at {HEX}: entry count 1099511627776 does not fit in an index of \d+ bytes",
    ),
    "entry table unaligned": (
        lambda d: with_footer(d, entry_table_offset=footer_of(d).entry_table_offset + 4),
        (
            rf"footer at {HEX}: entry table at {HEX} of 320 bytes is not an 8-aligned block "
            rf"inside the index area \({HEX} to {HEX}\)"
        ),
    ),
    "entry table past the end": (
        lambda d: with_footer(d, entry_table_offset=(1 << 64) - 8),
        "entry table at 0xfffffffffffffff8",
    ),
    "hash table in the data area": (
        lambda d: with_footer(d, hash_table_offset=32),
        "hash table at 0x20 of 40 bytes is not an 8-aligned block inside the index area",
    ),
    "hash order unaligned": (
        lambda d: with_footer(d, hash_order_offset=footer_of(d).hash_order_offset + 2),
        "hash order at .* is not an 4-aligned block",
    ),
    "names run into the footer": (
        lambda d: with_footer(d, names_length=footer_of(d).names_length + 10_000),
        "names at .* bytes is not an 1-aligned block inside the index area",
    ),
    "entry metadata before the index": (
        lambda d: with_footer(d, metadata_offset=40),
        "entry metadata at 0x28",
    ),
    "blocks overlap": (
        lambda d: with_footer(d, names_offset=footer_of(d).hash_order_offset),
        rf"footer at {HEX}: (names|hash order) at {HEX} overlaps the (hash order|names)",
    ),
    "archive metadata longer than its map": (
        lambda d: with_footer(d, archive_metadata_length=footer_of(d).archive_metadata_length - 1),
        rf"archive metadata at {HEX}: metadata map is malformed",
    ),
    "dictionary in the index": (
        lambda d: with_footer(d, dictionary_offset=footer_of(d).index_offset, dictionary_length=10),
        rf"footer at {HEX}: dictionary at {HEX} of 10 bytes lies outside the data area",
    ),
    "dictionary in the header": (
        lambda d: with_footer(d, dictionary_offset=0, dictionary_length=10),
        "dictionary at 0x0 of 10 bytes lies outside the data area",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_AT_OPEN), ids=str)
def test_bad_bundles_fail_at_open(case: str) -> None:
    mutate, message = BAD_AT_OPEN[case]
    with pytest.raises(randread.BundleFormatError, match=message):
        randread.BundleReader(mutate(bundle()))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: with_footer(_header(d, version_minor=7), version_minor=7),
        lambda d: _header(d, flags=1 << 16),
        lambda d: _header(d, flags=0xFFFF0000),
        lambda d: patch(d, 20, b"\xff" * 12),  # reserved header bytes
        lambda d: with_footer(d, dictionary_id=12345),  # informative only
    ],
    ids=["minor-7", "flag-16", "flags-16-31", "reserved", "dictionary-id"],
)
def test_what_readers_ignore(mutate: Callable[[bytes], bytes]) -> None:
    """Later minor versions, optional flag bits, reserved bytes, unused offsets."""
    damaged = mutate(bundle())
    with randread.BundleReader(damaged, verify_index=True) as reader:
        assert {name: reader.read(name) for name in reader.namelist()} == CONTENT


def test_offsets_of_empty_blocks_are_not_used() -> None:
    data = build([Entry("a", b"x")])
    footer = footer_of(data)
    assert footer.metadata_length == footer.archive_metadata_length == 0
    for offset in (0, 5, footer.names_offset, 1 << 63):
        damaged = with_footer(
            data, metadata_offset=offset, archive_metadata_offset=offset, dictionary_offset=offset
        )
        with randread.BundleReader(damaged, verify_index=True) as reader:
            assert reader.read("a") == b"x"
            assert reader.metadata == {}
            assert reader.dictionary is None


# -- entry records ----------------------------------------------------------------------


def _record_value(name: str, field: str, codec: str = "auto") -> int:
    return record(bundle(codec), INDEX[name])[field]


@dataclass(frozen=True)
class BadEntry:
    """A damaged record of one entry: what reading it raises; the others still read."""

    name: str
    change: dict[str, Callable[[int], int]]
    message: str
    error: type[randread.RandreadError] = randread.BundleFormatError
    codec: str = "auto"
    #: the call that fails: "read" (read, view, open) or "info" (getinfo only)
    fails: str = "read"

    def data(self) -> bytes:
        original = record(bundle(self.codec), INDEX[self.name])
        values = {field: change(original[field]) for field, change in self.change.items()}
        return patch_record(bundle(self.codec), INDEX[self.name], **values)


BAD_ENTRIES = {
    "data past the end": BadEntry(
        "stored.bin",
        {"data_offset": lambda _: 1 << 20},
        rf"{ENTRY}: data at 0x100000 of 300 bytes lies outside the data area \(0x20 to {HEX}\)",
    ),
    "data in the header": BadEntry(
        "text.txt", {"data_offset": lambda _: 8}, rf"{ENTRY}: data at 0x8 .* outside the data area"
    ),
    "data runs into the index": BadEntry(
        "meta.txt", {"stored_size": lambda v: v + 1000}, "lies outside the data area"
    ),
    "stored size near 2**64": BadEntry(
        "text.txt", {"stored_size": lambda _: (1 << 64) - 1}, "lies outside the data area"
    ),
    "stored entry: stored size differs": BadEntry(
        "stored.bin",
        {"stored_size": lambda v: v - 1},
        rf"{ENTRY}: stored entry has stored size 299 but size 300",
    ),
    "stored entry: size differs": BadEntry(
        "stored.bin", {"size": lambda _: 1 << 40}, "stored size 300 but size 1099511627776"
    ),
    "stored entry: unaligned": BadEntry(
        "stored.bin",
        {"data_offset": lambda v: v + 1},
        rf"{ENTRY}: stored entry at 0x21 is not aligned to 8",
    ),
    "undefined entry flags": BadEntry(
        "text.txt", {"flags": lambda v: v | 0x80}, rf"{ENTRY}: undefined flag bits 0x81"
    ),
    "zstd: size smaller than the frame's": BadEntry(
        "text.txt",
        {"size": lambda _: 10},
        r"entry 'text.txt' \(#1, data at 0x[0-9a-f]+\): zstd frame declares 1300 bytes, "
        "the entry 10",
    ),
    "zstd: size larger than the frame's": BadEntry(
        "text.txt", {"size": lambda v: v + 1}, "zstd frame declares 1300 bytes, the entry 1301"
    ),
    "zstd: size far too large": BadEntry(
        "text.txt",
        {"size": lambda _: 1 << 62},
        r"a zstd frame of \d+ bytes cannot decode to the entry's 4611686018427387904 bytes",
    ),
    "zstd: frame cut short": BadEntry(
        "text.txt",
        {"stored_size": lambda v: v - 3},
        r"entry 'text.txt' .*: (zstd|decoded data ends after)",
    ),
    "zstd: no stored bytes": BadEntry(
        "text.txt", {"stored_size": lambda _: 0}, "a zstd frame of 0 bytes cannot decode"
    ),
    "zstd-dict without a dictionary": BadEntry(
        "text.txt",
        {"codec": lambda _: fmt.CODEC_ZSTD_DICT},
        "entry uses the zstd-dict codec but the bundle has no dictionary",
    ),
    "lz4: size larger": BadEntry(
        "text.txt", {"size": lambda v: v + 1}, r"entry 'text.txt' .*: lz4", codec="lz4"
    ),
    "lz4: size smaller": BadEntry(
        "text.txt", {"size": lambda v: v - 1}, r"entry 'text.txt' .*: lz4", codec="lz4"
    ),
    "lz4: size far too large": BadEntry(
        "text.txt",
        {"size": lambda _: 1 << 40},
        r"an LZ4 block of \d+ bytes cannot decode to the entry's 1099511627776 bytes",
        codec="lz4",
    ),
    "lz4: size near 2**64": BadEntry(
        "text.txt", {"size": lambda _: (1 << 64) - 1}, "LZ4 block .* cannot decode", codec="lz4"
    ),
    "lz4: bytes for an empty entry": BadEntry(
        "text.txt", {"size": lambda _: 0}, "lz4 block of .* bytes for an empty entry", codec="lz4"
    ),
    "CRC mismatch": BadEntry(
        "text.txt",
        {"checksum": lambda v: v ^ 1},
        r"Bad CRC-32 for file 'text.txt': expected 0x[0-9a-f]{8}, got 0x[0-9a-f]{8} "
        r"\(#1, data at 0x[0-9a-f]+\)",
        randread.ChecksumError,
    ),
    "CRC mismatch, stored": BadEntry(
        "stored.bin", {"checksum": lambda v: v ^ 1}, "CRC-32", randread.ChecksumError
    ),
    "unknown codec 4": BadEntry(
        "text.txt",
        {"codec": lambda _: 4},
        "entry 'text.txt' uses codec id 4, unknown to this reader",
        randread.UnsupportedFeatureError,
    ),
    "unknown codec 255": BadEntry(
        "stored.bin", {"codec": lambda _: 255}, "codec id 255", randread.UnsupportedFeatureError
    ),
    "metadata runs past its block": BadEntry(
        "meta.txt",
        {"entry_metadata_length": lambda v: v + 1},
        r"entry #4 \('meta.txt'\): metadata at \+0 of \d+ bytes runs past the metadata block",
        fails="info",
    ),
    "metadata map malformed": BadEntry(
        "meta.txt",
        {"entry_metadata_length": lambda v: v - 1},
        rf"entry #4 \('meta.txt'\) at {HEX}: metadata map is malformed",
        fails="info",
    ),
    "metadata offset far away": BadEntry(
        "meta.txt",
        {"entry_metadata_offset": lambda _: 1 << 63},
        "metadata at \\+9223372036854775808",
        fails="info",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ENTRIES), ids=str)
def test_bad_entries_fail_on_use_and_leave_the_rest_readable(case: str) -> None:
    bad = BAD_ENTRIES[case]
    with randread.BundleReader(bad.data()) as reader:
        assert reader.namelist() == list(INDEX)
        if bad.fails == "info":
            with pytest.raises(bad.error, match=bad.message):
                reader.getinfo(bad.name)
            with pytest.raises(bad.error, match=bad.message):
                reader.verify_index()
            assert reader.read(bad.name) == CONTENT[bad.name]
        else:
            # open() of a zstd entry finds the problem when read, as a zip stream does.
            for call in (
                reader.read,
                reader.view,
                reader.as_numpy,
                lambda n: reader.open(n).read(),
            ):
                with pytest.raises(bad.error, match=bad.message):
                    call(bad.name)
            with pytest.raises(bad.error, match=bad.message):
                reader.read_many([bad.name, *INDEX], workers=2)
            if bad.error is randread.UnsupportedFeatureError:
                assert reader.getinfo(bad.name).codec.startswith("unknown (")
                with pytest.raises(randread.UnsupportedFeatureError):
                    reader.testzip()
            else:
                assert reader.testzip() == bad.name
        for name, content in CONTENT.items():
            if name != bad.name:
                assert reader.read(name) == content


def test_bad_entries_from_threads() -> None:
    """The whole table again, from 8 threads at once on shared readers."""
    readers = [(randread.BundleReader(bad.data()), bad) for bad in BAD_ENTRIES.values()]

    def work(_index: int) -> None:
        for _ in range(10):
            for reader, bad in readers:
                call = reader.getinfo if bad.fails == "info" else reader.read
                with pytest.raises(bad.error, match=bad.message):
                    call(bad.name)
                assert reader.read("empty") == b""

    try:
        run_threads(8, work, timeout=60)
    finally:
        for reader, _ in readers:
            reader.close()


def test_checksums_are_skipped_with_verify_false() -> None:
    data = BAD_ENTRIES["CRC mismatch"].data()
    with randread.BundleReader(data, verify=False) as reader:
        assert reader.read("text.txt") == CONTENT["text.txt"]
        # testzip checks content whatever ``verify`` says, and changes nothing
        assert reader.testzip() == "text.txt"
        assert reader.read("text.txt") == CONTENT["text.txt"]


def test_testzip_does_not_switch_checks_on_for_other_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read in another thread while testzip runs keeps the reader's ``verify=False``."""
    data = BAD_ENTRIES["CRC mismatch, stored"].data()
    reader = randread.BundleReader(data, verify=False)
    seen: list[bytes] = []
    original = reader._index.entry_at

    def entry_at(index: int):  # type: ignore[no-untyped-def]
        if not seen:  # testzip has started its walk
            seen.append(b"")
            seen[0] = reader.read("stored.bin")
        return original(index)

    monkeypatch.setattr(reader._index, "entry_at", entry_at)
    assert reader.testzip() == "stored.bin"
    assert seen == [CONTENT["stored.bin"]]


def test_bad_names() -> None:
    data = bundle()
    footer = footer_of(data)
    fields = record(data, INDEX["text.txt"])
    start = footer.names_offset + fields["name_offset"]
    not_utf8 = refresh(patch(data, start, b"\xff"))
    with randread.BundleReader(not_utf8) as reader:
        with pytest.raises(
            randread.BundleFormatError, match=rf"{ENTRY}: name b'\\xffext.txt' is not UTF-8"
        ):
            reader.namelist()
        with pytest.raises(KeyError):  # its hash no longer leads to a matching name
            reader.read("text.txt")
        assert reader.read("stored.bin") == CONTENT["stored.bin"]
        with pytest.raises(randread.BundleFormatError, match="not UTF-8"):
            reader.verify_index()
    for field, value in (("name_length", 1 << 31), ("name_offset", 1 << 63)):
        damaged = patch_record(data, INDEX["text.txt"], **{field: value})
        with randread.BundleReader(damaged) as reader:
            message = (
                rf"{ENTRY}: name at \+\d+ of \d+ bytes runs past the names block \(\d+ bytes\)"
            )
            with pytest.raises(randread.BundleFormatError, match=message):
                reader.namelist()
            with pytest.raises(randread.BundleFormatError, match=message):
                reader.read("text.txt")
            assert reader.read("meta.txt") == CONTENT["meta.txt"]


def test_messages_give_offsets_in_hex() -> None:
    """Spot check over every table: each message has a hex offset or names the entry."""
    for case, bad in BAD_ENTRIES.items():
        with randread.BundleReader(bad.data()) as reader:
            try:
                (reader.getinfo if bad.fails == "info" else reader.read)(bad.name)
            except randread.RandreadError as exc:
                assert re.search(HEX, str(exc)) or repr(bad.name) in str(exc), case
