"""Find the end of central directory and walk the central directory (APPNOTE 4.3.6).

The result is a :class:`Directory`: plain, immutable records built once at
open, sized from what was actually parsed, never preallocated from a count in
the file.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from randread.errors import (
    OutOfBoundsError,
    UnsupportedFeatureError,
    ZipFormatError,
    ZipNameDecodeError,
)
from randread.zip import records as rec
from randread.zip.extra import (
    UNICODE_PATH_EXTRA_ID,
    ZIP64_EXTRA_ID,
    ExtraFieldError,
    iter_extra_fields,
    parse_unicode_path_extra,
    parse_zip64_extra,
)

if TYPE_CHECKING:
    from randread.readat import ReadAt

__all__ = ["CentralDirectoryEntry", "Directory", "read_directory"]

_EOCD = rec.END_OF_CENTRAL_DIRECTORY_LENGTH
_CDH = rec.CENTRAL_DIRECTORY_HEADER
_CDH_LENGTH = rec.CENTRAL_DIRECTORY_HEADER_LENGTH
_LOCATOR_LENGTH = rec.ZIP64_END_OF_CENTRAL_DIRECTORY_LOCATOR_LENGTH
_ZIP64_EOCD_LENGTH = rec.ZIP64_END_OF_CENTRAL_DIRECTORY_LENGTH
#: 7.3.3: a version 2 zip64 EOCD record (needs 6.2) describes an encrypted directory
_CENTRAL_DIRECTORY_ENCRYPTION_VERSION = 62
#: the "size of zip64 end of central directory record" of version 1 (56 - 12)
_ZIP64_EOCD_V1_RECORD_SIZE = 44
_CDH_SIGNATURE = rec.CENTRAL_DIRECTORY_SIGNATURE.to_bytes(4, "little")
_LOCATOR_SIGNATURE = rec.ZIP64_END_OF_CENTRAL_DIRECTORY_LOCATOR_SIGNATURE.to_bytes(4, "little")
#: 4.4.3: the newest "version needed to extract" this reader knows (APPNOTE 6.3,
#: as zipfile's MAX_EXTRACT_VERSION); archives needing more are refused at open
_NEWEST_VERSION = 63
#: zipfile turns the OS path separator into "/" in names (on Windows, "\\")
_FOREIGN_SEPARATOR = os.sep if os.sep != "/" else None


class CentralDirectoryEntry(NamedTuple):
    """What a read needs from one central directory file header (4.3.12).

    ``header_offset`` is where the local header really is (prepended data
    already added); ``directory_offset`` is where this header starts within
    :attr:`Directory.central_directory`, for building the full
    :class:`zipfile.ZipInfo` on demand.
    """

    ordinal: int
    name: str
    raw_name: bytes
    method: int
    flags: int
    crc32: int
    compressed_size: int
    uncompressed_size: int
    header_offset: int
    dos_time: int
    dos_date: int
    directory_offset: int


@dataclass(frozen=True, slots=True)
class Directory:
    """An archive's central directory, parsed once at open."""

    entries: tuple[CentralDirectoryEntry, ...]
    #: per entry, the offset its local header and data must stay below: the
    #: next local header or the central directory (see ``_data_limits``)
    data_limits: tuple[int, ...]
    comment: bytes
    #: the raw central directory, kept to build ZipInfo objects on demand
    central_directory: bytes
    #: bytes before the archive proper (a self-extractor stub, ``cat stub a.zip``)
    #: that the recorded offsets do not count; negative when the offsets count
    #: bytes that are not in the source (a zip cut out of a larger file)
    base_offset: int
    central_directory_offset: int
    central_directory_size: int
    end_of_central_directory_offset: int
    zip64: bool


def _error(message: str) -> ZipFormatError:
    return ZipFormatError(message)


def _read(readat: ReadAt, offset: int, length: int, what: str) -> bytes:
    try:
        return readat.read_at(offset, length)
    except OutOfBoundsError:
        msg = (
            f"{what} at 0x{offset:x} ({length} bytes) runs past the end of the file "
            f"(size 0x{readat.size:x})"
        )
        raise _error(msg) from None


