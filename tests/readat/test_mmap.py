"""MmapReadAt: views outlive close, numpy arrays share the mapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import randread
from tests.readat.sources import DATA, write_source


def test_mmap_close_with_live_views_defers_unmap(tmp_path: Path) -> None:
    path = write_source(DATA, tmp_path)
    source = randread.MmapReadAt(path)
    view = source.view_at(100, 1000)
    array = source.as_numpy(0, 4096)
    source.close()
    assert view.tobytes() == DATA[100:1100]
    assert array.tobytes() == DATA[:4096]
    del view, array  # the mapping goes with the last view; nothing to assert but no crash
    with pytest.raises(randread.ClosedError):
        source.read_at(0, 1)


def test_mmap_as_numpy_is_zero_copy(tmp_path: Path) -> None:
    with randread.MmapReadAt(write_source(DATA, tmp_path)) as source:
        first = source.as_numpy(0, 4096, np.uint64)
        second = source.as_numpy(0, 4096, np.uint64)
        assert np.shares_memory(first, second)
