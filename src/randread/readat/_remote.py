"""Former home of the remote ReadAt, now the package :mod:`randread.readat.remote`.

Kept so that existing imports (``from randread.readat._remote import ...``) keep working.
"""

from __future__ import annotations

from randread.readat.remote import (
    DEFAULT_HEAD_WINDOW,
    DEFAULT_TAIL_WINDOW,
    RemoteReadAt,
    is_url,
    local_path,
    merge_ranges,
    read_ranges,
    redact_url,
)

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
