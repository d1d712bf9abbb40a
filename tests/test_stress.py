"""Many threads, one reader: mixed workloads, closing under load, injected I/O faults.

Every byte read is compared with the source. Threads start on a barrier
(``run_threads``), whose watchdog dumps every thread's stack and fails the test
when one stalls; every lock and single-flight wait is bounded by a short
timeout, so a deadlock shows up as a ``LockTimeoutError`` naming the holder.

Readers come from ``READERS``: a new archive format joins the whole suite by
adding one ``pytest.param`` there.
"""

from __future__ import annotations

import bisect
import errno
import io
import itertools
import random
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import randread
from randread import _locks
from randread.cache import CachedReader
from randread.readat import BytesReadAt, ReadAt
from tests.conftest import run_threads

THREADS = 16
#: seconds any thread may take before the watchdog dumps all stacks and fails the test
WATCHDOG = 60.0
#: every lock and single-flight wait in these tests gives up (loudly) after this
LOCK_TIMEOUT = 10.0

Files = dict[str, bytes]
ReaderFactory = Callable[[Files, Path], Any]


def zip_for(files: Files, directory: Path) -> Path:
    """Write ``files`` once per directory as a zip of mixed methods; return its path."""
    path = directory / "stress.zip"
    if not path.exists():
        methods = [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]
        with zipfile.ZipFile(path, "w") as archive:
            for index, (name, data) in enumerate(files.items()):
                method = zipfile.ZIP_BZIP2 if index % 41 == 0 else methods[index % 3]
                archive.writestr(name, data, compress_type=method)
    return path


def bundle_for(files: Files, directory: Path) -> Path:
    """Write ``files`` once per directory as a bundle of mixed codecs; return its path."""
    path = directory / "stress.rrb"
    if not path.exists():
        with randread.BundleWriter(path, codec="auto") as writer:
            for name, data in files.items():
                writer.add(name, data)
    return path


#: (files, directory) -> a reader with the read API over ``files``
READERS = [
    pytest.param(lambda files, d: randread.ZipReader(zip_for(files, d)), id="zip-mmap"),
    pytest.param(
        lambda files, d: randread.ZipReader(zip_for(files, d), backend="pread"), id="zip-pread"
    ),
    pytest.param(lambda files, d: randread.BundleReader(bundle_for(files, d)), id="bundle-mmap"),
]


@pytest.fixture(autouse=True)
def short_lock_timeout() -> Iterator[None]:
    previous = _locks.set_lock_timeout(LOCK_TIMEOUT)
    yield
    _locks.set_lock_timeout(previous)


