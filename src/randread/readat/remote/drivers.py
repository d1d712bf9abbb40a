"""The requests one kind of backend makes: S3, HTTP(S), and any other fsspec filesystem.

A driver fetches a range (conditional on a pinned version where the backend
allows) and states an object's size and version. It retries nothing and
knows no file format: retries, timeouts and which ranges to fetch are the
transport's (:mod:`randread.readat.remote.readat`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from randread.errors import (
    MissingDependencyError,
    RemoteConnectionError,
    RemoteError,
    SourceNotFoundError,
)
from randread.readat.remote.errors import (
    AttemptError,
    call_s3,
    for_status,
    from_aiohttp,
    from_os_error,
    transient,
)
from randread.readat.remote.ranges import content_range_total, range_header
from randread.readat.remote.urls import is_chained, protocol_of, redact_url

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Answer", "Driver", "FsspecDriver", "HTTPDriver", "S3Driver", "Version", "make_driver"]

_S3_PROTOCOLS = frozenset({"s3", "s3a"})
_HTTP_PROTOCOLS = frozenset({"http", "https"})
_EXTRA_HINT = "pip install 'randread[remote]'"
#: the first status that is not a success (RFC 9110 15.5)
_HTTP_ERROR = 400
_HTTP_OK = 200
#: connections s3fs's client keeps at least (its own default)
_S3_MIN_POOL = 10


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


class Answer(NamedTuple):
    """What one successful request returned."""

    data: bytes
    #: the object's size from Content-Range (None where the backend does not say)
    total: int | None
    etag: str | None
    modified: str | None


class Driver:
    """The requests one kind of backend knows how to make."""

    #: whether ``get`` can send the pinned version as a condition (If-Match)
    conditional = False
    #: whether ``get`` with a negative start (a suffix range) reports the size
    suffix_ranges = False

    async def get(self, start: int, end: int, pin: Version | None) -> Answer:
        """Fetch ``[start, end)`` (or the last ``-start`` bytes); conditional on ``pin``."""
        raise NotImplementedError

    async def stat(self) -> Version:
        """Return the object's current size and version."""
        raise NotImplementedError


class S3Driver(Driver):
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

    async def get(self, start: int, end: int, pin: Version | None) -> Answer:
        """GetObject with a Range, and IfMatch on the pinned ETag."""
        client = await self._client()
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self.key,
            "Range": range_header(start, end),
            **self.extra,
        }
        if pin is not None and pin.etag:
            kwargs["IfMatch"] = pin.etag
        response = await call_s3(client.get_object, kwargs)
        body = response["Body"]
        try:
            data = await body.read()
        except Exception as exc:  # noqa: BLE001 - any failure mid-body is a broken transfer
            body.close()  # drops the connection; a body read to its end gave it back already
            detail = f"transfer broke off: {type(exc).__name__}"
            raise transient(detail, RemoteConnectionError) from None
        return Answer(
            data, content_range_total(response.get("ContentRange")), response.get("ETag"), None
        )

    async def stat(self) -> Version:
        """HeadObject: ContentLength and ETag."""
        client = await self._client()
        response = await call_s3(
            client.head_object, {"Bucket": self.bucket, "Key": self.key, **self.extra}
        )
        return Version(int(response["ContentLength"]), response.get("ETag"))


class HTTPDriver(Driver):
    """HTTP(S) through fsspec's aiohttp session: suffix ranges, If-Match, status codes."""

    conditional = True
    suffix_ranges = True

    def __init__(self, fs: Any, url: str) -> None:
        self.fs = fs
        self.url = url

    async def _request(
        self, method: str, headers: dict[str, str], *, want_body: bool, limit: int
    ) -> tuple[int, Any, bytes]:
        session = await self.fs.set_session()
        kwargs = dict(self.fs.kwargs)
        headers = {**(kwargs.pop("headers", None) or {}), **headers}
        try:
            async with session.request(
                method, self.fs.encode_url(self.url), headers=headers, **kwargs
            ) as response:
                _check_response(response, limit)
                data = await response.read() if want_body else b""
                return response.status, response.headers, data
        except AttemptError:
            raise
        except Exception as exc:
            failure = from_aiohttp(exc)
            if failure is None:
                raise
            raise failure from None

    async def get(self, start: int, end: int, pin: Version | None) -> Answer:
        """GET with a Range, and If-Match (or If-Unmodified-Since) on the pinned version."""
        headers = {"Range": range_header(start, end), "Accept-Encoding": "identity"}
        if pin is not None:
            if pin.etag and not pin.etag.startswith("W/"):
                headers["If-Match"] = pin.etag
            elif pin.modified:
                headers["If-Unmodified-Since"] = pin.modified
        wanted = -start if start < 0 else end - start
        status, response_headers, data = await self._request(
            "GET", headers, want_body=True, limit=wanted
        )
        total = content_range_total(response_headers.get("Content-Range"))
        if status == _HTTP_OK and total is None:
            total = len(data)  # the whole object, which fits in what was asked for
        return Answer(
            data, total, response_headers.get("ETag"), response_headers.get("Last-Modified")
        )

    async def stat(self) -> Version:
        """HEAD: Content-Length, ETag and Last-Modified."""
        _, headers, _ = await self._request(
            "HEAD", {"Accept-Encoding": "identity"}, want_body=False, limit=1 << 62
        )
        length = headers.get("Content-Length")
        if length is None:
            raise AttemptError(
                RemoteError, "the server does not say the object's size", retryable=False
            )
        return Version(int(length), headers.get("ETag"), headers.get("Last-Modified"))


