"""Batch decoding on several threads: chunks taken in turn, results in order.

One future per item costs more than it saves when an item decodes in
10-30 µs (the queue, the future and the GIL hand-offs). Here the caller's
thread and ``threads - 1`` pool threads take chunks of the batch from one
counter, so the work balances itself, and a pool thread that a busy machine
does not schedule in time finds nothing left to do: the caller has then
decoded the whole batch itself, as a plain loop would. Decoders release the
GIL (zlib, libdeflate, isal, zstd, lz4), which is where the gain comes from.

Whether threads pay depends on the machine's load as much as on the batch: on
a machine whose other core is busy, a second thread only competes with the
first. :class:`ModeChooser` times the batches of each kind both ways and
takes the faster, trying the other way now and then.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from randread._locks import TimedLock
from randread.errors import RandreadError

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable, Iterator

__all__ = [
    "PARALLEL_MIN_BYTES",
    "PARALLEL_MIN_ITEMS",
    "ModeChooser",
    "batch_modes",
    "batch_work",
    "cpu_count",
    "fetches_ranges",
    "look_up",
    "read_one_by_one",
    "run_batch",
    "run_in_chunks",
    "run_in_ranges",
    "shared_pool",
    "timed",
    "writable_target",
]

#: batches are decoded on threads only with at least this many items (threads
#: lost every timed batch of 8 on two cores, 0.27-0.81x a loop, so even the
#: chooser's occasional tries of them only cost) ...
PARALLEL_MIN_ITEMS = 16
#: ... and this many bytes to decode: below it threads cost more than they save
PARALLEL_MIN_BYTES = 64 * 1024
#: chunks hold at least this many items, and each thread takes about this many
_CHUNK_MIN = 4
_CHUNKS_PER_THREAD = 8

_T = TypeVar("_T")
_E = TypeVar("_E")
_N = TypeVar("_N")

_shared_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}
_shared_lock = TimedLock("randread.shared_pool")


_cpu_counts: dict[int, int] = {}


def cpu_count() -> int:
    """Return the number of CPUs this process may run on (asked once per process)."""
    pid = os.getpid()
    count = _cpu_counts.get(pid)
    if count is None:
        if hasattr(os, "sched_getaffinity"):
            count = len(os.sched_getaffinity(0)) or 1
        else:
            count = os.cpu_count() or 1
        _cpu_counts[pid] = count
    return count


def shared_pool(size: int) -> ThreadPoolExecutor:
    """Return the process's pool of ``size`` threads for batch decoding (made on first use).

    A pool made before a fork has no threads in the child; the child gets its own.
    """
    key = (os.getpid(), size)
    pool = _shared_pools.get(key)
    if pool is None:
        with _shared_lock:
            pool = _shared_pools.get(key)
            if pool is None:
                pool = _shared_pools[key] = ThreadPoolExecutor(size, "randread-batch")
    return pool


def run_in_ranges(
    count: int,
    decode_range: Callable[[int, int], list[_T]],
    threads: int,
    pool: ThreadPoolExecutor,
) -> list[_T]:
    """Return ``decode_range(start, stop)`` over ``range(count)``, on up to ``threads`` threads.

    The ranges are chunks of the batch that the caller's thread and
    ``threads - 1`` pool threads take in turn; their results are joined in
    order. ``decode_range`` must decode its items in order, so that what it
    raises is the first error of its chunk: the error of the lowest chunk is
    raised (as a loop would raise it), after every thread has stopped.
    """
    chunk = max(_CHUNK_MIN, count // (threads * _CHUNKS_PER_THREAD))
    # One chunk per call: next() on a count is atomic, with the GIL or without
    # it (a compare-and-swap on free-threaded builds).
    take = itertools.count().__next__
    parts: list[list[_T]] = [[] for _ in range(-(-count // chunk))]
    errors: list[tuple[int, Exception]] = []

    def work() -> None:
        while (start := take() * chunk) < count:
            try:
                parts[start // chunk] = decode_range(start, min(start + chunk, count))
            except Exception as exc:  # noqa: BLE001 - raised by the caller, in order
                # The chunks after this one are taken by other threads or
                # by nobody; either way they come later in the batch.
                errors.append((start, exc))
                return

    helpers = []
    for _ in range(threads - 1):
        try:
            helpers.append(pool.submit(work))
        except RuntimeError:
            # The pool was shut down (its owner closed or replaced it): the
            # caller's thread does the work.
            break
    work()
    for helper in helpers:
        if not helper.cancel():
            helper.result()
    if errors:
        raise min(errors, key=lambda error: error[0])[1]
    return list(itertools.chain.from_iterable(parts))


def run_in_chunks(
    count: int, decode: Callable[[int], _T], threads: int, pool: ThreadPoolExecutor
) -> list[_T]:
    """Return ``[decode(0), ..., decode(count - 1)]``, decoded on up to ``threads`` threads.

    As :func:`run_in_ranges`, one item at a time.
    """
    return run_in_ranges(
        count, lambda start, stop: [decode(index) for index in range(start, stop)], threads, pool
    )


#: a batch's work in bytes: the bytes it decodes plus this much per item, about
#: what a read's fixed Python cost (3-5 µs) would decode meanwhile
_ITEM_WORK = 2048
#: how much a mode's cost estimate may rise per batch timed slower than it
_DRIFT = 1.15
#: the slower mode is timed again every this many batches of a kind ...
_PROBE_EVERY = 8
#: ... or this many when the other is faster by at least _CLEAR_WIN
_PROBE_EVERY_CLEAR = 64
_CLEAR_WIN = 1.25
#: threads are chosen when their cost is below the loop's by this factor
_THREADS_MARGIN = 1.05


def batch_work(items: int, decoded_bytes: int) -> int:
    """Return the work of a batch, in the unit :class:`ModeChooser` compares."""
    return decoded_bytes + items * _ITEM_WORK


class ModeChooser:
    """Chooses, per kind of batch, between a plain loop and threads by their measured speed.

    A kind is any key (a codec and a thread count, say) plus the batch's work
    rounded to a power of two, so that small and large batches are judged
    apart. Each mode's cost is seconds per unit of work: the lowest timed,
    rising by at most ``_DRIFT`` per slower batch. A kind runs
    threaded first, then as a loop, then the cheaper way, and the other way
    once in ``_PROBE_EVERY`` batches (once in ``_PROBE_EVERY_CLEAR`` when one
    way wins clearly), so a change of load is noticed. The state is a dict of
    floats; threads racing on it lose at most a timing, so it takes no lock.
    """

    __slots__ = ("_batches", "_costs", "_forced")

    def __init__(self) -> None:
        self._costs: dict[tuple[Hashable, int, bool], float] = {}
        self._batches = itertools.count(1)
        self._forced: bool | None = None

    def threaded(self, key: Hashable, work: int) -> bool:
        """Return whether the next batch of this kind should run on threads."""
        if self._forced is not None:
            return self._forced
        size = work.bit_length()
        threaded_cost = self._costs.get((key, size, True))
        if threaded_cost is None:
            return True
        loop_cost = self._costs.get((key, size, False))
        if loop_cost is None:
            return False
        # Threads must win by a margin: a loop costs nothing to set up, and a
        # lucky threaded batch on a busy machine should not decide alone.
        faster = threaded_cost * _THREADS_MARGIN < loop_cost
        ratio = max(threaded_cost, loop_cost) / max(min(threaded_cost, loop_cost), 1e-12)
        probe = _PROBE_EVERY_CLEAR if ratio >= _CLEAR_WIN else _PROBE_EVERY
        if next(self._batches) % probe == 0:
            return not faster
        return faster

    def record(self, key: Hashable, work: int, *, threaded: bool, seconds: float) -> None:
        """Note that a batch of this kind and ``work`` took ``seconds`` run this way."""
        slot = (key, work.bit_length(), threaded)
        cost = seconds / max(work, 1)
        old = self._costs.get(slot)
        # Other load only ever adds time, so the lowest recent cost is the
        # best estimate; it drifts up with each slower batch, so that a
        # lasting change of load is followed within a few batches.
        self._costs[slot] = cost if old is None else min(cost, old * _DRIFT)

    def forget(self) -> None:
        """Drop every timing (for tests and benchmarks that change the conditions)."""
        self._costs.clear()

    @contextlib.contextmanager
    def forced(self, *, threaded: bool) -> Iterator[None]:
        """Run every batch that may use threads on threads (or in a loop) inside the block.

        For tests and benchmarks that compare the two ways; it changes state
        that every reader of the process shares.
        """
        saved = self._forced
        self._forced = threaded
        try:
            yield
        finally:
            self._forced = saved


#: the process's chooser, shared by every reader
batch_modes = ModeChooser()


def timed(function: Callable[[], _T]) -> tuple[_T, float]:
    """Return ``function()`` and the seconds it took."""
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def look_up(names: Iterable[_N], entry_of: Callable[[_N], _E]) -> tuple[list[_E], Exception | None]:
    """Return the entries of a batch's names, and the error of the first that failed.

    A name that cannot be looked up ends the batch: its error is raised by
    the caller after the entries before it, which may fail first (the order
    a loop of ``read()`` raises in).
    """
    entries: list[_E] = []
    add = entries.append
    for name in names:
        try:
            add(entry_of(name))
        except (KeyError, TypeError, RandreadError) as exc:
            return entries, exc
    return entries, None


def run_batch(
    count: int,
    decode_range: Callable[[int, int], list[_T]],
    *,
    loop: Callable[[], list[_T]] | None = None,
    kind: Hashable,
    decoded_bytes: int,
    workers: int | None,
    local: bool = True,
) -> list[_T]:
    """Return ``decode_range(0, count)``, decoded in a loop or on threads.

    The batch engine of both readers. ``decode_range(start, stop)`` decodes
    its items in order; ``loop()``, when given, is how the whole batch is
    decoded on this thread instead. Threads are tried only for a ``local`` batch (over a
    remote source the fetch dominates) of at least :data:`PARALLEL_MIN_ITEMS`
    items and :data:`PARALLEL_MIN_BYTES` bytes to decode, on up to
    ``workers`` threads (default: the CPUs the process may use); then
    :data:`batch_modes` decides from the timings of earlier batches of the
    same ``kind``. Either way the first error in the batch's order is raised.
    """
    threads = workers or cpu_count()
    if (
        not local
        or threads <= 1
        or count < PARALLEL_MIN_ITEMS
        or decoded_bytes < PARALLEL_MIN_BYTES
    ):
        return decode_range(0, count) if loop is None else loop()
    key = (kind, threads)
    work = batch_work(count, decoded_bytes)
    threaded = batch_modes.threaded(key, work)
    start = time.perf_counter()
    if threaded:
        results = run_in_ranges(count, decode_range, threads, shared_pool(threads))
    else:
        results = decode_range(0, count) if loop is None else loop()
    # A batch that raised is not timed.
    batch_modes.record(key, work, threaded=threaded, seconds=time.perf_counter() - start)
    return results


def fetches_ranges(readat: object) -> bool:
    """Tell whether a ReadAt fetches batches of ranges together (a remote source)."""
    return hasattr(readat, "read_ranges")


def read_one_by_one(
    names: list[_N], workers: int | None, read: Callable[[_N], bytes]
) -> list[bytes] | None:
    """Return a local batch too small for threads read by ``read`` name after name; else None.

    A batch too small for threads (or with one thread) gains nothing from
    looking its names up first: it is exactly a loop of ``read()``. (A remote
    batch always fetches together.)
    """
    count = len(names)
    if count >= PARALLEL_MIN_ITEMS and (workers or cpu_count()) > 1:
        return None
    if count == 1:
        return [read(names[0])]
    return [read(name) for name in names]


def writable_target(buffer: memoryview, size: int, caller: str) -> memoryview:
    """Return ``buffer`` as bytes, checked to be writable, contiguous and ``size`` bytes or more."""
    if buffer.readonly:
        msg = f"{caller} needs a writable buffer"
        raise TypeError(msg)
    if not buffer.c_contiguous:
        msg = f"{caller} needs a contiguous buffer"
        raise TypeError(msg)
    target = buffer.cast("B")
    if target.nbytes < size:
        msg = f"buffer of {target.nbytes} bytes is too small for {size} bytes"
        raise ValueError(msg)
    return target
