"""Parse central directory file headers (APPNOTE 4.3.12) into columns.

A million-entry directory cannot afford Python work per entry, so the parse
runs in array passes over the directory bytes:

1. the record offsets: candidate signatures found with numpy, accepted when
   they chain exactly (each record ends where the next begins and the last
   where the directory ends); otherwise a plain walk, which also produces
   every error about the records' framing;
2. the fixed 46-byte headers gathered into a structured array, one column
   per field;
3. extra fields (4.5.1) walked for all entries at once, one field per step,
   picking up zip64 values (4.5.3);
4. names: the bytes of every name gathered into one buffer and checked in one
   pass.

An entry the array passes do not cover completely (a name that is not plain
ASCII, a Unicode Path field, a malformed extra field, a version or offset to
refuse, ...) is "special": it goes through :func:`_special_entry`, the
per-entry parse, which applies every rule and raises every error. Specials
are handled in directory order before a framing error found further on is
raised, so errors come in the order a one-by-one walk finds them.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from randread.errors import UnsupportedFeatureError, ZipFormatError, ZipNameDecodeError
from randread.zip import records as rec
from randread.zip.extra import (
    UNICODE_PATH_EXTRA_ID,
    ZIP64_EXTRA_ID,
    ExtraFieldError,
    iter_extra_fields,
    parse_unicode_path_extra,
    parse_zip64_extra,
)
from randread.zip.names import NameTable

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["Columns", "decode_name", "header_fields", "parse_central_directory"]

_CDH = rec.CENTRAL_DIRECTORY_HEADER
_CDH_LENGTH = rec.CENTRAL_DIRECTORY_HEADER_LENGTH
_SIGNATURE = rec.CENTRAL_DIRECTORY_SIGNATURE
#: 4.4.3: the newest "version needed to extract" this reader knows (APPNOTE 6.3,
#: as zipfile's MAX_EXTRACT_VERSION); archives needing more are refused at open
NEWEST_VERSION = 63
#: zipfile turns the OS path separator into "/" in names (on Windows, "\\")
_FOREIGN_SEPARATOR = os.sep if os.sep != "/" else None
_UNICODE_PATH_BYTES = UNICODE_PATH_EXTRA_ID.to_bytes(2, "little")
_LIMIT_32 = rec.ZIP64_LIMIT_32
_LIMIT_64 = 2**64 - 1
_LIMIT_16 = rec.ZIP64_LIMIT_16
#: headers gathered per step of pass 2 (bounds the index array to a few MB)
_CHUNK = 1 << 15
#: pass 3 hands the entries still walking to the per-entry parse when this few
#: are left after this many steps (a long run of tiny fields in a few entries)
_FEW_LEFT, _MANY_STEPS = 64, 16

#: the central directory file header (4.3.12), as numpy reads it
_HEADER_DTYPE = np.dtype(
    [
        ("signature", "<u4"),
        ("made_by", "<u2"),
        ("needed", "<u2"),
        ("flags", "<u2"),
        ("method", "<u2"),
        ("dos_time", "<u2"),
        ("dos_date", "<u2"),
        ("crc32", "<u4"),
        ("compressed_size", "<u4"),
        ("uncompressed_size", "<u4"),
        ("name_length", "<u2"),
        ("extra_length", "<u2"),
        ("comment_length", "<u2"),
        ("disk_start", "<u2"),
        ("internal_attributes", "<u2"),
        ("external_attributes", "<u4"),
        ("header_offset", "<u4"),
    ]
)
assert _HEADER_DTYPE.itemsize == _CDH_LENGTH  # noqa: S101 - a definition check


@dataclass(frozen=True, slots=True)
class Columns:
    """The per-entry fields of a central directory, one array per field.

    Element ``i`` of each describes the ``i``-th header. Sizes, offsets and
    the CRC are the values after the zip64 extra field; ``header_offset`` has
    the base offset added; ``directory_offset`` is where the header starts in
    the directory bytes; ``data_limit`` is set by the directory reader.
    """

    compressed_size: NDArray[np.uint64]
    uncompressed_size: NDArray[np.uint64]
    header_offset: NDArray[np.uint64]
    directory_offset: NDArray[np.uint64]
    data_limit: NDArray[np.uint64]
    crc32: NDArray[np.uint32]
    method: NDArray[np.uint16]
    flags: NDArray[np.uint16]
    dos_time: NDArray[np.uint16]
    dos_date: NDArray[np.uint16]
    name_length: NDArray[np.uint16]

    def __len__(self) -> int:
        return len(self.crc32)

    def in_record_order(self) -> tuple[NDArray[np.unsignedinteger], ...]:
        """Return the columns in the order of a record's fields (the raw name's length last)."""
        return (
            self.method,
            self.flags,
            self.crc32,
            self.compressed_size,
            self.uncompressed_size,
            self.header_offset,
            self.dos_time,
            self.dos_date,
            self.directory_offset,
            self.data_limit,
            self.name_length,
        )


def _error(message: str) -> ZipFormatError:
    return ZipFormatError(message)


def _where(ordinal: int, start: int, position: int) -> str:
    return f"central directory entry {ordinal} at 0x{start + position:x}"


# -- pass 1: record offsets ---------------------------------------------------


def _chained_offsets(u8: NDArray[np.uint8]) -> NDArray[np.int64] | None:
    """Return the record offsets when the signatures found chain exactly, else None."""
    end = len(u8)
    if end < _CDH_LENGTH:
        return None
    # The signature as a 32-bit word, at each of the four byte alignments.
    found = []
    for alignment in range(4):
        words = u8[alignment : alignment + (end - alignment) // 4 * 4].view("<u4")
        found.append(np.flatnonzero(words == _SIGNATURE) * 4 + alignment)
    candidates = np.concatenate(found)
    candidates.sort(kind="stable")
    candidates = candidates[candidates <= end - _CDH_LENGTH]
    if len(candidates) == 0 or candidates[0] != 0:
        return None
    lengths = np.zeros(len(candidates), dtype=np.int64)
    for field in (28, 30, 32):  # name, extra field and comment lengths
        lengths += u8[candidates + field].astype(np.int64)
        lengths += u8[candidates + field + 1].astype(np.int64) << 8
    following = candidates + _CDH_LENGTH + lengths
    if following[-1] != end or not np.array_equal(following[:-1], candidates[1:]):
        return None
    offsets: NDArray[np.int64] = candidates.astype(np.int64)
    return offsets


def _walk(
    data: bytes | memoryview, declared: int, start: int
) -> tuple[list[int], ZipFormatError | None]:
    """Walk the records one by one: their offsets, and the framing error that ends the walk."""
    offsets: list[int] = []
    lengths = _CDH.unpack_from
    end = len(data)
    position = 0
    while position < end:
        ordinal = len(offsets)
        if position + _CDH_LENGTH > end:
            if ordinal >= declared:
                break  # trailing bytes inside the recorded directory size
            msg = (
                f"{_where(ordinal, start, position)}: truncated ({end - position} of "
                f"{_CDH_LENGTH} header bytes)"
            )
            return offsets, _error(msg)
        fields = lengths(data, position)
        signature = fields[0]
        if signature != _SIGNATURE:
            if ordinal >= declared:
                break
            msg = (
                f"{_where(ordinal, start, position)}: invalid central directory file header "
                f"signature 0x{signature:08x} (expected 0x{_SIGNATURE:08x}; {declared} entries "
                f"declared, {ordinal} found)"
            )
            return offsets, _error(msg)
        name_length, extra_length, comment_length = fields[10:13]
        record_end = position + _CDH_LENGTH + name_length + extra_length + comment_length
        if record_end > end:
            msg = (
                f"{_where(ordinal, start, position)}: file name ({name_length}), extra field "
                f"({extra_length}) and comment ({comment_length}) run past the end of the "
                f"central directory by {record_end - end} bytes"
            )
            return offsets, _error(msg)
        offsets.append(position)
        position = record_end
    if len(offsets) < declared:
        msg = (
            f"central directory at 0x{start:x}: end of central directory declares {declared} "
            f"entries but the directory ({end} bytes) holds {len(offsets)}"
        )
        return offsets, _error(msg)
    return offsets, None


# -- pass 2: fixed fields -----------------------------------------------------


def header_fields(data: bytes | NDArray[np.uint8], offsets: NDArray[np.int64]) -> np.ndarray:
    """Return the fixed fields of the headers at ``offsets`` in ``data``, one row each."""
    return _headers(np.frombuffer(data, dtype=np.uint8), offsets)


def _headers(u8: NDArray[np.uint8], offsets: NDArray[np.int64]) -> np.ndarray:
    """Gather the fixed part of every header into one structured array."""
    headers = np.empty(len(offsets), dtype=_HEADER_DTYPE)
    if len(offsets) == 0:
        return headers
    windows = np.lib.stride_tricks.sliding_window_view(u8, _CDH_LENGTH)
    for first in range(0, len(offsets), _CHUNK):
        chunk = offsets[first : first + _CHUNK]
        headers[first : first + len(chunk)] = windows[chunk].view(_HEADER_DTYPE)[:, 0]
    return headers


# -- pass 3: extra fields -----------------------------------------------------


def _gather_uint(u8: NDArray[np.uint8], positions: NDArray[np.int64], width: int) -> np.ndarray:
    value = np.zeros(len(positions), dtype=np.uint64)
    for byte in range(width):
        value |= u8[positions + byte].astype(np.uint64) << np.uint64(8 * byte)
    return value


def _walk_extras(
    u8: NDArray[np.uint8], offsets: NDArray[np.int64], headers: np.ndarray, special: np.ndarray
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Walk every extra field; return where each entry's zip64 field data starts, and its size.

    Entries with no zip64 field get -1. Entries with a malformed extra field
    or a Unicode Path field are marked in ``special``.
    """
    count = len(offsets)
    zip64_start = np.full(count, -1, dtype=np.int64)
    zip64_size = np.zeros(count, dtype=np.int64)
    walking = np.flatnonzero(headers["extra_length"])
    position = offsets[walking] + _CDH_LENGTH + headers["name_length"][walking]
    end = position + headers["extra_length"][walking]
    steps = 0
    while len(walking):
        going = position + 4 <= end  # fewer than 4 bytes left over: padding
        walking, position, end = walking[going], position[going], end[going]
        if steps >= _MANY_STEPS and len(walking) <= _FEW_LEFT:
            special[walking] = True
            break
        header_id = _gather_uint(u8, position, 2)
        size = _gather_uint(u8, position + 2, 2).astype(np.int64)
        data_start = position + 4
        overrun = data_start + size > end
        special[walking[overrun | (header_id == UNICODE_PATH_EXTRA_ID)]] = True
        first_zip64 = (header_id == ZIP64_EXTRA_ID) & (zip64_start[walking] < 0) & ~overrun
        zip64_start[walking[first_zip64]] = data_start[first_zip64]
        zip64_size[walking[first_zip64]] = size[first_zip64]
        keep = ~overrun
        walking, position, end = walking[keep], (data_start + size)[keep], end[keep]
        steps += 1
    return zip64_start, zip64_size


