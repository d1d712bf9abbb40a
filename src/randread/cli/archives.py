"""Opening an archive for a command, and what the commands say about its entries.

Every command opens its archive through :func:`opened_archive`, so zip files and
bundles go through the same code: the :class:`~randread.protocol.ArchiveReader`
and :class:`~randread.protocol.EntryInfo` protocols. Where the wording
differs between the formats (a zip entry's local header, a bundle entry's
data), the public reader and info classes tell them apart.
"""

from __future__ import annotations

import contextlib
import importlib.util
from typing import IO, TYPE_CHECKING, cast

import click

import randread
from randread import BundleEntryInfo, BundleReader, ZipEntryInfo, ZipReader
from randread.cli.errors import Failure, reporting
from randread.cli.options import index_cache, storage_options
from randread.errors import NotASourceBundleError
from randread.readat import is_url
from randread.sentry import SourceBundle

if TYPE_CHECKING:
    from collections.abc import Iterator

    from randread.protocol import ArchiveReader, EntryInfo

#: chunk size for streaming entry content (``cat``, ``verify``)
CHUNK = 1 << 20

__all__ = [
    "CHUNK",
    "check_source",
    "location",
    "modified",
    "open_archive",
    "open_entry",
    "opened_archive",
    "sentry",
]


def check_source(path: str) -> None:
    """Refuse, before any work, what cannot work: options for a local file, a URL without fsspec.

    ``--storage-option`` with a local path is a usage error (exit status 2);
    a URL without the ``remote`` extra installed is an error naming the extra.
    """
    if not is_url(path):
        if storage_options():
            msg = f"applies only to URL archives (s3://, https://, ...), not to the file {path}"
            raise click.BadParameter(msg, param_hint="'--storage-option'")
        return
    if importlib.util.find_spec("fsspec") is None:
        msg = f"{path}: reading URLs needs the remote extra: pip install 'randread[remote]'"
        raise Failure(msg)


def open_archive(path: str) -> ArchiveReader[EntryInfo]:
    """Open a zip file or a bundle for reading (``randread.open_archive`` tells them apart).

    ``path`` may be a URL; the ``--storage-option`` values go to its filesystem.
    """
    check_source(path)
    return randread.open_archive(path, storage_options=storage_options(), index_cache=index_cache())


@contextlib.contextmanager
def opened_archive(path: str) -> Iterator[ArchiveReader[EntryInfo]]:
    """Open ``path`` for the block; errors are reported against ``path``."""
    with reporting(path):
        reader = open_archive(path)
        try:
            yield reader
        finally:
            reader.close()


def open_entry(reader: ArchiveReader[EntryInfo], info: EntryInfo) -> IO[bytes]:
    """Open the entry ``info`` describes.

    A zip may hold two entries under one name; its info, not the name, opens
    the one it describes (a bundle's names are unique).
    """
    if isinstance(info, ZipEntryInfo):
        # Only a ZipReader gives ZipEntryInfo objects; the protocol's open()
        # takes a name, ZipReader's also the info.
        return cast("ZipReader", reader).open(info)
    return reader.open(info.filename)


def modified(info: EntryInfo, separator: str = " ") -> str | None:
    """Return the modification time as ``YYYY-MM-DD HH:MM:SS`` (no time zone, as zip).

    None for a bundle entry written without one (its date_time is then a placeholder).
    """
    if isinstance(info, BundleEntryInfo) and info.mtime is None:
        return None
    year, month, day, hour, minute, second = info.date_time
    return f"{year:04d}-{month:02d}-{day:02d}{separator}{hour:02d}:{minute:02d}:{second:02d}"


def location(info: EntryInfo) -> str:
    """Where the entry is in the file, for messages: ``local header at 0x1a2f``."""
    where = "local header" if isinstance(info, ZipEntryInfo) else "data"
    return f"{where} at 0x{info.offset:x}"


def sentry(reader: ArchiveReader[EntryInfo]) -> SourceBundle | None:
    """Return the Sentry bundle view of ``reader``, or None when it is no Sentry bundle.

    A file marked as one (a ``SYSB`` header, a converted bundle) whose manifest
    is broken raises, so the command reports the problem.
    """
    if not isinstance(reader, (ZipReader, BundleReader)):
        return None
    try:
        return SourceBundle(reader)
    except NotASourceBundleError:
        return None
