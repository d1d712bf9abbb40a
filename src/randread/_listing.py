"""What the adapters share: choosing entries by name and listing archives once.

The training-data adapters (:mod:`randread.torch`, :mod:`randread.ray`) list
their archives where a dataset is made, then read them elsewhere (DataLoader
workers, Ray tasks) by location and name alone.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from randread.archive import open_archive
from randread.readat import is_url

if TYPE_CHECKING:
    from collections.abc import Mapping

    from randread.protocol import ArchiveReader, EntryInfo

__all__ = ["Listing", "Location", "NameFilter", "list_archives", "locations_of", "open_location"]

#: archives listed at once
_LISTING_THREADS = 8

Location = str | os.PathLike[str]
#: a glob pattern, a function of the name, or a list of names
NameFilter = str | Sequence[str] | Callable[[str], bool] | None


class Listing(NamedTuple):
    """The chosen entries of one archive, in order, with their uncompressed sizes."""

    names: tuple[str, ...]
    sizes: tuple[int, ...]


def locations_of(archives: Location | Sequence[Location]) -> tuple[str, ...]:
    """Return the locations of one archive or a sequence of them, as strings."""
    if isinstance(archives, (str, os.PathLike)):
        return (os.fspath(archives),)
    return tuple(os.fspath(archive) for archive in archives)


def open_location(
    location: str,
    storage_options: Mapping[str, Any] | None,
    backend: Literal["mmap", "pread"] = "mmap",
) -> ArchiveReader[EntryInfo]:
    """Open the archive at ``location``; ``storage_options`` apply to URLs only."""
    options = storage_options if is_url(location) and storage_options else None
    return open_archive(location, backend=backend, storage_options=options)


def list_archives(
    locations: Sequence[str],
    names: NameFilter,
    storage_options: Mapping[str, Any] | None,
) -> tuple[Listing, ...]:
    """List the entries ``names`` chooses in each archive (directories left out).

    ``names`` is a glob pattern (matched against the whole name), a function
    of the name that returns whether to keep it, or a list of names: each
    archive then contributes the listed names it holds, in the list's order,
    and a name that no archive holds raises :class:`KeyError`.
    """

    def listing(location: str) -> list[tuple[str, int]]:
        # A filesystem of its own, dropped after the listing: closing the
        # reader lets the remote transport finalise its client before the
        # caller forks (DataLoader workers; see randread.readat.remote.readat).
        options = {**(storage_options or {}), "skip_instance_cache": True}
        with open_location(location, options) as reader:
            return [
                (info.filename, info.file_size)
                for info in reader.infolist()
                if not info.filename.endswith("/")
            ]

    with ThreadPoolExecutor(min(_LISTING_THREADS, max(1, len(locations)))) as pool:
        listings = list(pool.map(listing, locations))
    if names is None or isinstance(names, str) or callable(names):
        keep = _name_filter(names)
        chosen = [[(name, size) for name, size in listed if keep(name)] for listed in listings]
    else:
        wanted = list(names)
        held = [dict(listed) for listed in listings]
        missing = [name for name in wanted if not any(name in sizes for sizes in held)]
        if missing:
            msg = f"not in any of the archives: {', '.join(map(repr, missing[:5]))}"
            raise KeyError(msg)
        chosen = [[(name, sizes[name]) for name in wanted if name in sizes] for sizes in held]
    return tuple(
        Listing(tuple(name for name, _ in pairs), tuple(size for _, size in pairs))
        for pairs in chosen
    )


def _name_filter(names: str | Callable[[str], bool] | None) -> Callable[[str], bool]:
    if names is None:
        return lambda _name: True
    if isinstance(names, str):
        pattern = names
        return lambda name: fnmatch.fnmatchcase(name, pattern)
    return names
