"""The zipfile.ZipInfo records a ZipReader gives out (APPNOTE 4.3.12, central directory).

Built from the central directory bytes exactly as zipfile builds them, one at
a time (``make_info``) or all at once from the directory's columns
(``build_infos``).
"""

from __future__ import annotations

import zipfile
from typing import TYPE_CHECKING, cast

import numpy as np

from randread._locks import TimedLock
from randread.zip import records as rec
from randread.zip.central import header_fields
from randread.zip.methods import method_name

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from typing_extensions import Buffer

    from randread.zip.directory import CentralDirectoryEntry, Directory

__all__ = ["Infos", "ZipEntryInfo", "build_infos", "make_info"]


class ZipEntryInfo(zipfile.ZipInfo):
    """A :class:`zipfile.ZipInfo` for one entry of a :class:`ZipReader`.

    It carries every attribute zipfile fills in when reading, and can be passed
    back to ``read()``/``open()`` (of this reader or of a zipfile.ZipFile).
    """

    __slots__ = ("index",)

    #: the entry's position in the central directory
    index: int

    @property
    def codec(self) -> str:
        """The compression method's name (``"deflate"``, ``"stored"``, ...; ``"method N"``)."""
        name = method_name(self.compress_type)
        return f"method {self.compress_type}" if name == "unknown" else name

    @property
    def offset(self) -> int:
        """Where the entry's local header starts in the archive."""
        return self.header_offset

    def is_dir(self) -> bool:
        """Return True if the entry is a directory (its name ends with ``/``)."""
        # zipfile's own is_dir() indexes filename[-1]: an IndexError for the
        # empty name that a header with a zero name length (or a NUL first) gives.
        return self.filename.endswith("/")


#: the fields _new_info sets itself (ZipInfo's other fields differ between versions)
_POPULATED = frozenset(
    {
        "filename",
        "orig_filename",
        "date_time",
        "create_version",
        "create_system",
        "extract_version",
        "reserved",
        "flag_bits",
        "compress_type",
        "CRC",
        "compress_size",
        "file_size",
        "volume",
        "internal_attr",
        "external_attr",
        "header_offset",
        "extra",
        "comment",
        "_raw_time",
    }
)


def _info_defaults() -> tuple[tuple[str, object], ...]:
    """Return the fields ZipInfo's constructor sets that _new_info does not, with defaults.

    Such as the compression level, whose name differs between Python versions.
    """
    template = zipfile.ZipInfo()
    defaults = []
    for name in zipfile.ZipInfo.__slots__:
        if name in _POPULATED:
            continue
        try:
            value = getattr(template, name)
        except AttributeError:  # not set by the constructor
            continue
        defaults.append((name, value))
    return tuple(defaults)


_INFO_DEFAULTS = _info_defaults()


def make_info(directory: bytes | NDArray[np.uint8], entry: CentralDirectoryEntry) -> ZipEntryInfo:
    """Build the zipfile.ZipInfo that zipfile itself would build for this entry."""
    (
        _signature,
        made_by,
        needed,
        flags,
        _method,
        dos_time,
        dos_date,
        _crc,
        _compressed,
        _uncompressed,
        name_length,
        extra_length,
        comment_length,
        _disk,
        internal_attributes,
        external_attributes,
        _offset,
    ) = rec.CENTRAL_DIRECTORY_HEADER.unpack_from(cast("Buffer", directory), entry.directory_offset)
    extra_start = entry.directory_offset + rec.CENTRAL_DIRECTORY_HEADER_LENGTH + name_length
    comment_start = extra_start + extra_length
    return _new_info(
        entry.ordinal,
        entry.name,
        rec.dos_date_time(dos_date, dos_time),
        made_by,
        needed,
        flags,
        entry.method,
        entry.crc32,
        entry.compressed_size,
        entry.uncompressed_size,
        internal_attributes,
        external_attributes,
        entry.header_offset,
        bytes(directory[extra_start:comment_start]),
        bytes(directory[comment_start : comment_start + comment_length]),
        dos_time,
    )


def _new_info(  # noqa: PLR0917 - one per field; called by map() in bulk
    ordinal: int,
    name: str,
    date_time: tuple[int, int, int, int, int, int],
    made_by: int,
    needed: int,
    flags: int,
    method: int,
    crc: int,
    compressed_size: int,
    uncompressed_size: int,
    internal_attributes: int,
    external_attributes: int,
    header_offset: int,
    extra: bytes,
    comment: bytes,
    dos_time: int,
) -> ZipEntryInfo:
    """Return an info with every field set as zipfile sets it when reading.

    zipfile sets the date without the range check of ZipInfo's constructor.
    Plain assignments: this runs once per entry of a big infolist().
    """
    info = _new_entry_info(ZipEntryInfo)
    for field, default in _INFO_DEFAULTS:
        setattr(info, field, default)
    info.index = ordinal
    info.filename = name
    info.orig_filename = name
    info.date_time = date_time
    info.create_version = made_by & 0xFF
    info.create_system = made_by >> 8
    info.extract_version = needed & 0xFF
    info.reserved = needed >> 8
    info.flag_bits = flags
    info.compress_type = method
    info.CRC = crc
    info.compress_size = compressed_size
    info.file_size = uncompressed_size
    info.volume = 0
    info.internal_attr = internal_attributes
    info.external_attr = external_attributes
    info.header_offset = header_offset
    info.extra = extra
    info.comment = comment
    info._raw_time = dos_time  # type: ignore[attr-defined]  # noqa: SLF001 - zipfile's own
    return info


