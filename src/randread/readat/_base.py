"""The ReadAt protocol, its bounds rules and the base class of every backend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from randread._closing import CloseOnExit
from randread.errors import ClosedError, OutOfBoundsError

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["ReadAt", "ReadAtBase", "check_range"]


@runtime_checkable
class ReadAt(Protocol):
    """Stateless positional reads over a source of known size.

    There is no file position: every call names its offset, so any number of
    threads may call :meth:`read_at` and :meth:`view_at` on one instance at the
    same time, with no lock. Go's ``io.ReaderAt`` is the model.
    """

    @property
    def size(self) -> int:
        """Total length of the source in bytes, known up front."""
        ...

    def read_at(self, offset: int, length: int) -> bytes:
        """Return exactly ``length`` bytes starting at ``offset``, as a new object.

        ``length == 0`` returns ``b""``. A negative offset or length raises
        :class:`ValueError`; a range past the end raises
        :class:`randread.OutOfBoundsError`.
        """
        ...

    def view_at(self, offset: int, length: int) -> memoryview:
        """Return the same bytes as :meth:`read_at` as a read-only memoryview.

        Zero-copy where the backend can (bytes, mmap), a copy otherwise.
        """
        ...

    def close(self) -> None:
        """Release the source; closing twice is fine."""
        ...


def check_range(offset: int, length: int, size: int) -> None:
    """Raise the ReadAt bounds errors for ``[offset, offset + length)`` in ``size``."""
    if offset < 0 or length < 0:
        msg = f"offset and length must be >= 0, got offset={offset}, length={length}"
        raise ValueError(msg)
    if offset + length > size:
        raise OutOfBoundsError(offset, length, size)


class ReadAtBase(CloseOnExit):
    """Shared behaviour of the ReadAt backends: context manager, closing, numpy views.

    Subclasses implement ``read_at`` and ``view_at`` and keep what they read from
    in attributes that ``close()`` clears. A read that started before ``close()``
    holds its own reference and finishes on valid memory; a read that starts
    after it raises :class:`randread.ClosedError` (a ``ValueError``).
    """

    __slots__ = ("_closed", "size")

    size: int
    _closed: bool

    def read_at(self, offset: int, length: int) -> bytes:  # pragma: no cover - abstract
        """Return exactly ``length`` bytes at ``offset`` (see :class:`ReadAt`)."""
        raise NotImplementedError

    def view_at(self, offset: int, length: int) -> memoryview:
        """Return the bytes at ``offset`` as a read-only memoryview (a copy here)."""
        return memoryview(self.read_at(offset, length))

    def as_numpy(
        self, offset: int, length: int, dtype: npt.DTypeLike = np.uint8
    ) -> np.ndarray[Any, Any]:
        """Return ``length`` bytes at ``offset`` as a read-only 1-D numpy array of ``dtype``.

        No copy is made where :meth:`view_at` is zero-copy (bytes, mmap).
        ``length`` must be a multiple of the dtype's item size.
        """
        item_size = np.dtype(dtype).itemsize
        if length % item_size:
            msg = (
                f"length {length} is not a multiple of the {np.dtype(dtype)} item size {item_size}"
            )
            raise ValueError(msg)
        array: np.ndarray[Any, Any] = np.frombuffer(self.view_at(offset, length), dtype=dtype)
        array.flags.writeable = False
        return array

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    def close(self) -> None:
        """Mark the source closed and drop its references; closing twice is fine."""
        self._closed = True
        self._release()

    def _release(self) -> None:
        """Drop the references the backend reads from (overridden by backends)."""

    def _raise_closed(self) -> ClosedError:
        return ClosedError(f"I/O operation on closed {type(self).__name__}")
