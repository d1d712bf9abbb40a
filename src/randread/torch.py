"""PyTorch datasets over archives (``pip install 'randread[torch]'``).

:class:`ArchiveDataset` is a map-style dataset: sample ``i`` is the ``i``-th
entry of the archives, in the archives' own order, so the same index always
means the same entry. A DataLoader with automatic batching fetches a batch
through :meth:`ArchiveDataset.__getitems__`: one ``read_many`` per archive
(over object storage: merged range requests, fetched concurrently).

:class:`IterableArchiveDataset` streams the same entries, split over
DataLoader workers and distributed ranks, in runs of neighbouring entries
(one ``read_many`` each, read ahead on a thread) shuffled with a seed per
epoch (:meth:`IterableArchiveDataset.set_epoch`).

Both list the archives once, where they are made, and keep only their
locations and entry names: a pickled dataset holds no open reader, file or
index. Each process opens its own readers on first use, and a process that
finds readers opened by another (a forked DataLoader worker) opens its own,
so no file position or memory map is ever shared across a fork. ``fork``,
``spawn`` and ``forkserver`` workers, persistent or not, work alike.
"""

from __future__ import annotations

import bisect
import os
import random
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Generic, Literal, NamedTuple, TypeVar, overload

import torch
import torch.distributed
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from randread._listing import Location, NameFilter, list_archives, locations_of, open_location
from randread._locks import TimedLock

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from concurrent.futures import Future

    from randread.protocol import ArchiveReader, EntryInfo

__all__ = ["ArchiveDataset", "ArchiveEntry", "IterableArchiveDataset", "epoch_plan"]

#: entries an iterable dataset reads with one ``read_many``, by default
DEFAULT_BLOCK_SIZE = 256
#: runs an iterable dataset mixes in its shuffle buffer, by default
DEFAULT_SHUFFLE_BLOCKS = 8

T_co = TypeVar("T_co", covariant=True)


class ArchiveEntry(NamedTuple):
    """One sample: which archive (as given), which entry, and its contents."""

    archive: str
    name: str
    data: bytes


#: held while a process makes its reader state (a fresh lock after a fork)
_STATE_LOCK = TimedLock("randread.torch.state")
#: reader states a forked process found, kept unused and unclosed for its lifetime
_INHERITED: list[_ProcessReaders] = []


class _ProcessReaders:
    """The readers one process opened: never used by another process."""

    __slots__ = ("lock", "pid", "readers")

    def __init__(self, count: int) -> None:
        self.pid = os.getpid()
        self.lock = TimedLock("randread.torch.open")
        self.readers: list[ArchiveReader[EntryInfo] | None] = [None] * count


class _Archives:
    """Archive locations and the entry names to read from each; readers per process.

    Only the locations, options and names pickle. A process opens each
    archive the first time it reads from it; readers found in the state of
    another process (the parent of a fork) are never used, nor closed, here.
    """

    def __init__(
        self,
        archives: Location | Sequence[Location],
        names: NameFilter,
        storage_options: dict[str, Any] | None,
        backend: Literal["mmap", "pread"],
    ) -> None:
        self.locations = locations_of(archives)
        self.storage_options = dict(storage_options or {})
        self.backend = backend
        listings = list_archives(self.locations, names, self.storage_options)
        self.names: tuple[tuple[str, ...], ...] = tuple(listing.names for listing in listings)
        self._state: _ProcessReaders | None = None

    def reader(self, index: int) -> ArchiveReader[EntryInfo]:
        """Return this process's reader of archive ``index``, opening it on first use."""
        state = self._state
        pid = os.getpid()
        if state is None or state.pid != pid:
            # Made before a fork, or never: this process makes its own, once.
            with _STATE_LOCK:
                state = self._state
                if state is None or state.pid != pid:
                    if state is not None:
                        # Never closed here, nor left to the garbage collector:
                        # closing a remote client copied from the parent goes
                        # through the event loop the parent still runs.
                        _INHERITED.append(state)
                    state = self._state = _ProcessReaders(len(self.locations))
        reader = state.readers[index]
        if reader is None:
            with state.lock:  # held around the one-time open only, never a read
                reader = state.readers[index]
                if reader is None:
                    reader = state.readers[index] = open_location(
                        self.locations[index], self.storage_options, self.backend
                    )
        return reader

    def close(self) -> None:
        """Close the readers this process opened."""
        state, self._state = self._state, None
        if state is not None and state.pid == os.getpid():
            for reader in state.readers:
                if reader is not None:
                    reader.close()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_state"] = None  # no reader, file or index leaves this process
        return state


def _read_threads(threads: int | None) -> int | None:
    """Threads one ``read_many`` may decode on: one inside a DataLoader worker by default.

    Workers are processes already; a batch's threads would only compete
    with the other workers for the same cores.
    """
    if threads is None and get_worker_info() is not None:
        return 1
    return threads


