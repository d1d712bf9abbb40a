"""Local file headers (APPNOTE 4.3.7): the checks every entry passes before its data is used.

The central directory says where an entry's local header is; the header
must agree with it (signature, name, method, sizes) and the data it leads to
must lie before the next entry. Pure functions of the archive bytes.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, cast

from randread._core.errors import EntryErrors
from randread.errors import (
    UnsupportedFeatureError,
    ZipChecksumError,
    ZipFormatError,
    ZipTruncatedError,
)
from randread.zip import records as rec
from randread.zip.central import decode_name
from randread.zip.crypto import ENCRYPTION_HEADER_LENGTH
from randread.zip.extra import AES_EXTRA_ID, ExtraFieldError, find_extra_field
from randread.zip.methods import method_name

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from typing_extensions import Buffer

    from randread.readat import ReadAt
    from randread.zip.directory import CentralDirectoryEntry

__all__ = [
    "entry_errors",
    "entry_span",
    "has_aes_extra",
    "local_data_offset",
    "short_read_error",
    "unsupported_encryption",
]

_LFH = rec.LOCAL_FILE_HEADER
_LFH_LENGTH = rec.LOCAL_FILE_HEADER_LENGTH
_LFH_SIGNATURE = rec.LOCAL_FILE_HEADER_SIGNATURE
_ENCRYPTED = rec.FLAG_ENCRYPTED
_STORED = rec.METHOD_STORED
_CDH_LENGTHS = struct.Struct("<HH")
_CDH_LENGTHS_OFFSET = 28
#: A local header's extra field is read with the header if it is at most this
#: long; a longer one costs a second read.
_LOCAL_EXTRA_SLACK = 4096


def entry_span(readat: ReadAt, entry: CentralDirectoryEntry, *, with_data: bool) -> tuple[int, int]:
    """Return the range to read for an entry's local header, and its data if ``with_data``.

    It never reaches past the entry's data limit (the next local header or
    the central directory) or the end of the file.
    """
    offset = entry.header_offset
    header_end = offset + _LFH_LENGTH + len(entry.raw_name)
    end = header_end + _LOCAL_EXTRA_SLACK + (entry.compressed_size if with_data else 0)
    end = min(max(min(end, entry.data_limit), header_end), readat.size)
    if offset >= end:  # a header past the end: local_data_offset says so
        return min(offset, readat.size), 0
    return offset, end - offset


def unsupported_encryption(entry: CentralDirectoryEntry) -> UnsupportedFeatureError:
    """Return the error for an entry encrypted (or patched) in a way randread cannot read."""
    if entry.method == rec.METHOD_AES:
        what = "is encrypted with WinZip AES (method 99), which is not supported"
    elif entry.flags & rec.FLAG_STRONG_ENCRYPTION:
        what = "uses PKWARE strong encryption, which is not supported"
    else:
        what = "is a compressed patch data set (flag bit 5), which is not supported"
    return UnsupportedFeatureError(f"entry {entry.name!r} {what}", method=entry.method)


def local_data_offset(
    readat: ReadAt, entry: CentralDirectoryEntry, span: memoryview, encoding: str | None
) -> int:
    """Check the local header of ``entry`` and return where its data starts.

    ``span`` holds the bytes from the local header on (see ``entry_span``).
    """
    offset = entry.header_offset
    name_length = len(entry.raw_name)
    limit = entry.data_limit
    header_end = offset + _LFH_LENGTH + name_length
    if header_end > readat.size:
        msg = (
            f"entry {entry.name!r}: local file header at 0x{offset:x} runs past the end "
            f"of the file (size 0x{readat.size:x})"
        )
        raise ZipFormatError(msg)
    header = span[: _LFH_LENGTH + name_length]
    if len(header) != _LFH_LENGTH + name_length:
        raise short_read_error(
            entry, "local file header", offset, len(header), _LFH_LENGTH + name_length
        )
    (
        signature,
        _needed,
        flags,
        method,
        _time,
        _date,
        crc,
        compressed_size,
        uncompressed_size,
        local_name_length,
        extra_length,
    ) = _LFH.unpack_from(header)
    if signature != _LFH_SIGNATURE:
        msg = (
            f"entry {entry.name!r}: invalid local file header signature 0x{signature:08x} "
            f"at 0x{offset:x}"
        )
        raise ZipFormatError(msg)
    if local_name_length != name_length or header[_LFH_LENGTH:] != entry.raw_name:
        local_name = readat.read_at(
            offset + _LFH_LENGTH, min(local_name_length, readat.size - offset - _LFH_LENGTH)
        )
        if not _same_name(entry, local_name, flags, encoding):
            msg = (
                f"entry {entry.name!r}: local file header at 0x{offset:x}: File name "
                f"{local_name!r} and central directory name {entry.raw_name!r} differ"
            )
            raise ZipFormatError(msg)
        header_end += local_name_length - name_length
    if method != entry.method:
        msg = (
            f"entry {entry.name!r}: local file header at 0x{offset:x} says method {method}, "
            f"the central directory {entry.method}"
        )
        raise ZipFormatError(msg)
    if not flags & rec.FLAG_DATA_DESCRIPTOR:
        _check_local_sizes(entry, offset, crc, compressed_size, uncompressed_size)
    data_offset: int = header_end + extra_length
    data_end = data_offset + entry.compressed_size
    if data_end > limit:
        if data_end > readat.size:
            what = f"runs past the end of the file (size 0x{readat.size:x})"
        else:
            what = (
                f"overlaps the next entry or the central directory at 0x{limit:x} "
                "(Overlapped entries: a possible zip bomb)"
            )
        msg = (
            f"entry {entry.name!r}: data at 0x{data_offset:x} "
            f"({entry.compressed_size} bytes) {what}"
        )
        raise ZipFormatError(msg)
    if entry.method == _STORED:
        expected = entry.uncompressed_size + (
            ENCRYPTION_HEADER_LENGTH if entry.flags & _ENCRYPTED else 0
        )
        if entry.compressed_size != expected:
            msg = (
                f"entry {entry.name!r}: stored entry has compressed size "
                f"{entry.compressed_size} but uncompressed size {entry.uncompressed_size}"
            )
            raise ZipFormatError(msg)
    return data_offset


def _central_extra(directory: bytes | NDArray[np.uint8], entry: CentralDirectoryEntry) -> bytes:
    """Return the extra field of ``entry``'s central directory header."""
    name_length, extra_length = _CDH_LENGTHS.unpack_from(
        cast("Buffer", directory), entry.directory_offset + _CDH_LENGTHS_OFFSET
    )
    start = entry.directory_offset + rec.CENTRAL_DIRECTORY_HEADER_LENGTH + name_length
    return bytes(directory[start : start + extra_length])