def _apply_zip64_columns(
    u8: NDArray[np.uint8],
    headers: np.ndarray,
    zip64_start: NDArray[np.int64],
    zip64_size: NDArray[np.int64],
    special: np.ndarray,
) -> tuple[NDArray[np.uint64], NDArray[np.uint64], NDArray[np.uint64]]:
    """Return the sizes and offsets with zip64 values applied (4.5.3).

    Entries whose zip64 field is missing or too short go to the per-entry parse.
    """
    uncompressed = headers["uncompressed_size"].astype(np.uint64)
    compressed = headers["compressed_size"].astype(np.uint64)
    offset = headers["header_offset"].astype(np.uint64)
    wide_u = headers["uncompressed_size"] == _LIMIT_32
    wide_c = headers["compressed_size"] == _LIMIT_32
    wide_o = headers["header_offset"] == _LIMIT_32
    wide_d = headers["disk_start"] == _LIMIT_16
    saturated = np.flatnonzero(wide_u | wide_c | wide_o | wide_d)
    if len(saturated) == 0:
        return compressed, uncompressed, offset
    # Without a zip64 field the per-entry parse takes the values literally or
    # refuses them, as zipfile does.
    present = zip64_start[saturated] >= 0
    special[saturated[~present]] = True
    saturated = saturated[present]
    u, c, o, d = (flag[saturated].astype(np.int64) for flag in (wide_u, wide_c, wide_o, wide_d))
    needed = 8 * (u + c + o) + 4 * d
    short = zip64_size[saturated] < needed
    special[saturated[short]] = True
    saturated, u, c, o = saturated[~short], u[~short], c[~short], o[~short]
    base = zip64_start[saturated]
    for column, wanted, skip in (
        (uncompressed, u, 0),
        (compressed, c, 8 * u),
        (offset, o, 8 * (u + c)),
    ):
        rows = saturated[wanted == 1]
        column[rows] = _gather_uint(u8, (base + skip)[wanted == 1], 8)
    # A value of 0xffffffff left in a 32-bit field is refused by the per-entry parse.
    special[saturated[(compressed[saturated] == _LIMIT_32) | (offset[saturated] == _LIMIT_32)]] = (
        True
    )
    return compressed, uncompressed, offset


