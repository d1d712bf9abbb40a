"""Find the end of central directory and read the central directory (APPNOTE 4.3.6).

The result is a :class:`Directory`: the per-entry fields in arrays (parsed by
:mod:`randread.zip.central`), the names in one buffer, and a name index built
on the first lookup. A :class:`CentralDirectoryEntry` record is made for an
entry only when a read asks for it. Everything is sized from what was
actually parsed, never preallocated from a count in the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol

import numpy as np

from randread._locks import TimedLock
from randread.errors import OutOfBoundsError, UnsupportedFeatureError, ZipFormatError
from randread.zip import records as rec
from randread.zip.central import Columns, parse_central_directory
from randread.zip.names import NameIndex, NameTable

if TYPE_CHECKING:
    from collections.abc import Iterator

    from numpy.typing import NDArray

    from randread.readat import ReadAt

__all__ = [
    "CentralDirectoryEntry",
    "Directory",
    "DirectoryHooks",
    "IndexMismatchError",
    "read_directory",
]

_EOCD = rec.END_OF_CENTRAL_DIRECTORY_LENGTH
_CDH_LENGTH = rec.CENTRAL_DIRECTORY_HEADER_LENGTH
_LOCATOR_LENGTH = rec.ZIP64_END_OF_CENTRAL_DIRECTORY_LOCATOR_LENGTH
_ZIP64_EOCD_LENGTH = rec.ZIP64_END_OF_CENTRAL_DIRECTORY_LENGTH
#: 7.3.3: a version 2 zip64 EOCD record (needs 6.2) describes an encrypted directory
_CENTRAL_DIRECTORY_ENCRYPTION_VERSION = 62
#: the "size of zip64 end of central directory record" of version 1 (56 - 12)
_ZIP64_EOCD_V1_RECORD_SIZE = 44
_CDH_SIGNATURE = rec.CENTRAL_DIRECTORY_SIGNATURE.to_bytes(4, "little")
_LOCATOR_SIGNATURE = rec.ZIP64_END_OF_CENTRAL_DIRECTORY_LOCATOR_SIGNATURE.to_bytes(4, "little")


class CentralDirectoryEntry(NamedTuple):
    """What a read needs from one central directory file header (4.3.12).

    ``header_offset`` is where the local header really is (prepended data
    already added); ``directory_offset`` is where this header starts within
    :attr:`Directory.central_directory`, for building the full
    :class:`zipfile.ZipInfo` on demand; ``data_limit`` is the offset the
    entry's local header and data must stay below.
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
    data_limit: int


class DirectoryHooks(Protocol):
    """Checks for a directory loaded from an index file (see :mod:`randread.zip.index`).

    Each raises :class:`IndexMismatchError` when the stored data is damaged;
    the directory then takes the one :meth:`rebuild` parses from the archive.
    """

    def check_entry(self, entry: CentralDirectoryEntry) -> None:
        """Check one entry's record against its stored check value."""

    def check_names(self) -> None:
        """Check everything a name lookup reads."""

    def check_all(self) -> None:
        """Check every stored byte."""

    def rebuild(self) -> Directory:
        """Parse the archive again (and store a fresh index)."""


class IndexMismatchError(Exception):
    """Stored index data that does not match its checks (never leaves this package)."""


class _State:
    """What a :class:`Directory` reads, swapped as one when a damaged index is replaced."""

    __slots__ = ("central_directory", "columns", "fields", "hooks", "index", "names")

    def __init__(
        self,
        columns: Columns,
        names: NameTable,
        central_directory: bytes | NDArray[np.uint8],
        index: NameIndex | None,
        hooks: DirectoryHooks | None,
    ) -> None:
        self.columns = columns
        self.names = names
        self.central_directory = central_directory
        self.index = index
        self.hooks = hooks
        # memoryviews give Python ints per item, faster than numpy scalars
        self.fields = tuple(
            np.ascontiguousarray(column).data for column in columns.in_record_order()
        )