def has_aes_extra(directory: bytes | NDArray[np.uint8], entry: CentralDirectoryEntry) -> bool:
    """Tell whether ``entry``'s central extra field has a WinZip AES record (0x9901)."""
    try:
        return find_extra_field(_central_extra(directory, entry), AES_EXTRA_ID) is not None
    except ExtraFieldError:
        return False


def _same_name(
    entry: CentralDirectoryEntry, local_name: bytes, local_flags: int, encoding: str | None
) -> bool:
    """Tell whether differing local and central name bytes mean the same name.

    zipfile compares the two names decoded, each by its own header's UTF-8
    flag; its append mode writes UTF-8 central names for legacy-encoded local ones.
    """
    try:
        return decode_name(local_name, local_flags, encoding, "local") == decode_name(
            entry.raw_name, entry.flags, encoding, "central"
        )
    except ValueError:  # undecodable (ZipNameDecodeError) or unknown encoding
        return False


def _check_local_sizes(
    entry: CentralDirectoryEntry, offset: int, crc: int, compressed: int, uncompressed: int
) -> None:
    for label, local, central in (
        ("CRC-32", crc, entry.crc32),
        ("compressed size", compressed, entry.compressed_size),
        ("uncompressed size", uncompressed, entry.uncompressed_size),
    ):
        if local not in (central, rec.ZIP64_LIMIT_32) and not (label == "CRC-32" and local == 0):
            msg = (
                f"entry {entry.name!r}: local file header at 0x{offset:x} says {label} "
                f"{local}, the central directory {central}"
            )
            raise ZipFormatError(msg)


def short_read_error(
    entry: CentralDirectoryEntry, what: str, offset: int, got: int, wanted: int
) -> ZipFormatError:
    """Return the error for a source that returned fewer bytes than asked.

    A ReadAt that breaks its contract, or a file truncated under a reader.
    """
    return ZipFormatError(
        f"entry {entry.name!r}: {what} at 0x{offset:x}: the source returned {got} of {wanted} bytes"
    )


def entry_errors(entry: CentralDirectoryEntry, data_offset: int) -> EntryErrors:
    """Return how the errors of ``entry`` (data at ``data_offset``) are worded."""
    return EntryErrors(
        name=entry.name,
        detail=f"{method_name(entry.method)}, data at 0x{data_offset:x}",
        crc_where=f"local header at 0x{entry.header_offset:x}",
        expected_crc=entry.crc32,
        format_error=ZipFormatError,
        checksum_error=ZipChecksumError,
        truncated_error=ZipTruncatedError,
    )
