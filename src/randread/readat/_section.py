"""A window over another ReadAt, like Go's ``io.SectionReader``."""

from __future__ import annotations

from randread.readat._base import ReadAt, ReadAtBase, check_range

__all__ = ["SectionReadAt"]


class SectionReadAt(ReadAtBase):
    """ReadAt over ``length`` bytes of ``base`` starting at ``offset``.

    Offsets are relative to the window; reads never reach outside it. A window
    over a window is flattened to a window over the innermost source. Closing
    a section does not close its base.
    """

    __slots__ = ("_base", "start")

    start: int

    def __init__(self, base: ReadAt, offset: int, length: int) -> None:
        check_range(offset, length, base.size)
        if isinstance(base, SectionReadAt):
            inner = base._base  # noqa: SLF001 - same class
            if inner is None:
                raise base._raise_closed()  # noqa: SLF001 - same class
            offset += base.start
            base = inner
        self._base: ReadAt | None = base
        self.start = offset
        self.size = length
        self._closed = False

    def read_at(self, offset: int, length: int) -> bytes:
        """Return exactly ``length`` bytes at ``offset`` within the window."""
        base = self._base
        if base is None:
            raise self._raise_closed()
        if offset < 0 or length < 0 or offset + length > self.size:
            check_range(offset, length, self.size)
        return base.read_at(self.start + offset, length)

    def view_at(self, offset: int, length: int) -> memoryview:
        """Return a memoryview of the window, zero-copy where the base is."""
        base = self._base
        if base is None:
            raise self._raise_closed()
        if offset < 0 or length < 0 or offset + length > self.size:
            check_range(offset, length, self.size)
        return base.view_at(self.start + offset, length)

    def _release(self) -> None:
        self._base = None

    def __reduce__(self) -> tuple[type[SectionReadAt], tuple[ReadAt, int, int]]:
        base = self._base
        if base is None:
            raise self._raise_closed()
        return (SectionReadAt, (base, self.start, self.size))

    def __repr__(self) -> str:
        return f"<SectionReadAt start={self.start} size={self.size} of {self._base!r}>"
