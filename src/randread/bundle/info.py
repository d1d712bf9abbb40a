"""What a bundle says about its entries: the entry table's numpy type and BundleEntryInfo."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from randread.bundle import format as fmt

__all__ = ["ENTRY_DTYPE", "BundleEntryInfo"]

_DOS_EPOCH = (1980, 1, 1, 0, 0, 0)

#: The entry table as a numpy structured type (formats/bundle.md, Entry table).
ENTRY_DTYPE = np.dtype(
    [
        ("data_offset", "<u8"),
        ("stored_size", "<u8"),
        ("size", "<u8"),
        ("name_offset", "<u8"),
        ("entry_metadata_offset", "<u8"),
        ("mtime_ns", "<i8"),
        ("name_length", "<u4"),
        ("entry_metadata_length", "<u4"),
        ("checksum", "<u4"),
        ("mode", "<u2"),
        ("codec", "u1"),
        ("flags", "u1"),
    ]
)
if ENTRY_DTYPE.itemsize != fmt.ENTRY_RECORD.size:  # pragma: no cover
    msg = "ENTRY_DTYPE does not match formats/bundle.md"
    raise ImportError(msg)


@dataclass(frozen=True, slots=True)
class BundleEntryInfo:
    """What a bundle says about one entry.

    The attributes zipfile users read are here under zipfile's names
    (``filename``, ``file_size``, ``compress_size``, ``CRC``, ``date_time``,
    ``comment``, ``is_dir()``), next to the bundle's own: ``codec``,
    ``mtime`` (seconds, or ``None``), ``mode`` (or ``None``), ``metadata``.
    ``date_time`` is ``mtime`` in UTC (1980-01-01 when there is none).
    """

    filename: str
    file_size: int
    compress_size: int
    codec: str
    CRC: int
    mtime_ns: int | None
    mode: int | None
    metadata: dict[str, str] = field(hash=False)
    data_offset: int
    index: int

    @property
    def offset(self) -> int:
        """Where the entry's data starts in the bundle."""
        return self.data_offset

    @property
    def mtime(self) -> float | None:
        """Modification time in seconds since the epoch, or ``None``."""
        return None if self.mtime_ns is None else self.mtime_ns / 1e9

    @property
    def date_time(self) -> tuple[int, int, int, int, int, int]:
        """``mtime`` as a zipfile-style (year, month, day, hour, minute, second) in UTC."""
        if self.mtime_ns is None:
            return _DOS_EPOCH
        moment = time.gmtime(self.mtime_ns // 1_000_000_000)
        return (
            moment.tm_year,
            moment.tm_mon,
            moment.tm_mday,
            moment.tm_hour,
            moment.tm_min,
            moment.tm_sec,
        )

    @property
    def comment(self) -> bytes:
        """The entry comment (metadata key ``comment``), as bytes like zipfile's."""
        return self.metadata.get("comment", "").encode("utf-8")

    def is_dir(self) -> bool:
        """Whether the entry is a directory (its name ends with ``/``)."""
        return self.filename.endswith("/")
