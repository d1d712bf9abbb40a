"""Merging ranges into requests, and the HTTP range syntax."""

from __future__ import annotations

import pytest

from randread.readat.remote.ranges import content_range_total, merge_ranges, range_header


def test_merge_ranges_rules() -> None:
    ranges = [(0, 10), (100, 10), (10_000, 5), (50, 0), (110, 5)]
    merged = merge_ranges(ranges, gap=100, max_length=1000)
    assert [(m.start, m.end, m.members) for m in merged] == [
        (0, 115, (0, 1, 4)),
        (10_000, 10_005, (2,)),
    ]
    assert len(merge_ranges(ranges, gap=0)) == 3  # 100-110 and 110-115 touch
    assert len(merge_ranges([(0, 10), (10, 10)], max_length=15)) == 2
    assert len(merge_ranges([(0, 100)], max_length=10)) == 1  # never split


def test_range_header_for_a_span_and_for_the_last_bytes() -> None:
    assert range_header(100, 200) == "bytes=100-199"
    assert range_header(-4096, 0) == "bytes=-4096"


@pytest.mark.parametrize(
    ("value", "total"),
    [
        ("bytes 0-99/1000", 1000),
        ("bytes */1000", 1000),
        ("bytes 0-99/*", None),
        ("", None),
        (None, None),
        ("nonsense", None),
    ],
)
def test_content_range_total(value: str | None, total: int | None) -> None:
    assert content_range_total(value) == total
