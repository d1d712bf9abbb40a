"""URLs: which sources are URLs, which are local paths, and how to name them safely.

Nothing here makes a request or needs the remote extra.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["is_chained", "is_url", "local_path", "protocol_of", "redact_url"]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
#: fsspec's separator of chained URLs (``simplecache::s3://bucket/key``)
_CHAIN = "::"
_FILE_SCHEME = "file://"


def is_url(source: object) -> bool:
    """Tell whether ``source`` is a URL for fsspec (``s3://``, ``https://``, ``a::b``).

    ``file://`` URLs are local paths; plain paths are never URLs.
    """
    if not isinstance(source, str):
        return False
    if source.startswith(_FILE_SCHEME) and _CHAIN not in source:
        return False
    return bool(_URL.match(source)) or _CHAIN in source


def is_chained(url: str) -> bool:
    """Tell whether ``url`` chains fsspec filesystems (``a::b``)."""
    return _CHAIN in url


def local_path(source: str) -> str | None:
    """Return the path of a plain ``file://`` URL, else None."""
    if source.startswith(_FILE_SCHEME) and _CHAIN not in source:
        return source[len(_FILE_SCHEME) :]
    return None


def protocol_of(url: str) -> str:
    """Return the scheme of ``url``'s first part (``s3`` for ``s3://b/k``), or ``""``."""
    first = url.split(_CHAIN, 1)[0]
    return first.split("://", 1)[0] if "://" in first else ""


def redact_url(url: str) -> str:
    """Return ``url`` without the secrets a URL can carry (user info, query string)."""
    parts = []
    for part in url.split(_CHAIN):
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
    return _CHAIN.join(parts)
