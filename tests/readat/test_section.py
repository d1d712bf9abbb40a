"""SectionReadAt: bounds against its base, which closing a section leaves open."""

from __future__ import annotations

import pytest

import randread
from tests.readat.sources import DATA


def test_section_bounds_checked_against_base() -> None:
    base = randread.BytesReadAt(DATA[:100])
    with pytest.raises(randread.OutOfBoundsError):
        randread.SectionReadAt(base, 90, 11)
    section = randread.SectionReadAt(base, 90, 10)
    with pytest.raises(randread.OutOfBoundsError):
        section.read_at(5, 6)
    section.close()
    assert base.read_at(0, 1) == DATA[:1]  # closing a section leaves its base open
