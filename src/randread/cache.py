"""CachedReader: a bounded cache of decompressed entries in front of any archive reader.

Eviction is S3-FIFO (Yang et al., "FIFO queues are all you need for cache
eviction", SOSP 2023), weighted by bytes: new entries go to a small FIFO queue
(10% of the bytes); an entry read again while there moves to the main FIFO
queue, the others leave and are remembered by name in a ghost queue; an entry
that comes back while remembered goes straight to the main queue, where entries
read since their last pass get another round. On a Zipf-skewed workload it
keeps more of the hot entries than LRU for the same bytes, since one-off reads
never reach the main queue (``benchmarks/test_cache.py`` measures both).

Its other merit here is that a hit changes no queue: it bumps a two-bit
counter on the entry. So a hit is one dict lookup with no lock, and only
misses take the lock, for a few dictionary operations. The lock is never held
while the inner reader reads or decompresses: :class:`_Queues` has no reference
to a reader, and the only code run under the lock is its methods and the
single-flight table.

Single flight: the first thread to miss an entry loads it; threads asking for
the same entry meanwhile wait for that load (at most the lock timeout) and get
the same ``bytes``, or the same exception. Failed loads are never cached.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any, BinaryIO, Generic, TypeVar, cast

from randread import _locks
from randread._closing import CloseOnExit
from randread.errors import ClosedError, LockTimeoutError
from randread.protocol import ArchiveReader, EntryInfo
from randread.readat import BytesReadAt, readat_stream

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping


__all__ = ["CacheStats", "CachedReader"]

InfoT = TypeVar("InfoT", bound=EntryInfo)

#: an entry's frequency counter saturates here (two bits, as in the paper)
_MAX_FREQUENCY = 3
#: the small FIFO queue's share of the bytes
_SMALL_QUEUE_SHARE = 0.1
#: the default ``max_entry_bytes`` is ``max_bytes // _ENTRY_SHARE``
_ENTRY_SHARE = 8
#: read buffer of the file objects ``open()`` returns for cached entries
_STREAM_BUFFER = 64 * 1024


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of a :class:`CachedReader`'s counters.

    Every ``read()`` of a name is one of: a ``hit`` (served from the cache), a
    ``miss`` (this thread loaded it from the inner reader) or a ``join`` (it
    waited for another thread's load of the same entry). ``oversize`` counts
    loads too large to keep. ``lock`` holds the counters of the cache's lock.
    """

    hits: int
    misses: int
    joins: int
    evictions: int
    oversize: int
    entries: int
    bytes_held: int
    max_bytes: int
    lock: _locks.LockStats

    @property
    def lookups(self) -> int:
        """Reads counted: hits + misses + joins."""
        return self.hits + self.misses + self.joins

    @property
    def hit_rate(self) -> float:
        """Hits per lookup (0.0 to 1.0)."""
        lookups = self.lookups
        return self.hits / lookups if lookups else 0.0


class _Entry:
    """A cached value, its weight and its frequency counter."""

    __slots__ = ("frequency", "name", "size", "value")

    def __init__(self, name: str, value: bytes) -> None:
        self.name = name
        self.value = value
        self.size = len(value)
        self.frequency = 0


