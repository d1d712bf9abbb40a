"""randread.dask on a real distributed.LocalCluster, reading from the loopback S3 server."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import dask.bag
import pytest
from distributed import Client, LocalCluster

import randread
from randread.dask import ArchiveEntry, convert_archives, read_entries, write_bundles
from tests.remote import S3


def make_zip(index: int, count: int = 120) -> bytes:
    rng = random.Random(index)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for number in range(count):
            archive.writestr(f"shard{index}/{number:04d}.txt", rng.randbytes(800).hex().encode())
        archive.writestr(f"shard{index}/meta.json", b'{"shard": %d}' % index)
    return buffer.getvalue()


def local_contents(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as dask_client,
    ):
        yield dask_client


@pytest.fixture
def shards(s3: S3, tmp_path: Path) -> dict[str, dict[str, bytes]]:
    """Two zips and four bundles on S3, with their expected contents."""
    expected: dict[str, dict[str, bytes]] = {}
    for index in range(6):
        data = make_zip(index)
        if index < 2:
            url = s3.put(data, f"dask/shard{index}.zip")
        else:
            source = tmp_path / f"shard{index}.zip"
            source.write_bytes(data)
            randread.convert(source, tmp_path / f"shard{index}.rrb")
            url = s3.put((tmp_path / f"shard{index}.rrb").read_bytes(), f"dask/shard{index}.rrb")
        expected[url] = local_contents(data)
    return expected


@pytest.mark.usefixtures("client")
def test_read_entries_on_a_cluster(s3: S3, shards: dict[str, dict[str, bytes]]) -> None:
    s3.server.reset()
    bag = read_entries(list(shards), storage_options=s3.options, entries_per_partition=50)
    assert bag.npartitions == 6 * 3  # 121 entries each: 50 + 50 + 21
    entries = bag.compute()
    assert {(e.archive, e.name): e.data for e in entries} == {
        (url, name): data for url, contents in shards.items() for name, data in contents.items()
    }
    assert all(isinstance(entry, ArchiveEntry) for entry in entries)
    for url in shards:
        gets = s3.gets(url)
        # No whole-object download: every GET asked for a range.
        assert all(record["range"] for record in gets), gets
        # Each open (the client's listing, then once per partition) is one
        # request for the tail; a partition's other requests fetch entry data.
        opens = sum(1 for record in gets if record["range"].startswith("bytes=-"))
        assert opens == 1 + 3
        assert len(gets) <= 1 + 3 * 3


@pytest.mark.usefixtures("client")
def test_name_filters(s3: S3, shards: dict[str, dict[str, bytes]]) -> None:
    urls = list(shards)
    bag = read_entries(urls, names="*/meta.json", storage_options=s3.options)
    assert sorted(entry.data for entry in bag.compute()) == sorted(
        b'{"shard": %d}' % index for index in range(6)
    )
    bag = read_entries(
        urls[:1], names=lambda name: name.endswith("7.txt"), storage_options=s3.options
    )
    assert len(bag.compute()) == 12
    assert read_entries(urls[:1], names=["nothing*"], storage_options=s3.options).compute() == []


@pytest.mark.usefixtures("client")
def test_distributed_convert_writes_bundles_that_verify(s3: S3, tmp_path: Path) -> None:
    urls = [s3.put(make_zip(index), f"convert/{index}/data.zip") for index in range(3)]
    outputs = convert_archives(urls, tmp_path / "out", storage_options=s3.options, codec="zstd")
    assert len(set(outputs)) == 3  # repeated stems get their position
    for index, path in enumerate(outputs):
        result = subprocess.run(  # noqa: S603 - this interpreter, a file we wrote
            [sys.executable, "-m", "randread", "verify", path],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        with randread.BundleReader(path) as reader:
            assert {name: reader.read(name) for name in reader.namelist()} == local_contents(
                make_zip(index)
            )


class KillOnce:
    """A ``(name, data)`` pair that kills its worker the first time it is unpacked."""

    def __init__(self, name: str, data: bytes, marker: str) -> None:
        self.name = name
        self.data = data
        self.marker = marker

    def __iter__(self) -> Iterator[Any]:
        yield self.name
        if not os.path.exists(self.marker):  # noqa: PTH110 - runs on a worker
            Path(self.marker).touch()
            os._exit(1)  # the worker dies halfway through writing its bundle
        yield self.data


@pytest.mark.usefixtures("client")
def test_a_killed_worker_loses_nothing(tmp_path: Path) -> None:
    marker = str(tmp_path / "killed")
    pairs: list[Any] = [(f"{i:03d}.bin", os.urandom(5000)) for i in range(40)]
    pairs[25] = KillOnce(pairs[25][0], pairs[25][1], marker)
    # Not tuple(pair) for the KillOnce one: that would kill this process.
    expected = dict(pairs[:25] + pairs[26:])
    expected[pairs[25].name] = pairs[25].data
    bag = dask.bag.from_sequence(pairs, npartitions=4)
    out = tmp_path / "bundles"
    paths = write_bundles(bag, out, codec="lz4")
    assert Path(marker).exists()  # a worker did die
    assert len(paths) == 4
    read_back: Counter[str] = Counter()
    for path in paths:
        with randread.BundleReader(path) as reader:
            reader.verify_index()
            for name in reader.namelist():
                assert reader.read(name) == expected[name]
                read_back[name] += 1
    assert read_back == Counter(expected.keys())  # each entry exactly once
    # Only the finished bundles: no temporary file of the killed attempt.
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(p).name for p in paths)


def test_the_default_scheduler_runs_the_same_code(
    s3: S3, shards: dict[str, dict[str, bytes]]
) -> None:
    url = next(iter(shards))
    with dask.config.set(scheduler="threads"):
        entries = read_entries([url], storage_options=s3.options).compute()
    assert {entry.name: entry.data for entry in entries} == shards[url]
    with pytest.raises(ValueError, match="entries_per_partition"):
        read_entries([url], entries_per_partition=0)