def _find_end_of_central_directory(
    readat: ReadAt,
) -> tuple[int, rec.EndOfCentralDirectory, bytes]:
    """Return the EOCD's offset, the record and its comment.

    The EOCD is the last record, followed only by its comment (up to 64 KiB),
    so it is searched for backwards from the end. A comment may itself contain
    the signature, and some tools append junk after the comment. Candidates
    are tried in this order: records whose comment ends exactly at the end of
    the file, earliest first (a fake record inside a comment comes after the
    real one); then records followed by trailing bytes, latest first. The
    first whose central directory looks right wins.
    """
    size = readat.size
    if size < _EOCD:
        msg = (
            f"not a zip file: {size} bytes is too short for an end of central directory "
            f"record ({_EOCD} bytes)"
        )
        raise _error(msg)
    tail_start = max(0, size - _EOCD - rec.MAX_COMMENT_LENGTH)
    tail = readat.read_at(tail_start, size - tail_start)
    signature = rec.END_OF_CENTRAL_DIRECTORY_SIGNATURE_BYTES
    exact: list[int] = []
    trailing: list[int] = []
    overrun: str | None = None
    position = tail.rfind(signature)
    while position >= 0:
        if position + _EOCD <= len(tail):
            record = rec.parse_end_of_central_directory(tail, position)
            comment_end = position + _EOCD + record.comment_length
            if comment_end == len(tail):
                exact.append(position)
            elif comment_end < len(tail):
                trailing.append(position)
            elif overrun is None:
                overrun = (
                    f"end of central directory record at 0x{tail_start + position:x}: "
                    f"comment length {record.comment_length} runs past the end of the file "
                    f"({len(tail) - position - _EOCD} bytes follow the record)"
                )
        position = tail.rfind(signature, 0, position + len(signature) - 1)
    candidates = exact[::-1] + trailing
    if len(candidates) == 1:  # nothing to choose between: no probing reads
        record = rec.parse_end_of_central_directory(tail, candidates[0])
        return _eocd_result(tail, tail_start, candidates[0], record)
    for position in candidates:
        record = rec.parse_end_of_central_directory(tail, position)
        if _plausible_end(readat, tail_start + position, record):
            return _eocd_result(tail, tail_start, position, record)
    if candidates:  # none looks right: report what parsing the best one finds
        record = rec.parse_end_of_central_directory(tail, candidates[0])
        return _eocd_result(tail, tail_start, candidates[0], record)
    if overrun is not None:
        raise _error(overrun)
    msg = "not a zip file: no end of central directory record (signature PK\\x05\\x06) found"
    raise _error(msg)


def _plausible_end(readat: ReadAt, offset: int, record: rec.EndOfCentralDirectory) -> bool:
    """Tell whether an EOCD candidate points at a central directory (or a zip64 locator)."""
    if record.entries_total == 0 and record.central_directory_size == 0:
        return True
    locator = offset - _LOCATOR_LENGTH
    if locator >= 0 and readat.read_at(locator, 4) == _LOCATOR_SIGNATURE:
        return True
    for start in (record.central_directory_offset, offset - record.central_directory_size):
        if start >= 0 and start + 4 <= offset and readat.read_at(start, 4) == _CDH_SIGNATURE:
            return True
    return False


def _eocd_result(
    tail: bytes, tail_start: int, position: int, record: rec.EndOfCentralDirectory
) -> tuple[int, rec.EndOfCentralDirectory, bytes]:
    comment_start = position + _EOCD
    comment = tail[comment_start : comment_start + record.comment_length]
    return tail_start + position, record, comment


@dataclass(frozen=True, slots=True)
class _Layout:
    entries_total: int
    central_directory_size: int
    central_directory_offset: int
    central_directory_end: int
    zip64: bool