def _check_response(response: Any, limit: int) -> None:
    """Refuse an error status, and a body longer than the ``limit`` bytes asked for."""
    status = response.status
    if status >= _HTTP_ERROR:
        raise for_status(status, f"HTTP {status} {response.reason or ''}".rstrip())
    length = response.content_length
    if length is not None and length > limit:
        msg = (
            f"the server answered HTTP {status} with {length} bytes where at most "
            f"{limit} were asked for: it does not serve byte ranges"
        )
        raise AttemptError(RemoteError, msg, retryable=False)


class FsspecDriver(Driver):
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
        except (OSError, asyncio.TimeoutError) as exc:
            raise from_os_error(exc) from None

    async def get(self, start: int, end: int, pin: Version | None) -> Answer:
        """``cat_file`` of the range; ``pin`` is checked by the caller against the answer."""
        del pin  # no conditional reads here; see the class docstring
        data = await self._call("cat_file", start=start, end=end)
        return Answer(bytes(data), None, None, None)

    async def stat(self) -> Version:
        """``info``: the size, and whichever version tag the filesystem reports."""
        info = await self._call("info")
        if info.get("type", "file") != "file":
            raise AttemptError(
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


def make_driver(
    url: str, options: Mapping[str, Any], *, max_concurrency: int
) -> tuple[Driver, asyncio.AbstractEventLoop]:
    """Return the driver for ``url`` and the event loop its requests run on.

    Makes a filesystem object and sends nothing. ``max_concurrency`` sizes the
    S3 connection pool for a batch's requests in flight.
    """
    try:
        import fsspec  # noqa: PLC0415 - optional
        import fsspec.asyn  # noqa: PLC0415 - optional
        import fsspec.core  # noqa: PLC0415 - optional
    except ImportError:
        msg = f"reading URLs such as {redact_url(url)!r} needs the remote extra: {_EXTRA_HINT}"
        raise MissingDependencyError(msg) from None
    chained = is_chained(url)
    if not chained and protocol_of(url) in _S3_PROTOCOLS:
        _filesystem_class(protocol_of(url))
        options = _s3_defaults(options, max_concurrency)
    try:
        fs, path = fsspec.core.url_to_fs(url, **options)
    except ImportError as exc:
        msg = f"reading {redact_url(url)!r} needs a package fsspec asks for: {exc}"
        raise MissingDependencyError(msg) from None
    except ValueError as exc:
        msg = f"{redact_url(url)}: {exc}"
        raise ValueError(msg) from None
    fs_protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    driver: Driver
    if not chained and fs_protocols & _S3_PROTOCOLS and hasattr(fs, "get_s3"):
        driver = S3Driver(fs, path)
    elif not chained and fs_protocols & _HTTP_PROTOCOLS and hasattr(fs, "set_session"):
        driver = HTTPDriver(fs, path)
    else:
        driver = FsspecDriver(fs, path)
    loop = getattr(fs, "loop", None) if getattr(fs, "async_impl", False) else None
    return driver, loop or fsspec.asyn.get_loop()


def _filesystem_class(protocol: str) -> Any:
    import fsspec  # noqa: PLC0415 - optional

    try:
        return fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError) as exc:
        msg = f"no fsspec filesystem for {protocol!r} URLs ({exc})"
        raise MissingDependencyError(msg) from None


def _s3_defaults(options: Mapping[str, Any], max_concurrency: int) -> dict[str, Any]:
    """Let randread own retries (bounded, with backoff) and allow a batch's concurrency."""
    config = dict(options.get("config_kwargs") or {})
    config.setdefault("retries", {"total_max_attempts": 1})
    config.setdefault("max_pool_connections", max(_S3_MIN_POOL, max_concurrency))
    return {**options, "config_kwargs": config}