_new_entry_info = ZipEntryInfo.__new__


def build_infos(directory: Directory) -> list[ZipEntryInfo]:
    """Return the info of every entry, built from the directory's arrays in bulk."""
    directory.check_all()
    central = directory.central_directory
    columns = directory.columns
    count = len(directory)
    headers = header_fields(central, columns.directory_offset.astype(np.int64))
    dos_times = headers["dos_time"].tolist()
    # Archives hold few distinct times: one tuple each, shared.
    date_times: dict[tuple[int, int], tuple[int, int, int, int, int, int]] = {}
    dates = [
        date_times.get(key) or date_times.setdefault(key, rec.dos_date_time(*key))
        for key in zip(headers["dos_date"].tolist(), dos_times, strict=True)
    ]
    extra_start = (
        columns.directory_offset.astype(np.int64)
        + rec.CENTRAL_DIRECTORY_HEADER_LENGTH
        + headers["name_length"]
    )
    comment_start = extra_start + headers["extra_length"]
    comment_end = comment_start + headers["comment_length"]
    return list(
        map(
            _new_info,
            range(count),
            directory.name_list(),
            dates,
            headers["made_by"].tolist(),
            headers["needed"].tolist(),
            columns.flags.tolist(),
            columns.method.tolist(),
            columns.crc32.tolist(),
            columns.compressed_size.tolist(),
            columns.uncompressed_size.tolist(),
            headers["internal_attributes"].tolist(),
            headers["external_attributes"].tolist(),
            columns.header_offset.tolist(),
            _slices(central, extra_start, comment_start),
            _slices(central, comment_start, comment_end),
            dos_times,
        )
    )


def _slices(
    data: bytes | NDArray[np.uint8], starts: NDArray[np.int64], ends: NDArray[np.int64]
) -> list[bytes]:
    """Return ``bytes(data[start:end])`` for each pair (one shared ``b""`` for the empty ones)."""
    empty = b""
    return [
        bytes(data[start:end]) if end > start else empty
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True)
    ]


class Infos:
    """A reader's ZipEntryInfo objects: made once each, the same object on every call.

    One at a time as ``getinfo`` asks for them, or all at once (in bulk, from
    the directory's columns) for ``infolist``; the lock guards only the
    building, never a lookup of what is built.
    """

    __slots__ = ("_all", "_by_name", "_directory", "_lock", "_some")

    def __init__(self, directory: Directory) -> None:
        self._directory = directory
        self._some: dict[int, ZipEntryInfo] = {}
        self._all: list[ZipEntryInfo] | None = None
        self._by_name: dict[str, ZipEntryInfo] | None = None
        self._lock = TimedLock("ZipReader.infolist")

    def one(self, ordinal: int) -> ZipEntryInfo:
        """Return the info of entry ``ordinal``."""
        infos = self._all
        if infos is not None:
            return infos[ordinal]
        info = self._some.get(ordinal)
        if info is None:
            with self._lock:
                if self._all is not None:  # built meanwhile, with the infos given out
                    return self._all[ordinal]
                info = self._some.get(ordinal)
                if info is None:
                    directory = self._directory
                    info = make_info(directory.central_directory, directory.entry(ordinal))
                    self._some[ordinal] = info
        return info

    def all(self) -> list[ZipEntryInfo]:
        """Return every entry's info, in central directory order (one list, shared)."""
        infos = self._all
        if infos is None:
            with self._lock:
                infos = self._all
                if infos is None:
                    infos = build_infos(self._directory)
                    for ordinal, info in self._some.items():  # the objects given out
                        infos[ordinal] = info
                    self._some = {}
                    self._all = infos
        return infos

    def by_name(self) -> dict[str, ZipEntryInfo]:
        """Return name -> info; of entries sharing a name, the last (zipfile's NameToInfo)."""
        by_name = self._by_name
        if by_name is None:
            infos = self.all()
            with self._lock:
                by_name = self._by_name
                if by_name is None:
                    by_name = self._by_name = {info.filename: info for info in infos}
        return by_name

    @property
    def lock(self) -> TimedLock:
        """The lock that guards the building (for its statistics)."""
        return self._lock