def _read_zip64(readat: ReadAt, eocd_offset: int, eocd: rec.EndOfCentralDirectory) -> _Layout:
    """Combine the EOCD with the zip64 records (4.3.14, 4.3.15) when there are any."""
    saturated = (
        eocd.entries_total == rec.ZIP64_LIMIT_16
        or eocd.central_directory_size == rec.ZIP64_LIMIT_32
        or eocd.central_directory_offset == rec.ZIP64_LIMIT_32
    )
    plain = _Layout(
        eocd.entries_total,
        eocd.central_directory_size,
        eocd.central_directory_offset,
        eocd_offset,
        zip64=False,
    )
    locator_offset = eocd_offset - _LOCATOR_LENGTH
    locator = None
    if locator_offset >= 0:
        locator = rec.parse_zip64_locator(
            _read(readat, locator_offset, _LOCATOR_LENGTH, "zip64 locator"), 0
        )
    if locator is None:
        if (
            saturated
            and eocd.entries_total == rec.ZIP64_LIMIT_16
            and not (
                eocd.central_directory_size == rec.ZIP64_LIMIT_32
                or eocd.central_directory_offset == rec.ZIP64_LIMIT_32
            )
        ):
            return plain  # exactly 65535 entries in a plain archive
        if saturated:
            msg = (
                f"end of central directory record at 0x{eocd_offset:x} needs a zip64 "
                f"record, but no zip64 end of central directory locator precedes it"
            )
            raise _error(msg)
        return plain
    # The record is where the locator says, or right before the locator when
    # data was prepended to the archive without adjusting its offsets.
    candidates = [locator.zip64_offset, locator_offset - _ZIP64_EOCD_LENGTH]
    for record_offset in candidates:
        if record_offset < 0 or record_offset + _ZIP64_EOCD_LENGTH > locator_offset:
            continue
        record = rec.parse_zip64_end_of_central_directory(
            readat.read_at(record_offset, _ZIP64_EOCD_LENGTH)
        )
        if record is None:
            continue
        if (
            record.version_needed & 0xFF >= _CENTRAL_DIRECTORY_ENCRYPTION_VERSION
            and record.record_size > _ZIP64_EOCD_V1_RECORD_SIZE
        ):
            msg = (
                f"zip64 end of central directory record at 0x{record_offset:x} is version 2 "
                f"(needs version {(record.version_needed & 0xFF) / 10:.1f}): the central "
                f"directory is encrypted or compressed (PKWARE strong encryption), which is "
                f"not supported"
            )
            raise UnsupportedFeatureError(msg)
        if record.disk_number != 0 or record.central_directory_disk != 0:
            msg = (
                f"zip64 end of central directory record at 0x{record_offset:x}: disk number "
                f"{record.disk_number}; multi-disk zip files are not supported"
            )
            raise UnsupportedFeatureError(msg)
        return _Layout(
            record.entries_total,
            record.central_directory_size,
            record.central_directory_offset,
            record_offset,
            zip64=True,
        )
    # Without a record, a locator inside the bytes the central directory
    # occupies (it ends at the EOCD when there is no zip64 record) is part of
    # the last file name or comment that happens to match the signature.
    inside_directory = eocd.central_directory_size >= _LOCATOR_LENGTH
    if saturated or not inside_directory:
        msg = (
            f"zip64 locator at 0x{locator_offset:x}: no zip64 end of central directory "
            f"record (signature PK\\x06\\x06) at 0x{locator.zip64_offset:x}"
        )
        raise _error(msg)
    return plain


