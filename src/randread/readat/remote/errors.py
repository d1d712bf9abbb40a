"""What a failed request means: transport errors mapped to randread's errors.

A driver turns whatever its client raised (a botocore ``ClientError``, an
aiohttp exception, an ``OSError`` from fsspec) into an :class:`AttemptError`:
the public error class it becomes, a detail without secrets, and whether
another attempt may succeed. The transport retries what is retryable and then
raises the public error with the URL and the range (:func:`public_error`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from randread.errors import (
    RemoteConnectionError,
    RemoteError,
    RemoteTimeoutError,
    SourceAccessError,
    SourceChangedError,
    SourceNotFoundError,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = [
    "RANGE_NOT_SATISFIABLE",
    "AttemptError",
    "call_s3",
    "for_status",
    "from_aiohttp",
    "from_os_error",
    "public_error",
    "timed_out",
    "transient",
]

#: RFC 9110 15.5.17: the range starts past the end (an empty object has no last bytes)
RANGE_NOT_SATISFIABLE = 416
#: HTTP statuses whose meaning does not change on a retry
_STATUS_ERRORS: dict[int, type[RemoteError]] = {
    401: SourceAccessError,
    403: SourceAccessError,
    404: SourceNotFoundError,
    410: SourceNotFoundError,
    412: SourceChangedError,
}
#: statuses that may succeed on a retry, besides every 5xx: request timeout, too many requests
_RETRYABLE_STATUSES = frozenset({408, 429})
_SERVER_ERROR = 500
#: S3 error codes with the HTTP status they stand for
_S3_CODES = {
    "NoSuchKey": 404,
    "NoSuchBucket": 404,
    "NotFound": 404,
    "AccessDenied": 403,
    "InvalidAccessKeyId": 403,
    "SignatureDoesNotMatch": 403,
    "PreconditionFailed": 412,
    "InvalidRange": RANGE_NOT_SATISFIABLE,
}
#: S3 error codes that ask for a retry, whatever status came with them
_S3_RETRY_CODES = frozenset({"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable"})


class AttemptError(Exception):
    """A failed attempt, classified; turned into a public error with the URL and range."""

    def __init__(
        self, kind: type[RemoteError], detail: str, *, retryable: bool, status: int | None = None
    ) -> None:
        self.kind = kind
        self.detail = detail
        self.retryable = retryable
        self.status = status
        super().__init__(detail)


def transient(detail: str, kind: type[RemoteError] = RemoteError) -> AttemptError:
    """Return a failure another attempt may not repeat (a reset, a timeout, a short body)."""
    return AttemptError(kind, detail, retryable=True)


def timed_out(timeout: float) -> AttemptError:
    """Return the failure of an attempt that got no answer within ``timeout`` seconds."""
    return transient(f"no answer within {timeout:g} s", RemoteTimeoutError)


def for_status(status: int, detail: str) -> AttemptError:
    """Classify an HTTP status that is not a success."""
    if status in _STATUS_ERRORS:
        return AttemptError(_STATUS_ERRORS[status], detail, retryable=False, status=status)
    if status == RANGE_NOT_SATISFIABLE:
        detail = f"range not satisfiable: {detail}"
        return AttemptError(RemoteError, detail, retryable=False, status=status)
    retryable = status >= _SERVER_ERROR or status in _RETRYABLE_STATUSES
    return AttemptError(RemoteError, detail, retryable=retryable, status=status or None)


async def call_s3(method: Callable[..., Awaitable[Any]], kwargs: dict[str, Any]) -> Any:
    """Await a botocore client ``method(**kwargs)``; its failures become :class:`AttemptError`."""
    from botocore import exceptions as boto  # noqa: PLC0415 - only with the remote extra

    try:
        return await method(**kwargs)
    except boto.ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        detail = f"{code or 'error'} (HTTP {status})" if status else code or str(exc)
        if code in _S3_CODES:
            status = _S3_CODES[code]
        elif code in _S3_RETRY_CODES:
            status = max(status, 503)
        raise for_status(status, detail) from None
    except boto.NoCredentialsError:
        raise AttemptError(SourceAccessError, "no credentials found", retryable=False) from None
    except (boto.ConnectTimeoutError, boto.ReadTimeoutError) as exc:
        raise transient(type(exc).__name__, RemoteTimeoutError) from None
    except (boto.EndpointConnectionError, boto.ConnectionClosedError) as exc:
        detail = f"cannot reach the endpoint ({type(exc).__name__})"
        raise transient(detail, RemoteConnectionError) from None
    except (boto.HTTPClientError, OSError) as exc:
        raise transient(
            f"connection failed ({type(exc).__name__})", RemoteConnectionError
        ) from None


def from_aiohttp(exc: BaseException) -> AttemptError | None:
    """Classify an aiohttp (or socket) failure; None for anything else."""
    import aiohttp  # noqa: PLC0415 - only with the remote extra

    if isinstance(exc, aiohttp.ClientPayloadError):
        return transient(f"transfer broke off ({exc})", RemoteConnectionError)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return transient("the server did not answer in time", RemoteTimeoutError)
    if isinstance(exc, (aiohttp.ClientConnectionError, OSError)):
        return transient(f"cannot reach the server ({type(exc).__name__})", RemoteConnectionError)
    return None


def from_os_error(exc: OSError | asyncio.TimeoutError) -> AttemptError:
    """Classify what an fsspec filesystem raised (it reports failures as ``OSError``)."""
    if isinstance(exc, FileNotFoundError):
        return AttemptError(SourceNotFoundError, f"not found ({exc})", retryable=False)
    if isinstance(exc, PermissionError):
        return AttemptError(SourceAccessError, f"access denied ({exc})", retryable=False)
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return transient("timed out", RemoteTimeoutError)
    if isinstance(exc, ConnectionError):
        return transient(f"connection failed ({type(exc).__name__})", RemoteConnectionError)
    return AttemptError(RemoteError, f"{type(exc).__name__}: {exc}", retryable=False)


def public_error(
    failure: AttemptError,
    url: str,
    start: int,
    end: int,
    *,
    attempts: int,
    pinned: str | None,
) -> RemoteError:
    """Return the public error for ``failure`` reading ``[start, end)`` of ``url``.

    A negative ``start`` means the last ``-start`` bytes; ``pinned`` describes the
    version the reads were conditional on, if any.
    """
    if start < 0:
        what, offset, length = f"the last {-start} bytes", None, None
    else:
        what = f"bytes {start}-{end - 1} (0x{start:x}-0x{end - 1:x})"
        offset, length = start, end - start
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    detail = failure.detail
    if failure.kind is SourceChangedError and pinned is not None:
        detail = f"the object changed since it was opened ({pinned}): {detail}"
    message = f"{url}: reading {what} failed{tried}: {detail}"
    return failure.kind(message, url=url, offset=offset, length=length, status=failure.status)
