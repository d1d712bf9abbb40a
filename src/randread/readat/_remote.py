"""ReadAt over object storage and HTTP(S), through fsspec, with the fewest requests.

A :class:`RemoteReadAt` makes one request to open: a suffix range request for
the last ``tail_window`` bytes, whose answer also gives the object's size and
version (S3 and HTTP; other fsspec backends need an ``info`` call first). The
tail stays in memory, so an archive's end records, and an index or central
directory that fits in the window, cost nothing more to read. Every later
request sends the pinned version as ``If-Match``, so a replaced object raises
:class:`~randread.SourceChangedError` instead of returning mixed bytes.

All requests run on fsspec's I/O event loop; any number of threads call in at
once and no lock is held around I/O. :meth:`RemoteReadAt.read_ranges` merges
nearby ranges and fetches the merged ranges concurrently.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from randread._locks import TimedLock
from randread.errors import (
    MissingDependencyError,
    RemoteConnectionError,
    RemoteError,
    RemoteTimeoutError,
    SourceAccessError,
    SourceChangedError,
    SourceNotFoundError,
)
from randread.readat._base import ReadAtBase, check_range
from randread.readat._views import fresh_view

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence

    from randread.readat._base import ReadAt

__all__ = [
    "DEFAULT_HEAD_WINDOW",
    "DEFAULT_TAIL_WINDOW",
    "RemoteReadAt",
    "is_url",
    "local_path",
    "merge_ranges",
    "read_ranges",
    "redact_url",
]

#: bytes fetched from the end of the object at open: 64 KiB, and as much again
#: as a zip reader searches for its end record (22 bytes and a comment of up
#: to 65 535) with the zip64 locator and record before it (20 + 56 bytes)
DEFAULT_TAIL_WINDOW = 22 + 65535 + 20 + 56
#: bytes kept from the start of the object once a read starts there (magic, header)
DEFAULT_HEAD_WINDOW = 64 * 1024
#: ranges closer than this are fetched as one request
DEFAULT_MERGE_GAP = 64 * 1024
#: a merged request never spans more than this
DEFAULT_MAX_MERGED = 16 * 1024 * 1024
#: requests in flight at once for one batch
DEFAULT_MAX_CONCURRENCY = 16
#: further attempts after a transient failure (5xx, 429, reset, timeout, short body)
DEFAULT_RETRIES = 3
#: first wait before a retry, in seconds; doubled on each further attempt
DEFAULT_BACKOFF = 0.05
#: seconds one attempt may take before it counts as timed out
DEFAULT_TIMEOUT = 30.0
#: the unit of the optional block cache
DEFAULT_BLOCK_SIZE = 256 * 1024

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")
_S3_PROTOCOLS = frozenset({"s3", "s3a"})
_RANGE_NOT_SATISFIABLE = 416
_HTTP_PROTOCOLS = frozenset({"http", "https"})
_EXTRA_HINT = "pip install 'randread[remote]'"


def is_url(source: object) -> bool:
    """Tell whether ``source`` is a URL for fsspec (``s3://``, ``https://``, ``a::b``).

    ``file://`` URLs are local paths; plain paths are never URLs.
    """
    if not isinstance(source, str):
        return False
    if source.startswith("file://") and "::" not in source:
        return False
    return bool(_URL.match(source)) or "::" in source


def local_path(source: str) -> str | None:
    """Return the path of a plain ``file://`` URL, else None."""
    if source.startswith("file://") and "::" not in source:
        return source[len("file://") :]
    return None


def redact_url(url: str) -> str:
    """Return ``url`` without the secrets a URL can carry (user info, query string)."""
    parts = []
    for part in url.split("::"):
        try:
            split = urlsplit(part)
        except ValueError:
            parts.append("<unparsable URL>")
            continue
        netloc = split.netloc
        if "@" in netloc:
            netloc = "***@" + netloc.rsplit("@", 1)[1]
        query = "***" if split.query else ""
        parts.append(urlunsplit((split.scheme, netloc, split.path, query, "")))
    return "::".join(parts)


class Range(NamedTuple):
    """``length`` bytes at ``offset``."""

    offset: int
    length: int


class MergedRange(NamedTuple):
    """One request that serves several ranges: ``[start, end)`` and the indices it covers."""

    start: int
    end: int
    members: tuple[int, ...]


def merge_ranges(
    ranges: Sequence[tuple[int, int]],
    *,
    gap: int = DEFAULT_MERGE_GAP,
    max_length: int = DEFAULT_MAX_MERGED,
) -> list[MergedRange]:
    """Group ``(offset, length)`` ranges into requests.

    Ranges are sorted by offset; a range joins the request before it when the
    bytes between them are at most ``gap`` and the request stays within
    ``max_length`` (a single range longer than that is a request of its own).
    Empty ranges need no request and are left out.
    """
    order = sorted((i for i, (_, length) in enumerate(ranges) if length), key=lambda i: ranges[i])
    merged: list[MergedRange] = []
    start = end = 0
    members: list[int] = []
    for index in order:
        offset, length = ranges[index]
        if members and offset - end <= gap and max(end, offset + length) - start <= max_length:
            end = max(end, offset + length)
            members.append(index)
            continue
        if members:
            merged.append(MergedRange(start, end, tuple(members)))
        start, end, members = offset, offset + length, [index]
    if members:
        merged.append(MergedRange(start, end, tuple(members)))
    return merged


# -- what a backend answers --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Version:
    """What identifies one version of an object: pinned at open, checked on every read."""

    size: int
    etag: str | None = None
    modified: str | None = None

    def describe(self) -> str:
        """Say which version this is, for messages."""
        if self.etag:
            return f"ETag {self.etag}"
        if self.modified:
            return f"last modified {self.modified}"
        return f"size {self.size}"


class _Answer(NamedTuple):
    data: bytes
    #: the object's size from Content-Range (None where the backend does not say)
    total: int | None
    etag: str | None
    modified: str | None


class _AttemptError(Exception):
    """A failed attempt, classified; turned into a public error with the URL and range."""

    def __init__(
        self, kind: type[RemoteError], detail: str, *, retryable: bool, status: int | None = None
    ) -> None:
        self.kind = kind
        self.detail = detail
        self.retryable = retryable
        self.status = status
        super().__init__(detail)


def _transient(detail: str, kind: type[RemoteError] = RemoteError) -> _AttemptError:
    return _AttemptError(kind, detail, retryable=True)


def _for_status(status: int, detail: str) -> _AttemptError:
    """Classify an HTTP status that is not a success."""
    kinds: dict[int, type[RemoteError]] = {
        401: SourceAccessError,
        403: SourceAccessError,
        404: SourceNotFoundError,
        410: SourceNotFoundError,
        412: SourceChangedError,
    }
    if status in kinds:
        return _AttemptError(kinds[status], detail, retryable=False, status=status)
    if status == 416:
        detail = f"range not satisfiable: {detail}"
        return _AttemptError(RemoteError, detail, retryable=False, status=status)
    retryable = status >= 500 or status in (408, 429)
    return _AttemptError(RemoteError, detail, retryable=retryable, status=status or None)


def _content_range_total(value: str | None) -> int | None:
    if not value:
        return None
    match = _CONTENT_RANGE.search(value)
    if match is None or match.group(3) == "*":
        return None
    return int(match.group(3))


def _range_header(start: int, end: int) -> str:
    """Return the Range header for ``[start, end)``; a negative start: the last ``-start`` bytes."""
    return f"bytes=-{-start}" if start < 0 else f"bytes={start}-{end - 1}"


# -- backends ----------------------------------------------------------------------------


class _Driver:
    """The requests one kind of backend knows how to make."""

    #: whether ``get`` can send the pinned version as a condition (If-Match)
    conditional = False
    #: whether ``get`` with a negative start (a suffix range) reports the size
    suffix_ranges = False

    async def get(self, start: int, end: int, pin: Version | None) -> _Answer:
        """Fetch ``[start, end)`` (or the last ``-start`` bytes); conditional on ``pin``."""
        raise NotImplementedError

    async def stat(self) -> Version:
        """Return the object's current size and version."""
        raise NotImplementedError


class _S3Driver(_Driver):
    """S3 through s3fs's botocore client: suffix ranges, If-Match, raw error codes."""

    conditional = True
    suffix_ranges = True

    def __init__(self, fs: Any, path: str) -> None:
        self.fs = fs
        self.bucket, self.key, version_id = fs.split_path(path)
        self.extra = {"VersionId": version_id} if version_id else {}

    async def _client(self) -> Any:
        await self.fs.set_session()
        return await self.fs.get_s3(self.bucket)

    async def get(self, start: int, end: int, pin: Version | None) -> _Answer:
        client = await self._client()
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self.key,
            "Range": _range_header(start, end),
            **self.extra,
        }
        if pin is not None and pin.etag:
            kwargs["IfMatch"] = pin.etag
        response = await _s3_call(client.get_object, kwargs)
        body = response["Body"]
        try:
            data = await body.read()
        except Exception as exc:  # noqa: BLE001 - any failure mid-body is a broken transfer
            body.close()  # drops the connection; a body read to its end gave it back already
            detail = f"transfer broke off: {type(exc).__name__}"
            raise _transient(detail, RemoteConnectionError) from None
        return _Answer(
            data,
            _content_range_total(response.get("ContentRange")),
            response.get("ETag"),
            None,
        )

    async def stat(self) -> Version:
        client = await self._client()
        response = await _s3_call(
            client.head_object, {"Bucket": self.bucket, "Key": self.key, **self.extra}
        )
        return Version(int(response["ContentLength"]), response.get("ETag"))