def _locate_central_directory(
    readat: ReadAt, layout: _Layout, at_recorded: bytes
) -> tuple[int, int]:
    """Return ``(start of the central directory, base offset)``.

    The recorded offset is trusted when a central directory header is there.
    Otherwise the directory is taken to end where the end records begin, and
    the difference is data prepended to the archive (a self-extractor stub),
    or, when negative, data the offsets count that is not there (a zip cut
    out of a larger file, such as one zipfile appended to another); zipfile
    works out the same base offset. ``at_recorded`` holds the bytes already
    read at the recorded offset.
    """
    size = layout.central_directory_size
    recorded = layout.central_directory_offset
    end = layout.central_directory_end
    if size > end:
        msg = (
            f"central directory size {size} (0x{size:x}) is larger than the "
            f"{end} bytes before the end of central directory record at 0x{end:x}"
        )
        raise _error(msg)
    if layout.entries_total == 0 and size == 0:
        return min(recorded, end), 0
    signature = _CDH_SIGNATURE
    if recorded + 4 <= end and (at_recorded or readat.read_at(recorded, 4))[:4] == signature:
        return recorded, 0
    actual = end - size
    if actual >= 0 and readat.read_at(actual, min(4, size)) == signature:
        return actual, actual - recorded
    if recorded + size > end:
        msg = (
            f"central directory at 0x{recorded:x} ({size} bytes) runs past the end of "
            f"central directory record at 0x{end:x}"
        )
        raise _error(msg)
    found = readat.read_at(recorded, 4) if recorded + 4 <= end else b""
    msg = (
        f"central directory at 0x{recorded:x}: invalid central directory file header "
        f"signature {found!r} (expected {signature!r})"
    )
    raise _error(msg)


def _decode_name(raw: bytes, flags: int, encoding: str | None, where: str) -> str:
    """Decode a file name: UTF-8 when flagged (4.4.4 bit 11), else the legacy encoding."""
    if flags & rec.FLAG_UTF8:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            msg = f"{where}: file name {raw!r} is flagged UTF-8 but is not valid UTF-8 ({exc})"
            raise ZipNameDecodeError(msg, exc) from None
    if encoding is None:
        # cp437 (APPNOTE appendix D) agrees with ASCII on ASCII bytes; the ascii
        # codec is much faster than the cp437 charmap.
        return raw.decode("ascii") if raw.isascii() else raw.decode("cp437")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        msg = f"{where}: file name {raw!r} cannot be decoded as {encoding} ({exc})"
        raise ZipNameDecodeError(msg, exc) from None
    except LookupError:
        msg = f"unknown metadata_encoding {encoding!r}"
        raise ValueError(msg) from None


def _normalise_name(name: str) -> str:
    """Apply zipfile's name rules: cut at a NUL byte, ``os.sep`` becomes ``/``."""
    if "\x00" in name:
        name = name[: name.index("\x00")]
    if _FOREIGN_SEPARATOR and _FOREIGN_SEPARATOR in name:
        name = name.replace(_FOREIGN_SEPARATOR, "/")
    return name


def _unicode_path(raw_name: bytes, extra: bytes) -> str | None:
    """Return the name from a 0x7075 field that matches the header name, if any (4.6.9).

    Raises ExtraFieldError when that field's name is not valid UTF-8.
    """
    name_crc = zlib.crc32(raw_name)
    for header_id, data in iter_extra_fields(extra):
        if header_id != UNICODE_PATH_EXTRA_ID:
            continue
        parsed = parse_unicode_path_extra(data)
        if parsed is None or parsed[0] != name_crc or not parsed[1]:
            continue
        try:
            return parsed[1].decode("utf-8")
        except UnicodeDecodeError as exc:
            # The field claims this entry (its CRC matches) but is corrupt;
            # zipfile (3.12+) refuses the archive too.
            msg = f"Corrupt Unicode Path extra field (0x7075): name is not UTF-8 ({exc})"
            raise ExtraFieldError(msg) from None
    return None


