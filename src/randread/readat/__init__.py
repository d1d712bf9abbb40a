"""Positional reads: the ReadAt protocol and its backends.

All I/O in randread goes through these classes. Parsers receive bytes or
memoryviews read with :meth:`ReadAt.read_at` / :meth:`ReadAt.view_at` and never
touch a file position.
"""

from __future__ import annotations

import io
import os
from typing import IO, Literal

from randread.readat._base import ReadAt, ReadAtBase, check_range
from randread.readat._bytes import BytesReadAt
from randread.readat._file import FileReadAt, PathLike
from randread.readat._mmap import MmapReadAt
from randread.readat._section import SectionReadAt
from randread.readat._stream import ReadAtRawIO, readat_stream

__all__ = [
    "BytesReadAt",
    "FileReadAt",
    "MmapReadAt",
    "PathLike",
    "ReadAt",
    "ReadAtBase",
    "ReadAtRawIO",
    "SectionReadAt",
    "Source",
    "check_range",
    "open_readat",
    "readat_stream",
]

#: Anything :func:`open_readat` accepts.
Source = PathLike | bytes | bytearray | memoryview | IO[bytes] | ReadAt


def open_readat(source: Source, *, backend: Literal["mmap", "pread"] = "mmap") -> ReadAt:
    """Return a ReadAt for ``source``.

    - a ReadAt is returned as it is;
    - ``bytes``, ``bytearray`` or ``memoryview``: :class:`BytesReadAt`;
    - a path: :class:`MmapReadAt` by default, :class:`FileReadAt` with
      ``backend="pread"`` (no address space used; each read is a system call);
    - a binary file object: :class:`FileReadAt` (the caller keeps it open).
    """
    if backend not in ("mmap", "pread"):
        msg = f"backend must be 'mmap' or 'pread', not {backend!r}"
        raise ValueError(msg)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return BytesReadAt(source)
    if isinstance(source, (str, os.PathLike)):
        return MmapReadAt(source) if backend == "mmap" else FileReadAt(source)
    if isinstance(source, ReadAt):
        return source
    if isinstance(source, io.IOBase) or (hasattr(source, "read") and hasattr(source, "seek")):
        return FileReadAt(source)
    msg = (
        "expected a path, a bytes-like object, a binary file object or a ReadAt, "
        f"not {type(source).__name__}"
    )
    raise TypeError(msg)