async def _s3_call(method: Callable[..., Awaitable[Any]], kwargs: dict[str, Any]) -> Any:
    from botocore import exceptions as boto  # noqa: PLC0415 - only with the remote extra

    try:
        return await method(**kwargs)
    except boto.ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        detail = f"{code or 'error'} (HTTP {status})" if status else code or str(exc)
        if code in ("NoSuchKey", "NoSuchBucket", "NotFound"):
            status = 404
        elif code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            status = 403
        elif code == "PreconditionFailed":
            status = 412
        elif code == "InvalidRange":
            status = 416
        elif code in ("SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable"):
            status = max(status, 503)
        raise _for_status(status, detail) from None
    except boto.NoCredentialsError:
        raise _AttemptError(SourceAccessError, "no credentials found", retryable=False) from None
    except (boto.ConnectTimeoutError, boto.ReadTimeoutError) as exc:
        raise _transient(type(exc).__name__, RemoteTimeoutError) from None
    except (boto.EndpointConnectionError, boto.ConnectionClosedError) as exc:
        raise _transient(
            f"cannot reach the endpoint ({type(exc).__name__})", RemoteConnectionError
        ) from None
    except boto.HTTPClientError as exc:
        raise _transient(
            f"connection failed ({type(exc).__name__})", RemoteConnectionError
        ) from None
    except OSError as exc:
        raise _transient(
            f"connection failed ({type(exc).__name__})", RemoteConnectionError
        ) from None


