"""randread.ray on a real local Ray instance: local zips and bundles, and S3 on loopback."""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.require import require_module

ray = require_module("ray")
require_module("ray.data")

import randread  # noqa: E402
from randread.ray import ArchiveDatasource, read_archives  # noqa: E402
from tests.remote import S3  # noqa: E402

pytestmark = [
    # Ray Data's DataContext warns whenever one of its deprecated fields is
    # set, and its own __init__ sets them all to their defaults; nothing
    # here sets them.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context"),
]


def make_zip(seed: int, count: int) -> bytes:
    """``count`` entries of 100-3000 incompressible bytes, and a directory entry."""
    rng = random.Random(seed)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"set{seed}/", b"")
        for number in range(count):
            archive.writestr(f"set{seed}/{number:04d}.bin", rng.randbytes(rng.randrange(100, 3000)))
    return buffer.getvalue()


def zip_contents(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {n: archive.read(n) for n in archive.namelist() if not n.endswith("/")}


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    if ray.is_initialized():  # left running by something before (a docs example that failed)
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """A deflated zip of 120 entries and a zstd bundle of 80, with their contents."""
    root = tmp_path_factory.mktemp("ray-archives")
    first, second = make_zip(1, 120), make_zip(2, 80)
    (root / "a.zip").write_bytes(first)
    (root / "b.zip").write_bytes(second)
    randread.convert(root / "b.zip", root / "b.rrb", codec="zstd")
    return {str(root / "a.zip"): zip_contents(first), str(root / "b.rrb"): zip_contents(second)}


@pytest.mark.usefixtures("local_ray")
def test_rows_are_the_entries(archives: dict[str, dict[str, bytes]]) -> None:
    dataset = read_archives(list(archives), entries_per_partition=50, include_archive=True)
    assert dataset.schema().names == ["name", "bytes", "size", "archive"]
    rows = dataset.take_all()
    assert {(row["archive"], row["name"]): row["bytes"] for row in rows} == {
        (archive, name): data
        for archive, contents in archives.items()
        for name, data in contents.items()
    }
    assert all(row["size"] == len(row["bytes"]) for row in rows)
    assert len(rows) == 200
    # A read task per partition of at most 50 entries of one archive: 3 + 2.
    assert dataset.materialize().num_blocks() == 5
    first = next(iter(archives))
    plain = read_archives(first).take_all()
    assert sorted(plain[0]) == ["bytes", "name", "size"]
    assert [row["name"] for row in plain] == list(archives[first])


def test_partitions_follow_the_parallelism(archives: dict[str, dict[str, bytes]]) -> None:
    datasource = ArchiveDatasource(list(archives))
    tasks = datasource.get_read_tasks(4)
    # 120 and 80 entries, 4 tasks asked for: about an equal share each.
    assert [task.metadata.num_rows for task in tasks] == [60, 60, 40, 40]
    assert sum(task.metadata.size_bytes for task in tasks) == sum(
        len(data) for contents in archives.values() for data in contents.values()
    )
    assert datasource.estimate_inmemory_data_size() == sum(
        task.metadata.size_bytes for task in tasks
    )
    assert len(datasource.get_read_tasks(1)) == 2  # at least one per archive
    assert [t.metadata.num_rows for t in datasource.get_read_tasks(1000)] == [1] * 200
    with pytest.raises(ValueError, match="entries_per_partition"):
        ArchiveDatasource(list(archives), entries_per_partition=0)


@pytest.mark.usefixtures("local_ray")
def test_names_choose_rows(archives: dict[str, dict[str, bytes]]) -> None:
    locations = list(archives)
    by_glob = read_archives(locations, names="*/001?.bin").take_all()
    assert [row["name"] for row in by_glob] == [
        f"set{s}/001{d}.bin" for s in (1, 2) for d in range(10)
    ]
    listed = ["set2/0005.bin", "set1/0100.bin"]
    by_list = read_archives(locations, names=listed, include_archive=True).take_all()
    assert [(row["archive"], row["name"]) for row in by_list] == [
        (locations[0], "set1/0100.bin"),
        (locations[1], "set2/0005.bin"),
    ]
    with pytest.raises(KeyError, match="missing"):
        read_archives(locations, names=["missing"])


def classify(gets: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
    """Opens (a suffix range request for the tail) and the other GETs of one object."""
    assert all(record["range"] for record in gets), gets  # range requests only
    opens = [g for g in gets if g["range"].startswith("bytes=-")]
    return len(opens), [g for g in gets if g not in opens]


@pytest.mark.usefixtures("local_ray")
def test_s3_archives_are_read_lazily_with_range_requests(s3: S3, tmp_path: Path) -> None:
    data = make_zip(3, 300)
    (tmp_path / "c.zip").write_bytes(data)
    randread.convert(tmp_path / "c.zip", tmp_path / "c.rrb", codec="lz4")
    urls = [
        s3.put(data, "ray/c.zip"),
        s3.put((tmp_path / "c.rrb").read_bytes(), "ray/c.rrb"),
    ]
    s3.server.reset()
    dataset = read_archives(
        urls, storage_options=s3.options, entries_per_partition=60, include_archive=True
    )
    for url in urls:  # listed on the driver, nothing read yet
        opens, others = classify(s3.gets(url))
        assert (opens, others) == (1, [])  # the tail alone tells a bundle from a zip
    rows = dataset.take_all()
    expected = zip_contents(data)
    for url in urls:
        assert {row["name"]: row["bytes"] for row in rows if row["archive"] == url} == expected
        opens, entry_reads = classify(s3.gets(url))
        assert opens == 1 + 5  # the listing, then each read task opens its archive
        # Each task reads its 60 neighbouring entries (~90 KB) in one merged
        # range request, unless they lie in the tail window fetched at open.
        assert 5 - 1 <= len(entry_reads) <= 5, [g["range"] for g in entry_reads]
