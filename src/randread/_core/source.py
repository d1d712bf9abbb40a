"""The source of a reader: a ReadAt it owns or borrows, shared with its open streams.

Both readers keep their ReadAt here. Ownership is decided once, when the
reader is made: a ReadAt the reader opened itself (from a path, bytes or a
URL), or one handed over with ``close_source=True``, is closed by the reader;
a caller's own ReadAt never is.

As zipfile keeps a member readable after its ZipFile is closed, until the
member is closed too, the reader and each stream ``open()`` returned count as
one user: an owned ReadAt is closed when the last user is done. The lock
guards the count only, when a stream opens or closes: never a read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from randread._locks import TimedLock
from randread.readat import thread_views

if TYPE_CHECKING:
    from collections.abc import Callable

    from randread.errors import ClosedError
    from randread.readat import ReadAt, ThreadViews

__all__ = ["Source"]


class Source:
    """A reader's ReadAt and who closes it; see the module docstring."""

    __slots__ = (
        "_closed_error",
        "_held",
        "_live",
        "_lock",
        "_owner_open",
        "_users",
        "owned",
        "whole",
    )

    def __init__(
        self, readat: ReadAt, *, owned: bool, closed_error: Callable[[], ClosedError]
    ) -> None:
        #: the ReadAt while the reader is open (None once closed) ...
        self._live: ReadAt | None = readat
        #: ... and while any user is left (None once an owned ReadAt is closed)
        self._held: ReadAt | None = readat
        self.owned = owned
        #: Each thread's view of all of a source in memory that the reader
        #: owns (bytes, a memory map), for the read hot paths to slice; None
        #: otherwise, and once closed. A caller's ReadAt may be closed by its
        #: owner at any time: its view_at says so, views kept here would not.
        self.whole: ThreadViews | None = thread_views(readat) if owned else None
        self._closed_error = closed_error
        self._users = 1  # the reader
        self._owner_open = True
        self._lock = TimedLock("reader source")

    @property
    def readat(self) -> ReadAt:
        """The ReadAt while the reader is open; else the reader's ClosedError."""
        readat = self._live
        if readat is None:
            raise self._closed_error()
        return readat

    @property
    def closed(self) -> bool:
        """Whether the reader was closed (streams it opened may still read)."""
        return self._live is None

    def acquire(self) -> ReadAt:
        """Count one more stream and return the ReadAt; the ClosedError once closed."""
        with self._lock:
            readat = self._live
            if readat is None:
                raise self._closed_error()
            self._users += 1
        return readat

    def release(self) -> None:
        """Count one user less: an owned ReadAt is closed after the last."""
        with self._lock:
            self._users -= 1
            readat = self._held if self._users == 0 else None
            if readat is not None:
                self._held = None
        if readat is not None and self.owned:
            readat.close()

    def close(self) -> None:
        """Release the reader's own share (once): reads that start now raise."""
        with self._lock:
            if not self._owner_open:
                return
            self._owner_open = False
            self._live = None
        self.whole = None
        self.release()
