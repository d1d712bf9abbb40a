"""Archives into Dask bags, and bundles out of them (``pip install 'randread[dask]'``).

:func:`read_entries` turns archive URLs into a :class:`dask.bag.Bag` of
:class:`ArchiveEntry` records. The archives are listed once, on the client;
each partition then opens one archive once and reads a run of its entries
with one ``read_many`` (over object storage: merged ranges, fetched
concurrently). :func:`write_bundles` writes one bundle per partition of a bag,
and :func:`convert_archives` converts zips to bundles, one task each. Every
bundle is written atomically: a task that dies or is retried leaves either
the whole bundle or nothing.

Dask does the scheduling: the same code runs on a laptop (the default
scheduler) and on a cluster (a ``distributed.Client``).
"""

from __future__ import annotations

import fnmatch
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import dask.bag
from dask.base import compute as dask_compute
from dask.delayed import delayed

from randread.archive import open_archive
from randread.bundle.writer import BundleWriter
from randread.conversion import convert
from randread.readat import is_url

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = ["ArchiveEntry", "convert_archives", "read_entries", "write_bundles"]

#: entries one partition reads, by default
DEFAULT_ENTRIES_PER_PARTITION = 1000
#: archives listed at once on the client
_LISTING_THREADS = 8


class ArchiveEntry(NamedTuple):
    """One entry of a bag: which archive, which name, and the content."""

    archive: str
    name: str
    data: bytes


def read_entries(
    archives: Iterable[str | os.PathLike[str]],
    *,
    names: str | Sequence[str] | Callable[[str], bool] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    entries_per_partition: int = DEFAULT_ENTRIES_PER_PARTITION,
) -> dask.bag.Bag:
    """Return a bag of every entry (directories left out) of ``archives``.

    ``archives`` are zips or bundles, as paths or URLs (``storage_options``
    apply to the URLs). ``names`` keeps only some entries: a glob pattern
    (``"*.json"``, matched against the whole name), a list of patterns, or a
    function of the name. A partition holds at most ``entries_per_partition``
    entries of one archive, in the archive's order.
    """
    if entries_per_partition < 1:
        msg = f"entries_per_partition must be at least 1, not {entries_per_partition}"
        raise ValueError(msg)
    locations = [os.fspath(archive) for archive in archives]
    keep = _name_filter(names)
    options = dict(storage_options or {})

    def listing(location: str) -> list[str]:
        with open_archive(location, storage_options=_options_for(location, options)) as reader:
            return [name for name in reader.namelist() if not name.endswith("/") and keep(name)]

    with ThreadPoolExecutor(_LISTING_THREADS) as pool:
        listings = list(pool.map(listing, locations))
    runs = [
        (location, tuple(listed[start : start + entries_per_partition]))
        for location, listed in zip(locations, listings, strict=True)
        for start in range(0, len(listed), entries_per_partition)
    ]
    if not runs:
        return dask.bag.from_sequence([], npartitions=1)
    return dask.bag.from_sequence(runs, npartitions=len(runs)).map_partitions(_read_runs, options)


def _read_runs(
    runs: Iterable[tuple[str, tuple[str, ...]]], options: dict[str, Any]
) -> list[ArchiveEntry]:
    entries: list[ArchiveEntry] = []
    for location, names in runs:
        with open_archive(location, storage_options=_options_for(location, options)) as reader:
            label = reader.filename or location
            contents = reader.read_many(list(names))
        entries.extend(
            ArchiveEntry(label, name, data) for name, data in zip(names, contents, strict=True)
        )
    return entries


def write_bundles(
    bag: dask.bag.Bag,
    directory: str | os.PathLike[str],
    *,
    name: str = "part-{index:05d}.rrb",
    compute: bool = True,
    **writer_options: Any,
) -> list[str] | Any:
    """Write each partition of ``bag`` as one bundle in ``directory``; return the paths.

    Elements are :class:`ArchiveEntry` records or ``(name, data)`` pairs; names
    must be unique within a partition. ``name`` is formatted with the
    partition's ``index``. ``writer_options`` go to :class:`~randread.BundleWriter`
    (``codec``, ``level``, ``dictionary``, ...). With ``compute=False`` the
    Dask delayed objects are returned instead. A retried task (a worker that
    died) removes what an earlier attempt left half written.
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    tasks = [
        delayed(_write_partition)(
            part, os.fspath(target / name.format(index=index)), writer_options
        )
        for index, part in enumerate(bag.to_delayed())
    ]
    if not compute:
        return tasks
    return list(dask_compute(*tasks))


def _write_partition(
    elements: Iterable[ArchiveEntry | tuple[str, bytes]], path: str, options: dict[str, Any]
) -> str:
    _remove_leftovers(Path(path))
    with BundleWriter(path, overwrite=True, **options) as writer:
        for element in elements:
            if isinstance(element, ArchiveEntry):
                writer.add(element.name, element.data)
            else:
                entry_name, data = element
                writer.add(entry_name, data)
    return path


def convert_archives(
    archives: Iterable[str | os.PathLike[str]],
    directory: str | os.PathLike[str],
    *,
    storage_options: Mapping[str, Any] | None = None,
    compute: bool = True,
    **convert_options: Any,
) -> list[str] | Any:
    """Convert each zip in ``archives`` to a bundle in ``directory``, one Dask task each.

    A bundle is named after its zip (``data.zip`` becomes ``data.rrb``; a
    repeated name gets the zip's position in ``archives`` added).
    ``convert_options`` go to :func:`randread.convert`. Returns the bundle
    paths, or with ``compute=False`` the Dask delayed objects.
    """
    locations = [os.fspath(archive) for archive in archives]
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    stems = [
        Path(location.split("::")[-1].split("?")[0]).stem or "archive" for location in locations
    ]
    options = dict(storage_options or {})
    tasks = []
    for index, (location, stem) in enumerate(zip(locations, stems, strict=True)):
        bundle = f"{stem}.rrb" if stems.count(stem) == 1 else f"{stem}-{index:05d}.rrb"
        tasks.append(
            delayed(_convert_one)(
                location,
                os.fspath(target / bundle),
                _options_for(location, options),
                convert_options,
            )
        )
    if not compute:
        return tasks
    return list(dask_compute(*tasks))


def _convert_one(
    location: str, path: str, options: dict[str, Any] | None, convert_options: dict[str, Any]
) -> str:
    _remove_leftovers(Path(path))
    convert(location, path, overwrite=True, storage_options=options, **convert_options)
    return path


def _remove_leftovers(path: Path) -> None:
    """Remove the temporary files an earlier, killed attempt at ``path`` left behind."""
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        leftover.unlink(missing_ok=True)


def _options_for(location: str, options: dict[str, Any]) -> dict[str, Any] | None:
    return (options or None) if is_url(location) else None


def _name_filter(
    names: str | Sequence[str] | Callable[[str], bool] | None,
) -> Callable[[str], bool]:
    if names is None:
        return lambda _name: True
    if callable(names):
        return names
    patterns = [names] if isinstance(names, str) else list(names)
    return lambda name: any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