class Directory:
    """An archive's central directory, parsed once at open.

    The fields live in :attr:`columns`, the decoded names in :attr:`names`;
    :meth:`entry` makes the record of one entry, :meth:`find` looks a name up
    through a :class:`~randread.zip.names.NameIndex` built on first use.
    Nothing changes after open but the lazily built index and name list,
    each built once under a lock (and, for a directory loaded from a damaged
    index file, the switch to a fresh parse; see :class:`DirectoryHooks`).
    """

    __slots__ = (
        "_lock",
        "_name_list",
        "_state",
        "base_offset",
        "central_directory_offset",
        "central_directory_size",
        "comment",
        "end_of_central_directory_offset",
        "index_status",
        "zip64",
    )

    def __init__(
        self,
        columns: Columns,
        names: NameTable,
        *,
        comment: bytes,
        central_directory: bytes | NDArray[np.uint8],
        base_offset: int,
        central_directory_offset: int,
        central_directory_size: int,
        end_of_central_directory_offset: int,
        zip64: bool,
        index: NameIndex | None = None,
        hooks: DirectoryHooks | None = None,
    ) -> None:
        self._state = _State(columns, names, central_directory, index, hooks)
        self.comment = comment
        #: bytes before the archive proper (a self-extractor stub, ``cat stub a.zip``)
        #: that the recorded offsets do not count; negative when the offsets count
        #: bytes that are not in the source (a zip cut out of a larger file)
        self.base_offset = base_offset
        self.central_directory_offset = central_directory_offset
        self.central_directory_size = central_directory_size
        self.end_of_central_directory_offset = end_of_central_directory_offset
        self.zip64 = zip64
        #: with an index cache: "hit", "built" or "rebuilt" (see randread.zip.index)
        self.index_status: str | None = None
        self._name_list: list[str] | None = None
        self._lock = TimedLock("zip.Directory")

    def __len__(self) -> int:
        return len(self._state.columns)

    @property
    def columns(self) -> Columns:
        """The per-entry fields."""
        return self._state.columns

    @property
    def names(self) -> NameTable:
        """The decoded names."""
        return self._state.names

    @property
    def unchecked_central_directory(self) -> bytes | NDArray[np.uint8]:
        """The raw central directory as loaded, before the checks a lazy index defers."""
        return self._state.central_directory

    @property
    def central_directory(self) -> bytes | NDArray[np.uint8]:
        """The raw central directory, kept to build ZipInfo objects on demand."""
        state = self._state
        if state.hooks is not None:
            self._checked(state, "all")
            state = self._state
        return state.central_directory

    @property
    def built_index(self) -> NameIndex | None:
        """The name index if something has built it, else None."""
        return self._state.index

    @property
    def name_index(self) -> NameIndex:
        """The name index, built on first use."""
        return self.name_index_from(None)

    def name_index_from(self, keys: tuple[NDArray[np.uint64], int] | None) -> NameIndex:
        """Return the name index; if it is not built yet, build it from ``keys``.

        ``keys`` are the names' fingerprints and their prime, for a caller that
        has them anyway (the index file writer); None computes them.
        """
        state = self._state
        index = state.index
        if index is None:
            with self._lock:
                state = self._state
                index = state.index
                if index is None:
                    index = state.index = (
                        NameIndex.build(state.names)
                        if keys is None
                        else NameIndex.from_fingerprints(*keys)
                    )
        return index

    def entry(self, ordinal: int) -> CentralDirectoryEntry:
        """Return the record of entry ``ordinal`` (0 <= ordinal < len(self))."""
        state = self._state
        hooks = state.hooks  # read once: a thread that checks everything clears it
        if hooks is None:
            return _make_entry(state, ordinal)
        try:
            entry = _make_entry(state, ordinal)
            hooks.check_entry(entry)
        except (IndexMismatchError, ValueError, IndexError):  # damaged stored bytes
            self._replace(state)
            return self.entry(ordinal)
        return entry

    def entries(self) -> Iterator[CentralDirectoryEntry]:
        """Yield every entry's record, in directory order."""
        self.check_all()
        return map(self.entry, range(len(self)))

    def check_all(self) -> None:
        """Check all stored data now, not entry by entry (nothing to do for a parsed directory)."""
        state = self._state
        if state.hooks is not None:
            self._checked(state, "all")

    def find(self, name: str) -> int:
        """Return the ordinal of the last entry named ``name``, or -1 when there is none."""
        found = self.find_all(name)
        return found[-1] if found else -1

    def find_all(self, name: str) -> list[int]:
        """Return the ordinals of the entries named ``name``, in directory order."""
        key = name.encode("utf-8", "surrogatepass")
        state = self._state
        index = state.index if state.index is not None else self.name_index
        names = state.names
        count = len(state.columns)
        found = [
            ordinal
            for ordinal in index.candidates(key).tolist()
            if ordinal < count and names.key(ordinal) == key
        ]
        if not found and state.hooks is not None and not self._checked(state, "names"):
            return self.find_all(name)
        return found

    def name_list(self) -> list[str]:
        """Return every name in directory order (a new list each call)."""
        names = self._name_list
        if names is None:
            state = self._state
            if state.hooks is not None:
                self._checked(state, "names")
            with self._lock:
                names = self._name_list
                if names is None:
                    names = self._name_list = self._state.names.names()
        return list(names)

    def _checked(self, state: _State, scope: Literal["names", "all"]) -> bool:
        """Check stored data; on a mismatch switch to a fresh parse and return False."""
        hooks = state.hooks
        if hooks is None:
            return True
        try:
            if scope == "names":
                hooks.check_names()
            else:
                hooks.check_all()
                state.hooks = None  # every byte checked: nothing left to check
        except IndexMismatchError:
            self._replace(state)
            return False
        return True

    def _replace(self, state: _State) -> None:
        """Replace damaged stored ``state`` by a fresh parse of the archive (once)."""
        hooks = state.hooks
        with self._lock:
            if self._state is state and hooks is not None:
                fresh = hooks.rebuild()
                self._state = fresh._state  # noqa: SLF001 - same class
                self._name_list = None
                self.index_status = "rebuilt"


