"""The CRC-checked entry stream behind both readers' ``open()``.

Output is capped at the entry's size (never sized from the stored bytes),
must reach exactly that size, and is checked against the CRC-32 when the last
byte has been read. The CRC covers every byte from the start: a forward seek
decodes the bytes it skips, a backward one starts decoding over, except in
stored content, which seeks directly (and is then checked only when read from
the start). Seeks clamp to the content, as zipfile's do.

The stream holds a share of its reader's :class:`~randread._core.source.Source`
and stays readable after the reader is closed, until it is closed itself.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Protocol, TypeVar

from randread._checksum import crc32
from randread.errors import OutOfBoundsError
from randread.readat._stream import seek_target, skip

if TYPE_CHECKING:
    from collections.abc import Callable

    from typing_extensions import Buffer

    from randread._core.errors import EntryErrors
    from randread._core.source import Source
    from randread.readat import ReadAtRawIO

__all__ = ["STREAM_BUFFER", "Decoding", "EntryStream"]

#: read buffer of the file objects both readers' ``open()`` return
STREAM_BUFFER = 64 * 1024

_T = TypeVar("_T")


def _closed_start() -> Decoding:
    msg = "I/O operation on closed file."
    raise ValueError(msg)


class Decoding(Protocol):
    """A decoder part way through an entry: ``read(n)`` returns up to ``n`` more bytes."""

    def read(self, size: int, /) -> bytes: ...


class _Nothing:
    """What a closed stream decodes: nothing (it holds no view of the source)."""

    def read(self, size: int, /) -> bytes:  # noqa: ARG002 - the protocol's
        return b""


_NOTHING = _Nothing()


class EntryStream(io.RawIOBase):
    """A raw, seekable, read-only stream over one entry's content; see the module docstring.

    ``start`` returns a decoder at the start of the content (called again
    for a backward seek); ``raw``, for stored content, is the stream that
    decoder reads, seeked directly. ``verify=False`` skips the CRC-32.
    ``decode_errors`` are the exceptions the decoder raises for bad data.
    """

    def __init__(
        self,
        source: Source,
        errors: EntryErrors,
        *,
        size: int,
        start: Callable[[], Decoding],
        raw: ReadAtRawIO | None = None,
        verify: bool = True,
        decode_errors: tuple[type[Exception], ...] = (),
        mode: str = "rb",
    ) -> None:
        super().__init__()
        self.name = errors.name
        self.mode = mode
        self._errors = errors
        self._size = size
        self._start_decoding = start
        self._raw = raw
        self._verify = verify
        self._decode_errors = decode_errors
        self._source: Source | None = None
        self._restart()
        # Only now: when the start fails, the caller releases the share.
        self._source = source

    def _restart(self) -> None:
        self._decoding = self._call(self._start_decoding)
        self._position = 0
        self._crc = 0
        self._crc_valid = self._verify
        self._finished = False

    def _call(self, function: Callable[[], _T]) -> _T:
        try:
            return function()
        except OutOfBoundsError as exc:
            raise self._errors.truncated(exc) from None
        except self._decode_errors as exc:
            raise self._errors.problem(exc) from None

    def close(self) -> None:
        """Close the stream and give back its share of the reader's source."""
        source, self._source = self._source, None
        try:
            super().close()
        finally:
            # The decoder and the raw stream may hold views of a memory map.
            self._decoding = _NOTHING
            self._raw = None
            self._start_decoding = _closed_start
            if source is not None:
                source.release()

    def readable(self) -> bool:
        """Return True: the stream is readable."""
        self._checkClosed()
        return True

    def seekable(self) -> bool:
        """Return True: seeking is supported (backwards by decoding again)."""
        self._checkClosed()
        return True

    def readinto(self, buffer: Buffer) -> int:
        """Decode up to ``len(buffer)`` more bytes into ``buffer``."""
        self._checkClosed()
        size = self._size
        with memoryview(buffer) as view, view.cast("B") as target:
            wanted = min(target.nbytes, size - self._position)
            if wanted <= 0:
                self._finish()
                return 0
            chunk = self._call(lambda: self._decoding.read(wanted))
            count = len(chunk)
            if count == 0:
                problem = f"decoded data ends after {self._position} of the declared {size} bytes"
                raise self._errors.truncated(problem)
            target[:count] = chunk
        if self._crc_valid:
            self._crc = crc32(chunk, self._crc)
        self._position += count
        if self._position == size:
            self._finish()
        return count

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self._position == self._size and self._call(lambda: self._decoding.read(1)):
            problem = f"decoded data is larger than the declared size {self._size}"
            raise self._errors.problem(problem)
        if self._crc_valid and self._crc != self._errors.expected_crc:
            raise self._errors.checksum(self._crc)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move to ``offset``, clamped to the content (as zipfile)."""
        self._checkClosed()
        size = self._size
        target = max(0, min(seek_target(offset, whence, self._position, size), size))
        if target == self._position:
            return target
        if self._raw is not None:
            self._raw.seek(target)
            self._position = target
            self._crc = 0
            self._crc_valid = self._verify and target == 0
            self._finished = False
            return target
        if target < self._position:
            self._restart()
        skip(self, target - self._position, STREAM_BUFFER)
        return self._position

    def tell(self) -> int:
        """Return the position in the content."""
        self._checkClosed()
        return self._position