def read_directory(readat: ReadAt, *, metadata_encoding: str | None = None) -> Directory:
    """Locate and parse the central directory of the zip archive in ``readat``."""
    eocd_offset, eocd, comment = _find_end_of_central_directory(readat)
    if eocd.disk_number not in (0, rec.ZIP64_LIMIT_16) or eocd.central_directory_disk not in (
        0,
        rec.ZIP64_LIMIT_16,
    ):
        msg = (
            f"end of central directory record at 0x{eocd_offset:x}: disk number "
            f"{eocd.disk_number}, central directory on disk {eocd.central_directory_disk}; "
            f"multi-disk zip files are not supported"
        )
        raise UnsupportedFeatureError(msg)
    layout = _read_zip64(readat, eocd_offset, eocd)
    size = layout.central_directory_size
    recorded = layout.central_directory_offset
    # Where the directory is where it is recorded to be (nearly always), one
    # read fetches it and serves the signature check too: one request remotely.
    at_recorded = (
        readat.read_at(recorded, size)
        if size >= 4 and recorded + size <= layout.central_directory_end
        else b""
    )
    start, base_offset = _locate_central_directory(readat, layout, at_recorded)
    if start + size > layout.central_directory_end:
        size = layout.central_directory_end - start
    data = (
        at_recorded
        if start == recorded and len(at_recorded) == size
        else readat.read_at(start, size)
    )
    entries = _parse_entries(data, start, base_offset, layout, metadata_encoding)
    return Directory(
        entries=tuple(entries),
        data_limits=_data_limits(entries, start, layout.central_directory_end, readat.size),
        comment=comment,
        central_directory=data,
        base_offset=base_offset,
        central_directory_offset=start,
        central_directory_size=size,
        end_of_central_directory_offset=eocd_offset,
        zip64=layout.zip64,
    )


def _parse_entries(
    data: bytes,
    start: int,
    base_offset: int,
    layout: _Layout,
    encoding: str | None,
) -> list[CentralDirectoryEntry]:
    """Walk the central directory headers (4.3.12) in ``data``.

    This loop runs once per entry at open, so it keeps to one ``unpack_from``,
    slices and a tuple per entry; messages are built only when raising.
    """
    entries: list[CentralDirectoryEntry] = []
    append = entries.append
    unpack_from = _CDH.unpack_from
    new_entry = tuple.__new__
    entry_type = CentralDirectoryEntry
    expected = rec.CENTRAL_DIRECTORY_SIGNATURE
    utf8 = rec.FLAG_UTF8
    limit_32 = rec.ZIP64_LIMIT_32
    limit_16 = rec.ZIP64_LIMIT_16
    declared = layout.entries_total
    newest_version = _NEWEST_VERSION
    unicode_path_id = UNICODE_PATH_EXTRA_ID.to_bytes(2, "little")
    end = len(data)
    position = 0

    def where() -> str:
        return f"central directory entry {len(entries)} at 0x{start + position:x}"

    while position < end:
        if position + _CDH_LENGTH > end:
            if len(entries) >= declared:
                break  # trailing bytes inside the recorded directory size
            msg = f"{where()}: truncated ({end - position} of {_CDH_LENGTH} header bytes)"
            raise _error(msg)
        (
            signature,
            _made_by,
            needed,
            flags,
            method,
            dos_time,
            dos_date,
            crc,
            compressed_size,
            uncompressed_size,
            name_length,
            extra_length,
            comment_length,
            disk_start,
            _internal_attributes,
            _external_attributes,
            header_offset,
        ) = unpack_from(data, position)
        if signature != expected:
            if len(entries) >= declared:
                break
            msg = (
                f"{where()}: invalid central directory file header signature "
                f"0x{signature:08x} (expected 0x{expected:08x}; {declared} entries declared, "
                f"{len(entries)} found)"
            )
            raise _error(msg)
        name_start = position + _CDH_LENGTH
        extra_start = name_start + name_length
        record_end = extra_start + extra_length + comment_length
        if record_end > end:
            msg = (
                f"{where()}: file name ({name_length}), extra field ({extra_length}) and "
                f"comment ({comment_length}) run past the end of the central directory by "
                f"{record_end - end} bytes"
            )
            raise _error(msg)
        if needed & 0xFF > newest_version:
            msg = (
                f"{where()}: needs version {(needed & 0xFF) / 10:.1f} to extract; "
                f"APPNOTE 6.3 (version {newest_version / 10:.1f}) is the newest supported"
            )
            raise UnsupportedFeatureError(msg)
        raw_name = data[name_start:extra_start]
        if encoding is None and not flags & utf8 and raw_name.isascii():
            name = raw_name.decode("ascii")
        else:
            name = _decode_name(raw_name, flags, encoding, where())
        if extra_length:
            extra = data[extra_start : extra_start + extra_length]
            try:
                if (
                    compressed_size == limit_32
                    or uncompressed_size == limit_32
                    or header_offset == limit_32
                    or disk_start == limit_16
                ):
                    uncompressed_size, compressed_size, header_offset, disk_start = _apply_zip64(
                        extra, uncompressed_size, compressed_size, header_offset, disk_start
                    )
                    if compressed_size == limit_32 or header_offset == limit_32:
                        _no_zip64(where(), name)
                else:
                    _validate_extra(extra)
                # zipfile (3.12+) applies a matching 0x7075 field whether or not
                # the name is flagged UTF-8; the byte search skips the field walk
                # for the many extras that cannot hold one.
                if unicode_path_id in extra:
                    name = _unicode_path(raw_name, extra) or name
            except ExtraFieldError as exc:
                msg = f"{where()} ({name!r}): {exc}"
                raise _error(msg) from None
        elif compressed_size == limit_32 or header_offset == limit_32:
            _no_zip64(where(), name)
        if "\x00" in name or _FOREIGN_SEPARATOR:
            name = _normalise_name(name)
        if header_offset + base_offset < 0:
            msg = (
                f"{where()} ({name!r}): local header offset 0x{header_offset:x} lies before "
                f"the start of the file (the offsets count {-base_offset} bytes that are "
                f"not there)"
            )
            raise _error(msg)
        append(
            new_entry(
                entry_type,
                (
                    len(entries),
                    name,
                    raw_name,
                    method,
                    flags,
                    crc,
                    compressed_size,
                    uncompressed_size,
                    header_offset + base_offset,
                    dos_time,
                    dos_date,
                    position,
                ),
            )
        )
        position = record_end
    if len(entries) < declared:
        msg = (
            f"central directory at 0x{start:x}: end of central directory declares {declared} "
            f"entries but the directory ({end} bytes) holds {len(entries)}"
        )
        raise _error(msg)
    return entries


