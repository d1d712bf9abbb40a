"""The bundle format's records and constants, mirroring ``formats/bundle.md``.

Parsers take bytes and return records; encoders take records and return
bytes. No I/O here. Section names in docstrings refer to ``formats/bundle.md``.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from randread._checksum import crc32
from randread._core.zstd import MAX_WINDOW_SIZE
from randread.errors import BundleFormatError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ALIGNMENT_KEY",
    "ALIGNMENT_MAX",
    "CODEC_LZ4",
    "CODEC_NONE",
    "CODEC_ZSTD",
    "CODEC_ZSTD_DICT",
    "ENTRY_FLAGS_KNOWN",
    "ENTRY_HAS_MODE",
    "ENTRY_HAS_MTIME",
    "ENTRY_RECORD",
    "FLAGS_KEY",
    "FOOTER",
    "FOOTER_MAGIC",
    "HEADER",
    "HEADER_MAGIC",
    "RESERVED_KEY_PREFIX",
    "VERSION_MAJOR",
    "VERSION_MINOR",
    "ZSTD_MAX_WINDOW_SIZE",
    "Footer",
    "Header",
    "decode_metadata",
    "encode_metadata",
    "header_facts",
    "name_hash",
    "parse_footer",
    "parse_header",
]

VERSION_MAJOR = 1
VERSION_MINOR = 1
#: Archive metadata keys that start so are the format's own (from 1.1): the
#: header's alignment and flags, repeated where a reader finds them from the
#: end of the file (formats/bundle.md, Compatibility).
RESERVED_KEY_PREFIX = "rrb."
ALIGNMENT_KEY = "rrb.alignment"
FLAGS_KEY = "rrb.flags"

#: File header (32 bytes): magic, version_major, version_minor, alignment,
#: flags, reserved.
HEADER = struct.Struct("<8sHHII12s")
HEADER_MAGIC = b"\x89RRB\r\n\x1a\n"
#: Header flag bits 0-15 must be understood; none is defined in 1.0.
HEADER_FLAGS_MUST_UNDERSTAND = 0xFFFF

#: Footer (128 bytes, the end of the file).
FOOTER = struct.Struct("<13QIIHHI8s")
FOOTER_MAGIC = b"\x89RRBEND\n"
#: The footer checksum covers the footer bytes before it.
FOOTER_CHECKSUM_OFFSET = 116

#: Entry table record (64 bytes): data_offset, stored_size, size, name_offset,
#: entry_metadata_offset, mtime_ns (signed), name_length,
#: entry_metadata_length, checksum, mode, codec, flags.
ENTRY_RECORD = struct.Struct("<QQQQQqIIIHBB")
HASH_ITEM_SIZE = 8
ORDER_ITEM_SIZE = 4

ENTRY_HAS_MTIME = 0x01
ENTRY_HAS_MODE = 0x02
ENTRY_FLAGS_KNOWN = ENTRY_HAS_MTIME | ENTRY_HAS_MODE

CODEC_NONE = 0
CODEC_ZSTD = 1
CODEC_ZSTD_DICT = 2
CODEC_LZ4 = 3

ALIGNMENT_MAX = 4096
#: Largest zstd window a reader accepts (formats/bundle.md, Codecs).
ZSTD_MAX_WINDOW_SIZE = MAX_WINDOW_SIZE

_U32 = struct.Struct("<I")

if (HEADER.size, FOOTER.size, ENTRY_RECORD.size) != (32, 128, 64):  # pragma: no cover
    msg = "bundle record layouts do not match formats/bundle.md"
    raise ImportError(msg)


def name_hash(name: bytes) -> int:
    """Return the name hash: BLAKE2b-64 of the UTF-8 name, little-endian."""
    return int.from_bytes(hashlib.blake2b(name, digest_size=8).digest(), "little")


@dataclass(frozen=True, slots=True)
class Header:
    """The file header (formats/bundle.md, File header)."""

    version_major: int
    version_minor: int
    alignment: int
    flags: int

    def encode(self) -> bytes:
        """Return the 32 header bytes."""
        return HEADER.pack(
            HEADER_MAGIC,
            self.version_major,
            self.version_minor,
            self.alignment,
            self.flags,
            bytes(12),
        )


@dataclass(frozen=True, slots=True)
class Footer:
    """The footer (formats/bundle.md, Footer)."""

    index_offset: int
    entry_count: int
    entry_table_offset: int
    hash_table_offset: int
    hash_order_offset: int
    names_offset: int
    names_length: int
    metadata_offset: int
    metadata_length: int
    archive_metadata_offset: int
    archive_metadata_length: int
    dictionary_offset: int
    dictionary_length: int
    dictionary_id: int
    index_checksum: int
    version_major: int = VERSION_MAJOR
    version_minor: int = VERSION_MINOR

    def encode(self) -> bytes:
        """Return the 128 footer bytes, footer checksum included."""
        body = FOOTER.pack(
            self.index_offset,
            self.entry_count,
            self.entry_table_offset,
            self.hash_table_offset,
            self.hash_order_offset,
            self.names_offset,
            self.names_length,
            self.metadata_offset,
            self.metadata_length,
            self.archive_metadata_offset,
            self.archive_metadata_length,
            self.dictionary_offset,
            self.dictionary_length,
            self.dictionary_id,
            self.index_checksum,
            self.version_major,
            self.version_minor,
            0,
            FOOTER_MAGIC,
        )
        checksum = crc32(body[:FOOTER_CHECKSUM_OFFSET])
        return (
            body[:FOOTER_CHECKSUM_OFFSET]
            + _U32.pack(checksum)
            + body[FOOTER_CHECKSUM_OFFSET + _U32.size :]
        )


def parse_header(data: bytes) -> Header:
    """Parse and check the 32-byte file header."""
    magic, major, minor, alignment, flags, _reserved = HEADER.unpack(data)
    if magic != HEADER_MAGIC:
        msg = f"file header at 0x0: magic {magic!r} is not a bundle's ({HEADER_MAGIC!r})"
        raise BundleFormatError(msg)
    _check_version("file header at 0x0", major)
    _check_header_fields("file header at 0x0", alignment, flags)
    return Header(major, minor, alignment, flags)


def _check_header_fields(where: str, alignment: int, flags: int) -> None:
    if flags & HEADER_FLAGS_MUST_UNDERSTAND:
        msg = f"{where}: flags 0x{flags:08x} use features this reader does not know"
        raise BundleFormatError(msg)
    if not 1 <= alignment <= ALIGNMENT_MAX or alignment & (alignment - 1):
        msg = f"{where}: alignment {alignment} is not a power of two from 1 to 4096"
        raise BundleFormatError(msg)


def header_facts(metadata: Mapping[str, str], where: str) -> tuple[int, int] | None:
    """Return the header's (alignment, flags) as the archive metadata repeats them (1.1).

    None when the metadata does not have both keys (a 1.0 bundle). ``where``
    names the archive metadata in errors.
    """
    alignment_text = metadata.get(ALIGNMENT_KEY)
    flags_text = metadata.get(FLAGS_KEY)
    if alignment_text is None or flags_text is None:
        return None
    if not (alignment_text.isdecimal() and flags_text.isdecimal()):
        msg = (
            f"{where}: {ALIGNMENT_KEY} {alignment_text!r} and {FLAGS_KEY} {flags_text!r} "
            "are not both decimal numbers"
        )
        raise BundleFormatError(msg)
    alignment, flags = int(alignment_text), int(flags_text)
    _check_header_fields(where, alignment, flags)
    return alignment, flags


def parse_footer(data: bytes, footer_offset: int) -> Footer:
    """Parse the 128-byte footer found at ``footer_offset`` and check its checksum."""
    fields = FOOTER.unpack(data)
    where = f"footer at 0x{footer_offset:x}"
    if fields[-1] != FOOTER_MAGIC:
        msg = f"{where}: magic {fields[-1]!r} is not a bundle's ({FOOTER_MAGIC!r}); truncated?"
        raise BundleFormatError(msg)
    stored = fields[-2]
    actual = crc32(data[:FOOTER_CHECKSUM_OFFSET])
    if stored != actual:
        msg = f"{where}: footer checksum 0x{stored:08x} does not match its content (0x{actual:08x})"
        raise BundleFormatError(msg)
    footer = Footer(*fields[:-2])
    _check_version(where, footer.version_major)
    return footer


def _check_version(where: str, major: int) -> None:
    if major != VERSION_MAJOR:
        msg = f"{where}: version {major} is not supported (this reader reads version 1)"
        raise BundleFormatError(msg)


def encode_metadata(metadata: Mapping[str, str]) -> bytes:
    """Encode a metadata map (formats/bundle.md, Metadata maps)."""
    if not metadata:
        return b""
    parts = [_U32.pack(len(metadata))]
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            msg = (  # type: ignore[unreachable]
                "metadata keys and values must be str, not "
                f"{type(key).__name__}: {type(value).__name__}"
            )
            raise TypeError(msg)
        if not key:
            msg = "metadata keys must not be empty"
            raise ValueError(msg)
        for text in (key, value):
            raw = text.encode("utf-8")
            parts.append(_U32.pack(len(raw)))
            parts.append(raw)
    return b"".join(parts)


def decode_metadata(data: bytes, where: str) -> dict[str, str]:
    """Decode a metadata map that must fill ``data`` exactly."""
    if not data:
        return {}
    try:
        return _decode_metadata(data)
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        msg = f"{where}: metadata map is malformed: {exc}"
        raise BundleFormatError(msg) from None


def _decode_metadata(data: bytes) -> dict[str, str]:
    (count,) = _U32.unpack_from(data, 0)
    # Each pair takes at least 9 bytes: never trust the count to size anything.
    if count * 9 > len(data):
        msg = f"pair count {count} does not fit in {len(data)} bytes"
        raise ValueError(msg)
    position = _U32.size
    result: dict[str, str] = {}
    for _ in range(count):
        texts = []
        for _part in ("key", "value"):
            (length,) = _U32.unpack_from(data, position)
            position += _U32.size
            if position + length > len(data):
                msg = f"a length of {length} at byte {position - 4} runs past the map"
                raise ValueError(msg)
            texts.append(data[position : position + length].decode("utf-8"))
            position += length
        key, value = texts
        if not key or key in result:
            msg = f"key {key!r} is empty or repeated"
            raise ValueError(msg)
        result[key] = value
    if position != len(data):
        msg = f"{len(data) - position} bytes left after {count} pairs"
        raise ValueError(msg)
    return result
