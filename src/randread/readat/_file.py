"""ReadAt over a file descriptor with ``os.pread`` (or a locked fallback)."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
from pathlib import Path
from typing import IO, TYPE_CHECKING, Union

from randread._locks import TimedLock
from randread.errors import OutOfBoundsError
from randread.readat._base import ReadAtBase, check_range

if TYPE_CHECKING:
    from typing import TypeAlias

__all__ = ["FileReadAt", "PathLike"]

PathLike: TypeAlias = Union[str, "os.PathLike[str]"]

_HAVE_PREAD = hasattr(os, "pread")


class _OwnedDescriptor:
    """A file descriptor closed when the last reference to it goes away.

    Reads hold a local reference while they run, so ``FileReadAt.close()`` can
    never close (and the OS never reuse) a descriptor under a running pread.
    """

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class _BorrowedDescriptor:
    """The descriptor of a caller's file object, which stays the caller's to close."""

    __slots__ = ("fd", "file")

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.fd = file.fileno()


class _LockedSeekRead:
    """Fallback for files without pread (Windows) or without a descriptor.

    The one place in randread with a lock on the read path: seek and read on a
    shared handle must not interleave.
    """

    __slots__ = ("_lock", "file", "owned")

    def __init__(self, file: IO[bytes], *, owned: bool) -> None:
        self.file = file
        self.owned = owned
        self._lock = TimedLock("FileReadAt.seek_read")

    def read(self, offset: int, length: int) -> bytes:
        with self._lock:
            self.file.seek(offset)
            return self.file.read(length)

    def __del__(self) -> None:
        if self.owned:
            self.file.close()


_Handle = _OwnedDescriptor | _BorrowedDescriptor | _LockedSeekRead


class FileReadAt(ReadAtBase):
    """ReadAt over a file with ``os.pread``: no shared position, no lock.

    ``source`` is a path, or a binary file object opened for reading. A file
    object stays the caller's: ``close()`` does not close it, and it must stay
    open while this reader is used. Where the OS has no ``pread`` (Windows), or
    the file object has no descriptor (``io.BytesIO``), reads fall back to seek
    and read under a lock.

    The size is taken once, when the reader is made; a file that shrinks
    afterwards makes reads past its new end raise :class:`OutOfBoundsError`.
    """

    __slots__ = ("_handle", "path")

    def __init__(self, source: PathLike | IO[bytes]) -> None:
        handle: _Handle
        if isinstance(source, (str, os.PathLike)):
            self.path: str | None = os.fspath(source)
            if _HAVE_PREAD:
                handle = _OwnedDescriptor(os.open(self.path, os.O_RDONLY))
                status = os.fstat(handle.fd)
                if stat.S_ISDIR(status.st_mode):  # reads would fail later, not here
                    raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), self.path)
                self.size = status.st_size
            else:  # pragma: no cover - Windows
                handle = _LockedSeekRead(Path(self.path).open("rb"), owned=True)  # noqa: SIM115 - owned, closed in __del__
                self.size = os.fstat(handle.file.fileno()).st_size
        else:
            # A file object is never reopened by name (see __reduce__).
            self.path = None
            try:
                fd = source.fileno()
            except (AttributeError, OSError, io.UnsupportedOperation):
                fd = -1
            if fd >= 0 and _HAVE_PREAD:
                handle = _BorrowedDescriptor(source)
                self.size = os.fstat(fd).st_size
            else:
                handle = _LockedSeekRead(source, owned=False)
                self.size = source.seek(0, io.SEEK_END)
        self._handle: _Handle | None = handle
        self._closed = False

    def read_at(self, offset: int, length: int) -> bytes:
        """Return exactly ``length`` bytes at ``offset`` as a new ``bytes``."""
        handle = self._handle
        if handle is None:
            raise self._raise_closed()
        if offset < 0 or length < 0 or offset + length > self.size:
            check_range(offset, length, self.size)
        if length == 0:
            return b""
        if isinstance(handle, _LockedSeekRead):
            data = handle.read(offset, length)
            if len(data) != length:
                raise OutOfBoundsError(
                    offset, length, offset + len(data), what="read (file shrank)"
                )
            return data
        data = os.pread(handle.fd, length, offset)
        if len(data) != length:
            data = _read_rest(handle.fd, data, offset, length)
        return data

    def _release(self) -> None:
        # The descriptor closes when the last running read lets go of it.
        self._handle = None

    def __reduce__(self) -> tuple[type[FileReadAt], tuple[str]]:
        if self.path is None:
            msg = "a FileReadAt made from a file object cannot be pickled; make it from a path"
            raise TypeError(msg)
        return (FileReadAt, (self.path,))

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"size={self.size}"
        return f"<FileReadAt {self.path!r} {state}>"


def _read_rest(fd: int, head: bytes, offset: int, length: int) -> bytes:
    """Finish a short pread: loop until ``length`` bytes or end of file."""
    parts = [head]
    done = len(head)
    while done < length:
        chunk = os.pread(fd, length - done, offset + done)
        if not chunk:
            raise OutOfBoundsError(offset, length, offset + done, what="read (file shrank)")
        parts.append(chunk)
        done += len(chunk)
    return b"".join(parts)
