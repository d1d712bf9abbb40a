"""ReadAt over a read-only memory map of a file."""

from __future__ import annotations

import errno
import mmap
import os
import stat
from typing import TYPE_CHECKING

from randread.readat._base import ReadAtBase, check_range
from randread.readat._views import ThreadViews

if TYPE_CHECKING:
    from randread.readat._file import PathLike

__all__ = ["MmapReadAt"]


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

    __slots__ = ("_exporter", "_views", "path")

    def __init__(self, path: PathLike) -> None:
        self.path = os.fspath(path)
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            status = os.fstat(fd)
            if stat.S_ISDIR(status.st_mode):  # mmap would say EINVAL
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), self.path)
            self.size = status.st_size
            # mmap cannot map an empty file; empty bytes read the same.
            exporter: mmap.mmap | bytes = (
                mmap.mmap(fd, 0, access=mmap.ACCESS_READ) if self.size else b""
            )
        finally:
            os.close(fd)  # the map keeps its own reference to the file
        self._exporter: mmap.mmap | bytes | None = exporter
        self._views: ThreadViews | None = ThreadViews(exporter)
        self._closed = False

    def read_at(self, offset: int, length: int) -> bytes:
        """Return exactly ``length`` bytes at ``offset`` as a new ``bytes``."""
        exporter = self._exporter
        if exporter is None:
            raise self._raise_closed()
        if offset < 0 or length < 0 or offset + length > self.size:
            check_range(offset, length, self.size)
        return exporter[offset : offset + length]

    def view_at(self, offset: int, length: int) -> memoryview:
        """Return a zero-copy, read-only memoryview of the mapping.

        The view is the caller's: it shares no state with the views other
        calls return, so it may be handed to any thread.
        """
        exporter = self._exporter
        if exporter is None:
            raise self._raise_closed()
        if offset < 0 or length < 0 or offset + length > self.size:
            check_range(offset, length, self.size)
        return memoryview(exporter)[offset : offset + length]

    @property
    def thread_views(self) -> ThreadViews | None:
        """Each thread's own view of the whole mapping (:class:`ThreadViews`); None once closed."""
        return self._views

    def _release(self) -> None:
        # Dropping the references is the whole close: see the class docstring.
        self._views = None
        self._exporter = None

    def __reduce__(self) -> tuple[type[MmapReadAt], tuple[str]]:
        return (MmapReadAt, (self.path,))

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"size={self.size}"
        return f"<MmapReadAt {self.path!r} {state}>"
