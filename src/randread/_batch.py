"""Batch decoding on several threads: chunks taken in turn, results in order.

One future per item costs more than it saves when an item decodes in
10-30 µs (the queue, the future and the GIL hand-offs). Here the caller's
thread and ``threads - 1`` pool threads take chunks of the batch from one
counter, so the work balances itself, and a pool thread that a busy machine
does not schedule in time finds nothing left to do: the caller has then
decoded the whole batch itself, as a plain loop would. Decoders release the
GIL (zlib, libdeflate, isal, zstd, lz4), which is where the gain comes from.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar, cast

from randread._locks import TimedLock

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["PARALLEL_MIN_BYTES", "PARALLEL_MIN_ITEMS", "cpu_count", "run_in_chunks", "shared_pool"]

#: batches are decoded on threads only with at least this many items ...
PARALLEL_MIN_ITEMS = 8
#: ... and this many bytes to decode: below it threads cost more than they save
PARALLEL_MIN_BYTES = 64 * 1024
#: chunks hold at least this many items, and each thread takes about this many
_CHUNK_MIN = 4
_CHUNKS_PER_THREAD = 8

_T = TypeVar("_T")

_shared_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}
_shared_lock = TimedLock("randread.shared_pool")


def cpu_count() -> int:
    """Return the number of CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


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


def run_in_chunks(
    count: int, decode: Callable[[int], _T], threads: int, pool: ThreadPoolExecutor
) -> list[_T]:
    """Return ``[decode(0), ..., decode(count - 1)]``, decoded on up to ``threads`` threads.

    The caller's thread works too. If ``decode`` raises, the exception of
    the lowest position is raised (as a loop would raise it), after every
    thread has stopped.
    """
    chunk = max(_CHUNK_MIN, count // (threads * _CHUNKS_PER_THREAD))
    take = itertools.count().__next__  # atomic under the GIL: one chunk per call
    results: list[_T | None] = [None] * count
    errors: list[tuple[int, Exception]] = []

    def work() -> None:
        while (start := take() * chunk) < count:
            for position in range(start, min(start + chunk, count)):
                try:
                    results[position] = decode(position)
                except Exception as exc:  # noqa: BLE001 - raised by the caller, in order
                    # The chunks after this one are taken by other threads or
                    # by nobody; either way they come later in the batch.
                    errors.append((position, exc))
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
    return cast("list[_T]", results)  # every position was filled
