"""``with`` support for the package's objects that have a ``close()``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

__all__ = ["CloseOnExit"]


class _Closable(Protocol):
    def close(self) -> None: ...


class CloseOnExit:
    """A base whose ``with`` block returns the object and calls its ``close()`` on the way out."""

    __slots__ = ()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self: _Closable,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