def _add_base_offset(
    offsets: NDArray[np.uint64], base_offset: int, special: np.ndarray
) -> NDArray[np.uint64]:
    """Add the base offset to the local header offsets without wrapping around 2**64.

    An offset that would fall before the start of the file goes to the
    per-entry parse (which refuses it); one that would pass 2**64 is held at
    2**64 - 1, past the end of any file (reading the entry then says so).
    """
    result: NDArray[np.uint64] = offsets
    if base_offset > 0:
        past = offsets > np.uint64(_LIMIT_64 - base_offset)
        result = np.where(past, np.uint64(_LIMIT_64), offsets + np.uint64(base_offset))
    elif base_offset < 0:
        lost = np.uint64(-base_offset)
        before = offsets < lost
        special |= before
        result = np.where(before, np.uint64(0), offsets - np.minimum(offsets, lost))
    return result


# -- pass 4: names ------------------------------------------------------------


def _name_bytes(
    u8: NDArray[np.uint8], starts: NDArray[np.int64], lengths: NDArray[np.int64]
) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Return every name's bytes, each followed by a NUL, and where each name starts."""
    count = len(starts)
    out_starts = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(lengths + 1, out=out_starts[1:])
    out = np.zeros(int(out_starts[-1]), dtype=np.uint8)
    if count == 0:
        return out, out_starts
    # One mask selects each name and the byte after it (made a NUL below):
    # runs of bytes out and in, in order (the names are disjoint and ascending).
    taken = lengths + 1
    ends = starts + lengths
    if ends[-1] == len(u8):  # the last name ends the directory: no byte after it
        taken[-1] -= 1
    runs = np.empty(2 * count + 1, dtype=np.int64)
    runs[0] = starts[0]
    runs[2:-1:2] = starts[1:] - (ends[:-1] + 1)
    runs[1::2] = taken
    runs[-1] = len(u8) - (starts[-1] + taken[-1])
    selected = np.zeros(2 * count + 1, dtype=np.bool_)
    selected[1::2] = True
    np.compress(
        np.repeat(selected, runs), u8, out=out[: int(out_starts[-1]) - (ends[-1] == len(u8))]
    )
    out[out_starts[1:] - 1] = 0
    return out, out_starts


