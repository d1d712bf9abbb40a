"""The RemoteReadAt: positional reads over one object, in as few requests as it can.

A :class:`RemoteReadAt` makes one request to open: a suffix range request for
the last ``tail_window`` bytes, whose answer also gives the object's size and
version (S3 and HTTP; other fsspec backends need an ``info`` call first). The
tail stays in memory, so whatever a format keeps at its end (end records, an
index or a central directory that fits in the window) costs nothing more to
read. Every later request sends the pinned version as ``If-Match``, so a
replaced object raises :class:`~randread.SourceChangedError` instead of
returning mixed bytes.

All requests run on fsspec's I/O event loop; any number of threads call in at
once and no lock is held around I/O. :meth:`RemoteReadAt.read_ranges` merges
nearby ranges (:mod:`~randread.readat.remote.ranges`) and fetches the merged
ranges concurrently.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from randread._locks import TimedLock
from randread.errors import RemoteError, RemoteTimeoutError, SourceChangedError
from randread.readat._base import ReadAtBase, check_range
from randread.readat._views import fresh_view
from randread.readat.remote.cache import DEFAULT_BLOCK_SIZE, BlockCache
from randread.readat.remote.drivers import Answer, Driver, Version, make_driver
from randread.readat.remote.errors import (
    RANGE_NOT_SATISFIABLE,
    AttemptError,
    public_error,
    timed_out,
    transient,
)
from randread.readat.remote.ranges import DEFAULT_MAX_MERGED, DEFAULT_MERGE_GAP, merge_ranges
from randread.readat.remote.urls import redact_url

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Mapping, Sequence

__all__ = [
    "DEFAULT_HEAD_WINDOW",
    "DEFAULT_TAIL_WINDOW",
    "RemoteReadAt",
    "RemoteSettings",
]

#: bytes fetched from the end of the object at open, unless the caller says how
#: many its format needs (``tail_window``): 65 KiB, a generic size that holds
#: end records of up to 64 KiB (what a 16-bit length field can describe, as a
#: zip comment's) and the records before them, in the one request
DEFAULT_TAIL_WINDOW = 65 * 1024
#: bytes kept from the start of the object once a read starts there (magic, header)
DEFAULT_HEAD_WINDOW = 64 * 1024
#: requests in flight at once for one batch
DEFAULT_MAX_CONCURRENCY = 16
#: further attempts after a transient failure (5xx, 429, reset, timeout, short body)
DEFAULT_RETRIES = 3
#: first wait before a retry, in seconds; doubled on each further attempt
DEFAULT_BACKOFF = 0.05
#: seconds one attempt may take before it counts as timed out
DEFAULT_TIMEOUT = 30.0
#: seconds the backstop wait adds to the longest the coroutine can take on its own
_BACKSTOP_SLACK = 5


@dataclass(frozen=True, slots=True)
class RemoteSettings:
    """How a :class:`RemoteReadAt` requests: every field has a sensible default."""

    tail_window: int = DEFAULT_TAIL_WINDOW
    head_window: int = DEFAULT_HEAD_WINDOW
    merge_gap: int = DEFAULT_MERGE_GAP
    max_merged: int = DEFAULT_MAX_MERGED
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF
    timeout: float = DEFAULT_TIMEOUT
    block_cache: int = 0
    block_size: int = DEFAULT_BLOCK_SIZE

    def __post_init__(self) -> None:
        for name in ("tail_window", "head_window", "max_merged", "max_concurrency", "block_size"):
            if getattr(self, name) < 1:
                msg = f"{name} must be at least 1, not {getattr(self, name)}"
                raise ValueError(msg)
        for name in ("merge_gap", "retries", "backoff", "block_cache"):
            if getattr(self, name) < 0:
                msg = f"{name} must be >= 0, not {getattr(self, name)}"
                raise ValueError(msg)
        if self.timeout <= 0:
            msg = f"timeout must be > 0, not {self.timeout}"
            raise ValueError(msg)


class _Connection(NamedTuple):
    pid: int
    driver: Driver
    loop: asyncio.AbstractEventLoop


class _Window(NamedTuple):
    """Bytes kept in memory for the reader's lifetime: ``[start, start + len(data))``.

    Every thread slices ``data`` into views of their own (``fresh_view``), never
    one shared memoryview (see randread.readat._views).
    """

    start: int
    data: bytes


# -- clients dropped before a fork ---------------------------------------------------------

#: set when a reader drops the client it made; cleared by the collection before a fork
_CLIENTS_DROPPED = threading.Event()


def _collect_dropped_clients() -> None:
    """Before ``os.fork``: finalise the clients that closed readers dropped, in this process.

    A closed reader's filesystem and client can outlive it in reference
    cycles until the garbage collector runs. If that first happens in a forked
    child (DataLoader workers), the child finalises a client of this process
    through the event loop it shares with it: "attached to a different loop"
    errors in the child, and this process's next request on a pooled
    connection getting no answer (the child's close unregisters the socket
    from the shared epoll set). Collecting here, only when a reader dropped a
    client since the last fork, finalises them in the process that owns them.
    """
    if _CLIENTS_DROPPED.is_set():
        _CLIENTS_DROPPED.clear()
        gc.collect()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_collect_dropped_clients)


class RemoteReadAt(ReadAtBase):
    """ReadAt over an object in S3, GCS, Azure, HTTP(S), ``memory://``: any fsspec URL.

    ``storage_options`` go to the fsspec filesystem (credentials, endpoint,
    ``client_kwargs``; S3 also takes them from the usual environment and config
    files). The object's size and version are read and pinned at open, with
    the last ``tail_window`` bytes, in one request where the backend allows
    (S3, HTTP) and two elsewhere. Reads inside the tail cost no request.

    ``tail_window`` is the caller's hint of how many bytes its format reads
    from the end when it opens (end records, an index, a directory): a reader
    of a format whose end records are larger than the default
    (:data:`DEFAULT_TAIL_WINDOW`, 65 KiB) passes more, one that needs less
    may pass less. Pass it through :func:`randread.open_readat` as well.

    ``block_cache`` (bytes, default 0: off) keeps what reads fetch outside
    the pinned windows, in blocks of ``block_size`` bytes, least recently used
    first out, so repeated and neighbouring reads cost no request.

    Thread-safe with no lock around I/O; safe after ``fork`` (the child opens
    its own connections); pickles as its URL, options and pinned version, and
    unpickles with no request: it connects and fetches its tail on first use.
    Credentials never appear in messages or in ``repr``.
    """

    __slots__ = (
        "_blocks",
        "_connect_lock",
        "_connection",
        "_head",
        "_options",
        "_tail",
        "_url",
        "_window_lock",
        "settings",
        "url",
        "version",
    )

    def __init__(
        self,
        url: str,
        *,
        storage_options: Mapping[str, Any] | None = None,
        tail_window: int = DEFAULT_TAIL_WINDOW,
        head_window: int = DEFAULT_HEAD_WINDOW,
        merge_gap: int = DEFAULT_MERGE_GAP,
        max_merged: int = DEFAULT_MAX_MERGED,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        timeout: float = DEFAULT_TIMEOUT,
        block_cache: int = 0,
        block_size: int = DEFAULT_BLOCK_SIZE,
    ) -> None:
        self.settings = RemoteSettings(
            tail_window,
            head_window,
            merge_gap,
            max_merged,
            max_concurrency,
            retries,
            backoff,
            timeout,
            block_cache,
            block_size,
        )
        self._setup(url, dict(storage_options or {}))
        self.version: Version = self._run(self._open)
        self.size = self.version.size

    def _setup(self, url: str, options: dict[str, Any]) -> None:
        self._url = url
        #: the URL with credentials removed, for messages and repr
        self.url = redact_url(url)
        self._options = options
        self._window_lock = TimedLock("RemoteReadAt.window")
        self._connect_lock = TimedLock("RemoteReadAt.connect")
        self._connection: _Connection | None = None
        self._head: _Window | None = None
        self._tail: _Window | None = None
        self._blocks = (
            BlockCache(self.settings.block_cache, self.settings.block_size)
            if self.settings.block_cache
            else None
        )
        self._closed = False

    @classmethod
    def _restore(
        cls, url: str, options: dict[str, Any], settings: RemoteSettings, version: Version
    ) -> RemoteReadAt:
        """Rebuild a pickled reader: no request until its first read.

        The pinned version comes with the pickle, so ``size`` needs no request
        either; the first read connects (once, see :meth:`_connect`) and sends
        the version as its condition.
        """
        self = cls.__new__(cls)
        self.settings = settings
        self._setup(url, options)
        self.version = version
        self.size = version.size
        return self

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (RemoteReadAt._restore, (self._url, self._options, self.settings, self.version))

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"size={self.size}"
        return f"<RemoteReadAt {self.url!r} {state}>"

    # -- connecting ------------------------------------------------------------------

    def _connect(self) -> _Connection:
        """Return this process's connection, making one after a fork or unpickling."""
        connection = self._connection
        pid = os.getpid()
        if connection is not None and connection.pid == pid:
            return connection
        # Single flight: threads starting at once share one driver. Making
        # one sets up a filesystem object and sends nothing. The connection
        # is published in one assignment, as one immutable tuple.
        with self._connect_lock:
            connection = self._connection
            if connection is not None and connection.pid == pid:
                return connection
            if self._closed:
                raise self._raise_closed()
            driver, loop = make_driver(
                self._url, self._options, max_concurrency=self.settings.max_concurrency
            )
            connection = self._connection = _Connection(pid, driver, loop)
        return connection

    def _run(
        self, function: Callable[..., Coroutine[Any, Any, Any]], *args: Any, requests: int = 1
    ) -> Any:
        """Run ``function(*args)`` on the I/O loop from any thread and return its result."""
        connection = self._connect()
        future = asyncio.run_coroutine_threadsafe(function(*args), connection.loop)
        # The coroutine bounds itself (timeout x attempts, per round of
        # ``max_concurrency`` requests); this wait is a backstop.
        settings = self.settings
        rounds = -(-requests // settings.max_concurrency)
        per_request = settings.timeout + settings.backoff * 2**settings.retries
        limit = per_request * (settings.retries + 1) * rounds
        try:
            return future.result(timeout=limit + _BACKSTOP_SLACK)
        except RemoteError:
            raise
        except TimeoutError:  # pragma: no cover - the coroutine's own timeouts fire first
            future.cancel()
            msg = f"{self.url}: no answer within {limit:.0f} s"
            raise RemoteTimeoutError(msg, url=self.url) from None

    # -- requests --------------------------------------------------------------------

    async def _attempt(self, start: int, end: int, pin: Version | None) -> Answer:
        """One request with retries; failures become public errors naming URL and range."""
        driver = self._connect().driver
        settings = self.settings
        attempts = settings.retries + 1
        for attempt in range(attempts):
            try:
                answer = await asyncio.wait_for(driver.get(start, end, pin), settings.timeout)
                self._check_answer(answer, start, end, pin)
            except (asyncio.TimeoutError, TimeoutError):
                failure = timed_out(settings.timeout)
            except AttemptError as caught:
                failure = caught
            else:
                return answer
            if not failure.retryable or attempt + 1 == attempts:
                break
            await asyncio.sleep(settings.backoff * 2**attempt)
        raise public_error(
            failure,
            self.url,
            start,
            end,
            attempts=attempts if failure.retryable else attempt + 1,
            pinned=pin.describe() if pin is not None else None,
        )

    def _check_answer(self, answer: Answer, start: int, end: int, pin: Version | None) -> None:
        if pin is None:
            return
        if answer.total is not None and answer.total != pin.size:
            detail = f"its size is now {answer.total}, not {pin.size}"
            raise AttemptError(SourceChangedError, detail, retryable=False)
        if answer.etag and pin.etag and answer.etag != pin.etag:
            detail = f"its ETag is now {answer.etag}, not {pin.etag}"
            raise AttemptError(SourceChangedError, detail, retryable=False)
        wanted = min(end, pin.size) - start
        if len(answer.data) != wanted:
            detail = f"the answer has {len(answer.data)} bytes, not {wanted}"
            if answer.total is None and len(answer.data) < wanted:
                # Without response headers a short answer is all there is to see of a change.
                raise AttemptError(
                    SourceChangedError, f"{detail} (the object shrank?)", retryable=False
                )
            raise transient(detail)

    async def _open(self) -> Version:
        driver = self._connect().driver
        window = self.settings.tail_window
        if not driver.suffix_ranges:
            version = await self._stat()
            start = max(0, version.size - window)
            answer = await self._attempt(start, version.size, version)
            self._tail = _Window(start, answer.data)
            return version
        try:
            answer = await self._attempt(-window, 0, None)
        except RemoteError as exc:
            if exc.status != RANGE_NOT_SATISFIABLE:
                raise
            version = await self._stat()  # an empty object has no last bytes
            if version.size:
                raise
            self._tail = _Window(0, b"")
            return version
        size = answer.total if answer.total is not None else len(answer.data)
        if len(answer.data) != min(window, size):
            msg = (
                f"{self.url}: reading the last {window} bytes failed: the answer has "
                f"{len(answer.data)} bytes for an object of {size}"
            )
            raise RemoteError(msg, url=self.url)
        self._tail = _Window(size - len(answer.data), answer.data)
        return Version(size, answer.etag, answer.modified)

    async def _stat(self) -> Version:
        driver = self._connect().driver
        try:
            return await asyncio.wait_for(driver.stat(), self.settings.timeout)
        except (asyncio.TimeoutError, TimeoutError):
            failure = timed_out(self.settings.timeout)
        except AttemptError as caught:
            failure = caught
        message = f"{self.url}: reading the object's size failed: {failure.detail}"
        raise failure.kind(message, url=self.url)

    async def _fetch(self, requests: Sequence[tuple[int, int]]) -> list[bytes]:
        """Fetch ``[start, end)`` ranges concurrently, at most ``max_concurrency`` at a time."""
        if len(requests) == 1:
            start, end = requests[0]
            return [(await self._attempt(start, end, self.version)).data]
        gate = asyncio.Semaphore(self.settings.max_concurrency)

        async def one(start: int, end: int) -> bytes:
            async with gate:
                return (await self._attempt(start, end, self.version)).data

        return list(await asyncio.gather(*(one(start, end) for start, end in requests)))

    # -- the pinned windows ------------------------------------------------------------

    def _window(self, name: str, start: int, end: int) -> _Window:
        """Return the pinned window ``name`` (``_head`` or ``_tail``), fetched on first use."""
        window: _Window | None = getattr(self, name)
        if window is not None:
            return window
        with self._window_lock:  # single flight: the one-time fetch, never a read
            window = getattr(self, name)
            if window is None:
                (data,) = self._run(self._fetch, [(start, end)])
                window = _Window(start, data)
                setattr(self, name, window)
        return window

    # -- ReadAt ------------------------------------------------------------------------

    def read_at(self, offset: int, length: int) -> bytes:
        """Return exactly ``length`` bytes at ``offset`` (one request at most)."""
        return bytes(self.view_at(offset, length))

    def view_at(self, offset: int, length: int) -> memoryview:
        """Return ``length`` bytes at ``offset`` as a read-only memoryview."""
        if self._closed:
            raise self._raise_closed()
        if offset < 0 or length < 0 or offset + length > self.size:
            check_range(offset, length, self.size)
        if length == 0:
            return memoryview(b"")
        return self.read_ranges([(offset, length)])[0]

    def read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[memoryview]:
        """Return the bytes of each ``(offset, length)`` range, in order.

        Ranges inside a pinned window cost nothing: the tail (fetched at open)
        and the head (the first ``head_window`` bytes, fetched by the first
        single read that starts at offset 0 and fits in it: a format's magic,
        header and dictionary). The other ranges are merged (``merge_gap``,
        ``max_merged``) and the merged ranges fetched concurrently, so a batch
        costs one request per merged range; a range reaching into the tail
        fetches only the part before it.
        """
        if self._closed:
            raise self._raise_closed()
        size = self.size
        for offset, length in ranges:
            if offset < 0 or length < 0 or offset + length > size:
                check_range(offset, length, size)
        settings = self.settings
        tail_start = max(0, size - settings.tail_window)
        head_end = min(settings.head_window, tail_start)
        tail = None
        if any(offset + length > tail_start for offset, length in ranges if length):
            tail = self._window("_tail", tail_start, size)
        head = self._head
        if head is None and len(ranges) == 1 and 0 == ranges[0][0] < ranges[0][1] <= head_end:
            head = self._window("_head", 0, head_end)
        results = [memoryview(b"") for _ in ranges]
        wanted: list[tuple[int, int]] = []
        for index, (offset, length) in enumerate(ranges):
            end = offset + length
            if head is not None and end <= len(head.data) and length:
                results[index] = fresh_view(head.data, offset, end)
                end = offset
            elif tail is not None and end > tail.start:
                results[index] = fresh_view(
                    tail.data, max(offset, tail.start) - tail.start, end - tail.start
                )
                end = max(offset, tail.start)
            wanted.append((offset, end - offset))
        parts = (
            self._fetch_blocks(wanted) if self._blocks is not None else self._fetch_ranges(wanted)
        )
        for index, fetched in parts.items():
            if wanted[index][1] < ranges[index][1]:  # the rest came from the tail
                fetched = memoryview(bytes(fetched) + bytes(results[index])).toreadonly()  # noqa: PLW2901
            results[index] = fetched
        return results

    def _fetch_ranges(self, wanted: Sequence[tuple[int, int]]) -> dict[int, memoryview]:
        """Fetch the non-empty ranges as merged requests; return them by index."""
        settings = self.settings
        merged = merge_ranges(wanted, gap=settings.merge_gap, max_length=settings.max_merged)
        if not merged:
            return {}
        requests = [(request.start, request.end) for request in merged]
        fetched = self._run(self._fetch, requests, requests=len(requests))
        parts: dict[int, memoryview] = {}
        for request, data in zip(merged, fetched, strict=True):
            for index in request.members:
                offset, length = wanted[index]
                start = offset - request.start
                parts[index] = fresh_view(data, start, start + length)
        return parts

    def _fetch_blocks(self, wanted: Sequence[tuple[int, int]]) -> dict[int, memoryview]:
        """Serve the non-empty ranges from the block cache, fetching missing blocks together."""
        blocks = self._blocks
        assert blocks is not None  # noqa: S101 - only called with a cache
        size = blocks.block_size
        needed = sorted(
            {
                block
                for offset, length in wanted
                if length
                for block in blocks.blocks_of(offset, length)
            }
        )
        held = {block: data for block in needed if (data := blocks.get(block)) is not None}
        missing = [block for block in needed if block not in held]
        spans = [(block * size, min(size, self.size - block * size)) for block in missing]
        for index, part in self._fetch_ranges(spans).items():
            held[missing[index]] = bytes(part)
            blocks.put(missing[index], held[missing[index]])
        parts: dict[int, memoryview] = {}
        for index, (offset, length) in enumerate(wanted):
            if not length:
                continue
            touched = blocks.blocks_of(offset, length)
            start = offset - touched.start * size
            if len(touched) == 1:
                parts[index] = fresh_view(held[touched.start], start, start + length)
            else:
                joined = b"".join(held[block] for block in touched)
                parts[index] = fresh_view(joined, start, start + length)
        return parts

    @property
    def cached_bytes(self) -> int:
        """Bytes held by the block cache (0 without one)."""
        return self._blocks.bytes if self._blocks is not None else 0

    def _release(self) -> None:
        if self._connection is not None:
            _CLIENTS_DROPPED.set()  # see _collect_dropped_clients
        self._blocks = None
        self._head = None
        self._tail = None
        self._connection = None