class _HTTPDriver(_Driver):
    """HTTP(S) through fsspec's aiohttp session: suffix ranges, If-Match, status codes."""

    suffix_ranges = True

    def __init__(self, fs: Any, url: str) -> None:
        self.fs = fs
        self.url = url
        self.conditional = True

    async def _request(
        self, method: str, headers: dict[str, str], *, want_body: bool, limit: int
    ) -> tuple[int, Any, bytes]:
        import aiohttp  # noqa: PLC0415 - only with the remote extra

        session = await self.fs.set_session()
        kwargs = dict(self.fs.kwargs)
        headers = {**(kwargs.pop("headers", None) or {}), **headers}
        try:
            async with session.request(
                method, self.fs.encode_url(self.url), headers=headers, **kwargs
            ) as response:
                status = response.status
                if status >= 400:
                    raise _for_status(status, f"HTTP {status} {response.reason or ''}".rstrip())
                length = response.content_length
                if length is not None and length > limit:
                    msg = (
                        f"the server answered HTTP {status} with {length} bytes where at most "
                        f"{limit} were asked for: it does not serve byte ranges"
                    )
                    raise _AttemptError(RemoteError, msg, retryable=False)
                data = await response.read() if want_body else b""
                return status, response.headers, data
        except aiohttp.ClientPayloadError as exc:
            raise _transient(f"transfer broke off ({exc})", RemoteConnectionError) from None
        except aiohttp.ServerTimeoutError:
            raise _transient("the server did not answer in time", RemoteTimeoutError) from None
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise _transient(
                f"cannot reach the server ({type(exc).__name__})", RemoteConnectionError
            ) from None

    async def get(self, start: int, end: int, pin: Version | None) -> _Answer:
        headers = {"Range": _range_header(start, end), "Accept-Encoding": "identity"}
        if pin is not None:
            if pin.etag and not pin.etag.startswith("W/"):
                headers["If-Match"] = pin.etag
            elif pin.modified:
                headers["If-Unmodified-Since"] = pin.modified
        wanted = -start if start < 0 else end - start
        status, response_headers, data = await self._request(
            "GET", headers, want_body=True, limit=wanted
        )
        total = _content_range_total(response_headers.get("Content-Range"))
        if status == 200 and total is None:
            total = len(data)  # the whole object, which fits in what was asked for
        return _Answer(
            data, total, response_headers.get("ETag"), response_headers.get("Last-Modified")
        )

    async def stat(self) -> Version:
        _, headers, _ = await self._request(
            "HEAD", {"Accept-Encoding": "identity"}, want_body=False, limit=1 << 62
        )
        length = headers.get("Content-Length")
        if length is None:
            raise _AttemptError(
                RemoteError, "the server does not say the object's size", retryable=False
            )
        return Version(int(length), headers.get("ETag"), headers.get("Last-Modified"))