def _plain_names(
    buffer: NDArray[np.uint8], starts: NDArray[np.int64], headers: np.ndarray, encoding: str | None
) -> NDArray[np.bool_]:
    """Tell, per entry, whether its raw name is its decoded name (printable-range ASCII)."""
    count = len(starts) - 1
    # A byte that is NUL or above 0x7f is the only thing that makes a name
    # decode differently (or cut, or fail); on Windows a backslash too.
    bad = (buffer - np.uint8(1)) >= np.uint8(0x7F)
    bad[starts[1:] - 1] = False  # the separators
    if _FOREIGN_SEPARATOR:
        bad |= buffer == ord(_FOREIGN_SEPARATOR)
    plain = np.ones(count, dtype=np.bool_)
    positions = np.flatnonzero(bad)
    if len(positions):
        plain[np.searchsorted(starts, positions, side="right") - 1] = False
    if encoding is not None:
        # another legacy encoding may not agree with ASCII: only UTF-8 names are plain
        plain &= (headers["flags"] & rec.FLAG_UTF8) != 0
    return plain


# -- the per-entry parse ----------------------------------------------------------


def decode_name(raw: bytes, flags: int, encoding: str | None, where: str) -> str:
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


def _special_entry(  # noqa: PLR0917 - private, one call site
    data: bytes | memoryview,
    position: int,
    ordinal: int,
    start: int,
    base_offset: int,
    encoding: str | None,
) -> tuple[str, int, int, int]:
    """Parse one header with every rule; return its name, sizes and (based) header offset."""
    (
        _signature,
        _made_by,
        needed,
        flags,
        _method,
        _time,
        _date,
        _crc,
        compressed_size,
        uncompressed_size,
        name_length,
        extra_length,
        _comment_length,
        disk_start,
        _internal,
        _external,
        header_offset,
    ) = _CDH.unpack_from(data, position)
    where = _where(ordinal, start, position)
    if needed & 0xFF > NEWEST_VERSION:
        msg = (
            f"{where}: needs version {(needed & 0xFF) / 10:.1f} to extract; "
            f"APPNOTE 6.3 (version {NEWEST_VERSION / 10:.1f}) is the newest supported"
        )
        raise UnsupportedFeatureError(msg)
    name_start = position + _CDH_LENGTH
    extra_start = name_start + name_length
    raw_name = bytes(data[name_start:extra_start])
    name = decode_name(raw_name, flags, encoding, where)
    if extra_length:
        extra = bytes(data[extra_start : extra_start + extra_length])
        try:
            if (
                compressed_size == _LIMIT_32
                or uncompressed_size == _LIMIT_32
                or header_offset == _LIMIT_32
                or disk_start == _LIMIT_16
            ):
                uncompressed_size, compressed_size, header_offset = _apply_zip64(
                    extra, uncompressed_size, compressed_size, header_offset, disk_start
                )
                if compressed_size == _LIMIT_32 or header_offset == _LIMIT_32:
                    _no_zip64(where, name)
            else:
                for _ in iter_extra_fields(extra):  # as zipfile, refuse a field past the end
                    pass
            # zipfile (3.12+) applies a matching 0x7075 field whether or not
            # the name is flagged UTF-8; the byte search skips the field walk
            # for the many extras that cannot hold one.
            if _UNICODE_PATH_BYTES in extra:
                name = _unicode_path(raw_name, extra) or name
        except ExtraFieldError as exc:
            msg = f"{where} ({name!r}): {exc}"
            raise _error(msg) from None
    elif compressed_size == _LIMIT_32 or header_offset == _LIMIT_32:
        _no_zip64(where, name)
    if "\x00" in name:
        name = name[: name.index("\x00")]
    if _FOREIGN_SEPARATOR and _FOREIGN_SEPARATOR in name:
        name = name.replace(_FOREIGN_SEPARATOR, "/")
    if header_offset + base_offset < 0:
        msg = (
            f"{where} ({name!r}): local header offset 0x{header_offset:x} lies before "
            f"the start of the file (the offsets count {-base_offset} bytes that are not there)"
        )
        raise _error(msg)
    return name, compressed_size, uncompressed_size, header_offset + base_offset


