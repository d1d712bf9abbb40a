"""Batch reads on several threads: ZipReader.read_many and the chunk runner behind it.

A batch decodes on the caller's thread and pool threads, but reads exactly
like a loop of read(): the same contents in the same order, and the first
error in request order.
"""

from __future__ import annotations

import random
import re
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import randread
from randread._core.batch import batch_modes, run_in_chunks
from randread.bundle import batch as bundle_batch
from tests.bundlebuilder import footer_of


def _contents(count: int) -> dict[str, bytes]:
    generator = random.Random(count)
    return {
        f"d/{index:04d}.txt": b"".join(
            b"line %d of %d: %x\n" % (line, index, generator.randrange(1 << 16))
            for line in range(generator.randrange(0, 400))
        )
        for index in range(count)
    }


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    files = _contents(300)
    path = tmp_path_factory.mktemp("zips") / "mixed.zip"
    with zipfile.ZipFile(path, "w") as writer:
        for number, (name, content) in enumerate(files.items()):
            method = zipfile.ZIP_STORED if number % 5 == 0 else zipfile.ZIP_DEFLATED
            writer.writestr(name, content, compress_type=method)
    return path, files


def test_zip_read_many_matches_a_loop_of_read(archive: tuple[Path, dict[str, bytes]]) -> None:
    path, files = archive
    names = list(files)
    generator = random.Random(2)
    with randread.ZipReader(path) as reader:
        for size in (0, 1, 7, 8, 9, 100, 300):
            batch = generator.choices(names, k=size)
            for workers in (None, 1, 2, 3):
                assert reader.read_many(batch, workers=workers) == [files[n] for n in batch]


def test_zip_read_many_from_threads(archive: tuple[Path, dict[str, bytes]]) -> None:
    path, files = archive
    names = list(files)
    with randread.ZipReader(path) as reader:
        barrier = threading.Barrier(4)
        failures: list[BaseException] = []

        def work(seed: int) -> None:
            try:
                barrier.wait(30)
                generator = random.Random(seed)
                for _ in range(5):
                    batch = generator.sample(names, 64)
                    assert reader.read_many(batch, workers=2) == [files[n] for n in batch]
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(seed,), daemon=True) for seed in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
            assert not thread.is_alive()
        assert not failures, failures


@pytest.mark.parametrize("threaded", [True, False])
def test_zip_batches_take_any_iterable_of_names(
    archive: tuple[Path, dict[str, bytes]], *, threaded: bool
) -> None:
    path, files = archive
    names = random.Random(7).sample(list(files), 100)
    expected = [files[n] for n in names]
    with randread.ZipReader(path) as reader, batch_modes.forced(threaded=threaded):
        for _ in range(2):  # names read before take read()'s hot path
            assert reader.read_many(iter(names), workers=2) == expected
            target = bytearray(sum(map(len, expected)))
            views = reader.read_many_into((n for n in names), target, workers=2)
            assert [bytes(view) for view in views] == expected


def test_zip_read_many_raises_the_first_error_in_request_order(
    archive: tuple[Path, dict[str, bytes]],
) -> None:
    path, files = archive
    names = list(files)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as plain:
        infos = {info.filename: info for info in plain.infolist()}
    damaged = [names[41], names[200]]  # deflated (41 and 200 are not multiples of 5)
    for name in damaged:
        info = infos[name]
        header_length = 30 + len(info.filename.encode()) + len(info.extra)
        data[info.header_offset + header_length + info.compress_size // 2] ^= 0x55
    with randread.ZipReader(bytes(data)) as reader:
        for workers in (1, 2, 4):
            with pytest.raises(randread.RandreadError) as caught:
                reader.read_many(names, workers=workers)
            assert damaged[0] in str(caught.value)
            assert damaged[1] not in str(caught.value)
            good = [name for name in names if name not in damaged]
            with pytest.raises(KeyError):
                reader.read_many([*good, "missing"], workers=workers)
            # A damaged entry before a missing name comes first, as in a loop.
            with pytest.raises(randread.ZipFormatError, match=re.escape(repr(damaged[0]))):
                reader.read_many([*good, damaged[0], "missing"], workers=workers)
            with pytest.raises(randread.ZipFormatError, match=re.escape(repr(damaged[0]))):
                reader.read_many_into(
                    [*good[:5], damaged[0], "missing"], bytearray(1 << 20), workers=workers
                )
            assert reader.read_many(good, workers=workers) == [files[n] for n in good]


def test_run_in_chunks_keeps_order_and_raises_the_lowest_error() -> None:
    with ThreadPoolExecutor(3) as pool:
        for count in (0, 1, 5, 64, 1000):
            assert run_in_chunks(count, lambda i: i * i, 3, pool) == [i * i for i in range(count)]

        def failing(position: int) -> int:
            if position in (37, 500, 900):
                raise ValueError(position)
            return position

        for _ in range(20):
            with pytest.raises(ValueError, match=r"^37$"):
                run_in_chunks(1000, failing, 4, pool)


def test_run_in_chunks_on_a_shut_down_pool_runs_in_the_caller() -> None:
    pool = ThreadPoolExecutor(2)
    pool.shutdown()
    seen: set[str] = set()

    def record(position: int) -> int:
        seen.add(threading.current_thread().name)
        return position

    assert run_in_chunks(100, record, 2, pool) == list(range(100))
    assert seen == {threading.current_thread().name}


# -- BundleReader.read_many: zstd frames decoded together, other codecs in chunks ----------

BUNDLE_OPTIONS: dict[str, dict[str, object]] = {
    "zstd": {"codec": "zstd"},
    "zstd-dict": {"codec": "zstd", "dictionary": "train"},
    "lz4": {"codec": "lz4"},
    "none": {"codec": "none"},
    "auto": {"codec": "auto"},  # small entries stored, the rest zstd: a mixed batch
}


@pytest.fixture(scope="module", params=list(BUNDLE_OPTIONS))
def bundle(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, bytes]]:
    files = _contents(300)
    path = tmp_path_factory.mktemp("bundles") / f"{request.param}.rrb"
    with randread.BundleWriter(path, **BUNDLE_OPTIONS[request.param]) as writer:  # type: ignore[arg-type]
        for name, content in files.items():
            writer.add(name, content)
    return path, files


