"""A seekable, read-only file object with its own position over a ReadAt range."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from randread.errors import OutOfBoundsError
from randread.readat._base import check_range

if TYPE_CHECKING:
    from typing_extensions import Buffer

    from randread.readat._base import ReadAt

__all__ = ["ReadAtRawIO", "readat_stream", "seek_target", "skip"]


class ReadAtRawIO(io.RawIOBase):
    """Raw, seekable, read-only I/O over ``[offset, offset + length)`` of a ReadAt.

    The position belongs to this object alone, so any number of streams may
    read the same ReadAt from different threads. Closing the stream does not
    close the ReadAt.
    """

    def __init__(self, readat: ReadAt, offset: int = 0, length: int | None = None) -> None:
        super().__init__()
        if length is None:
            length = readat.size - offset
        check_range(offset, length, readat.size)
        self._readat = readat
        self._start = offset
        self._length = length
        self._position = 0

    def readable(self) -> bool:
        """Return True: the stream is readable."""
        return True

    def seekable(self) -> bool:
        """Return True: the stream is seekable."""
        return True

    def readinto(self, buffer: Buffer) -> int:
        """Read up to ``len(buffer)`` bytes into ``buffer``; 0 at end of range."""
        self._checkClosed()
        with memoryview(buffer) as target:
            count = min(target.nbytes, self._length - self._position)
            if count <= 0:
                return 0
            offset = self._start + self._position
            view = self._readat.view_at(offset, count)
            if len(view) != count:
                raise _short_read(offset, count, len(view))
            target.cast("B")[:count] = view
        self._position += count
        return count

    def readall(self) -> bytes:
        """Read from the position to the end of the range."""
        self._checkClosed()
        count = max(0, self._length - self._position)
        offset = self._start + self._position
        data = self._readat.read_at(offset, count)
        if len(data) != count:
            raise _short_read(offset, count, len(data))
        self._position += count
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position; seeking past the end is allowed and reads nothing."""
        self._checkClosed()
        position = seek_target(offset, whence, self._position, self._length)
        if position < 0:
            msg = f"negative seek position {position}"
            raise ValueError(msg)
        self._position = position
        return position

    def tell(self) -> int:
        """Return the position within the range."""
        self._checkClosed()
        return self._position


def _short_read(offset: int, wanted: int, got: int) -> OutOfBoundsError:
    # A ReadAt returned less than asked: it broke its contract, or its file shrank.
    return OutOfBoundsError(offset, wanted, offset + got, what="read (short read from the source)")


def readat_stream(
    readat: ReadAt,
    offset: int = 0,
    length: int | None = None,
    *,
    buffer_size: int = io.DEFAULT_BUFFER_SIZE,
) -> io.BufferedReader:
    """Return a buffered, seekable, read-only file object over a ReadAt range.

    ``length`` defaults to the rest of the source. The stream has its own
    position and shares no state with other streams over the same ReadAt.
    """
    return io.BufferedReader(ReadAtRawIO(readat, offset, length), buffer_size)


def seek_target(offset: int, whence: int, position: int, size: int) -> int:
    """Return where ``seek(offset, whence)`` points from ``position`` in ``size`` bytes.

    Raises ``ValueError`` for an unknown ``whence``; the caller decides what a
    target before the start or past the end means.
    """
    if whence == io.SEEK_SET:
        return offset
    if whence == io.SEEK_CUR:
        return position + offset
    if whence == io.SEEK_END:
        return size + offset
    msg = f"invalid whence ({whence}, should be 0, 1 or 2)"
    raise ValueError(msg)


def skip(raw: io.RawIOBase, count: int, chunk: int = 64 * 1024) -> None:
    """Read and drop ``count`` bytes of ``raw`` (fewer if it ends first).

    For streams that can only move forward by decoding what they pass over.
    """
    scratch = memoryview(bytearray(min(chunk, max(count, 0))))
    while count > 0:
        done = raw.readinto(scratch[: min(len(scratch), count)])
        if not done:
            return
        count -= done