def _no_zip64(where: str, name: str) -> None:
    msg = (
        f"{where} ({name!r}): compressed size or local header offset is 0xffffffff "
        f"but the entry has no zip64 extra field"
    )
    raise _error(msg)


def _apply_zip64(
    extra: bytes, uncompressed: int, compressed: int, offset: int, disk: int
) -> tuple[int, int, int]:
    field = None
    for header_id, data in iter_extra_fields(extra):
        if header_id == ZIP64_EXTRA_ID:
            field = data
            break
    if field is None:
        # An old zip32 writer may have stored a file of exactly 2**32 - 1 bytes;
        # the caller rejects the fields that cannot be meant literally.
        return uncompressed, compressed, offset
    values = parse_zip64_extra(
        field,
        uncompressed=uncompressed == _LIMIT_32,
        compressed=compressed == _LIMIT_32,
        offset=offset == _LIMIT_32,
        disk=disk == _LIMIT_16,
    )
    return (
        uncompressed if values[0] is None else values[0],
        compressed if values[1] is None else values[1],
        offset if values[2] is None else values[2],
    )


# -- all passes ----------------------------------------------------------------


def parse_central_directory(
    data: bytes | memoryview,
    *,
    start: int,
    base_offset: int,
    declared: int,
    encoding: str | None,
) -> tuple[Columns, NameTable]:
    """Parse the central directory bytes ``data`` (found at ``start``) into columns and names.

    ``declared`` is the entry count of the end records; ``base_offset`` is
    added to every local header offset (see :class:`~randread.zip.directory.Directory`).
    """
    u8 = np.frombuffer(data, dtype=np.uint8)
    found = _chained_offsets(u8)
    framing: ZipFormatError | None = None
    if found is None or len(found) < declared:
        walked, framing = _walk(data, declared, start)
        found = np.array(walked, dtype=np.int64)
    offsets = found
    count = len(offsets)
    headers = _headers(u8, offsets)
    special = (headers["needed"] & 0xFF) > NEWEST_VERSION
    zip64_start, zip64_size = _walk_extras(u8, offsets, headers, special)
    compressed, uncompressed, header_offset = _apply_zip64_columns(
        u8, headers, zip64_start, zip64_size, special
    )
    header_offset = _add_base_offset(header_offset, base_offset, special)
    name_lengths = headers["name_length"].astype(np.int64)
    buffer, name_starts = _name_bytes(u8, offsets + _CDH_LENGTH, name_lengths)
    special |= ~_plain_names(buffer, name_starts, headers, encoding)
    special_rows = np.flatnonzero(special).tolist()
    if special_rows:
        # The per-entry parse, in directory order; its first error is the
        # archive's. Its names replace the raw ones in the buffer; the names
        # between two special entries are kept as they are, in one piece.
        raw = buffer.tobytes()
        bounds = name_starts.tolist()
        lengths = name_lengths.copy()
        pieces: list[bytes] = []
        kept_from = 0
        offsets_list = offsets.tolist()
        for row in special_rows:
            name, compressed_size, uncompressed_size, offset = _special_entry(
                data, offsets_list[row], row, start, base_offset, encoding
            )
            encoded = name.encode("utf-8", "surrogatepass")
            pieces += (raw[kept_from : bounds[row]], encoded, b"\x00")
            kept_from = bounds[row + 1]
            lengths[row] = len(encoded)
            compressed[row] = compressed_size
            uncompressed[row] = uncompressed_size
            header_offset[row] = min(offset, _LIMIT_64)
        pieces.append(raw[kept_from:])
        buffer = np.frombuffer(b"".join(pieces), dtype=np.uint8)
        name_starts = np.zeros(count + 1, dtype=np.int64)
        np.cumsum(lengths + 1, out=name_starts[1:])
    if framing is not None:
        raise framing
    columns = Columns(
        compressed_size=compressed,
        uncompressed_size=uncompressed,
        header_offset=header_offset,
        directory_offset=offsets.astype(np.uint64),
        data_limit=np.zeros(count, dtype=np.uint64),
        crc32=headers["crc32"].copy(),
        method=headers["method"].copy(),
        flags=headers["flags"].copy(),
        dos_time=headers["dos_time"].copy(),
        dos_date=headers["dos_date"].copy(),
        name_length=headers["name_length"].copy(),
    )
    return columns, NameTable(buffer.tobytes(), name_starts.astype(np.uint64))
