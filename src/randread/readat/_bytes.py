"""ReadAt over an in-memory bytes-like object."""

from __future__ import annotations

from randread.readat._base import ReadAtBase, check_range

__all__ = ["BytesReadAt"]


class BytesReadAt(ReadAtBase):
    """ReadAt over ``bytes``, ``bytearray``, ``memoryview`` or any C-contiguous buffer.

    :meth:`view_at` is zero-copy and read-only. A ``bytearray`` is not copied, so
    changing it changes what later reads return.
    """

    __slots__ = ("_data", "_view")

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        if not view.c_contiguous:
            msg = "BytesReadAt needs a C-contiguous buffer"
            raise ValueError(msg)
        if view.ndim != 1 or view.format != "B":
            view = view.cast("B")
        self._view: memoryview | None = view.toreadonly()
        # Slicing bytes is one copy; bytes(memoryview[...]) is a view plus a copy.
        self._data: bytes | None = data if isinstance(data, bytes) else None
        self.size = view.nbytes
        self._closed = False

    def read_at(self, offset: int, length: int) -> bytes:
        """Return exactly ``length`` bytes at ``offset`` as a new ``bytes``."""
        view = self._view
        if view is None:
            raise self._raise_closed()
        if offset < 0 or length < 0 or offset + length > self.size:
            check_range(offset, length, self.size)
        data = self._data
        if data is not None:
            return data[offset : offset + length]
        return bytes(view[offset : offset + length])

    def view_at(self, offset: int, length: int) -> memoryview:
        """Return a zero-copy, read-only memoryview of ``length`` bytes at ``offset``."""
        view = self._view
        if view is None:
            raise self._raise_closed()
        if offset < 0 or length < 0 or offset + length > self.size:
            check_range(offset, length, self.size)
        return view[offset : offset + length]

    def _release(self) -> None:
        self._view = None
        self._data = None

    def __reduce__(self) -> tuple[type[BytesReadAt], tuple[bytes]]:
        view = self._view
        if view is None:
            raise self._raise_closed()
        return (BytesReadAt, (bytes(view),))

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"size={self.size}"
        return f"<BytesReadAt {state}>"