@pytest.fixture(scope="module")
def files() -> Files:
    """About 400 entries, 0 to 40 KB, text and random bytes."""
    rng = random.Random(2026)
    result = {}
    for index in range(400):
        size = rng.choice([0, 1, 200, 2000, 6000, 15_000, 40_000])
        if index % 3:
            data = (f"entry {index}: ".encode() * (size // 8 + 1))[:size]
        else:
            data = rng.randbytes(size)
        result[f"dir{index % 9}/entry{index}.dat"] = data
    return result


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stress")


def skewed_picker(names: list[str], seed: int) -> Callable[[random.Random], str]:
    """Zipf-like choice (weight 1/rank) over a shuffled copy of ``names``."""
    order = list(names)
    random.Random(seed).shuffle(order)
    cumulative = list(itertools.accumulate(1 / rank for rank in range(1, len(order) + 1)))
    total = cumulative[-1]
    return lambda rng: order[bisect.bisect_left(cumulative, rng.random() * total)]


def read_stream(stream: Any, rng: random.Random, size: int) -> bytes:
    """Read a stream in random chunks, with a seek back to the start now and then."""
    if size and rng.random() < 0.2:
        stream.read(rng.randrange(size))
        stream.seek(0)
    chunks = []
    while chunk := stream.read(rng.choice([1, 97, 4096, 65_536])):
        chunks.append(chunk)
    return b"".join(chunks)


# -- mixed workload ------------------------------------------------------------------


@pytest.mark.parametrize("cached", [False, True], ids=["direct", "cached"])
@pytest.mark.parametrize("factory", READERS)
def test_mixed_workload_from_sixteen_threads(
    factory: ReaderFactory, cached: bool, files: Files, workdir: Path
) -> None:
    names = list(files)
    pick = skewed_picker(names, seed=1)
    total = sum(map(len, files.values()))
    inner = factory(files, workdir)
    # A tenth of the corpus: evictions all the time, and entries up to 1/8 of that.
    reader = CachedReader(inner, max_bytes=total // 10) if cached else inner
    reads = [0] * THREADS

    def work(index: int) -> None:
        rng = random.Random(index)
        for _ in range(400):
            name = pick(rng) if rng.random() < 0.8 else rng.choice(names)
            if rng.random() < 0.7:
                reads[index] += 1
                data = reader.read(name)
                assert data == files[name], name
            else:
                with reader.open(name) as stream:
                    assert read_stream(stream, rng, len(files[name])) == files[name], name

    with reader:
        run_threads(THREADS, work, timeout=WATCHDOG)
        if isinstance(reader, CachedReader):
            stats = reader.stats()
            assert stats.hits + stats.misses + stats.joins == sum(reads)
            assert stats.hits > stats.misses > 0
            assert stats.evictions > 0
            assert 0 < stats.bytes_held <= stats.max_bytes
            assert stats.lock.acquisitions >= stats.misses
            for name, entry in reader._queues.table.items():
                assert entry.value == files[name]


@pytest.mark.parametrize("cached", [False, True], ids=["direct", "cached"])
@pytest.mark.parametrize("factory", READERS)
def test_closing_while_other_threads_read(
    factory: ReaderFactory, cached: bool, files: Files, workdir: Path
) -> None:
    """Readers racing a close() get correct data or a ClosedError, never anything else."""
    names = list(files)
    inner = factory(files, workdir)
    reader = CachedReader(inner, max_bytes=1 << 20) if cached else inner
    done_before_close = threading.Semaphore(0)
    closed = threading.Event()
    outcomes: list[set[str]] = [set() for _ in range(THREADS)]

    def work(index: int) -> None:
        rng = random.Random(index)
        if index == 0:
            for _ in range((THREADS - 1) * 5):  # let the others get going first
                assert done_before_close.acquire(timeout=WATCHDOG)
            reader.close()
            closed.set()
            return
        streams = []
        for step in itertools.count():
            name = rng.choice(names)
            was_closed = closed.is_set()
            try:
                if rng.random() < 0.5:
                    assert reader.read(name) == files[name]
                else:
                    stream = reader.open(name)
                    streams.append((name, stream))
                    assert stream.read(100) == files[name][:100]
                # Finish a stream opened earlier, perhaps before the close.
                if streams and rng.random() < 0.5:
                    old_name, old_stream = streams.pop(rng.randrange(len(streams)))
                    with old_stream:
                        rest = old_stream.read()
                    assert files[old_name].endswith(rest)
                outcomes[index].add("ok")
            except ValueError as exc:  # ClosedError, or I/O on a closed stream
                assert "closed" in str(exc), exc
                outcomes[index].add("closed")
                if was_closed:
                    return
            if step < 5:
                done_before_close.release()
            if step > 100_000:  # pragma: no cover - close() never took effect
                pytest.fail("reads still succeed long after close()")

    run_threads(THREADS, work, timeout=WATCHDOG)
    for outcome in outcomes[1:]:
        assert "closed" in outcome
    with pytest.raises(randread.ClosedError):
        reader.read(names[0])


# -- injected faults -----------------------------------------------------------------


class FaultyReadAt:
    """A ReadAt wrapper that fails reads touching chosen byte ranges.

    Each fault is ``(start, end, kind)``: ``"oserror"`` raises ``OSError(EIO)``,
    ``"short"`` returns the bytes before ``start`` only (a short read),
    ``"flip"`` returns the bytes with the first one in the range inverted.
    ``probability`` below 1 makes the faults intermittent.
    """

    def __init__(self, base: ReadAt, *, seed: int = 0) -> None:
        self._base = base
        self.size = base.size
        self.faults: list[tuple[int, int, str]] = []
        self.probability = 1.0
        self._rng = random.Random(seed)
        self.fired = 0

    def _fault(self, offset: int, length: int) -> tuple[str, int] | None:
        for start, end, kind in self.faults:
            if offset < end and offset + length > start:
                if self.probability < 1.0 and self._rng.random() >= self.probability:
                    return None
                self.fired += 1
                if kind == "oserror":
                    raise OSError(errno.EIO, f"injected I/O error at offset {offset}")
                return kind, max(start, offset) - offset
        return None

    def read_at(self, offset: int, length: int) -> bytes:
        fault = self._fault(offset, length)
        if fault is None:
            return self._base.read_at(offset, length)
        kind, at = fault
        if kind == "short":
            return self._base.read_at(offset, at)
        data = bytearray(self._base.read_at(offset, length))
        data[at] ^= 0xFF
        return bytes(data)

    def view_at(self, offset: int, length: int) -> memoryview:
        return memoryview(self.read_at(offset, length))

    def close(self) -> None:
        self._base.close()


def faulty_zip(files: Files, method: int) -> tuple[FaultyReadAt, dict[str, tuple[int, int]]]:
    """A zip of ``files`` behind a FaultyReadAt, and each entry's (header, data) offsets."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    with zipfile.ZipFile(buffer) as archive:
        offsets = {
            info.filename: (info.header_offset, info.header_offset + 30 + len(info.filename))
            for info in archive.infolist()
        }
    return FaultyReadAt(BytesReadAt(buffer.getvalue())), offsets


FAULT_FILES = {f"f{i}.txt": (f"fault test {i} ".encode() * (300 + 97 * i)) for i in range(6)}


def read_whole(reader: Any, name: str, how: str) -> bytes:
    if how == "read":
        data: bytes = reader.read(name)
        return data
    with reader.open(name) as stream:
        return b"".join(iter(lambda: stream.read(1000), b""))


@pytest.mark.parametrize("cached", [False, True], ids=["direct", "cached"])
@pytest.mark.parametrize("how", ["read", "open"])
@pytest.mark.parametrize("where", ["local header", "data start", "data middle"])
@pytest.mark.parametrize("kind", ["oserror", "short", "flip"])
@pytest.mark.parametrize(
    "method",
    [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA],
    ids=["stored", "deflate", "bzip2", "lzma"],
)
def test_an_injected_fault_fails_one_entry_cleanly_and_is_never_cached(
    method: int, kind: str, where: str, how: str, cached: bool
) -> None:
    source, offsets = faulty_zip(FAULT_FILES, method)
    inner = randread.ZipReader(source)
    reader: Any = CachedReader(inner, max_bytes=1 << 20) if cached else inner
    victim = "f3.txt"
    header, data_start = offsets[victim]
    info = inner.getinfo(victim)
    at = {
        "local header": header + 2,
        "data start": data_start,
        "data middle": data_start + info.compress_size // 2,
    }[where]
    source.faults = [(at, at + 1, kind)]
    expected: tuple[type[BaseException], ...] = (
        (OSError,) if kind == "oserror" else (randread.RandreadError,)
    )
    try:
        data = read_whole(reader, victim, how)
    except expected as exc:
        if kind != "oserror":
            assert isinstance(exc, (randread.ZipFormatError, randread.OutOfBoundsError))
    else:
        # Only a flipped byte that no check covers may pass, and then the data is right
        # (zip's LZMA header starts with the encoder's version, which nothing reads).
        assert (kind, where, method) == ("flip", "data start", zipfile.ZIP_LZMA)
        assert data == FAULT_FILES[victim]
    assert source.fired
    # Every other entry still reads while the fault is in place.
    for name, data in FAULT_FILES.items():
        if name != victim:
            assert read_whole(reader, name, how) == data
    source.faults = []
    assert read_whole(reader, victim, how) == FAULT_FILES[victim]
    assert reader.read(victim) == FAULT_FILES[victim]
    if isinstance(reader, CachedReader):
        for name, entry in reader._queues.table.items():
            assert entry.value == FAULT_FILES[name]
        assert victim in reader._queues.table


@pytest.mark.parametrize("kind", ["oserror", "short", "flip"])
def test_intermittent_faults_under_sixteen_threads_never_reach_the_cache(kind: str) -> None:
    files = {f"e{i}": (f"entry {i} ".encode() * (50 + 31 * i)) for i in range(60)}
    source, offsets = faulty_zip(files, zipfile.ZIP_DEFLATED)
    inner = randread.ZipReader(source)
    faulty = {name for index, name in enumerate(files) if index % 4 == 0}
    source.faults = [(offsets[name][1] + 5, offsets[name][1] + 6, kind) for name in faulty]
    source.probability = 0.5
    cache = CachedReader(inner, max_bytes=sum(map(len, files.values())) // 3)
    names = list(files)
    failures: list[list[str]] = [[] for _ in range(THREADS)]

    def work(index: int) -> None:
        rng = random.Random(index)
        for _ in range(300):
            name = rng.choice(names)
            try:
                data = cache.read(name)
            except (OSError, randread.RandreadError):
                failures[index].append(name)
            else:
                assert data == files[name]

    run_threads(THREADS, work, timeout=WATCHDOG)
    failed = {name for names_failed in failures for name in names_failed}
    assert failed
    assert failed <= faulty
    for name, entry in cache._queues.table.items():
        assert entry.value == files[name]
    source.faults = []
    for name in names:
        assert cache.read(name) == files[name]
