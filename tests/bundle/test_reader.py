"""BundleReader: the read API, threads, pickling, processes, fork, close, open_archive."""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import random
import threading
import time
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest

import randread
from randread._core import batch as batch_engine
from randread._core.batch import batch_modes
from tests.conftest import run_threads

Files = dict[str, bytes]


def write_bundle(path: Path, files: Files, **options: object) -> Path:
    with randread.BundleWriter(path, **options) as writer:  # type: ignore[arg-type]
        for name, content in files.items():
            writer.add(name, content)
    return path


@pytest.fixture(scope="module")
def many_entries(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Files]:
    """A few thousand entries: stored, zstd with a trained dictionary, empty and large."""
    rng = random.Random(7)
    files = {}
    for index in range(3000):
        size = rng.choice([0, 1, 100, 1000, 5000, 20_000])
        files[f"dir{index % 17}/file{index}.bin"] = (
            rng.randbytes(size)
            if index % 3 == 0
            else (f"text {index} {index % 13} ".encode() * (size // 10 + 1))[:size]
        )
    path = tmp_path_factory.mktemp("bundles") / "many.rrb"
    write_bundle(path, files, codec="auto", dictionary="train", alignment=64, workers=2)
    return path, files


def test_the_many_entries_bundle_mixes_codecs(many_entries: tuple[Path, Files]) -> None:
    path, files = many_entries
    with randread.BundleReader(path, verify_index=True) as reader:
        assert reader.namelist() == list(files)
        codecs = {info.codec for info in reader.infolist()}
    assert codecs == {"none", "zstd-dict"}


# -- the API ----------------------------------------------------------------------------


def test_lookups_and_missing_names(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "a.rrb", {"a.txt": b"alpha", "dir/": b"", "dir/b": b"beta"})
    with randread.BundleReader(path) as reader:
        assert "a.txt" in reader
        assert "nope" not in reader
        assert 42 not in reader
        assert "lone \udc80" not in reader
        assert list(reader) == ["a.txt", "dir/", "dir/b"]
        assert len(reader) == 3
        assert reader.getinfo("dir/").is_dir()
        assert not reader.getinfo("dir/b").is_dir()
        for call in (reader.getinfo, reader.read, reader.view, reader.open, reader.as_numpy):
            with pytest.raises(KeyError, match="nope"):
                call("nope")
        with pytest.raises(KeyError):
            reader.read("lone \udc80")
        assert reader.read(reader.getinfo("dir/b")) == b"beta"
        with reader.open(reader.getinfo("a.txt")) as stream:
            assert stream.read() == b"alpha"
        assert "3 entries" in repr(reader)
        table = reader.entries()
        assert list(table["size"]) == [5, 0, 4]
        assert not table.flags.writeable
    assert "closed" in repr(reader)
    assert reader.closed


def test_as_numpy_dtypes_and_shapes(tmp_path: Path) -> None:
    matrix = np.random.default_rng(5).random((4, 6))  # incompressible: stored
    path = write_bundle(
        tmp_path / "n.rrb",
        {"matrix": matrix.tobytes(), "odd": b"12345", "compressed": bytes(800)},
        codec="auto",
        alignment=4096,
    )
    with randread.BundleReader(path) as reader:
        assert reader.getinfo("matrix").codec == "none"
        array = reader.as_numpy("matrix", dtype="<f8", shape=(4, 6))
        assert np.array_equal(array, matrix)
        assert not array.flags.writeable
        assert array.ctypes.data % 4096 == 0
        with pytest.raises(ValueError, match="read-only"):
            array[0, 0] = 1.0
        with pytest.raises(ValueError, match="not a multiple of the 8-byte"):
            reader.as_numpy("odd", dtype="<f8")
        with pytest.raises(ValueError, match="reshape"):
            reader.as_numpy("matrix", dtype="<f8", shape=(5, 5))
        assert reader.getinfo("compressed").codec == "zstd"
        compressed = reader.as_numpy("compressed", dtype="<u4")
        assert compressed.shape == (200,)
        assert not compressed.flags.writeable
        view = reader.view("matrix")
        assert view.readonly
        with pytest.raises(TypeError):
            view[0] = 1  # type: ignore[index]


def test_pread_backend_and_a_caller_readat(tmp_path: Path) -> None:
    files = {"s": b"stored" * 100, "z": b"zstd " * 400}
    path = write_bundle(tmp_path / "p.rrb", files, codec="auto")
    with randread.BundleReader(path, backend="pread") as reader:
        assert {name: reader.read(name) for name in reader.namelist()} == files
        assert bytes(reader.view("s")) == files["s"]
    source = randread.BytesReadAt(path.read_bytes())
    with randread.BundleReader(source) as reader:
        assert reader.read("z") == files["z"]
    assert source.read_at(0, 4) == b"\x89RRB"  # not closed by the reader
    with path.open("rb") as handle, randread.BundleReader(handle) as reader:  # type: ignore[arg-type]
        assert reader.read("s") == files["s"]


# -- threads ------------------------------------------------------------------------------


def test_sixteen_threads_share_one_reader(many_entries: tuple[Path, Files]) -> None:
    path, files = many_entries
    names = list(files)
    counts: list[int] = []
    with randread.BundleReader(path) as reader:

        def work(index: int) -> None:
            rng = random.Random(index)
            deadline = time.monotonic() + 1.5
            done = 0
            while time.monotonic() < deadline:
                name = rng.choice(names)
                operation = rng.randrange(6)
                if operation == 0:
                    assert reader.read(name) == files[name]
                elif operation == 1:
                    with reader.open(name) as stream:
                        start = rng.randrange(len(files[name]) + 1)
                        stream.seek(start)
                        chunks = []
                        while chunk := stream.read(rng.choice([1, 100, 4096, 65536])):
                            chunks.append(chunk)
                        assert b"".join(chunks) == files[name][start:]
                elif operation == 2:
                    assert reader.view(name) == files[name]
                elif operation == 3:
                    assert reader.as_numpy(name).tobytes() == files[name]
                elif operation == 4:
                    batch = rng.sample(names, 8)
                    assert reader.read_many(batch, workers=2) == [files[n] for n in batch]
                else:
                    info = reader.getinfo(name)
                    assert (info.filename, info.file_size) == (name, len(files[name]))
                done += 1
            counts.append(done)

        run_threads(16, work, timeout=60)
    assert len(counts) == 16
    assert min(counts) > 0


def test_close_while_other_threads_read(many_entries: tuple[Path, Files]) -> None:
    """Reads racing a close() return correct data or raise ClosedError, nothing else.

    Views and arrays handed out before the close stay valid after it.
    """
    path, files = many_entries
    names = [name for name in files if files[name]]
    reader = randread.BundleReader(path)
    stored = [
        info.filename for info in reader.infolist() if info.codec == "none" and info.file_size
    ]
    kept = [(name, reader.view(name), reader.as_numpy(name)) for name in stored[:50]]
    streams = [(reader.getinfo(name).codec, name, reader.open(name)) for name in names[:20]]
    outcomes: dict[str, int] = {"data": 0, "closed": 0}
    lock = threading.Lock()
    started = threading.Event()

    def work(index: int) -> None:
        rng = random.Random(index)
        while True:
            name = rng.choice(names)
            try:
                operation = rng.randrange(4)
                if operation == 0:
                    assert reader.read(name) == files[name]
                elif operation == 1:
                    with reader.open(name) as stream:
                        assert stream.read() == files[name]
                elif operation == 2:
                    assert reader.view(name) == files[name]
                else:
                    batch = rng.sample(names, 5)
                    assert reader.read_many(batch) == [files[n] for n in batch]
            except randread.ClosedError:
                with lock:
                    outcomes["closed"] += 1
                return
            with lock:
                outcomes["data"] += 1
                # Close only once every thread is busy reading, many reads in.
                if outcomes["data"] >= 200:
                    started.set()

    def closer() -> None:
        started.wait(10)
        reader.close()

    threads = [threading.Thread(target=closer)]
    threads[0].start()
    run_threads(8, work, timeout=60)
    threads[0].join(10)
    assert outcomes["closed"] == 8
    assert outcomes["data"] > 0
    for name, view, array in kept:
        assert view == files[name]
        assert array.tobytes() == files[name]
    # Streams opened before close() read on until closed themselves, as zip
    # members do; the source is released after the last.
    assert {codec for codec, _, _ in streams} == {"none", "zstd-dict"}
    for _, name, stream in streams:
        assert stream.read() == files[name]
        stream.close()
    for call in (reader.read, reader.view, reader.open):
        with pytest.raises(randread.ClosedError):
            call(names[0])
    with pytest.raises(randread.ClosedError):
        reader.read_many(names[:10])
    with pytest.raises(randread.ClosedError):
        reader.namelist()  # the index is no longer mapped


# -- pickling, processes, fork ----------------------------------------------------------------


def test_pickle_reopens_by_path(many_entries: tuple[Path, Files]) -> None:
    path, files = many_entries
    with randread.BundleReader(path) as reader:
        payload = pickle.dumps(reader)
        assert len(payload) < 1000  # the path, not the index or the data
    clone = pickle.loads(payload)
    with clone:
        name = next(iter(files))
        assert clone.read(name) == files[name]
        assert clone.namelist() == list(files)
    with pytest.raises(randread.ClosedError):
        pickle.dumps(reader)


def test_pickle_of_an_in_memory_bundle_carries_the_bytes(tmp_path: Path) -> None:
    data = write_bundle(tmp_path / "m.rrb", {"a": b"in memory"}).read_bytes()
    with randread.BundleReader(data, verify=False) as reader:
        clone = pickle.loads(pickle.dumps(reader))
    with clone:
        assert clone.read("a") == b"in memory"


def _read_in_worker(reader: randread.BundleReader, names: list[str]) -> list[bytes]:
    return [*reader.read_many(names), reader.read(names[0]), bytes(reader.view(names[-1]))]


@pytest.mark.parametrize(
    "start_method",
    [m for m in ("spawn", "fork") if m in multiprocessing.get_all_start_methods()],
)
def test_multiprocessing_workers(many_entries: tuple[Path, Files], start_method: str) -> None:
    path, files = many_entries
    names = list(files)
    batches = [names[i : i + 10] for i in range(0, 40, 10)]
    context = multiprocessing.get_context(start_method)
    with randread.BundleReader(path) as reader:
        reader.read_many(names[:20])  # the parent has a pool before the children start
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
            with context.Pool(2) as pool:
                results = pool.starmap(_read_in_worker, [(reader, batch) for batch in batches])
    for batch, result in zip(batches, results, strict=True):
        assert result == [files[n] for n in batch] + [files[batch[0]], files[batch[-1]]]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_read_many_after_fork(many_entries: tuple[Path, Files]) -> None:
    """The child recreates the read_many pool the parent made (its threads did not fork)."""
    path, files = many_entries
    names = list(files)[:200]
    with randread.BundleReader(path) as reader:
        assert reader.read_many(names, workers=4) == [files[n] for n in names]
        read_end, write_end = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
            pid = os.fork()
        if pid == 0:  # child
            ok = False
            try:
                ok = reader.read_many(names, workers=4) == [files[n] for n in names]
                ok = ok and reader.read(names[5]) == files[names[5]]
            finally:
                os.write(write_end, b"1" if ok else b"0")
                os._exit(0)
        os.close(write_end)
        answer = os.read(read_end, 1)
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
        assert answer == b"1"
        assert os.waitstatus_to_exitcode(status) == 0
        assert reader.read_many(names) == [files[n] for n in names]


# -- open_archive ---------------------------------------------------------------------------


def test_open_archive_tells_zip_from_bundle(tmp_path: Path) -> None:
    bundle_path = write_bundle(tmp_path / "b.rrb", {"x": b"bundle"})
    zip_path = tmp_path / "z.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("x", b"zip")
    for source, kind, content in (
        (bundle_path, randread.BundleReader, b"bundle"),
        (str(bundle_path), randread.BundleReader, b"bundle"),
        (bundle_path.read_bytes(), randread.BundleReader, b"bundle"),
        (memoryview(bundle_path.read_bytes()), randread.BundleReader, b"bundle"),
        (randread.BytesReadAt(bundle_path.read_bytes()), randread.BundleReader, b"bundle"),
        (zip_path, randread.ZipReader, b"zip"),
        (zip_path.read_bytes(), randread.ZipReader, b"zip"),
        (bytearray(zip_path.read_bytes()), randread.ZipReader, b"zip"),
    ):
        with randread.open_archive(source) as reader:  # type: ignore[arg-type]
            assert type(reader) is kind, source
            assert reader.read("x") == content
    with randread.open_archive(bundle_path, backend="pread") as reader:
        assert reader.read("x") == b"bundle"
    # A zip with a stub that happens to be... anything else: opened as a zip.
    for junk in (b"", b"\x89RR", b"\x89RRB\r\n\x1a", io.BytesIO(b"x").getvalue()):
        with pytest.raises(randread.ZipFormatError):
            randread.open_archive(junk)
    (tmp_path / "short").write_bytes(b"\x89R")
    with pytest.raises(randread.ZipFormatError):
        randread.open_archive(tmp_path / "short")
    # The bundle magic with nothing after it is a damaged bundle, not a zip.
    with pytest.raises(randread.BundleFormatError, match="too short"):
        randread.open_archive(b"\x89RRB\r\n\x1a\n")


def test_view_and_as_numpy_take_an_info_too(tmp_path: Path) -> None:
    path = tmp_path / "b.rrb"
    with randread.BundleWriter(path, codec="none") as writer:
        writer.add("a", bytes(range(16)))
    with randread.BundleReader(path) as reader:
        info = reader.getinfo("a")
        assert bytes(reader.view(info)) == bytes(range(16))
        assert reader.as_numpy(info, "<u4").tolist() == [
            int.from_bytes(bytes(range(i, i + 4)), "little") for i in range(0, 16, 4)
        ]


def test_read_many_with_another_worker_count_uses_that_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "b.rrb"
    with randread.BundleWriter(path, codec="lz4") as writer:
        for index in range(20):
            writer.add(f"e{index}", b"%d" % index * 10_000)
    names = [f"e{index}" for index in range(20)]
    sizes: list[int] = []
    pool = batch_engine.shared_pool

    def spy(size: int) -> ThreadPoolExecutor:
        sizes.append(size)
        return pool(size)

    monkeypatch.setattr(batch_engine, "shared_pool", spy)
    with randread.BundleReader(path) as reader, batch_modes.forced(threaded=True):
        assert reader.read_many(names, workers=2) == [reader.read(name) for name in names]
        assert reader.read_many(names, workers=3) == [reader.read(name) for name in names]
    assert sizes == [2, 3]


def test_an_unpickled_reader_knows_its_file(tmp_path: Path) -> None:
    path = tmp_path / "b.rrb"
    with randread.BundleWriter(path) as writer:
        writer.add("a", b"x")
    with randread.BundleReader(path) as reader:
        copy = pickle.loads(pickle.dumps(reader))
    with copy:
        assert copy.filename == str(path)
        assert copy.read("a") == b"x"


def test_read_many_from_threads_with_different_worker_counts(tmp_path: Path) -> None:
    """One thread replacing the pool never makes another's batch fail."""
    path = tmp_path / "b.rrb"
    files = {f"e{index}": b"%d " % index * 200 for index in range(40)}
    with randread.BundleWriter(path) as writer:
        for name, data in files.items():
            writer.add(name, data)
    names = list(files)
    expected = list(files.values())
    with randread.BundleReader(path) as reader:

        def work(index: int) -> None:
            for round_ in range(60):
                assert reader.read_many(names, workers=2 + (index + round_) % 2) == expected

        run_threads(6, work, timeout=60)


# -- read_many: threads only where they pay, errors in request order ---------------------------


def _batch_files(count: int, repeat: int) -> Files:
    rng = random.Random(count)
    return {
        f"b/{index:04d}": b"".join(
            b"%d:%x " % (index, rng.randrange(1 << 20)) for _ in range(repeat)
        )
        for index in range(count)
    }


@pytest.mark.parametrize(
    "options",
    [
        {"codec": "zstd"},
        {"codec": "zstd", "dictionary": "train", "dictionary_size": 4096},
        {"codec": "lz4"},
        {"codec": "auto"},
        {"codec": "none"},
    ],
    ids=["zstd", "zstd-dict", "lz4", "auto", "none"],
)
def test_read_many_matches_a_loop_of_read(tmp_path: Path, options: dict[str, object]) -> None:
    files = _batch_files(300, 200)
    path = write_bundle(tmp_path / "b.rrb", files, **options)
    names = list(files)
    rng = random.Random(3)
    with randread.BundleReader(path) as reader:
        for size in (0, 1, 7, 8, 64, 256, 300):
            batch = rng.choices(names, k=size)  # repeats allowed
            for workers in (None, 1, 2, 3):
                assert reader.read_many(batch, workers=workers) == [files[n] for n in batch]


def test_small_batches_and_stored_entries_are_read_in_a_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = write_bundle(tmp_path / "small.rrb", _batch_files(40, 5), codec="zstd")
    stored = write_bundle(tmp_path / "stored.rrb", _batch_files(40, 500), codec="none")
    for path in (small, stored):
        with randread.BundleReader(path) as reader, batch_modes.forced(threaded=True):

            def together(*args: object, **kwargs: object) -> NoReturn:
                raise AssertionError((args, kwargs))

            monkeypatch.setattr(batch_engine, "run_in_ranges", together)
            names = reader.namelist()
            reader.read_many(names, workers=2)


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_read_many_raises_the_first_error_in_request_order(tmp_path: Path, codec: str) -> None:
    files = _batch_files(64, 200)
    path = write_bundle(tmp_path / "b.rrb", files, codec=codec)
    names = list(files)
    data = bytearray(path.read_bytes())
    with randread.BundleReader(path) as reader:
        damaged_name = names[40]
        info = reader.getinfo(damaged_name)
    # A flip in the middle of the entry's stored bytes: a decode error or a CRC mismatch.
    data[info.data_offset + info.compress_size // 2] ^= 0x55
    with randread.BundleReader(bytes(data)) as reader:
        for workers in (1, 2, 4):
            with pytest.raises((randread.BundleFormatError, randread.ChecksumError)) as caught:
                reader.read_many([*names, "missing"], workers=workers)
            assert repr(damaged_name) in str(caught.value)
            with pytest.raises(KeyError, match="missing"):
                reader.read_many([*names[:40], "missing", *names[40:]], workers=workers)
            undamaged = names[:40] + names[41:]
            assert reader.read_many(undamaged, workers=workers) == [files[n] for n in undamaged]
