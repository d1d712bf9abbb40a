"""Open a zip or a bundle, whichever a file is."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from randread.bundle.format import FOOTER_MAGIC, HEADER_MAGIC
from randread.bundle.reader import BundleReader
from randread.errors import ZipFormatError
from randread.readat import is_url, local_path, open_readat, source_name
from randread.zip.reader import ZipReader

if TYPE_CHECKING:
    from collections.abc import Mapping

    from randread.readat import ReadAt

__all__ = ["open_archive"]


def open_archive(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview | ReadAt,
    *,
    backend: Literal["mmap", "pread"] = "mmap",
    storage_options: Mapping[str, Any] | None = None,
    index_cache: str | os.PathLike[str] | None = None,
) -> BundleReader | ZipReader:
    """Return a :class:`BundleReader` or a :class:`ZipReader` for ``source``.

    A bundle is recognised by its magic: at offset 0 in a local file, at the
    end (the footer's) in any other source, which both formats read first, so
    that telling them apart costs no request of its own. Anything else is
    opened as a zip (whose data may start anywhere: zip has no magic at 0).
    ``source`` may be a URL (``s3://``, ``https://``, ...; see
    :func:`randread.open_readat`), with ``storage_options`` for its filesystem.
    ``index_cache`` is passed to :class:`ZipReader` (a bundle has an index of
    its own and ignores it).
    """
    if isinstance(source, str) and (path := local_path(source)) is not None:
        source = path  # a file:// URL is a local path
    if isinstance(source, (str, os.PathLike)) and not is_url(source) and not storage_options:
        with Path(source).open("rb") as file:
            magic = file.read(len(HEADER_MAGIC))
        if magic == HEADER_MAGIC:
            return BundleReader(source, backend=backend)
        return ZipReader(source, backend=backend, index_cache=index_cache)
    readat = open_readat(source, backend=backend, storage_options=storage_options)
    owned = readat is not source
    name = source_name(source) if owned else None
    try:
        size = readat.size
        end = readat.read_at(size - len(FOOTER_MAGIC), len(FOOTER_MAGIC)) if size >= 8 else b""
        # The reader closes the source opened for it here, never a caller's.
        if end == FOOTER_MAGIC:
            return BundleReader(readat, close_source=owned, filename=name)
        try:
            reader = ZipReader(readat, index_cache=index_cache, close_source=owned)
        except ZipFormatError:
            # A bundle without its footer (cut short)? Its own error says so.
            # (The failed reader closed a source it owned: open it again.)
            again = open_readat(source, backend=backend, storage_options=storage_options)
            if again.read_at(0, min(size, len(HEADER_MAGIC))) != HEADER_MAGIC:
                if again is not source:
                    again.close()
                raise
            return BundleReader(again, close_source=owned, filename=name)
    except BaseException:
        if owned:
            readat.close()
        raise
    if name is not None:
        reader.filename = name
    return reader
