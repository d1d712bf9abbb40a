"""ReadAt over a read-only memory map of a file."""

from __future__ import annotations

import errno
import mmap
import os
import stat
from typing import TYPE_CHECKING

from randread.readat._base import ReadAtBase, check_range

if TYPE_CHECKING:
    from randread.readat._file import PathLike

__all__ = ["MmapReadAt"]

_EMPTY = memoryview(b"")


class MmapReadAt(ReadAtBase):
    """ReadAt over a read-only ``mmap`` of a file: :meth:`view_at` is zero-copy.

    Closing never invalidates memory that is still referenced. ``close()`` drops
    the reader's own references; the mapping is unmapped as soon as no
    memoryview or numpy array handed out by :meth:`view_at` or
    :meth:`as_numpy` (and no read still running in another thread) refers to
    it. ``mmap.close()`` would raise ``BufferError`` while such views exist;
    deferring the unmap to the last reference avoids that, and avoids reads in
    other threads touching unmapped memory.

    The file should not be truncated while it is mapped: on POSIX, touching
    pages past the new end raises SIGBUS, as with any mmap reader.
    """

    __slots__ = ("_mmap", "_view", "path")

    def __init__(self, path: PathLike) -> None:
        self.path = os.fspath(path)
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            status = os.fstat(fd)
            if stat.S_ISDIR(status.st_mode):  # mmap would say EINVAL
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), self.path)
            self.size = status.st_size
            # mmap cannot map an empty file; an empty view reads the same.
            self._mmap: mmap.mmap | None = (
                mmap.mmap(fd, 0, access=mmap.ACCESS_READ) if self.size else None
            )
        finally:
            os.close(fd)  # the map keeps its own reference to the file
        self._view: memoryview | None = memoryview(self._mmap) if self._mmap else _EMPTY
        self._closed = False

    def read_at(self, offset: int, length: int) -> bytes:
        """Return exactly ``length`` bytes at ``offset`` as a new ``bytes``."""
        view = self._view
        if view is None:
            raise self._raise_closed()
        if offset < 0 or length < 0 or offset + length > self.size:
            check_range(offset, length, self.size)
        mapped = self._mmap
        if mapped is None:  # empty file, or closed after the check above
            return bytes(view[offset : offset + length])
        return mapped[offset : offset + length]

    def view_at(self, offset: int, length: int) -> memoryview:
        """Return a zero-copy, read-only memoryview of the mapping."""
        view = self._view
        if view is None:
            raise self._raise_closed()
        if offset < 0 or length < 0 or offset + length > self.size:
            check_range(offset, length, self.size)
        return view[offset : offset + length]

    def _release(self) -> None:
        # Dropping the references is the whole close: see the class docstring.
        self._view = None
        self._mmap = None

    def __reduce__(self) -> tuple[type[MmapReadAt], tuple[str]]:
        return (MmapReadAt, (self.path,))

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"size={self.size}"
        return f"<MmapReadAt {self.path!r} {state}>"