def _no_zip64(where: str, name: str) -> None:
    msg = (
        f"{where} ({name!r}): compressed size or local header offset is 0xffffffff "
        f"but the entry has no zip64 extra field"
    )
    raise _error(msg)


def _validate_extra(extra: bytes) -> None:
    """Raise ExtraFieldError when an extra field runs past the end (as zipfile does)."""
    for _ in iter_extra_fields(extra):
        pass


def _apply_zip64(
    extra: bytes, uncompressed: int, compressed: int, offset: int, disk: int
) -> tuple[int, int, int, int]:
    field = None
    for header_id, data in iter_extra_fields(extra):
        if header_id == ZIP64_EXTRA_ID:
            field = data
            break
    if field is None:
        # An old zip32 writer may have stored a file of exactly 2**32 - 1 bytes;
        # _parse_entries rejects the fields that cannot be meant literally.
        return uncompressed, compressed, offset, disk
    values = parse_zip64_extra(
        field,
        uncompressed=uncompressed == rec.ZIP64_LIMIT_32,
        compressed=compressed == rec.ZIP64_LIMIT_32,
        offset=offset == rec.ZIP64_LIMIT_32,
        disk=disk == rec.ZIP64_LIMIT_16,
    )
    return (
        uncompressed if values[0] is None else values[0],
        compressed if values[1] is None else values[1],
        offset if values[2] is None else values[2],
        0 if values[3] is None else values[3],
    )


def _data_limits(
    entries: list[CentralDirectoryEntry], directory_start: int, directory_end: int, size: int
) -> tuple[int, ...]:
    """For each entry, the offset its local header and data must stay below.

    That is the next greater local header offset, or the start of the central
    directory (CPython's fix for CVE-2024-0450 rejects overlapping entries the
    same way). Entries sharing one local header do not limit each other.
    """
    if not entries:
        return ()
    offsets = np.fromiter(
        (min(entry.header_offset, size) for entry in entries), dtype=np.uint64, count=len(entries)
    )
    bounds = np.unique(
        np.concatenate([offsets, np.array([directory_start, directory_end, size], np.uint64)])
    )
    following = np.searchsorted(bounds, offsets, side="right")
    following = np.minimum(following, len(bounds) - 1)
    limits: list[int] = bounds[following].tolist()
    return tuple(limits)