class _FsspecDriver(_Driver):
    """Any other fsspec filesystem: ``info`` for the size, ``cat_file`` for ranges.

    Such backends give no response headers, so reads are not conditional: the
    size pinned at open is checked against what each read returns.
    """

    def __init__(self, fs: Any, path: str) -> None:
        self.fs = fs
        self.path = path

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            if getattr(self.fs, "async_impl", False):
                return await getattr(self.fs, "_" + name)(self.path, *args, **kwargs)
            return await asyncio.to_thread(getattr(self.fs, name), self.path, *args, **kwargs)
        except FileNotFoundError as exc:
            raise _AttemptError(
                SourceNotFoundError, f"not found ({exc})", retryable=False
            ) from None
        except PermissionError as exc:
            raise _AttemptError(
                SourceAccessError, f"access denied ({exc})", retryable=False
            ) from None
        except (TimeoutError, asyncio.TimeoutError):
            raise _transient("timed out", RemoteTimeoutError) from None
        except ConnectionError as exc:
            raise _transient(
                f"connection failed ({type(exc).__name__})", RemoteConnectionError
            ) from None
        except OSError as exc:
            raise _AttemptError(
                RemoteError, f"{type(exc).__name__}: {exc}", retryable=False
            ) from None

    async def get(self, start: int, end: int, pin: Version | None) -> _Answer:
        del pin  # no conditional reads here; see the class docstring
        data = await self._call("cat_file", start=start, end=end)
        return _Answer(bytes(data), None, None, None)

    async def stat(self) -> Version:
        info = await self._call("info")
        if info.get("type", "file") != "file":
            raise _AttemptError(
                SourceNotFoundError, f"not a file ({info.get('type')})", retryable=False
            )
        tag = next(
            (
                str(info[key])
                for key in ("ETag", "etag", "generation", "VersionId")
                if info.get(key)
            ),
            None,
        )
        modified = info.get("mtime") or info.get("LastModified") or info.get("last_modified")
        return Version(int(info["size"]), tag, str(modified) if modified else None)


# -- the ReadAt --------------------------------------------------------------------------


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
    driver: _Driver
    loop: asyncio.AbstractEventLoop


class _Window(NamedTuple):
    """Bytes kept in memory for the reader's lifetime: ``[start, start + len(data))``.

    Every thread slices ``data`` into views of their own (``fresh_view``), never
    one shared memoryview (see randread.readat._views).
    """

    start: int
    data: bytes


class _BlockCache:
    """Blocks of a remote object, least recently used out first, at most ``capacity`` bytes.

    The lock guards dictionary work only, never a fetch.
    """

    __slots__ = ("_blocks", "_lock", "block_size", "bytes", "capacity")

    def __init__(self, capacity: int, block_size: int) -> None:
        self.capacity = capacity
        self.block_size = block_size
        self.bytes = 0
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._lock = TimedLock("RemoteReadAt.block_cache")

    def get(self, block: int) -> bytes | None:
        with self._lock:
            data = self._blocks.get(block)
            if data is not None:
                self._blocks.move_to_end(block)
            return data

    def put(self, block: int, data: bytes) -> None:
        if len(data) > self.capacity:
            return
        with self._lock:
            if block in self._blocks:
                return
            self._blocks[block] = data
            self.bytes += len(data)
            while self.bytes > self.capacity:
                _, evicted = self._blocks.popitem(last=False)
                self.bytes -= len(evicted)


