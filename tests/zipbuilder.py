"""Build zip archives byte by byte, with control over every field (APPNOTE 4.3).

zipfile writes only well-formed archives; tests of odd and broken ones need
each record laid out by hand. Records here follow APPNOTE.TXT directly.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib
from dataclasses import dataclass, field

LFH = struct.Struct("<IHHHHHIIIHH")
CDH = struct.Struct("<IHHHHHHIIIHHHHHII")
EOCD = struct.Struct("<IHHHHIIH")
ZIP64_EOCD = struct.Struct("<IQHHIIQQQQ")
ZIP64_LOCATOR = struct.Struct("<IIQI")
MAX32 = 0xFFFFFFFF
MAX16 = 0xFFFF


def compress(method: int, data: bytes) -> bytes:
    if method == 0:
        return data
    if method == 8:
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush()
    if method == 12:
        return bz2.compress(data)
    if method == 14:
        filters = [{"id": lzma.FILTER_LZMA1, "dict_size": 1 << 16}]
        raw = lzma.compress(data, format=lzma.FORMAT_RAW, filters=filters)
        properties = lzma._encode_filter_properties(filters[0])  # type: ignore[attr-defined]
        return struct.pack("<BBH", 9, 20, len(properties)) + properties + raw
    if method == 93:
        import zstandard  # noqa: PLC0415 - only this method needs it

        return zstandard.ZstdCompressor().compress(data)
    raise ValueError(method)


def zipcrypto_encrypt(password: bytes, check_byte: int, data: bytes) -> bytes:
    """Encrypt with traditional PKWARE encryption (APPNOTE 6.1), header included."""
    table = []
    for byte in range(256):
        value = byte
        for _ in range(8):
            value = (value >> 1) ^ 0xEDB88320 if value & 1 else value >> 1
        table.append(value)
    keys = [0x12345678, 0x23456789, 0x34567890]

    def update(byte: int) -> None:
        keys[0] = table[(keys[0] ^ byte) & 0xFF] ^ (keys[0] >> 8)
        keys[1] = ((keys[1] + (keys[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        keys[2] = table[(keys[2] ^ (keys[1] >> 24)) & 0xFF] ^ (keys[2] >> 8)

    for byte in password:
        update(byte)
    out = bytearray()
    for plain in bytes(range(11)) + bytes([check_byte]) + data:
        temp = (keys[2] | 2) & 0xFFFF
        out.append(plain ^ (((temp * (temp ^ 1)) >> 8) & 0xFF))
        update(plain)
    return bytes(out)


@dataclass
class Entry:
    name: str | bytes
    data: bytes = b""
    method: int = 8
    flags: int = 0
    dos_time: int = 0x6000
    dos_date: int = 0x5021
    external_attr: int = 0
    made_by: int = 20
    comment: bytes = b""
    extra: bytes = b""
    local_extra: bytes | None = None
    #: which central header fields go to a zip64 extra field (any subset of
    #: "uncompressed", "compressed", "offset", "disk")
    zip64: frozenset[str] = frozenset()
    #: None: no data descriptor; "32"/"64" sizes, with or without signature
    descriptor: str | None = None
    descriptor_signature: bool = True
    password: bytes | None = None
    #: overrides applied after computing the real values
    crc: int | None = None
    compressed: bytes | None = None
    local_name: bytes | None = None
    local_method: int | None = None
    size_override: int | None = None
    compressed_size_override: int | None = None
    offset_override: int | None = None

    @property
    def raw_name(self) -> bytes:
        return self.name if isinstance(self.name, bytes) else self.name.encode("utf-8")


@dataclass
class Archive:
    entries: list[Entry] = field(default_factory=list)
    comment: bytes = b""
    prefix: bytes = b""
    #: True: offsets count the prefix (zip -A); False: they do not (cat stub a.zip)
    adjust_offsets: bool = False
    zip64_end: bool = False
    suffix: bytes = b""
    entries_total_override: int | None = None
    cd_size_override: int | None = None
    cd_offset_override: int | None = None

    def build(self) -> bytes:
        out = bytearray()
        base = len(self.prefix) if self.adjust_offsets else 0
        central = bytearray()
        for entry in self.entries:
            offset = base + len(out)
            crc = zlib.crc32(entry.data) if entry.crc is None else entry.crc
            payload = (
                entry.compressed
                if entry.compressed is not None
                else compress(entry.method, entry.data)
            )
            flags = entry.flags
            if entry.password is not None:
                flags |= 1
                check = (entry.dos_time >> 8) & 0xFF if entry.descriptor else crc >> 24
                payload = zipcrypto_encrypt(entry.password, check, payload)
            if entry.descriptor:
                flags |= 8
            size = len(entry.data) if entry.size_override is None else entry.size_override
            csize = (
                len(payload)
                if entry.compressed_size_override is None
                else entry.compressed_size_override
            )
            local_name = entry.raw_name if entry.local_name is None else entry.local_name
            local_method = entry.method if entry.local_method is None else entry.local_method
            zip64_local = bool(entry.zip64 & {"uncompressed", "compressed"})
            local_extra = entry.local_extra
            if local_extra is None:
                local_extra = (
                    struct.pack("<HHQQ", 1, 16, size, csize) if zip64_local else b""
                ) + entry.extra
            if entry.descriptor:
                local_fields = (0, 0, 0)
            elif zip64_local:
                local_fields = (crc, MAX32, MAX32)
            else:
                local_fields = (crc, csize, size)
            out += LFH.pack(
                0x04034B50,
                20,
                flags,
                local_method,
                entry.dos_time,
                entry.dos_date,
                *local_fields,
                len(local_name),
                len(local_extra),
            )
            out += local_name + local_extra + payload
            if entry.descriptor:
                signature = struct.pack("<I", 0x08074B50) if entry.descriptor_signature else b""
                layout = "<IQQ" if entry.descriptor == "64" else "<III"
                out += signature + struct.pack(layout, crc, csize, size)
            zip64_fields = b""
            central_size, central_csize, central_offset, disk = size, csize, offset, 0
            if entry.offset_override is not None:
                central_offset = entry.offset_override
            if "uncompressed" in entry.zip64:
                zip64_fields += struct.pack("<Q", size)
                central_size = MAX32
            if "compressed" in entry.zip64:
                zip64_fields += struct.pack("<Q", csize)
                central_csize = MAX32
            if "offset" in entry.zip64:
                zip64_fields += struct.pack("<Q", central_offset)
                central_offset = MAX32
            if "disk" in entry.zip64:
                zip64_fields += struct.pack("<I", 0)
                disk = MAX16
            extra = (
                struct.pack("<HH", 1, len(zip64_fields)) + zip64_fields if entry.zip64 else b""
            ) + entry.extra
            central += CDH.pack(
                0x02014B50,
                entry.made_by,
                20,
                flags,
                entry.method,
                entry.dos_time,
                entry.dos_date,
                crc,
                central_csize,
                central_size,
                len(entry.raw_name),
                len(extra),
                len(entry.comment),
                disk,
                0,
                entry.external_attr,
                central_offset,
            )
            central += entry.raw_name + extra + entry.comment
        cd_offset = base + len(out)
        out += central
        count = (
            len(self.entries)
            if self.entries_total_override is None
            else self.entries_total_override
        )
        cd_size = len(central) if self.cd_size_override is None else self.cd_size_override
        cd_offset = cd_offset if self.cd_offset_override is None else self.cd_offset_override
        if self.zip64_end:
            zip64_offset = base + len(out)
            out += ZIP64_EOCD.pack(0x06064B50, 44, 45, 45, 0, 0, count, count, cd_size, cd_offset)
            out += ZIP64_LOCATOR.pack(0x07064B50, 0, zip64_offset, 1)
            out += EOCD.pack(0x06054B50, 0, 0, MAX16, MAX16, MAX32, MAX32, len(self.comment))
        else:
            out += EOCD.pack(0x06054B50, 0, 0, count, count, cd_size, cd_offset, len(self.comment))
        return self.prefix + bytes(out) + self.comment + self.suffix