class ArchiveDataset(Dataset[T_co], Generic[T_co]):
    """A map-style dataset of the entries of one or more zips or bundles.

    ``archives`` is a path or URL, or a sequence of them (``storage_options``
    apply to the URLs: ``s3://``, ``gs://``, ``https://``, ...). Sample ``i``
    is the ``i``-th entry in the archives' order, archive after archive;
    directories are left out. ``names`` chooses entries: a glob pattern
    (matched against the whole name), a function of the name that returns
    whether to keep it, or a list of names (each archive contributes the
    listed names it holds, in the list's order; a name that no archive holds
    raises :class:`KeyError`).

    A sample is ``transform(entry)`` for an :class:`ArchiveEntry`, or the
    entry itself without ``transform``. ``read_threads`` is how many threads
    one batch may decode on (default: one inside a DataLoader worker, the
    reader's default elsewhere). ``backend`` is how local files are read
    (see :func:`randread.open_archive`).

    The archives are listed when the dataset is made (one open each, closed
    again); every process then opens its own readers when it first reads.
    :meth:`close` closes the readers of the calling process.
    """

    @overload
    def __init__(
        self: ArchiveDataset[ArchiveEntry],
        archives: Location | Sequence[Location],
        *,
        names: NameFilter = None,
        transform: None = None,
        storage_options: dict[str, Any] | None = None,
        backend: Literal["mmap", "pread"] = "mmap",
        read_threads: int | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self: ArchiveDataset[T_co],
        archives: Location | Sequence[Location],
        *,
        names: NameFilter = None,
        transform: Callable[[ArchiveEntry], T_co],
        storage_options: dict[str, Any] | None = None,
        backend: Literal["mmap", "pread"] = "mmap",
        read_threads: int | None = None,
    ) -> None: ...

    def __init__(
        self,
        archives: Location | Sequence[Location],
        *,
        names: NameFilter = None,
        transform: Callable[[ArchiveEntry], Any] | None = None,
        storage_options: dict[str, Any] | None = None,
        backend: Literal["mmap", "pread"] = "mmap",
        read_threads: int | None = None,
    ) -> None:
        self._archives = _Archives(archives, names, storage_options, backend)
        self.transform = transform
        self.read_threads = read_threads
        starts = [0]
        for listed in self._archives.names:
            starts.append(starts[-1] + len(listed))
        #: where each archive's samples start, and (last) the number of samples
        self._starts = tuple(starts)

    @property
    def archives(self) -> tuple[str, ...]:
        """The archives' locations, as given."""
        return self._archives.locations

    @property
    def names(self) -> list[str]:
        """Every sample's entry name, in sample order."""
        return [name for listed in self._archives.names for name in listed]

    def __len__(self) -> int:
        return self._starts[-1]

    def locate(self, index: int) -> tuple[str, str]:
        """Return the archive and the entry name of sample ``index``."""
        archive, position = self._position(index)
        return self._archives.locations[archive], self._archives.names[archive][position]

    def _position(self, index: int) -> tuple[int, int]:
        size = self._starts[-1]
        if index < 0:
            index += size
        if not 0 <= index < size:
            msg = f"sample index {index} out of range for {size} samples"
            raise IndexError(msg)
        archive = bisect.bisect_right(self._starts, index) - 1
        return archive, index - self._starts[archive]

    def _sample(self, archive: int, name: str, data: bytes) -> T_co:
        entry = ArchiveEntry(self._archives.locations[archive], name, data)
        transform = self.transform
        return transform(entry) if transform is not None else entry  # type: ignore[return-value]

    def __getitem__(self, index: int) -> T_co:
        archive, position = self._position(index)
        name = self._archives.names[archive][position]
        return self._sample(archive, name, self._archives.reader(archive).read(name))

    def __getitems__(self, indices: Sequence[int]) -> list[T_co]:
        """Return the samples at ``indices``, reading with one ``read_many`` per archive.

        A DataLoader with automatic batching calls this with each batch's
        indices (and collates the list it returns).
        """
        wanted: dict[int, tuple[list[int], list[str]]] = {}
        for order, index in enumerate(indices):
            archive, position = self._position(index)
            orders, names = wanted.setdefault(archive, ([], []))
            orders.append(order)
            names.append(self._archives.names[archive][position])
        samples: list[Any] = [None] * len(indices)
        threads = _read_threads(self.read_threads)
        for archive, (orders, names) in wanted.items():
            contents = self._archives.reader(archive).read_many(names, workers=threads)
            for order, name, data in zip(orders, names, contents, strict=True):
                samples[order] = self._sample(archive, name, data)
        return samples

    def close(self) -> None:
        """Close the readers the calling process opened (a later read opens them again)."""
        self._archives.close()


