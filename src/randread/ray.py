"""Archives as a Ray Data dataset (``pip install 'randread[ray]'``).

:func:`read_archives` lists the archives once, where it is called, and
returns a lazy :class:`ray.data.Dataset` with a row per entry: ``name``
(string), ``bytes`` (binary) and ``size`` (int64), and with
``include_archive=True`` the ``archive`` it came from. Nothing is read until
the dataset is consumed; then each read task opens one archive (over object
storage: range requests only) and reads one partition, a run of that
archive's entries, with one ``read_many``.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import ray.data
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from randread._listing import Listing, list_archives, locations_of, open_location

if TYPE_CHECKING:
    from collections.abc import Sequence

    from randread._listing import Location, NameFilter

__all__ = ["ArchiveDatasource", "read_archives"]

_SCHEMA = pa.schema([("name", pa.string()), ("bytes", pa.binary()), ("size", pa.int64())])
_ARCHIVE_FIELD = pa.field("archive", pa.string())


class ArchiveDatasource(Datasource):
    """A Ray Data datasource of the entries of zips and bundles.

    The arguments are those of :func:`read_archives`. The archives are
    listed when the datasource is made (one open each); a read task then
    reads one partition: at most ``entries_per_partition`` neighbouring
    entries of one archive, or, without it, the archives cut into about as
    many partitions as Ray's parallelism asks for (at least one per archive
    with entries).
    """

    def __init__(
        self,
        archives: Location | Sequence[Location],
        *,
        names: NameFilter = None,
        storage_options: dict[str, Any] | None = None,
        entries_per_partition: int | None = None,
        include_archive: bool = False,
    ) -> None:
        super().__init__()
        if entries_per_partition is not None and entries_per_partition < 1:
            msg = f"entries_per_partition must be at least 1, not {entries_per_partition}"
            raise ValueError(msg)
        self.locations = locations_of(archives)
        self.storage_options = dict(storage_options or {})
        self.entries_per_partition = entries_per_partition
        self.include_archive = include_archive
        self.listings: tuple[Listing, ...] = list_archives(
            self.locations, names, self.storage_options
        )

    def get_name(self) -> str:
        """Return the name Ray shows for this datasource's read operator."""
        return "Archives"  # Ray shows "ReadArchives"

    def estimate_inmemory_data_size(self) -> int:
        """Return the entries' total uncompressed size, in bytes."""
        return sum(sum(listing.sizes) for listing in self.listings)

    def partitions(self, parallelism: int) -> list[tuple[int, int, int]]:
        """Return the partitions ``(archive, start, stop)`` for ``parallelism`` read tasks."""
        counts = [len(listing.names) for listing in self.listings]
        total = sum(counts)
        partitions: list[tuple[int, int, int]] = []
        for archive, count in enumerate(counts):
            if not count:
                continue
            if self.entries_per_partition is not None:
                size = self.entries_per_partition
            else:
                parts = max(1, round(count * max(1, parallelism) / total))
                size = -(-count // parts)
            partitions += [
                (archive, start, min(start + size, count)) for start in range(0, count, size)
            ]
        return partitions

    def get_read_tasks(
        self,
        parallelism: int,
        per_task_row_limit: int | None = None,
        data_context: Any = None,  # noqa: ARG002 - Ray passes its DataContext
    ) -> list[ReadTask]:
        """Return one read task per partition (see :meth:`partitions`)."""
        schema = _SCHEMA.append(_ARCHIVE_FIELD) if self.include_archive else _SCHEMA
        tasks = []
        for archive, start, stop in self.partitions(parallelism):
            listing = self.listings[archive]
            location = self.locations[archive]
            names = listing.names[start:stop]
            read = functools.partial(
                _read_partition,
                location,
                names,
                self.storage_options,
                include_archive=self.include_archive,
            )
            metadata = _metadata(
                num_rows=len(names),
                size_bytes=sum(listing.sizes[start:stop]),
                input_files=[location],
                schema=schema,
            )
            tasks.append(
                _read_task(read, metadata, schema=schema, per_task_row_limit=per_task_row_limit)
            )
        return tasks


def _read_partition(
    location: str,
    names: tuple[str, ...],
    storage_options: dict[str, Any],
    *,
    include_archive: bool,
) -> list[pa.Table]:
    """Read one partition: open its archive here, one ``read_many`` for its entries."""
    with open_location(location, storage_options) as reader:
        contents = reader.read_many(list(names))
    columns: dict[str, pa.Array] = {
        "name": pa.array(names, pa.string()),
        "bytes": pa.array(contents, pa.binary()),
        "size": pa.array([len(data) for data in contents], pa.int64()),
    }
    if include_archive:
        columns["archive"] = pa.array([location] * len(names), pa.string())
    return [pa.table(columns)]


def _accepts(function: Any) -> set[str]:
    return set(inspect.signature(function).parameters)


def _metadata(**fields: Any) -> BlockMetadata:
    """Make a ``BlockMetadata`` from the fields this Ray version takes (they changed in 2.x)."""
    accepted = _accepts(BlockMetadata)
    fields.setdefault("exec_stats", None)
    return BlockMetadata(**{key: value for key, value in fields.items() if key in accepted})


def _read_task(read: Any, metadata: BlockMetadata, **options: Any) -> ReadTask:
    """Make a ``ReadTask``, passing only the options this Ray version takes and that are set."""
    accepted = _accepts(ReadTask.__init__)
    return ReadTask(
        read,
        metadata,
        **{key: value for key, value in options.items() if key in accepted and value is not None},
    )


def read_archives(
    archives: Location | Sequence[Location],
    *,
    names: NameFilter = None,
    storage_options: dict[str, Any] | None = None,
    entries_per_partition: int | None = None,
    include_archive: bool = False,
    override_num_blocks: int | None = None,
    **read_options: Any,
) -> ray.data.Dataset:
    """Return a lazy Ray dataset of the entries of zips and bundles.

    ``archives`` is a path or URL, or a sequence of them (``storage_options``
    apply to the URLs: ``s3://``, ``gs://``, ``https://``, ...). Rows are
    ``{"name": str, "bytes": bytes, "size": int}`` (plus ``"archive"`` with
    ``include_archive``), in the archives' order; directories are left out.
    ``names`` chooses entries: a glob pattern, a function of the name, or a
    list of names (see :func:`randread.torch.ArchiveDataset`).

    A read task reads a partition of one archive: at most
    ``entries_per_partition`` entries, or about an equal share of Ray's
    parallelism (``override_num_blocks`` sets it). ``read_options`` go to
    :func:`ray.data.read_datasource` (``concurrency``, ``ray_remote_args``,
    ...). The archives are listed here, on the driver; entries are read when
    the dataset is consumed.
    """
    datasource = ArchiveDatasource(
        archives,
        names=names,
        storage_options=storage_options,
        entries_per_partition=entries_per_partition,
        include_archive=include_archive,
    )
    if override_num_blocks is not None:
        read_options["override_num_blocks"] = override_num_blocks
    dataset: ray.data.Dataset = ray.data.read_datasource(datasource, **read_options)
    return dataset
