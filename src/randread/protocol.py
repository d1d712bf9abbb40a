"""What every archive reader offers: one protocol for ZipReader and BundleReader.

:class:`ArchiveReader` is the read API both readers share, and
:class:`EntryInfo` what both say about an entry. The cache, :class:`~randread.Path`,
the command line, the fsspec filesystem and the Dask and training-data helpers
use readers through these two and nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    import os
    from collections.abc import Iterator, Sequence
    from types import TracebackType
    from typing import IO

    from typing_extensions import Self

__all__ = ["ArchiveReader", "EntryInfo"]


@runtime_checkable
class EntryInfo(Protocol):
    """What a reader says about one entry, under zipfile's names where it has them.

    :class:`~randread.ZipEntryInfo` and :class:`~randread.BundleEntryInfo` have it.
    """

    @property
    def filename(self) -> str:
        """The entry's name, ``/``-separated; a directory's ends with ``/``."""
        ...

    @property
    def file_size(self) -> int:
        """The size of the content in bytes."""
        ...

    @property
    def compress_size(self) -> int:
        """The size the content takes in the archive."""
        ...

    @property
    def CRC(self) -> int:  # noqa: N802 - zipfile's name
        """The CRC-32 of the content."""
        ...

    @property
    def date_time(self) -> tuple[int, int, int, int, int, int]:
        """The modification time as (year, month, day, hour, minute, second)."""
        ...

    @property
    def codec(self) -> str:
        """How the content is stored: a zip method or a bundle codec.

        A zip method name (``"deflate"``, ``"stored"``, ``"method 99"``) or a
        bundle codec (``"zstd"``, ``"lz4"``, ...).
        """
        ...

    @property
    def offset(self) -> int:
        """Where the entry starts in the archive.

        A zip entry's local header, a bundle entry's data.
        """
        ...

    def is_dir(self) -> bool:
        """Whether the entry is a directory."""
        ...


InfoT_co = TypeVar("InfoT_co", bound=EntryInfo, covariant=True)


@runtime_checkable
class ArchiveReader(Protocol[InfoT_co]):
    """The read API of :class:`~randread.ZipReader` and :class:`~randread.BundleReader`.

    Every method may be called from any number of threads at once.
    """

    @property
    def filename(self) -> str | None:
        """The archive's path or URL (without credentials), when it has one."""
        ...

    @property
    def comment(self) -> bytes:
        """The archive comment."""
        ...

    @property
    def source_size(self) -> int:
        """The size of the archive's source in bytes."""
        ...

    def namelist(self) -> list[str]:
        """Return the entry names in archive order."""
        ...

    def infolist(self) -> Sequence[InfoT_co]:
        """Return an info record per entry, in archive order."""
        ...

    def getinfo(self, name: str, /) -> InfoT_co:
        """Return the info record of ``name``; ``KeyError`` when there is none."""
        ...

    def read(self, name: str, /) -> bytes:
        """Return the content of ``name``, its checksum checked."""
        ...

    def read_many(self, names: Sequence[str], /, *, workers: int | None = None) -> list[bytes]:
        """Return the contents of ``names``, in order, read together.

        A local batch may be decoded on up to ``workers`` threads.
        """
        ...

    def open(self, name: str, /) -> IO[bytes]:
        """Return a seekable binary file object over the content of ``name``."""
        ...

    def testzip(self) -> str | None:
        """Read every entry; return the first name whose content is bad, or None."""
        ...

    def extractall(
        self,
        path: str | os.PathLike[str] | None = None,
        members: list[str] | None = None,
    ) -> None:
        """Write entries (all, or ``members``) below ``path``."""
        ...

    def close(self) -> None:
        """Release what the reader opened; reads after this raise ClosedError."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
        /,
    ) -> None:
        """Close the reader at the end of a ``with`` block."""
        ...

    def __contains__(self, name: object, /) -> bool: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[str]: ...
