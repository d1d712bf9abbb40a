"""Streams over a ReadAt: positions of their own, ranges checked, used from threads."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

import randread
from randread.readat import ReadAtRawIO
from tests.conftest import run_threads
from tests.readat.sources import DATA, write_source


class TestStream:
    def test_read_seek_tell(self) -> None:
        stream = randread.readat_stream(randread.BytesReadAt(DATA), 1000, 5000)
        assert stream.seekable()
        assert stream.readable()
        assert not stream.writable()
        assert stream.read(10) == DATA[1000:1010]
        assert stream.tell() == 10
        assert stream.seek(-10, io.SEEK_END) == 4990
        assert stream.read() == DATA[5990:6000]
        assert stream.read() == b""
        stream.seek(100)
        assert stream.read(4900) == DATA[1100:6000]
        stream.seek(10_000)
        assert stream.read() == b""
        with pytest.raises(ValueError, match="negative seek"):
            stream.seek(-1)
        with pytest.raises(ValueError, match="whence"):
            stream.seek(0, 7)

    def test_streams_have_their_own_positions(self) -> None:
        source = randread.BytesReadAt(DATA)
        first = randread.readat_stream(source)
        second = randread.readat_stream(source)
        first.read(100)
        assert second.read(10) == DATA[:10]
        assert first.read(10) == DATA[100:110]

    def test_readinto_and_readall_raw(self) -> None:
        raw = ReadAtRawIO(randread.BytesReadAt(DATA), 10, 20)
        buffer = bytearray(8)
        assert raw.readinto(buffer) == 8
        assert buffer == DATA[10:18]
        assert raw.readall() == DATA[18:30]
        assert raw.readinto(buffer) == 0
        raw.close()
        with pytest.raises(ValueError, match="closed"):
            raw.read(1)

    def test_range_checked(self) -> None:
        with pytest.raises(randread.OutOfBoundsError):
            randread.readat_stream(randread.BytesReadAt(DATA[:10]), 5, 6)

    def test_streams_from_threads(self, tmp_path: Path) -> None:
        source = randread.MmapReadAt(write_source(DATA, tmp_path))

        def reader(index: int) -> None:
            rng = random.Random(index)
            stream = randread.readat_stream(source, buffer_size=1024)
            for _ in range(2000):
                offset = rng.randrange(len(DATA))
                stream.seek(offset)
                assert stream.read(700) == DATA[offset : offset + 700]

        with source:
            run_threads(8, reader)
