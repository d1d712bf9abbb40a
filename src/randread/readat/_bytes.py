"""ReadAt over an in-memory bytes-like object."""

from __future__ import annotations

from randread.readat._base import ReadAtBase, check_range
from randread.readat._views import Exporter, ThreadViews, exporter_of, fresh_view

__all__ = ["BytesReadAt"]


class BytesReadAt(ReadAtBase):
    """ReadAt over ``bytes``, ``bytearray``, ``memoryview`` or any C-contiguous buffer.

    :meth:`view_at` is zero-copy and read-only. A ``bytearray`` is not copied, so
    changing it changes what later reads return.
    """

    __slots__ = ("_data", "_exporter", "_views")

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        exporter = exporter_of(data)
        self._exporter: Exporter | None = exporter
        self._views: ThreadViews | None = ThreadViews(exporter)
        # Slicing bytes is one copy; bytes(memoryview[...]) is a view plus a copy.
        self._data: bytes | None = exporter if isinstance(exporter, bytes) else None
        self.size = len(exporter)
        self._closed = False

    def read_at(self, offset: int, length: int) -> bytes:
        """Return exactly ``length`` bytes at ``offset`` as a new ``bytes``."""
        views = self._views
        if views is None:
            raise self._raise_closed()
        if offset < 0 or length < 0 or offset + length > self.size:
            check_range(offset, length, self.size)
        data = self._data
        if data is not None:
            return data[offset : offset + length]
        return bytes(views.view[offset : offset + length])

    def view_at(self, offset: int, length: int) -> memoryview:
        """Return a zero-copy, read-only memoryview of ``length`` bytes at ``offset``.

        The view is the caller's: it shares no state with the views other
        calls return, so it may be handed to any thread.
        """
        exporter = self._exporter
        if exporter is None:
            raise self._raise_closed()
        if offset < 0 or length < 0 or offset + length > self.size:
            check_range(offset, length, self.size)
        return fresh_view(exporter, offset, offset + length)

    @property
    def thread_views(self) -> ThreadViews | None:
        """Each thread's own view of all the data (:class:`ThreadViews`); None once closed."""
        return self._views

    def _release(self) -> None:
        self._views = None
        self._exporter = None
        self._data = None

    def __reduce__(self) -> tuple[type[BytesReadAt], tuple[bytes]]:
        views = self._views
        if views is None:
            raise self._raise_closed()
        return (BytesReadAt, (bytes(views.view),))

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"size={self.size}"
        return f"<BytesReadAt {state}>"