class RemoteReadAt(ReadAtBase):
    """ReadAt over an object in S3, GCS, Azure, HTTP(S), ``memory://``: any fsspec URL.

    ``storage_options`` go to the fsspec filesystem (credentials, endpoint,
    ``client_kwargs``; S3 also takes them from the usual environment and config
    files). The object's size and version are read and pinned at open, with
    the last ``tail_window`` bytes, in one request where the backend allows
    (S3, HTTP) and two elsewhere. Reads inside the tail cost no request.

    ``block_cache`` (bytes, default 0: off) keeps what reads fetch outside
    the pinned windows, in blocks of ``block_size`` bytes, least recently used
    first out, so repeated and neighbouring reads cost no request.

    Thread-safe with no lock around I/O; safe after ``fork`` (the child opens
    its own connections); pickles as its URL, options and pinned version, and
    reconnects lazily where it is unpickled. Credentials never appear in
    messages or in ``repr``.
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
        self.version = self._run(self._open)
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
            _BlockCache(self.settings.block_cache, self.settings.block_size)
            if self.settings.block_cache
            else None
        )
        self._closed = False

    @classmethod
    def _restore(
        cls, url: str, options: dict[str, Any], settings: RemoteSettings, version: Version
    ) -> RemoteReadAt:
        """Rebuild a pickled reader: no request until its first read."""
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
        # one sets up a filesystem object and sends nothing.
        with self._connect_lock:
            connection = self._connection
            if connection is not None and connection.pid == pid:
                return connection
            if self._closed:
                raise self._raise_closed()
            driver, loop = _make_driver(self._url, self._options, self.settings)
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
            return future.result(timeout=limit + 5)
        except RemoteError:
            raise
        except TimeoutError:  # pragma: no cover - the coroutine's own timeouts fire first
            future.cancel()
            msg = f"{self.url}: no answer within {limit:.0f} s"
            raise RemoteTimeoutError(msg, url=self.url) from None

    # -- requests --------------------------------------------------------------------

    async def _attempt(self, start: int, end: int, pin: Version | None) -> _Answer:
        """One request with retries; failures become public errors naming URL and range."""
        driver = self._connect().driver
        settings = self.settings
        attempts = settings.retries + 1
        for attempt in range(attempts):
            try:
                answer = await asyncio.wait_for(driver.get(start, end, pin), settings.timeout)
                self._check_answer(answer, start, end, pin)
            except (asyncio.TimeoutError, TimeoutError):
                failure = _transient(f"no answer within {settings.timeout:g} s", RemoteTimeoutError)
            except _AttemptError as caught:
                failure = caught
            else:
                return answer
            if not failure.retryable or attempt + 1 == attempts:
                break
            await asyncio.sleep(settings.backoff * 2**attempt)
        raise self._error(failure, start, end, attempts if failure.retryable else attempt + 1, pin)

    def _check_answer(self, answer: _Answer, start: int, end: int, pin: Version | None) -> None:
        if pin is None:
            return
        if answer.total is not None and answer.total != pin.size:
            detail = f"its size is now {answer.total}, not {pin.size}"
            raise _AttemptError(SourceChangedError, detail, retryable=False)
        if answer.etag and pin.etag and answer.etag != pin.etag:
            detail = f"its ETag is now {answer.etag}, not {pin.etag}"
            raise _AttemptError(SourceChangedError, detail, retryable=False)
        wanted = min(end, pin.size) - start
        if len(answer.data) != wanted:
            detail = f"the answer has {len(answer.data)} bytes, not {wanted}"
            if answer.total is None and len(answer.data) < wanted:
                # Without response headers a short answer is all there is to see of a change.
                raise _AttemptError(
                    SourceChangedError, f"{detail} (the object shrank?)", retryable=False
                )
            raise _transient(detail)

    def _error(
        self, failure: _AttemptError, start: int, end: int, attempts: int, pin: Version | None
    ) -> RemoteError:
        if start < 0:
            what, offset, length = f"the last {-start} bytes", None, None
        else:
            what, offset, length = (
                f"bytes {start}-{end - 1} (0x{start:x}-0x{end - 1:x})",
                start,
                end - start,
            )
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        detail = failure.detail
        if failure.kind is SourceChangedError and pin is not None:
            detail = f"the object changed since it was opened ({pin.describe()}): {detail}"
        message = f"{self.url}: reading {what} failed{tried}: {detail}"
        return failure.kind(
            message, url=self.url, offset=offset, length=length, status=failure.status
        )

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
            if exc.status != _RANGE_NOT_SATISFIABLE:
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
            failure = _transient(
                f"no answer within {self.settings.timeout:g} s", RemoteTimeoutError
            )
        except _AttemptError as caught:
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
                for block in range(offset // size, (offset + length - 1) // size + 1)
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
            first, last = offset // size, (offset + length - 1) // size
            start = offset - first * size
            if first == last:
                parts[index] = fresh_view(held[first], start, start + length)
            else:
                joined = b"".join(held[block] for block in range(first, last + 1))
                parts[index] = fresh_view(joined, start, start + length)
        return parts

    @property
    def cached_bytes(self) -> int:
        """Bytes held by the block cache (0 without one)."""
        return self._blocks.bytes if self._blocks is not None else 0

    def _release(self) -> None:
        self._blocks = None
        self._head = None
        self._tail = None
        self._connection = None


def read_ranges(readat: ReadAt, ranges: Sequence[tuple[int, int]]) -> list[memoryview]:
    """Return the bytes of each ``(offset, length)`` range of ``readat``, in order.

    A ReadAt with a ``read_ranges`` method of its own (a remote source) merges
    and fetches the ranges together; any other reads them one by one.
    """
    batch = getattr(readat, "read_ranges", None)
    if batch is not None:
        result: list[memoryview] = batch(ranges)
        return result
    return [readat.view_at(offset, length) for offset, length in ranges]


def _filesystem_class(protocol: str) -> Any:
    import fsspec  # noqa: PLC0415 - optional

    try:
        return fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError) as exc:
        msg = f"no fsspec filesystem for {protocol!r} URLs ({exc})"
        raise MissingDependencyError(msg) from None


def _make_driver(
    url: str, options: dict[str, Any], settings: RemoteSettings
) -> tuple[_Driver, asyncio.AbstractEventLoop]:
    try:
        import fsspec  # noqa: PLC0415 - optional
        import fsspec.asyn  # noqa: PLC0415 - optional
        import fsspec.core  # noqa: PLC0415 - optional
    except ImportError:
        msg = f"reading URLs such as {redact_url(url)!r} needs the remote extra: {_EXTRA_HINT}"
        raise MissingDependencyError(msg) from None
    protocol = url.split("::", 1)[0].split("://", 1)[0] if "://" in url.split("::", 1)[0] else ""
    if "::" not in url and protocol in _S3_PROTOCOLS:
        _filesystem_class(protocol)
        options = _s3_defaults(options, settings)
    try:
        fs, path = fsspec.core.url_to_fs(url, **options)
    except ImportError as exc:
        msg = f"reading {redact_url(url)!r} needs a package fsspec asks for: {exc}"
        raise MissingDependencyError(msg) from None
    except ValueError as exc:
        msg = f"{redact_url(url)}: {exc}"
        raise ValueError(msg) from None
    fs_protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    driver: _Driver
    if "::" not in url and fs_protocols & _S3_PROTOCOLS and hasattr(fs, "get_s3"):
        driver = _S3Driver(fs, path)
    elif "::" not in url and fs_protocols & _HTTP_PROTOCOLS and hasattr(fs, "set_session"):
        driver = _HTTPDriver(fs, path)
    else:
        driver = _FsspecDriver(fs, path)
    loop = getattr(fs, "loop", None) if getattr(fs, "async_impl", False) else None
    return driver, loop or fsspec.asyn.get_loop()


def _s3_defaults(options: dict[str, Any], settings: RemoteSettings) -> dict[str, Any]:
    """Let randread own retries (bounded, with backoff) and allow a batch's concurrency."""
    config = dict(options.get("config_kwargs") or {})
    config.setdefault("retries", {"total_max_attempts": 1})
    config.setdefault("max_pool_connections", max(10, settings.max_concurrency))
    return {**options, "config_kwargs": config}