def _make_entry(state: _State, ordinal: int) -> CentralDirectoryEntry:
    method, flags, crc, compressed, uncompressed, offset, time, date, at, limit, length = [
        field[ordinal] for field in state.fields
    ]
    name_start = at + _CDH_LENGTH
    return CentralDirectoryEntry(
        ordinal,
        state.names.key(ordinal).decode("utf-8", "surrogatepass"),
        bytes(state.central_directory[name_start : name_start + length]),
        method,
        flags,
        crc,
        compressed,
        uncompressed,
        offset,
        time,
        date,
        at,
        limit,
    )


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
    # A copy, not a view: a view would keep a memory-mapped archive open
    # after the reader is closed.
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
    columns, names = parse_central_directory(
        data,
        start=start,
        base_offset=base_offset,
        declared=layout.entries_total,
        encoding=metadata_encoding,
    )
    columns.data_limit[:] = _data_limits(
        columns.header_offset, start, layout.central_directory_end, readat.size
    )
    return Directory(
        columns,
        names,
        comment=comment,
        central_directory=data,
        base_offset=base_offset,
        central_directory_offset=start,
        central_directory_size=size,
        end_of_central_directory_offset=eocd_offset,
        zip64=layout.zip64,
    )


def _data_limits(
    header_offsets: NDArray[np.uint64], directory_start: int, directory_end: int, size: int
) -> NDArray[np.uint64]:
    """For each entry, the offset its local header and data must stay below.

    That is the next greater local header offset, or the start of the central
    directory (CPython's fix for CVE-2024-0450 rejects overlapping entries the
    same way). Entries sharing one local header do not limit each other.
    """
    if len(header_offsets) == 0:
        return np.zeros(0, dtype=np.uint64)
    offsets = np.minimum(header_offsets, np.uint64(size))
    bounds = np.concatenate([offsets, np.array([directory_start, directory_end, size], np.uint64)])
    # sorted (in linear time when the headers are in order, as they nearly always
    # are), then deduplicated: numpy's unique hashes, much slower here
    bounds.sort(kind="stable")
    distinct = np.ones(len(bounds), dtype=np.bool_)
    np.not_equal(bounds[1:], bounds[:-1], out=distinct[1:])
    bounds = bounds[distinct]
    following = np.searchsorted(bounds, offsets, side="right")
    following = np.minimum(following, len(bounds) - 1)
    limits: NDArray[np.uint64] = bounds[following]
    return limits