class _Queues:
    """S3-FIFO bookkeeping, weighted by bytes: pure dictionary and deque work.

    Callers hold the cache lock around every method, except that ``table``
    may be read (``table.get``) by any thread at any time: a dict lookup is
    atomic, and an entry found there stays valid after it is evicted.
    """

    __slots__ = (
        "bytes",
        "capacity",
        "evictions",
        "ghost",
        "ghost_bytes",
        "main",
        "small",
        "small_bytes",
        "small_capacity",
        "table",
    )

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.small_capacity = int(capacity * _SMALL_QUEUE_SHARE)
        self.table: dict[str, _Entry] = {}
        self.small: deque[_Entry] = deque()
        self.main: deque[_Entry] = deque()
        # Names (and sizes) of entries evicted from the small queue, oldest first.
        self.ghost: OrderedDict[str, int] = OrderedDict()
        self.bytes = 0
        self.small_bytes = 0
        self.ghost_bytes = 0
        self.evictions = 0

    def insert(self, entry: _Entry) -> None:
        """Add ``entry`` (no larger than the capacity), then evict down to the capacity."""
        if entry.name in self.table:  # pragma: no cover - single flight loads a name once
            return
        self.table[entry.name] = entry
        self.bytes += entry.size
        if self.ghost.pop(entry.name, None) is not None:
            self.ghost_bytes -= entry.size
            self.main.append(entry)
        else:
            self.small.append(entry)
            self.small_bytes += entry.size
        while self.bytes > self.capacity:
            if self.small and (self.small_bytes >= self.small_capacity or not self.main):
                self._evict_small()
            else:
                self._evict_main()

    def _evict_small(self) -> None:
        entry = self.small.popleft()
        self.small_bytes -= entry.size
        if entry.frequency:
            # Read again while on probation: it has earned a place in the main queue.
            entry.frequency = 0
            self.main.append(entry)
            return
        self._drop(entry)
        self.ghost[entry.name] = entry.size
        self.ghost_bytes += entry.size
        while self.ghost_bytes > self.capacity and self.ghost:
            self.ghost_bytes -= self.ghost.popitem(last=False)[1]

    def _evict_main(self) -> None:
        main = self.main
        while True:
            entry = main.popleft()
            if entry.frequency:
                entry.frequency -= 1  # another round (at most three)
                main.append(entry)
            else:
                self._drop(entry)
                return

    def _drop(self, entry: _Entry) -> None:
        del self.table[entry.name]
        self.bytes -= entry.size
        self.evictions += 1

    def clear(self) -> None:
        """Forget every entry (the ghost queue too)."""
        self.table = {}
        self.small.clear()
        self.main.clear()
        self.ghost.clear()
        self.bytes = self.small_bytes = self.ghost_bytes = 0


class _Flight:
    """One load in progress: the thread doing it, and where its result will be.

    ``done`` is made by the first thread that joins (under the cache lock), so
    a load nobody waits for costs no Event; the loader sets it, if there is
    one, after the flight has left the table, when no one else can join.
    """

    __slots__ = ("done", "error", "loader", "retry", "started", "value")

    def __init__(self) -> None:
        self.done: threading.Event | None = None
        self.loader = threading.get_ident()
        self.started = perf_counter()
        self.value = b""
        self.error: BaseException | None = None
        # The loader was interrupted (KeyboardInterrupt, SystemExit): waiters try again.
        self.retry = False