@pytest.fixture(params=[False, True], ids=["frame-by-frame", "frame-runs"])
def frame_runs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Both ways a threaded batch decodes zstd frames (see bundle.batch.frame_runs)."""
    monkeypatch.setattr(bundle_batch, "frame_runs", request.param)
    return bool(request.param)


@pytest.mark.parametrize("threaded", [True, False])
@pytest.mark.usefixtures("frame_runs")
def test_bundle_read_many_matches_a_loop_of_read(
    bundle: tuple[Path, dict[str, bytes]], *, threaded: bool
) -> None:
    path, files = bundle
    names = list(files)
    generator = random.Random(4)
    with randread.BundleReader(path) as reader, batch_modes.forced(threaded=threaded):
        for size in (0, 1, 7, 8, 9, 100, 300):
            batch = generator.choices(names, k=size)
            for workers in (None, 1, 2, 3):
                assert reader.read_many(batch, workers=workers) == [files[n] for n in batch]


def _damage(path: Path, names: list[str], *, where: str) -> bytes:
    """Return the bundle with the content of ``names`` damaged (data bytes or CRC field)."""
    data = bytearray(path.read_bytes())
    with randread.BundleReader(path) as reader:
        table = reader.entries()
        for name in names:
            info = reader.getinfo(name)
            if where == "data":
                data[info.data_offset + info.compress_size // 2] ^= 0x55
            else:  # the record's CRC-32: content is intact, its proof is not
                record = footer_of(bytes(data)).entry_table_offset + info.index * table.itemsize
                data[record + 56] ^= 0x01
    return bytes(data)


@pytest.mark.parametrize("where", ["data", "checksum"])
@pytest.mark.parametrize("threaded", [True, False])
@pytest.mark.usefixtures("frame_runs")
def test_bundle_read_many_raises_the_first_error_in_request_order(
    bundle: tuple[Path, dict[str, bytes]], *, where: str, threaded: bool
) -> None:
    path, files = bundle
    names = [name for name in files if len(files[name]) > 2000]
    damaged = [names[30], names[5]]  # the second in file order comes first in the request
    request = names[20:] + names[:20]
    assert request.index(damaged[0]) < request.index(damaged[1])
    with (
        randread.BundleReader(_damage(path, damaged, where=where)) as reader,
        batch_modes.forced(threaded=threaded),
    ):
        for workers in (1, 2, 4):
            with pytest.raises(randread.RandreadError) as caught:
                reader.read_many(request, workers=workers)
            assert repr(damaged[0]) in str(caught.value)
            if where == "checksum":
                assert isinstance(caught.value, randread.ChecksumError)
            with pytest.raises(type(caught.value), match=re.escape(repr(damaged[0]))):
                reader.read_many_into(request, bytearray(sum(len(files[n]) for n in request)))
            # A miss in a bundle whose index fails its checksum is that failure.
            miss = KeyError if where == "data" else randread.BundleFormatError
            with pytest.raises(miss):
                reader.read_many([*request[:3], "missing"], workers=workers)
            # An error before the missing name comes first.
            with pytest.raises(type(caught.value)):
                reader.read_many([damaged[0], "missing"], workers=workers)
            good = [name for name in request if name not in damaged]
            assert reader.read_many(good, workers=workers) == [files[n] for n in good]


@pytest.mark.usefixtures("frame_runs")
def test_bundle_read_many_with_verify_off_skips_the_crc(
    bundle: tuple[Path, dict[str, bytes]],
) -> None:
    path, files = bundle
    names = [name for name in files if len(files[name]) > 2000][:40]
    damaged = _damage(path, names[3:4], where="checksum")
    for threaded in (True, False):
        with (
            randread.BundleReader(damaged, verify=False) as reader,
            batch_modes.forced(threaded=threaded),
        ):
            assert reader.read_many(names, workers=2) == [files[n] for n in names]