class IterableArchiveDataset(IterableDataset[T_co], Generic[T_co]):
    """The entries of zips or bundles as a stream, sharded over workers and ranks.

    ``archives``, ``names``, ``transform``, ``storage_options``, ``backend``
    and ``read_threads`` are as for :class:`ArchiveDataset`. Each epoch, the
    entries are cut into runs of at most ``block_size`` neighbouring entries
    of one archive (each read with one ``read_many``: over object storage,
    about one request); with ``shuffle``, the runs are put in an order drawn
    from ``seed`` and the epoch, and the entries of each ``shuffle_blocks``
    consecutive runs are mixed. ``prefetch`` runs are read ahead, on as many
    threads at once (over object storage, as many requests in flight), while
    samples are handed out in order.

    The epoch's stream is split into equal contiguous parts, one per rank
    (their sizes differ by at most one), and each rank's part into one per
    DataLoader worker: every entry is read once per epoch across workers and
    ranks. Ranks come from ``torch.distributed`` when it is initialised
    (looked up in the process that makes or pickles the dataset), else from
    ``world_size`` and ``rank`` (default: one rank).

    Call :meth:`set_epoch` before each epoch, as with a ``DistributedSampler``;
    the epoch lives in shared memory, so persistent workers see it too.
    """

    @overload
    def __init__(
        self: IterableArchiveDataset[ArchiveEntry],
        archives: Location | Sequence[Location],
        *,
        names: NameFilter = None,
        transform: None = None,
        storage_options: dict[str, Any] | None = None,
        backend: Literal["mmap", "pread"] = "mmap",
        read_threads: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        block_size: int = DEFAULT_BLOCK_SIZE,
        shuffle_blocks: int = DEFAULT_SHUFFLE_BLOCKS,
        prefetch: int = 1,
        world_size: int | None = None,
        rank: int | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self: IterableArchiveDataset[T_co],
        archives: Location | Sequence[Location],
        *,
        names: NameFilter = None,
        transform: Callable[[ArchiveEntry], T_co],
        storage_options: dict[str, Any] | None = None,
        backend: Literal["mmap", "pread"] = "mmap",
        read_threads: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        block_size: int = DEFAULT_BLOCK_SIZE,
        shuffle_blocks: int = DEFAULT_SHUFFLE_BLOCKS,
        prefetch: int = 1,
        world_size: int | None = None,
        rank: int | None = None,
    ) -> None: ...

    def __init__(
        self,
        archives: Location | Sequence[Location],
        *,
        names: NameFilter = None,
        transform: Callable[[ArchiveEntry], Any] | None = None,
        storage_options: dict[str, Any] | None = None,
        backend: Literal["mmap", "pread"] = "mmap",
        read_threads: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        block_size: int = DEFAULT_BLOCK_SIZE,
        shuffle_blocks: int = DEFAULT_SHUFFLE_BLOCKS,
        prefetch: int = 1,
        world_size: int | None = None,
        rank: int | None = None,
    ) -> None:
        for label, value, least in (
            ("block_size", block_size, 1),
            ("shuffle_blocks", shuffle_blocks, 1),
            ("prefetch", prefetch, 0),
        ):
            if value < least:
                msg = f"{label} must be at least {least}, not {value}"
                raise ValueError(msg)
        if (world_size is None) != (rank is None):
            msg = "give both world_size and rank, or neither"
            raise ValueError(msg)
        if world_size is not None and rank is not None and not 0 <= rank < world_size:
            msg = f"rank {rank} out of range for world size {world_size}"
            raise ValueError(msg)
        self._archives = _Archives(archives, names, storage_options, backend)
        self.transform = transform
        self.read_threads = read_threads
        self.shuffle = shuffle
        self.seed = seed
        self.block_size = block_size
        self.shuffle_blocks = shuffle_blocks
        self.prefetch = prefetch
        self._ranks: tuple[int, int] | None = (
            (world_size, rank) if world_size is not None and rank is not None else None
        )
        # Shared memory: a persistent worker reads the epoch its parent set.
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    @property
    def archives(self) -> tuple[str, ...]:
        """The archives' locations, as given."""
        return self._archives.locations

    @property
    def num_samples(self) -> int:
        """The number of entries an epoch reads, over all ranks."""
        return sum(len(listed) for listed in self._archives.names)

    @property
    def epoch(self) -> int:
        """The epoch the next iteration shuffles for."""
        return int(self._epoch.item())

    def set_epoch(self, epoch: int) -> None:
        """Shuffle the next iterations for ``epoch`` (also in persistent workers)."""
        self._epoch.fill_(epoch)

    def ranks(self) -> tuple[int, int]:
        """Return ``(world_size, rank)``: as given, else from ``torch.distributed``, else (1, 0)."""
        if self._ranks is not None:
            return self._ranks
        distributed = torch.distributed
        if distributed.is_available() and distributed.is_initialized():
            return distributed.get_world_size(), distributed.get_rank()
        return 1, 0

    def plan(self, worker: int = 0, workers: int = 1) -> list[tuple[int, int, int]]:
        """Return this epoch's runs for one worker of this rank: ``(archive, start, stop)``.

        ``start`` and ``stop`` index the archive's selected entries. The
        runs of all workers of all ranks cover every entry exactly once.
        """
        world_size, rank = self.ranks()
        return epoch_plan(
            [len(listed) for listed in self._archives.names],
            block_size=self.block_size,
            shuffle=self.shuffle,
            seed=self.seed,
            epoch=self.epoch,
            part=rank * workers + worker,
            parts=(world_size, workers),
        )

    def __iter__(self) -> Iterator[T_co]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        runs = self.plan(worker, workers)
        world_size, rank = self.ranks()
        mixer = random.Random(f"{self.seed}/{self.epoch}/{rank}/{world_size}/{worker}/{workers}")
        threads = _read_threads(self.read_threads)
        archives = self._archives

        def read(run: tuple[int, int, int]) -> list[ArchiveEntry]:
            archive, start, stop = run
            names = list(archives.names[archive][start:stop])
            contents = archives.reader(archive).read_many(names, workers=threads)
            location = archives.locations[archive]
            return [
                ArchiveEntry(location, name, data)
                for name, data in zip(names, contents, strict=True)
            ]

        transform = self.transform
        pool = (
            ThreadPoolExecutor(self.prefetch, thread_name_prefix="randread-prefetch")
            if self.prefetch
            else None
        )
        pending: deque[Future[list[ArchiveEntry]]] = deque()
        try:
            upcoming = iter(runs)
            buffer: list[ArchiveEntry] = []
            group = 0
            while True:
                if pool is not None:
                    while len(pending) < self.prefetch + 1:
                        run = next(upcoming, None)
                        if run is None:
                            break
                        pending.append(pool.submit(read, run))
                    entries = pending.popleft().result() if pending else None
                else:
                    run = next(upcoming, None)
                    entries = read(run) if run is not None else None
                if entries is not None:
                    buffer += entries
                    group += 1
                if buffer and (entries is None or group >= self.shuffle_blocks or not self.shuffle):
                    if self.shuffle:
                        mixer.shuffle(buffer)
                    for entry in buffer:
                        yield transform(entry) if transform is not None else entry  # type: ignore[misc]
                    buffer, group = [], 0
                if entries is None:
                    return
        finally:
            for future in pending:
                future.cancel()
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Close the readers the calling process opened (a later read opens them again)."""
        self._archives.close()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        # Spawned workers have no process group: they get the ranks seen here.
        state["_ranks"] = self.ranks()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def epoch_plan(
    counts: Sequence[int],
    *,
    block_size: int,
    shuffle: bool,
    seed: int,
    epoch: int,
    part: int,
    parts: tuple[int, int],
) -> list[tuple[int, int, int]]:
    """Return the runs ``(archive, start, stop)`` of one part of an epoch.

    ``counts`` are the archives' entry counts. The entries are cut into runs
    of at most ``block_size`` within one archive; with ``shuffle``, the runs
    are ordered by a generator seeded with ``seed`` and ``epoch``. The
    stream is then split into ``parts[0]`` equal contiguous spans (ranks),
    each into ``parts[1]`` (workers); ``part`` is ``rank * parts[1] +
    worker``. The parts together hold every entry exactly once.
    """
    ranks, workers = parts
    if not 0 <= part < ranks * workers:
        msg = f"part {part} out of range for {ranks} x {workers} parts"
        raise ValueError(msg)
    blocks = [
        (archive, start, min(start + block_size, count))
        for archive, count in enumerate(counts)
        for start in range(0, count, block_size)
    ]
    if shuffle:
        random.Random(f"{seed}/{epoch}").shuffle(blocks)
    rank, worker = divmod(part, workers)
    rank_low, rank_high = _span(sum(counts), ranks, rank)
    worker_low, worker_high = _span(rank_high - rank_low, workers, worker)
    low, high = rank_low + worker_low, rank_low + worker_high
    runs: list[tuple[int, int, int]] = []
    position = 0  # where the current block starts in the epoch's stream
    for archive, start, stop in blocks:
        size = stop - start
        first, last = max(low, position), min(high, position + size)
        if first < last:
            runs.append((archive, start + first - position, start + last - position))
        position += size
        if position >= high:
            break
    return runs


def _span(total: int, parts: int, part: int) -> tuple[int, int]:
    """Return the ``part``-th of ``parts`` contiguous spans of ``total`` items."""
    size, extra = divmod(total, parts)
    low = part * size + min(part, extra)
    return low, low + size + (part < extra)
