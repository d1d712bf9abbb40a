"""Build bundles byte by byte from formats/bundle.md, with control over every field.

BundleWriter writes only well-formed bundles, and always the same way (one
codec per bundle, the dictionary first, names back to back). Tests of other
valid layouts and of broken ones need the records laid out by hand. This
module follows the spec directly and shares no code with the writer except the
record layouts and names in ``randread.bundle.format``; the name hash is
computed here with hashlib.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass, fields, replace

import lz4.block
import zstandard

from randread.bundle import format as fmt

HEADER_SIZE = 32
FOOTER_SIZE = 128
RECORD_SIZE = 64
#: offset and struct format of each entry record field (formats/bundle.md, Entry table)
RECORD_FIELDS = {
    "data_offset": (0, "<Q"),
    "stored_size": (8, "<Q"),
    "size": (16, "<Q"),
    "name_offset": (24, "<Q"),
    "entry_metadata_offset": (32, "<Q"),
    "mtime_ns": (40, "<q"),
    "name_length": (48, "<I"),
    "entry_metadata_length": (52, "<I"),
    "checksum": (56, "<I"),
    "mode": (60, "<H"),
    "codec": (62, "<B"),
    "flags": (63, "<B"),
}


def name_hash(name: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(name, digest_size=8).digest(), "little")


def metadata_map(pairs: dict[str, str]) -> bytes:
    if not pairs:
        return b""
    out = struct.pack("<I", len(pairs))
    for key, value in pairs.items():
        for text in (key.encode(), value.encode()):
            out += struct.pack("<I", len(text)) + text
    return out


def zstd_frame(
    content: bytes, *, dictionary: bytes | None = None, content_size: bool = True
) -> bytes:
    compressor = zstandard.ZstdCompressor(
        dict_data=zstandard.ZstdCompressionDict(dictionary) if dictionary is not None else None,
        write_content_size=content_size,
        write_dict_id=False,
    )
    return compressor.compress(content)


@dataclass
class Entry:
    """One entry; ``stored`` defaults to ``content`` encoded with ``codec``.

    Every record field can be overridden; ``None`` means "what a writer would put".
    """

    name: str | bytes
    content: bytes = b""
    codec: int = fmt.CODEC_NONE
    stored: bytes | None = None
    mtime_ns: int | None = None
    mode: int | None = None
    metadata: bytes = b""
    size: int | None = None
    stored_size: int | None = None
    checksum: int | None = None
    flags: int | None = None
    data_offset: int | None = None
    name_length: int | None = None

    @property
    def raw_name(self) -> bytes:
        return self.name.encode() if isinstance(self.name, str) else self.name


def encode(entry: Entry, dictionary: bytes | None) -> bytes:
    if entry.stored is not None:
        return entry.stored
    if entry.codec == fmt.CODEC_NONE:
        return entry.content
    if entry.codec == fmt.CODEC_ZSTD:
        return zstd_frame(entry.content)
    if entry.codec == fmt.CODEC_ZSTD_DICT:
        return zstd_frame(entry.content, dictionary=dictionary)
    if entry.codec == fmt.CODEC_LZ4:
        return bytes(lz4.block.compress(entry.content, store_size=False))
    raise ValueError(entry.codec)


def build(
    entries: list[Entry],
    *,
    alignment: int = 8,
    dictionary: bytes | None = None,
    archive_metadata: bytes = b"",
    header_flags: int = 0,
    version: tuple[int, int] = (1, 0),
    entry_order: list[int] | None = None,
) -> bytes:
    """Lay out a bundle: header, dictionary, entry data in ``entry_order``, index, footer.

    The index blocks come in the spec's order; an empty block's offset is 0.
    """
    out = bytearray(fmt.HEADER.pack(fmt.HEADER_MAGIC, *version, alignment, header_flags, bytes(12)))
    dictionary_offset = 0
    if dictionary is not None:
        dictionary_offset = len(out)
        out += dictionary
    offsets: dict[int, int] = {}
    stored_bytes = [encode(entry, dictionary) for entry in entries]
    for index in entry_order if entry_order is not None else range(len(entries)):
        if entries[index].codec == fmt.CODEC_NONE:
            out += bytes(-len(out) % alignment)
        offsets[index] = len(out)
        out += stored_bytes[index]
    out += bytes(-len(out) % 8)
    index_offset = len(out)

    names = b""
    metadata = b""
    table = bytearray()
    for index, entry in enumerate(entries):
        flags = 0
        if entry.mtime_ns is not None:
            flags |= fmt.ENTRY_HAS_MTIME
        if entry.mode is not None:
            flags |= fmt.ENTRY_HAS_MODE
        table += fmt.ENTRY_RECORD.pack(
            offsets[index] if entry.data_offset is None else entry.data_offset,
            len(stored_bytes[index]) if entry.stored_size is None else entry.stored_size,
            len(entry.content) if entry.size is None else entry.size,
            len(names),
            len(metadata) if entry.metadata else 0,
            entry.mtime_ns or 0,
            len(entry.raw_name) if entry.name_length is None else entry.name_length,
            len(entry.metadata),
            zlib.crc32(entry.content) if entry.checksum is None else entry.checksum,
            entry.mode or 0,
            entry.codec,
            flags if entry.flags is None else entry.flags,
        )
        names += entry.raw_name
        metadata += entry.metadata
    hashes = [name_hash(entry.raw_name) for entry in entries]
    order = sorted(range(len(entries)), key=lambda index: hashes[index])

    blocks: list[bytes] = [
        bytes(table),
        b"".join(struct.pack("<Q", hashes[index]) for index in order),
        b"".join(struct.pack("<I", index) for index in order),
        names,
        metadata,
        archive_metadata,
    ]
    block_offsets = []
    for block in blocks:
        block_offsets.append(len(out) if block else 0)
        out += block
    footer = fmt.Footer(
        index_offset=index_offset,
        entry_count=len(entries),
        entry_table_offset=block_offsets[0],
        hash_table_offset=block_offsets[1],
        hash_order_offset=block_offsets[2],
        names_offset=block_offsets[3],
        names_length=len(names),
        metadata_offset=block_offsets[4],
        metadata_length=len(metadata),
        archive_metadata_offset=block_offsets[5],
        archive_metadata_length=len(archive_metadata),
        dictionary_offset=dictionary_offset,
        dictionary_length=len(dictionary) if dictionary is not None else 0,
        dictionary_id=0,
        index_checksum=zlib.crc32(out[index_offset:]),
        version_major=version[0],
        version_minor=version[1],
    )
    return bytes(out + footer.encode())


# -- reading and patching finished bundles ------------------------------------------


def footer_of(data: bytes) -> fmt.Footer:
    values = fmt.FOOTER.unpack_from(data, len(data) - FOOTER_SIZE)
    return fmt.Footer(*values[: len(fields(fmt.Footer))])


def with_footer(data: bytes, *, refresh_index: bool = True, **changes: int) -> bytes:
    """Replace footer fields and re-encode it with a valid footer checksum.

    ``refresh_index`` also recomputes the index checksum, so that a changed
    index fails the deeper checks and not just the checksum.
    """
    footer = replace(footer_of(data), **changes)
    footer_offset = len(data) - FOOTER_SIZE
    if refresh_index and "index_checksum" not in changes:
        start = footer.index_offset
        if 0 <= start <= footer_offset:
            footer = replace(footer, index_checksum=zlib.crc32(data[start:footer_offset]))
    return data[:footer_offset] + footer.encode()


def refresh(data: bytes) -> bytes:
    """Recompute the index checksum (and so the footer checksum)."""
    return with_footer(data)


def record_offset(data: bytes, index: int) -> int:
    return footer_of(data).entry_table_offset + index * RECORD_SIZE


def record(data: bytes, index: int) -> dict[str, int]:
    base = record_offset(data, index)
    return {
        name: struct.unpack_from(form, data, base + offset)[0]
        for name, (offset, form) in RECORD_FIELDS.items()
    }


def patch(data: bytes, offset: int, replacement: bytes) -> bytes:
    return data[:offset] + replacement + data[offset + len(replacement) :]


def patch_record(data: bytes, index: int, *, refresh_index: bool = True, **values: int) -> bytes:
    """Set entry record fields; by default the index checksum is recomputed."""
    for name, value in values.items():
        offset, form = RECORD_FIELDS[name]
        data = patch(data, record_offset(data, index) + offset, struct.pack(form, value))
    return refresh(data) if refresh_index else data
