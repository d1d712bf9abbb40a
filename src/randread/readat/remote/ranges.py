"""Byte ranges: merging many small ranges into few requests, and the HTTP range syntax.

Pure functions over ``(offset, length)`` pairs; no I/O. The transport
(:mod:`randread.readat.remote.readat`) plans its requests with them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Sequence

    from randread.readat._base import ReadAt

__all__ = [
    "DEFAULT_MAX_MERGED",
    "DEFAULT_MERGE_GAP",
    "MergedRange",
    "content_range_total",
    "merge_ranges",
    "range_header",
    "read_ranges",
]

#: ranges closer than this are fetched as one request
DEFAULT_MERGE_GAP = 64 * 1024
#: a merged request never spans more than this
DEFAULT_MAX_MERGED = 16 * 1024 * 1024

#: RFC 9110 14.4 Content-Range: ``bytes first-last/complete-length`` (either part may be ``*``)
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")


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


def range_header(start: int, end: int) -> str:
    """Return the Range header for ``[start, end)``; a negative start: the last ``-start`` bytes."""
    return f"bytes=-{-start}" if start < 0 else f"bytes={start}-{end - 1}"


def content_range_total(value: str | None) -> int | None:
    """Return the complete length a Content-Range header states, or None if it states none."""
    if not value:
        return None
    match = _CONTENT_RANGE.search(value)
    if match is None or match.group(3) == "*":
        return None
    return int(match.group(3))
