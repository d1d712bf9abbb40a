"""Remote sources: a ReadAt over object storage and HTTP(S), through fsspec.

- :mod:`~randread.readat.remote.urls`: which sources are URLs, and naming them without secrets;
- :mod:`~randread.readat.remote.ranges`: merging ranges into requests;
- :mod:`~randread.readat.remote.drivers`: the requests of S3, HTTP and other fsspec backends;
- :mod:`~randread.readat.remote.errors`: transport failures as randread's errors;
- :mod:`~randread.readat.remote.cache`: the optional block cache;
- :mod:`~randread.readat.remote.readat`: :class:`RemoteReadAt`, which uses them all.

Importing this package needs no optional dependency; opening a URL needs the
remote extra (``pip install 'randread[remote]'``).
"""

from __future__ import annotations

from randread.readat.remote.cache import DEFAULT_BLOCK_SIZE
from randread.readat.remote.ranges import (
    DEFAULT_MAX_MERGED,
    DEFAULT_MERGE_GAP,
    MergedRange,
    merge_ranges,
    read_ranges,
)
from randread.readat.remote.readat import (
    DEFAULT_HEAD_WINDOW,
    DEFAULT_TAIL_WINDOW,
    RemoteReadAt,
    RemoteSettings,
)
from randread.readat.remote.urls import is_url, local_path, redact_url

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_HEAD_WINDOW",
    "DEFAULT_MAX_MERGED",
    "DEFAULT_MERGE_GAP",
    "DEFAULT_TAIL_WINDOW",
    "MergedRange",
    "RemoteReadAt",
    "RemoteSettings",
    "is_url",
    "local_path",
    "merge_ranges",
    "read_ranges",
    "redact_url",
]
