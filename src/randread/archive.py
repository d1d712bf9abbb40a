"""Open a zip or a bundle, whichever a file is."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from randread.bundle.format import HEADER_MAGIC
from randread.bundle.reader import BundleReader
from randread.zip.reader import ZipReader

if TYPE_CHECKING:
    from randread.readat import ReadAt

__all__ = ["open_archive"]


def open_archive(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview | ReadAt,
    *,
    backend: Literal["mmap", "pread"] = "mmap",
) -> BundleReader | ZipReader:
    """Return a :class:`BundleReader` or a :class:`ZipReader` for ``source``.

    A bundle is recognised by its magic at offset 0; anything else is opened as
    a zip (whose data may start anywhere, so zip has no magic at offset 0).
    """
    if isinstance(source, (str, os.PathLike)):
        with Path(source).open("rb") as file:
            magic = file.read(len(HEADER_MAGIC))
    elif isinstance(source, (bytes, bytearray, memoryview)):
        magic = bytes(source[: len(HEADER_MAGIC)])
    else:
        magic = source.read_at(0, len(HEADER_MAGIC)) if source.size >= len(HEADER_MAGIC) else b""
    if magic == HEADER_MAGIC:
        return BundleReader(source, backend=backend)
    return ZipReader(source, backend=backend)
