"""The block cache of a remote source, counted at the loopback S3 server."""

from __future__ import annotations

import random

import pytest

from randread import RemoteReadAt, ZipReader
from tests.conftest import run_threads
from tests.readat.remote_helpers import contents, make_zip, ranges_of
from tests.remote import S3


def test_block_cache_serves_repeated_and_neighbouring_reads(s3: S3) -> None:
    data = make_zip(300, size=3000)
    expected = contents(data)
    url = s3.put(data)
    readat = RemoteReadAt(url, storage_options=s3.options, block_cache=256 * 1024, block_size=65536)
    with ZipReader(readat) as reader:
        names = reader.namelist()
        s3.server.reset()
        assert reader.read(names[100]) == expected[names[100]]
        assert len(s3.gets(url)) == 1
        assert reader.read(names[100]) == expected[names[100]]
        assert reader.read(names[101]) == expected[names[101]]  # same block, most likely
        assert len(s3.gets(url)) <= 2
        # Blocks are whole and aligned: every request starts on a block boundary.
        assert all(start % 65536 == 0 for start, _ in ranges_of(s3.gets(url)))
        # Reading everything keeps the cache within its bound, and right.
        assert reader.read_many(names) == [expected[name] for name in names]
        for name in names[::10]:
            assert reader.read(name) == expected[name]
        assert 0 < readat.cached_bytes <= 256 * 1024
    with pytest.raises(ValueError, match="block_cache"):
        RemoteReadAt(url, storage_options=s3.options, block_cache=-1)


def test_block_cache_is_shared_by_threads(s3: S3) -> None:
    data = make_zip(200, size=2000)
    expected = contents(data)
    url = s3.put(data)
    readat = RemoteReadAt(url, storage_options=s3.options, block_cache=1 << 20, block_size=16384)
    names = sorted(expected)
    with ZipReader(readat) as reader:

        def work(index: int) -> None:
            rng = random.Random(index)
            for name in rng.sample(names, 40):
                assert reader.read(name) == expected[name]

        run_threads(8, work, timeout=120)
        assert readat.cached_bytes <= 1 << 20
