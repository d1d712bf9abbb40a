"""randread.torch with the real PyTorch DataLoader: local zips and bundles, and S3 on loopback."""

from __future__ import annotations

import io
import os
import pickle
import random
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.require import require_module

torch = require_module("torch")

from torch.utils.data import DataLoader, get_worker_info  # noqa: E402

import randread  # noqa: E402
import randread.torch  # noqa: E402
from randread.torch import (  # noqa: E402
    ArchiveDataset,
    ArchiveEntry,
    IterableArchiveDataset,
    epoch_plan,
)
from tests.conftest import run_threads  # noqa: E402
from tests.remote import S3  # noqa: E402

# Every DataLoader here is given a timeout, so a stuck worker fails its test.
LOADER_TIMEOUT = 60


def make_zip(
    seed: int, count: int, method: int = zipfile.ZIP_DEFLATED, *, compressible: bool = True
) -> bytes:
    """A zip of ``count`` entries of 100-3000 bytes, plus a directory entry."""
    rng = random.Random(seed)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        archive.writestr(f"part{seed}/", b"")
        for number in range(count):
            size = rng.randrange(100, 3000)
            data = rng.randbytes(size // 2) * 2 if compressible else rng.randbytes(size)
            archive.writestr(f"part{seed}/{number:04d}.bin", data)
    return buffer.getvalue()


def worker_loader(dataset: Any, batch_size: int, context: str = "fork", **options: Any) -> Any:
    """A DataLoader with two worker processes started by ``context``."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=2,
        multiprocessing_context=context,
        timeout=LOADER_TIMEOUT,
        **options,
    )


def zip_contents(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist() if not n.endswith("/")}


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Two zips (deflated, stored) and an lz4 bundle: 70 + 45 + 60 samples."""
    root = tmp_path_factory.mktemp("torch-archives")
    first, second, third = root / "a.zip", root / "b.zip", root / "c.zip"
    first.write_bytes(make_zip(1, 70))
    second.write_bytes(make_zip(2, 45, zipfile.ZIP_STORED))
    third.write_bytes(make_zip(3, 60))
    randread.convert(third, root / "c.rrb", codec="lz4")
    return [str(first), str(second), str(root / "c.rrb")]


@pytest.fixture(scope="module")
def expected(archives: list[str]) -> list[tuple[str, str, bytes]]:
    """Every sample in order, read with zipfile (the bundle from the zip it came from)."""
    samples = []
    for archive in archives:
        source = Path(archive).with_suffix(".zip")
        samples += [(archive, name, data) for name, data in zip_contents(source).items()]
    return samples


def entry_key(entry: ArchiveEntry) -> tuple[str, str]:
    return entry.archive, entry.name


def collect_names(batches: Iterator[Any]) -> list[tuple[str, str]]:
    """(archive, name) of every sample of collated ArchiveEntry batches, in order."""
    seen = []
    for batch in batches:
        seen += list(zip(batch.archive, batch.name, strict=True))
    return seen


# -- map-style ---------------------------------------------------------------------


def test_samples_are_the_entries_in_archive_order(
    archives: list[str], expected: list[tuple[str, str, bytes]]
) -> None:
    dataset = ArchiveDataset(archives)
    assert len(dataset) == len(expected) == 175
    assert [tuple(dataset[i]) for i in range(len(dataset))] == expected
    assert dataset.names == [name for _, name, _ in expected]
    assert dataset.locate(70) == (archives[1], "part2/0000.bin")
    assert tuple(dataset[-1]) == expected[-1]
    with pytest.raises(IndexError):
        dataset[175]
    with pytest.raises(IndexError):
        dataset[-176]
    # The batch hook returns the same samples, in the order asked for.
    indices = [174, 3, 71, 3, 120, 0]
    assert [tuple(s) for s in dataset.__getitems__(indices)] == [expected[i] for i in indices]
    dataset.close()
    assert tuple(dataset[5]) == expected[5]  # reopens after close


def test_names_choose_entries(archives: list[str]) -> None:
    by_glob = ArchiveDataset(archives, names="*/001?.bin")
    assert by_glob.names == [f"part{p}/001{d}.bin" for p in (1, 2, 3) for d in range(10)]
    by_function = ArchiveDataset(archives[:1], names=lambda name: name.endswith("7.bin"))
    assert len(by_function) == 7
    listed = ["part3/0002.bin", "part1/0009.bin", "part1/0001.bin"]
    by_list = ArchiveDataset(archives, names=listed)
    # Archive after archive; inside one, the list's order.
    assert [by_list.locate(i) for i in range(3)] == [
        (archives[0], "part1/0009.bin"),
        (archives[0], "part1/0001.bin"),
        (archives[2], "part3/0002.bin"),
    ]
    with pytest.raises(KeyError, match=r"nothing\.bin"):
        ArchiveDataset(archives, names=["part1/0001.bin", "nothing.bin"])


def sample_size(entry: ArchiveEntry) -> tuple[str, int]:
    return entry.name, len(entry.data)


def test_transform_makes_the_samples(archives: list[str], expected: list[Any]) -> None:
    dataset = ArchiveDataset(archives, transform=sample_size)
    assert dataset[0] == (expected[0][1], len(expected[0][2]))
    loader = DataLoader(dataset, batch_size=50, timeout=0)
    pairs = [(n, int(s)) for batch in loader for n, s in zip(*batch, strict=True)]
    names, sizes = zip(*pairs, strict=True)
    assert list(names) == [name for _, name, _ in expected]
    assert list(sizes) == [len(data) for _, _, data in expected]


def test_a_pickle_holds_no_reader_file_or_index(archives: list[str]) -> None:
    dataset = ArchiveDataset(archives)
    dataset.__getitems__([0, 80, 150])  # every archive open in this process
    state = dataset._archives._state
    assert state is not None
    assert all(reader is not None for reader in state.readers)
    pickled = pickle.dumps(dataset)
    # Locations and names only: no central directory or bundle index bytes.
    names_size = sum(len(name) for name in dataset.names)
    assert len(pickled) < names_size + 2048
    assert b"PK\x01\x02" not in pickled
    copy = pickle.loads(pickled)
    assert copy._archives._state is None
    assert tuple(copy[150]) == tuple(dataset[150])
    assert all(reader is not None for reader in state.readers)  # the original's stay open
    iterable = IterableArchiveDataset(archives)
    next(iter(iterable))
    pickled = pickle.dumps(iterable)
    assert len(pickled) < names_size + 4096
    assert pickle.loads(pickled)._archives._state is None


def test_threads_share_one_reader_per_archive(
    archives: list[str], expected: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real_open = randread.torch.open_location

    def counting_open(location: str, *args: Any) -> Any:
        opened.append(location)
        return real_open(location, *args)

    dataset = ArchiveDataset(archives)
    monkeypatch.setattr(randread.torch, "open_location", counting_open)
    rng = random.Random(0)
    batches = [rng.sample(range(len(dataset)), 32) for _ in range(8)]

    def read(thread: int) -> None:
        for _ in range(5):
            for batch in batches[thread::4]:
                samples = dataset.__getitems__(batch)
                assert [tuple(s) for s in samples] == [expected[i] for i in batch]

    run_threads(4, read, timeout=60)  # all four start together on a barrier
    assert sorted(opened) == sorted(archives)  # each archive opened once, by one thread


def reader_owner(entry: ArchiveEntry) -> tuple[str, str, int, int]:
    """The sample's keys, the worker's pid and the pid its readers were opened in."""
    info = get_worker_info()
    assert info is not None
    state = info.dataset._archives._state
    return entry.archive, entry.name, os.getpid(), state.pid


def test_forked_workers_open_their_own_readers(archives: list[str]) -> None:
    dataset = ArchiveDataset(archives, transform=reader_owner)
    dataset._archives.reader(0)
    for archive in range(3):  # the parent has open readers (memory maps) ...
        dataset._archives.reader(archive)
    parent_state = dataset._archives._state
    assert parent_state is not None
    assert parent_state.pid == os.getpid()
    loader = worker_loader(dataset, batch_size=16, shuffle=True, collate_fn=list)
    samples = [sample for batch in loader for sample in batch]
    # ... which no worker uses: each worker read through readers it opened.
    assert all(pid == opened_in for _, _, pid, opened_in in samples)
    assert len({pid for _, _, pid, _ in samples}) == 2
    assert os.getpid() not in {pid for _, _, pid, _ in samples}
    assert Counter((a, n) for a, n, _, _ in samples) == Counter(
        dataset.locate(index) for index in range(len(dataset))
    )
    assert dataset._archives._state is parent_state  # still the parent's, still working
    assert (
        dataset._archives.reader(0).read("part1/0003.bin")
        == zip_contents(Path(archives[0]))["part1/0003.bin"]
    )


def test_fork_workers_read_every_sample_once(archives: list[str], expected: list[Any]) -> None:
    dataset = ArchiveDataset(archives)
    loader = worker_loader(dataset, batch_size=16, shuffle=True)
    contents: dict[tuple[str, str], bytes] = {}
    for batch in loader:
        assert isinstance(batch, ArchiveEntry)  # collated field by field
        for archive, name, data in zip(*batch, strict=True):
            assert (archive, name) not in contents
            contents[archive, name] = data
    assert contents == {(archive, name): data for archive, name, data in expected}


# -- iterable ----------------------------------------------------------------------


def test_epoch_plans_cover_every_entry_once() -> None:
    counts = [70, 0, 45, 1, 60]
    for ranks, workers, block_size in [(1, 1, 256), (3, 2, 16), (2, 4, 7), (5, 3, 1)]:
        for epoch in (0, 1):
            runs = [
                run
                for part in range(ranks * workers)
                for run in epoch_plan(
                    counts,
                    block_size=block_size,
                    shuffle=True,
                    seed=7,
                    epoch=epoch,
                    part=part,
                    parts=(ranks, workers),
                )
            ]
            covered = Counter(
                (archive, index) for archive, start, stop in runs for index in range(start, stop)
            )
            assert covered == Counter(
                (archive, index) for archive, count in enumerate(counts) for index in range(count)
            )
            assert all(stop - start <= block_size for _, start, stop in runs)
    with pytest.raises(ValueError, match="out of range"):
        epoch_plan(counts, block_size=4, shuffle=False, seed=0, epoch=0, part=6, parts=(3, 2))


def iterate(dataset: IterableArchiveDataset[Any], **loader_options: Any) -> list[tuple[str, str]]:
    timeout = LOADER_TIMEOUT if loader_options.get("num_workers") else 0
    loader = DataLoader(dataset, batch_size=8, timeout=timeout, **loader_options)
    return collect_names(iter(loader))


def test_ranks_and_workers_read_every_sample_once_per_epoch(
    archives: list[str], expected: list[Any]
) -> None:
    everything = Counter((archive, name) for archive, name, _ in expected)
    orders: dict[int, list[tuple[str, str]]] = {}
    for epoch in (0, 1):
        seen: list[tuple[str, str]] = []
        per_rank = []
        for rank in range(3):
            dataset = IterableArchiveDataset(
                archives, world_size=3, rank=rank, seed=11, block_size=16, shuffle_blocks=2
            )
            dataset.set_epoch(epoch)
            names = iterate(dataset, num_workers=2, multiprocessing_context="fork")
            per_rank.append(len(names))
            seen += names
        assert Counter(seen) == everything
        assert max(per_rank) - min(per_rank) <= 1
        orders[epoch] = seen
    assert orders[0] != orders[1]
    again = IterableArchiveDataset(
        archives, world_size=3, rank=0, seed=11, block_size=16, shuffle_blocks=2
    )
    assert iterate(again, num_workers=2, multiprocessing_context="fork") == orders[0][: per_rank[0]]
    other_seed = IterableArchiveDataset(
        archives, world_size=3, rank=0, seed=12, block_size=16, shuffle_blocks=2
    )
    assert iterate(other_seed) != orders[0][: per_rank[0]]


def test_iterable_contents_and_unshuffled_order(archives: list[str], expected: list[Any]) -> None:
    in_order = IterableArchiveDataset(archives, shuffle=False, block_size=10, prefetch=0)
    assert [tuple(entry) for entry in in_order] == expected
    shuffled = IterableArchiveDataset(archives, seed=3, block_size=10, prefetch=2)
    samples = list(shuffled)
    assert sorted(tuple(entry) for entry in samples) == sorted(expected)
    assert [tuple(entry) for entry in samples] != expected
    assert [tuple(entry) for entry in shuffled] == [tuple(entry) for entry in samples]
    with pytest.raises(ValueError, match="block_size"):
        IterableArchiveDataset(archives, block_size=0)
    with pytest.raises(ValueError, match="both"):
        IterableArchiveDataset(archives, rank=1)


def test_persistent_fork_workers_follow_set_epoch(archives: list[str]) -> None:
    dataset = IterableArchiveDataset(archives, seed=5, block_size=16)
    loader = worker_loader(dataset, batch_size=8, persistent_workers=True)
    orders = []
    for epoch in (0, 1, 0):
        dataset.set_epoch(epoch)
        orders.append(collect_names(iter(loader)))
    assert len(orders[0]) == len(set(orders[0])) == 175
    assert Counter(orders[1]) == Counter(orders[0])
    assert orders[1] != orders[0]
    assert orders[2] == orders[0]


def test_spawned_persistent_workers(archives: list[str], expected: list[Any]) -> None:
    # spawn starts fresh interpreters (a few seconds each): one small test.
    dataset = IterableArchiveDataset(archives, seed=9, block_size=32)
    loader = worker_loader(dataset, batch_size=25, context="spawn", persistent_workers=True)
    dataset.set_epoch(1)
    first = [tuple(sample) for batch in loader for sample in zip(*batch, strict=True)]
    dataset.set_epoch(2)
    second = collect_names(iter(loader))
    assert sorted(first) == sorted(expected)
    assert Counter(second) == Counter((a, n) for a, n, _ in first)
    assert second != [(a, n) for a, n, _ in first]
    assert [(a, n) for a, n, _ in first] == collect_names(
        iter(
            DataLoader(
                dataset_for_epoch(archives, 1),
                batch_size=25,
                num_workers=2,
                multiprocessing_context="fork",
                timeout=LOADER_TIMEOUT,
            )
        )
    )


def dataset_for_epoch(archives: list[str], epoch: int) -> IterableArchiveDataset[ArchiveEntry]:
    dataset = IterableArchiveDataset(archives, seed=9, block_size=32)
    dataset.set_epoch(epoch)
    return dataset


def test_forkserver_workers(archives: list[str]) -> None:
    dataset = ArchiveDataset(archives, names="part2/*")
    loader = worker_loader(dataset, batch_size=10, context="forkserver", shuffle=True)
    assert sorted(collect_names(iter(loader))) == sorted(
        zip([archives[1]] * 45, dataset.names, strict=True)
    )


class DieOnce:
    """A transform that kills its worker at ``name`` the first time (a marker file records it)."""

    def __init__(self, marker: str, name: str) -> None:
        self.marker = marker
        self.name = name

    def __call__(self, entry: ArchiveEntry) -> ArchiveEntry:
        if entry.name == self.name and not os.path.exists(self.marker):  # noqa: PTH110
            Path(self.marker).touch()
            os._exit(1)
        return entry


def test_a_killed_worker_fails_the_epoch_and_a_new_iterator_works(
    archives: list[str], tmp_path: Path
) -> None:
    marker = str(tmp_path / "killed")
    dataset = ArchiveDataset(archives, transform=DieOnce(marker, "part2/0030.bin"))
    loader = DataLoader(
        dataset, batch_size=8, num_workers=2, multiprocessing_context="fork", timeout=30
    )
    with pytest.raises(RuntimeError, match="exited unexpectedly"):
        for _batch in loader:
            pass
    assert Path(marker).exists()
    assert len(collect_names(iter(loader))) == len(dataset)


# -- remote ------------------------------------------------------------------------

HEAD = "bytes=0-65535"  # a pinned head window: no open reads it (the tail tells the format)


def classify(gets: list[dict[str, Any]]) -> tuple[int, int, list[dict[str, Any]]]:
    """Opens (a suffix range request for the tail), head reads and the other GETs."""
    assert all(record["range"] for record in gets), gets  # range requests only
    opens = [g for g in gets if g["range"].startswith("bytes=-")]
    heads = [g for g in gets if g["range"] == HEAD]
    return len(opens), len(heads), [g for g in gets if g not in opens and g not in heads]


def put_archive(s3: S3, tmp_path: Path, kind: str, count: int) -> tuple[str, Path]:
    """A zip of ``count`` incompressible entries (or a bundle of it) on S3, and the zip."""
    source = tmp_path / "remote.zip"
    source.write_bytes(make_zip(4, count, compressible=False))
    if kind == "bundle":
        randread.convert(source, tmp_path / "remote.rrb", codec="zstd")
        return s3.put((tmp_path / "remote.rrb").read_bytes(), f"torch/{count}.rrb"), source
    return s3.put(source.read_bytes(), f"torch/{count}.zip"), source


@pytest.mark.parametrize("kind", ["zip", "bundle"])
def test_s3_workers_open_once_and_batches_merge(s3: S3, tmp_path: Path, kind: str) -> None:
    url, source = put_archive(s3, tmp_path, kind, 400)
    s3.server.reset()
    dataset = ArchiveDataset(url, storage_options=s3.options)
    assert classify(s3.gets(url))[:2] == (1, 0)  # the listing: the tail alone
    loader = worker_loader(dataset, batch_size=40)
    contents = {n: d for batch in loader for _, n, d in zip(*batch, strict=True)}
    assert contents == zip_contents(source)
    opens, heads, reads = classify(s3.gets(url))
    assert (opens, heads) == (1 + 2, 0)  # the listing, then once per worker
    # A batch of 40 neighbouring entries (~60 KB) is at most one merged
    # range request; the last batches lie partly in the tail window fetched
    # at open.
    batches = 400 // 40
    assert batches - 3 <= len(reads) <= batches, [(g["range"], g["bytes"]) for g in reads]


def test_s3_workers_reopen_what_the_parent_opened(s3: S3, tmp_path: Path) -> None:
    url, source = put_archive(s3, tmp_path, "zip", 200)
    expected = zip_contents(source)
    dataset = ArchiveDataset(url, storage_options=s3.options)
    assert dataset[7].data == expected["part4/0007.bin"]  # the parent opens and reads
    s3.server.reset()
    loader = worker_loader(dataset, batch_size=25)
    contents = {n: d for batch in loader for _, n, d in zip(*batch, strict=True)}
    assert contents == expected
    assert classify(s3.gets(url))[:2] == (2, 0)  # each worker opened its own reader
    # The parent's reader still works, with one request: nothing the
    # workers did to the copies they inherited reached it.
    s3.server.reset()
    assert dataset[150].data == expected["part4/0150.bin"]
    assert len(s3.gets(url)) == 1


def test_s3_iterable_reads_a_run_per_request(s3: S3, tmp_path: Path) -> None:
    url, source = put_archive(s3, tmp_path, "zip", 400)
    s3.server.reset()
    dataset = IterableArchiveDataset(url, storage_options=s3.options, block_size=50, seed=1)
    loader = worker_loader(dataset, batch_size=16)
    contents = {n: d for batch in loader for _, n, d in zip(*batch, strict=True)}
    assert contents == zip_contents(source)
    opens, heads, reads = classify(s3.gets(url))
    assert (opens, heads) == (1 + 2, 0)
    runs = 400 // 50  # at most one request per run of 50 entries
    assert runs - 3 <= len(reads) <= runs, [(g["range"], g["bytes"]) for g in reads]
