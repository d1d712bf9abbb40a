"""Extra fields (APPNOTE 4.5, 4.6): the ones randread reads.

Parsers take the raw extra-field bytes of one header and return plain values;
they raise :class:`ExtraFieldError` (a ``ValueError`` without position), which
the directory reader turns into a :class:`~randread.ZipFormatError` naming the
entry and offset.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "AES_EXTRA_ID",
    "UNICODE_PATH_EXTRA_ID",
    "ZIP64_EXTRA_ID",
    "AesExtra",
    "ExtraFieldError",
    "find_extra_field",
    "iter_extra_fields",
    "parse_aes_extra",
    "parse_unicode_path_extra",
    "parse_zip64_extra",
]

#: 4.5.3 Zip64 extended information extra field
ZIP64_EXTRA_ID = 0x0001
#: 4.6.9 Info-ZIP Unicode Path extra field
UNICODE_PATH_EXTRA_ID = 0x7075
#: WinZip AES encryption (APPNOTE 4.6.10 lists the id; the layout is WinZip's)
AES_EXTRA_ID = 0x9901

_HEADER = struct.Struct("<HH")
_UINT64 = struct.Struct("<Q")
_UINT32 = struct.Struct("<I")
_UNICODE_PATH = struct.Struct("<BI")
_AES = struct.Struct("<H2sBH")


class ExtraFieldError(ValueError):
    """A malformed extra field; the caller adds the entry and offset."""


def iter_extra_fields(extra: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield ``(header_id, data)`` for each extra field (4.5.1).

    Fewer than four bytes left over at the end are padding and are skipped (some
    aligning tools leave them); a field whose size runs past the end is an error.
    """
    position = 0
    end = len(extra)
    while position + _HEADER.size <= end:
        header_id, size = _HEADER.unpack_from(extra, position)
        start = position + _HEADER.size
        if start + size > end:
            msg = (
                f"extra field 0x{header_id:04x} at +{position} claims {size} bytes "
                f"but only {end - start} remain"
            )
            raise ExtraFieldError(msg)
        yield header_id, extra[start : start + size]
        position = start + size


def find_extra_field(extra: bytes, header_id: int) -> bytes | None:
    """Return the data of the first extra field with ``header_id``, or None."""
    for found_id, data in iter_extra_fields(extra):
        if found_id == header_id:
            return data
    return None


def parse_zip64_extra(
    data: bytes,
    *,
    uncompressed: bool,
    compressed: bool,
    offset: bool,
    disk: bool,
) -> tuple[int | None, int | None, int | None, int | None]:
    """Read the zip64 fields (4.5.3) that the header marked as saturated.

    The fields appear in a fixed order, and only those whose header value is
    0xFFFFFFFF (0xFFFF for the disk) are present. Returns
    ``(uncompressed_size, compressed_size, header_offset, disk_start)`` with
    None for fields not asked for.
    """
    values: list[int | None] = []
    position = 0
    for wanted, layout, label in (
        # zipfile's names for the fields in parentheses, for readers of its errors
        (uncompressed, _UINT64, "uncompressed size (file size)"),
        (compressed, _UINT64, "compressed size (compress size)"),
        (offset, _UINT64, "local header offset"),
        (disk, _UINT32, "disk start number"),
    ):
        if not wanted:
            values.append(None)
            continue
        if position + layout.size > len(data):
            msg = f"zip64 extra field ({len(data)} bytes) has no {label}"
            raise ExtraFieldError(msg)
        values.append(layout.unpack_from(data, position)[0])
        position += layout.size
    return values[0], values[1], values[2], values[3]


def parse_unicode_path_extra(data: bytes) -> tuple[int, bytes] | None:
    """Return ``(crc32 of the header name, UTF-8 name)`` from a 0x7075 field (4.6.9).

    Returns None for a version other than 1 or a field too short to hold one.
    """
    if len(data) < _UNICODE_PATH.size:
        return None
    version, name_crc = _UNICODE_PATH.unpack_from(data)
    if version != 1:
        return None
    return name_crc, data[_UNICODE_PATH.size :]


@dataclass(frozen=True, slots=True)
class AesExtra:
    """WinZip AES extra field 0x9901: vendor version, key strength, real method."""

    vendor_version: int
    strength: int
    method: int


def parse_aes_extra(data: bytes) -> AesExtra | None:
    """Parse a 0x9901 field, or return None when it is too short or not WinZip's."""
    if len(data) < _AES.size:
        return None
    vendor_version, vendor_id, strength, method = _AES.unpack_from(data)
    if vendor_id != b"AE":
        return None
    return AesExtra(vendor_version, strength, method)