class CachedReader(CloseOnExit, Generic[InfoT]):
    """A thread-safe cache of decompressed entries in front of an archive reader.

    ``reader`` is a :class:`~randread.ZipReader`, a bundle reader, or anything
    with the same read API; the cached reader offers that API too. A path or a
    URL (with ``storage_options`` for a URL's filesystem) is opened with
    :func:`randread.open_archive`. The cache
    holds at most ``max_bytes`` bytes of entry content; entries larger than
    ``max_entry_bytes`` (default ``max_bytes // 8``) are read through and not
    kept. ``timeout`` bounds every wait (for the lock, and for another
    thread's load of the same entry); the default is the package lock timeout
    (see :func:`randread.set_lock_timeout`). With ``close_reader`` (the
    default) closing the cache closes ``reader``.

    ``read(name)`` returns ``bytes``, immutable and shared between callers.
    ``open(name)`` streams a cached entry from memory and otherwise opens the
    inner reader's stream, which does not fill the cache. Members given as
    info objects rather than names are read through the inner reader, uncached.

    A cached reader pickles as its inner reader and its settings, not its
    contents, and after ``os.fork`` the child starts with fresh locks.
    """

    def __init__(
        self,
        reader: ArchiveReader[InfoT] | str | os.PathLike[str],
        *,
        max_bytes: int,
        max_entry_bytes: int | None = None,
        timeout: float | None = None,
        close_reader: bool = True,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(reader, (str, os.PathLike)):
            from randread.archive import open_archive  # noqa: PLC0415 - archive imports readers

            reader = cast(
                "ArchiveReader[InfoT]", open_archive(reader, storage_options=storage_options)
            )
        elif storage_options:
            msg = "storage_options apply only when the reader is given as a URL"
            raise ValueError(msg)
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            msg = f"max_bytes must be an int >= 0, not {max_bytes!r}"
            raise ValueError(msg)
        if max_entry_bytes is None:
            max_entry_bytes = max_bytes // _ENTRY_SHARE
        elif (
            isinstance(max_entry_bytes, bool)
            or not isinstance(max_entry_bytes, int)
            or max_entry_bytes < 0
        ):
            msg = f"max_entry_bytes must be an int >= 0, not {max_entry_bytes!r}"
            raise ValueError(msg)
        self._reader = reader
        self._max_bytes = max_bytes
        self._max_entry_bytes = min(max_entry_bytes, max_bytes)
        self._timeout = timeout
        self._close_reader = close_reader
        self._lock = _locks.TimedLock("CachedReader", timeout=timeout)
        self._queues = _Queues(max_bytes)
        # The hit path reads this without the lock; close() swaps in an empty dict.
        self._table = self._queues.table
        self._flights: dict[str, _Flight] = {}
        self._closed = False
        # Hits are counted without the lock: next() on a count is one atomic C
        # call (a compare-and-swap on free-threaded builds), so none is lost.
        self._hit_count = itertools.count()
        self._locked_hits = 0
        self._misses = 0
        self._joins = 0
        self._oversize = 0
        _locks.register_after_fork(self)

    @property
    def reader(self) -> ArchiveReader[InfoT]:
        """The inner reader."""
        return self._reader

    @property
    def max_bytes(self) -> int:
        """The most entry content the cache holds, in bytes."""
        return self._max_bytes

    @property
    def max_entry_bytes(self) -> int:
        """Entries larger than this are read through, not cached."""
        return self._max_entry_bytes

    # -- the inner reader's metadata ------------------------------------------

    def namelist(self) -> list[str]:
        """Return the entry names (from the inner reader)."""
        return self._reader.namelist()

    def infolist(self) -> list[InfoT]:
        """Return the info records (from the inner reader)."""
        return cast("list[InfoT]", self._reader.infolist())  # the reader's own list

    def getinfo(self, name: str) -> InfoT:
        """Return the info record of ``name`` (from the inner reader)."""
        return self._reader.getinfo(name)

    def __contains__(self, name: object) -> bool:
        return name in self._reader

    def __len__(self) -> int:
        return len(self._reader)

    def __iter__(self) -> Iterator[str]:
        return iter(self._reader)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._queues.bytes}/{self._max_bytes} bytes"
        return f"<CachedReader {state} of {self._reader!r}>"

    # -- reading ---------------------------------------------------------------

    def read(self, name: str) -> bytes:
        """Return the content of ``name``, from the cache or loaded once for all threads."""
        entry = self._table.get(name)
        if entry is not None:
            next(self._hit_count)
            if entry.frequency < _MAX_FREQUENCY:
                entry.frequency += 1  # a lost update between threads is harmless
            return entry.value
        return self._read_missing(name)

    def open(self, name: str, mode: str = "r") -> BinaryIO:
        """Return a read-only binary file object over the content of ``name``.

        A cached entry is streamed from memory; any other entry is streamed by
        the inner reader, without filling the cache. Streams are not counted in
        :meth:`stats`.
        """
        if mode != "r":
            msg = f'open() requires mode "r", not {mode!r}'
            raise ValueError(msg)
        entry = self._table.get(name)
        if entry is not None:
            if entry.frequency < _MAX_FREQUENCY:
                entry.frequency += 1
            return readat_stream(BytesReadAt(entry.value), buffer_size=_STREAM_BUFFER)
        if self._closed:
            raise _closed_error()
        return cast("BinaryIO", self._reader.open(name))

    def _read_missing(self, name: str) -> bytes:
        if type(name) is not str:  # an info object: its entry may not be the name's
            if self._closed:
                raise _closed_error()
            return self._reader.read(name)
        while True:
            flight = _Flight()
            found = self._claim(name, flight)
            if isinstance(found, bytes):
                return found
            if found is flight:
                return self._load(name, flight)
            value = self._wait_for(name, found)
            if value is not None:
                return value

    def _claim(self, name: str, flight: _Flight) -> bytes | _Flight:
        """Under the lock: the cached value, else the flight loading ``name``.

        That is ``flight`` itself when no load was in progress: the caller leads it.
        """
        with self._lock:
            if self._closed:
                raise _closed_error()
            entry = self._queues.table.get(name)
            if entry is not None:  # loaded since the lock-free lookup
                self._locked_hits += 1
                return entry.value
            current = self._flights.setdefault(name, flight)
            if current is flight:
                self._misses += 1
            else:
                self._joins += 1
                if current.done is None:
                    current.done = threading.Event()
            return current

    def _load(self, name: str, flight: _Flight) -> bytes:
        """Load ``name`` from the inner reader, outside the lock, and publish the result."""
        try:
            value = self._reader.read(name)
            if type(value) is not bytes:  # cached values must be immutable
                value = bytes(value)
        except Exception as exc:
            flight.error = exc
            self._settle(name, flight, None)
            raise
        except BaseException:
            flight.retry = True
            self._settle(name, flight, None)
            raise
        flight.value = value
        self._settle(name, flight, value)
        return value

    def _settle(self, name: str, flight: _Flight, value: bytes | None) -> None:
        """End the flight of ``name``, keep ``value`` if it fits, wake the waiters."""
        with self._lock:
            self._flights.pop(name, None)  # gone already if this process forked meanwhile
            if value is not None and not self._closed:
                if len(value) > self._max_entry_bytes:
                    self._oversize += 1
                else:
                    self._queues.insert(_Entry(name, value))
        if flight.done is not None:
            flight.done.set()

    def _wait_for(self, name: str, flight: _Flight) -> bytes | None:
        """Wait for another thread's load; None if it was interrupted (try again)."""
        timeout = self._timeout if self._timeout is not None else _locks.get_lock_timeout()
        assert flight.done is not None  # made by _claim  # noqa: S101
        if not flight.done.wait(timeout):
            loader = _locks.thread_name(flight.loader)
            held_for = perf_counter() - flight.started
            msg = (
                f"entry {name!r} not loaded within {timeout:g} s: thread {loader} has been "
                f"loading it for {held_for:.3f} s"
            )
            raise LockTimeoutError(
                msg, lock=f"CachedReader load of {name!r}", holder=loader, held_for=held_for
            )
        if flight.error is not None:
            raise flight.error
        if flight.retry:
            return None
        return flight.value

    # -- counters --------------------------------------------------------------

    def stats(self) -> CacheStats:
        """Return a snapshot of the cache's counters (see :class:`CacheStats`)."""
        with self._lock:
            queues = self._queues
            locked = (
                self._locked_hits,
                self._misses,
                self._joins,
                queues.evictions,
                self._oversize,
                len(queues.table),
                queues.bytes,
            )
        locked_hits, misses, joins, evictions, oversize, entries, bytes_held = locked
        return CacheStats(
            hits=_count_value(self._hit_count) + locked_hits,
            misses=misses,
            joins=joins,
            evictions=evictions,
            oversize=oversize,
            entries=entries,
            bytes_held=bytes_held,
            max_bytes=self._max_bytes,
            lock=self._lock.stats(),
        )

    def clear(self) -> None:
        """Drop every cached entry (loads in progress still finish)."""
        with self._lock:
            self._queues.clear()
            self._table = self._queues.table

    # -- lifetime ----------------------------------------------------------------

    def close(self) -> None:
        """Drop the cache and close the inner reader (unless ``close_reader=False``).

        Reads that start afterwards raise :class:`~randread.ClosedError`.
        """
        with self._lock:
            already, self._closed = self._closed, True
            self._queues.clear()
            self._table = self._queues.table
        if not already and self._close_reader:
            self._reader.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Pickle the inner reader and the settings; the cached contents stay behind."""
        if self._closed:
            raise _closed_error()
        settings = (self._max_bytes, self._max_entry_bytes, self._timeout, self._close_reader)
        return (_rebuild, (self._reader, settings))

    def after_fork_in_child(self) -> None:
        """Forget loads in flight (called in a forked child; see randread._locks)."""
        # The threads loading these entries were not copied into the child.
        self._flights = {}


def _rebuild(
    reader: ArchiveReader[InfoT], settings: tuple[int, int, float | None, bool]
) -> CachedReader[InfoT]:
    max_bytes, max_entry_bytes, timeout, close_reader = settings
    return CachedReader(
        reader,
        max_bytes=max_bytes,
        max_entry_bytes=max_entry_bytes,
        timeout=timeout,
        close_reader=close_reader,
    )


def _count_value(counter: itertools.count[int]) -> int:
    """Return the next value of ``counter`` without advancing it (its repr is ``count(N)``)."""
    return int(repr(counter)[len("count(") : -1])


def _closed_error() -> ClosedError:
    return ClosedError("I/O operation on closed CachedReader")
