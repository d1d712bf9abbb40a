"""Positional reads: the ReadAt protocol and its backends.

All I/O in randread goes through these classes. Parsers receive bytes or
memoryviews read with :meth:`ReadAt.read_at` / :meth:`ReadAt.view_at` and never
touch a file position.
"""

from __future__ import annotations

import io
import os
from typing import IO, TYPE_CHECKING, Any, Literal

from randread.readat._base import ReadAt, ReadAtBase, check_range
from randread.readat._bytes import BytesReadAt
from randread.readat._file import FileReadAt, PathLike
from randread.readat._mmap import MmapReadAt
from randread.readat._section import SectionReadAt
from randread.readat._stream import ReadAtRawIO, readat_stream
from randread.readat._views import ThreadViews, byte_slots, exporter_of, fresh_view, view_of
from randread.readat.remote import (
    DEFAULT_TAIL_WINDOW,
    RemoteReadAt,
    is_url,
    local_path,
    read_ranges,
    redact_url,
)

__all__ = [
    "BytesReadAt",
    "FileReadAt",
    "MmapReadAt",
    "PathLike",
    "ReadAt",
    "ReadAtBase",
    "ReadAtRawIO",
    "RemoteReadAt",
    "SectionReadAt",
    "Source",
    "ThreadViews",
    "byte_slots",
    "check_range",
    "exporter_of",
    "fresh_view",
    "is_url",
    "local_path",
    "open_readat",
    "read_ranges",
    "readat_stream",
    "redact_url",
    "source_name",
    "thread_views",
    "view_of",
]

if TYPE_CHECKING:
    from collections.abc import Mapping

#: Anything :func:`open_readat` accepts.
Source = PathLike | bytes | bytearray | memoryview | IO[bytes] | ReadAt


def open_readat(
    source: Source,
    *,
    backend: Literal["mmap", "pread"] = "mmap",
    storage_options: Mapping[str, Any] | None = None,
    tail_window: int | None = None,
) -> ReadAt:
    """Return a ReadAt for ``source``.

    - a ReadAt is returned as it is;
    - a URL that fsspec knows (``s3://``, ``gs://``, ``https://``, ``memory://``,
      chained ``a::b``): :class:`RemoteReadAt`, with ``storage_options`` for
      the filesystem (needs ``pip install 'randread[remote]'``); ``file://``
      URLs are local paths; ``tail_window`` is the caller's hint of how many
      bytes its format reads from the end when it opens (fetched with the
      size in the first request; None: the transport's default, 65 KiB);
    - ``bytes``, ``bytearray`` or ``memoryview``: :class:`BytesReadAt`;
    - a path: :class:`MmapReadAt` by default, :class:`FileReadAt` with
      ``backend="pread"`` (no address space used; each read is a system call);
    - a binary file object: :class:`FileReadAt` (the caller keeps it open).

    ``tail_window`` is a hint, so a local source ignores it: a reader may pass
    its format's need whatever the source.
    """
    if backend not in ("mmap", "pread"):
        msg = f"backend must be 'mmap' or 'pread', not {backend!r}"
        raise ValueError(msg)
    if is_url(source):
        window = DEFAULT_TAIL_WINDOW if tail_window is None else tail_window
        return RemoteReadAt(str(source), storage_options=storage_options, tail_window=window)
    if storage_options:
        msg = "storage_options apply only to URLs (s3://, https://, ...)"
        raise ValueError(msg)
    if isinstance(source, str) and (path := local_path(source)) is not None:
        source = path
    if isinstance(source, (bytes, bytearray, memoryview)):
        return BytesReadAt(source)
    if isinstance(source, (str, os.PathLike)):
        return MmapReadAt(source) if backend == "mmap" else FileReadAt(source)
    if isinstance(source, ReadAt):
        return source
    if isinstance(source, io.IOBase) or (hasattr(source, "read") and hasattr(source, "seek")):
        return FileReadAt(source)
    msg = (
        "expected a path, a bytes-like object, a binary file object or a ReadAt, "
        f"not {type(source).__name__}"
    )
    raise TypeError(msg)


def source_name(source: object) -> str | None:
    """Return the name a reader reports for ``source``: a path, a redacted URL, or None."""
    if isinstance(source, str) and is_url(source):
        return redact_url(source)
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return None


def thread_views(readat: ReadAt) -> ThreadViews | None:
    """Return per-thread views of all of ``readat`` if that costs no copy, else None.

    For sources held in memory (:class:`BytesReadAt`, :class:`MmapReadAt`):
    a caller that reads the same source many times may slice its thread's
    view (``thread_views(readat).view``) itself and skip :meth:`~ReadAt.view_at`.
    The views stay valid after ``readat`` is closed (closing never unmaps
    memory that is still referenced), so the caller must itself stop using
    them when the source is closed. None for every other ReadAt, and once closed.
    """
    # The exact types: a subclass may have made view_at copy.
    if type(readat) is BytesReadAt or type(readat) is MmapReadAt:
        return readat.thread_views
    return None
