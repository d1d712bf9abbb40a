"""Zip records as APPNOTE.TXT defines them: layouts, constants and parsers.

No I/O here: each parser takes bytes (or a memoryview) and an offset and
returns a frozen record, raising :class:`ValueError` subclasses only through
:func:`_unpack`, which callers turn into :class:`~randread.ZipFormatError` with
the position in the file. Section numbers refer to APPNOTE.TXT 6.3.10.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Buffer

# -- signatures (APPNOTE 4.3.7 - 4.3.16) -------------------------------------
LOCAL_FILE_HEADER_SIGNATURE = 0x04034B50
DATA_DESCRIPTOR_SIGNATURE = 0x08074B50
CENTRAL_DIRECTORY_SIGNATURE = 0x02014B50
ZIP64_END_OF_CENTRAL_DIRECTORY_SIGNATURE = 0x06064B50
ZIP64_END_OF_CENTRAL_DIRECTORY_LOCATOR_SIGNATURE = 0x07064B50
END_OF_CENTRAL_DIRECTORY_SIGNATURE = 0x06054B50
END_OF_CENTRAL_DIRECTORY_SIGNATURE_BYTES = b"PK\x05\x06"

# -- record layouts -----------------------------------------------------------
#: 4.3.7 local file header: 30 + file name + extra field
LOCAL_FILE_HEADER = struct.Struct("<IHHHHHIIIHH")
LOCAL_FILE_HEADER_LENGTH = LOCAL_FILE_HEADER.size
#: 4.3.12 central directory file header: 46 + file name + extra field + comment
CENTRAL_DIRECTORY_HEADER = struct.Struct("<IHHHHHHIIIHHHHHII")
CENTRAL_DIRECTORY_HEADER_LENGTH = CENTRAL_DIRECTORY_HEADER.size
#: 4.3.16 end of central directory record: 22 + comment
END_OF_CENTRAL_DIRECTORY = struct.Struct("<IHHHHIIH")
END_OF_CENTRAL_DIRECTORY_LENGTH = END_OF_CENTRAL_DIRECTORY.size
#: 4.3.15 zip64 end of central directory locator: 20
ZIP64_END_OF_CENTRAL_DIRECTORY_LOCATOR = struct.Struct("<IIQI")
ZIP64_END_OF_CENTRAL_DIRECTORY_LOCATOR_LENGTH = ZIP64_END_OF_CENTRAL_DIRECTORY_LOCATOR.size
#: 4.3.14 zip64 end of central directory record: 56 + extensible data
ZIP64_END_OF_CENTRAL_DIRECTORY = struct.Struct("<IQHHIIQQQQ")
ZIP64_END_OF_CENTRAL_DIRECTORY_LENGTH = ZIP64_END_OF_CENTRAL_DIRECTORY.size
#: 4.3.9 data descriptor, 32-bit sizes, after the optional signature: 12
DATA_DESCRIPTOR_32 = struct.Struct("<III")
#: 4.3.9 data descriptor, zip64 sizes, after the optional signature: 20
DATA_DESCRIPTOR_64 = struct.Struct("<IQQ")

#: The largest EOCD comment, so the EOCD starts at most this far before the end.
MAX_COMMENT_LENGTH = 0xFFFF
#: Field values meaning "see the zip64 record" (4.4.1.4).
ZIP64_LIMIT_16 = 0xFFFF
ZIP64_LIMIT_32 = 0xFFFFFFFF

# -- general purpose bit flags (4.4.4) ----------------------------------------
FLAG_ENCRYPTED = 1 << 0
FLAG_DATA_DESCRIPTOR = 1 << 3
FLAG_COMPRESSED_PATCHED = 1 << 5
FLAG_STRONG_ENCRYPTION = 1 << 6
FLAG_UTF8 = 1 << 11
FLAG_ENCRYPTED_CENTRAL_DIRECTORY = 1 << 13

# -- compression methods (4.4.5) ----------------------------------------------
METHOD_STORED = 0
METHOD_SHRUNK = 1
METHOD_IMPLODED = 6
METHOD_DEFLATED = 8
METHOD_DEFLATE64 = 9
METHOD_BZIP2 = 12
METHOD_LZMA = 14
METHOD_ZSTANDARD_DEPRECATED = 20
METHOD_ZSTANDARD = 93
METHOD_XZ = 95
METHOD_PPMD = 98
METHOD_AES = 99
#: names of the methods randread recognises but does not decode
UNDECODED_METHOD_NAMES = {
    1: "shrink",
    2: "reduce (factor 1)",
    3: "reduce (factor 2)",
    4: "reduce (factor 3)",
    5: "reduce (factor 4)",
    6: "implode",
    10: "PKWARE DCL implode",
    18: "IBM TERSE",
    19: "IBM LZ77 z",
    95: "xz",
    96: "JPEG",
    97: "WavPack",
    98: "PPMd",
    99: "WinZip AES encryption",
}

# -- host systems ("version made by" upper byte, 4.4.2) -----------------------
SYSTEM_UNIX = 3


@dataclass(frozen=True, slots=True)
class EndOfCentralDirectory:
    """4.3.16 end of central directory record (EOCD)."""

    disk_number: int
    central_directory_disk: int
    entries_on_disk: int
    entries_total: int
    central_directory_size: int
    central_directory_offset: int
    comment_length: int


@dataclass(frozen=True, slots=True)
class Zip64EndOfCentralDirectoryLocator:
    """4.3.15 zip64 end of central directory locator."""

    zip64_disk: int
    zip64_offset: int
    disk_count: int


@dataclass(frozen=True, slots=True)
class Zip64EndOfCentralDirectory:
    """4.3.14 zip64 end of central directory record."""

    record_size: int
    version_made_by: int
    version_needed: int
    disk_number: int
    central_directory_disk: int
    entries_on_disk: int
    entries_total: int
    central_directory_size: int
    central_directory_offset: int


@dataclass(frozen=True, slots=True)
class LocalFileHeader:
    """4.3.7 local file header (the fixed 30 bytes)."""

    version_needed: int
    flags: int
    method: int
    dos_time: int
    dos_date: int
    crc32: int
    compressed_size: int
    uncompressed_size: int
    name_length: int
    extra_length: int


def parse_end_of_central_directory(data: Buffer, offset: int = 0) -> EndOfCentralDirectory:
    """Parse an EOCD at ``offset`` whose signature the caller has checked."""
    fields = END_OF_CENTRAL_DIRECTORY.unpack_from(data, offset)
    return EndOfCentralDirectory(*fields[1:])


def parse_zip64_locator(data: Buffer, offset: int = 0) -> Zip64EndOfCentralDirectoryLocator | None:
    """Parse a zip64 EOCD locator, or return None when the signature is absent."""
    signature, disk, zip64_offset, disks = ZIP64_END_OF_CENTRAL_DIRECTORY_LOCATOR.unpack_from(
        data, offset
    )
    if signature != ZIP64_END_OF_CENTRAL_DIRECTORY_LOCATOR_SIGNATURE:
        return None
    return Zip64EndOfCentralDirectoryLocator(disk, zip64_offset, disks)


def parse_zip64_end_of_central_directory(
    data: Buffer, offset: int = 0
) -> Zip64EndOfCentralDirectory | None:
    """Parse a zip64 EOCD record, or return None when the signature is absent."""
    fields = ZIP64_END_OF_CENTRAL_DIRECTORY.unpack_from(data, offset)
    if fields[0] != ZIP64_END_OF_CENTRAL_DIRECTORY_SIGNATURE:
        return None
    return Zip64EndOfCentralDirectory(*fields[1:])


def parse_local_file_header(data: Buffer, offset: int = 0) -> LocalFileHeader | None:
    """Parse a local file header, or return None when the signature is absent."""
    fields = LOCAL_FILE_HEADER.unpack_from(data, offset)
    if fields[0] != LOCAL_FILE_HEADER_SIGNATURE:
        return None
    return LocalFileHeader(*fields[1:])


def dos_date_time(dos_date: int, dos_time: int) -> tuple[int, int, int, int, int, int]:
    """Decode MS-DOS date and time fields (4.4.6) the way ``zipfile`` does."""
    return (
        (dos_date >> 9) + 1980,
        (dos_date >> 5) & 0xF,
        dos_date & 0x1F,
        dos_time >> 11,
        (dos_time >> 5) & 0x3F,
        (dos_time & 0x1F) * 2,
    )
