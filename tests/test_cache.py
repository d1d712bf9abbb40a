"""CachedReader: byte-weighted S3-FIFO, single flight, immutability, lifetime, processes."""

from __future__ import annotations

import collections
import io
import multiprocessing
import os
import pickle
import random
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import randread
from randread.cache import CachedReader, CacheStats
from tests.conftest import run_threads

# -- helpers ---------------------------------------------------------------------


class FakeReader:
    """An in-memory reader with the read API that counts and can stall or fail its reads."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.calls: collections.Counter[str] = collections.Counter()
        self.gate: threading.Event | None = None
        self.before_read: Callable[[str], None] | None = None
        self.failures: dict[str, BaseException] = {}
        self.as_bytearray = False
        self.closed = False

    def namelist(self) -> list[str]:
        return list(self.files)

    def infolist(self) -> list[str]:
        return [f"info:{name}" for name in self.files]

    def getinfo(self, name: str) -> str:
        if name not in self.files:
            raise KeyError(name)
        return f"info:{name}"

    def read(self, name: str) -> bytes:
        self.calls[name] += 1
        if self.before_read is not None:
            self.before_read(name)
        if self.gate is not None:
            assert self.gate.wait(30)
        if name in self.failures:
            raise self.failures[name]
        data = self.files[name]
        return bytearray(data) if self.as_bytearray else data  # type: ignore[return-value]

    def open(self, name: str) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self.files[name]))  # type: ignore[arg-type]

    def close(self) -> None:
        self.closed = True

    def __contains__(self, name: object) -> bool:
        return name in self.files

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)


def sized_files(count: int, size: int, prefix: str = "f") -> dict[str, bytes]:
    return {f"{prefix}{i}": (f"{prefix}{i}:".encode() * size)[:size] for i in range(count)}


def make_zip(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.001)


# -- the read API --------------------------------------------------------------------


def test_reads_match_the_inner_reader_and_hits_share_one_object() -> None:
    files = {"a.txt": b"alpha" * 100, "dir/b.txt": b"beta" * 1000, "empty": b""}
    with CachedReader(randread.ZipReader(make_zip(files)), max_bytes=1 << 20) as cache:
        for name, data in files.items():
            first = cache.read(name)
            assert first == data
            assert type(first) is bytes
            assert cache.read(name) is first
        stats = cache.stats()
        assert (stats.hits, stats.misses, stats.joins, stats.evictions) == (3, 3, 0, 0)
        assert (stats.entries, stats.bytes_held) == (3, sum(map(len, files.values())))
        assert stats.lookups == 6
        assert stats.hit_rate == 0.5


def test_metadata_is_the_inner_readers() -> None:
    files = {"a": b"1", "b/": b"", "b/c": b"22"}
    with randread.ZipReader(make_zip(files)) as inner:
        cache = CachedReader(inner, max_bytes=100)
        assert cache.reader is inner
        assert cache.namelist() == inner.namelist() == list(files)
        assert [i.filename for i in cache.infolist()] == list(files)
        assert cache.getinfo("b/c").file_size == 2
        assert "a" in cache
        assert "zz" not in cache
        assert len(cache) == 3
        assert list(cache) == list(files)
        assert (cache.max_bytes, cache.max_entry_bytes) == (100, 12)
        assert repr(cache).startswith("<CachedReader 0/100 bytes of <randread.ZipReader")


def test_missing_names_raise_key_error_and_are_not_cached() -> None:
    inner = FakeReader({"a": b"1"})
    cache = CachedReader(inner, max_bytes=100)
    for _ in range(2):
        with pytest.raises(KeyError):
            cache.read("nope")
    assert inner.calls["nope"] == 2
    assert cache.stats().entries == 0


def test_values_are_immutable_bytes_even_when_the_inner_reader_returns_a_bytearray() -> None:
    inner = FakeReader({"a": b"original"})
    inner.as_bytearray = True
    cache = CachedReader(inner, max_bytes=100, max_entry_bytes=100)
    value = cache.read("a")
    assert type(value) is bytes
    with pytest.raises(TypeError):
        value[0] = 0  # type: ignore[index]
    assert cache.read("a") == b"original"
    with cache.open("a") as stream:
        with pytest.raises(io.UnsupportedOperation):
            stream.write(b"x")  # type: ignore[attr-defined]
        assert stream.read() == b"original"
    assert cache.read("a") == b"original"


def test_open_streams_cached_entries_from_memory_and_others_from_the_inner_reader() -> None:
    files = {"small": b"0123456789" * 10, "large": bytes(range(256)) * 100}
    inner = FakeReader(files)
    cache = CachedReader(inner, max_bytes=1000)
    with cache.open("small") as stream:  # not cached yet: the inner reader's stream
        assert stream.read() == files["small"]
    assert inner.calls["small"] == 0
    cache.read("small")
    with cache.open("small") as stream:
        assert stream.read(5) == b"01234"
        assert stream.seek(95) == 95
        assert stream.read() == b"56789"
        stream.seek(0)
        assert b"".join(iter(lambda: stream.read(7), b"")) == files["small"]
    with cache.open("large") as stream:
        assert stream.read() == files["large"]
    assert inner.calls == {"small": 1}
    with pytest.raises(ValueError, match='mode "r"'):
        cache.open("small", "w")


def test_info_objects_are_read_through_uncached_and_keep_their_own_entry() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("same", b"first")
        with pytest.warns(UserWarning, match="Duplicate"):
            archive.writestr("same", b"second")
    with CachedReader(randread.ZipReader(buffer.getvalue()), max_bytes=1000) as cache:
        first_info, second_info = cache.infolist()
        assert cache.read(first_info) == b"first"  # type: ignore[arg-type]
        assert cache.read(second_info) == b"second"  # type: ignore[arg-type]
        assert cache.read("same") == b"second"
        assert cache.read(first_info) == b"first"  # type: ignore[arg-type]
        assert cache.stats().entries == 1


# -- bounds and eviction -------------------------------------------------------------


def test_bytes_held_never_exceed_max_bytes_and_evictions_are_counted() -> None:
    rng = random.Random(5)
    files = {f"f{i}": rng.randbytes(rng.randrange(0, 300)) for i in range(200)}
    inner = FakeReader(files)
    cache = CachedReader(inner, max_bytes=2000, max_entry_bytes=300)
    names = list(files)
    for _ in range(3000):
        name = rng.choice(names[: rng.choice([10, 200])])
        assert cache.read(name) == files[name]
        held = cache._queues
        assert held.bytes <= 2000
        assert held.bytes == sum(e.size for e in held.table.values())
        assert held.small_bytes == sum(e.size for e in held.small)
        assert len(held.small) + len(held.main) == len(held.table)
    stats = cache.stats()
    assert stats.evictions > 0
    assert stats.bytes_held <= stats.max_bytes
    assert stats.misses == sum(inner.calls.values())
    assert stats.hits + stats.misses == 3000


def test_entries_larger_than_max_entry_bytes_are_returned_but_not_kept() -> None:
    files = {"big": b"b" * 200, "fits": b"f" * 100}
    inner = FakeReader(files)
    cache = CachedReader(inner, max_bytes=1000, max_entry_bytes=100)
    for _ in range(3):
        assert cache.read("big") == files["big"]
        assert cache.read("fits") == files["fits"]
    assert inner.calls == {"big": 3, "fits": 1}
    stats = cache.stats()
    assert (stats.oversize, stats.entries, stats.bytes_held) == (3, 1, 100)


def test_default_max_entry_bytes_is_an_eighth_and_never_above_max_bytes() -> None:
    inner = FakeReader({})
    assert CachedReader(inner, max_bytes=800).max_entry_bytes == 100
    assert CachedReader(inner, max_bytes=800, max_entry_bytes=5000).max_entry_bytes == 800
    zero = CachedReader(FakeReader({"a": b"x"}), max_bytes=0)
    assert zero.read("a") == b"x"
    assert zero.stats().entries == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_bytes": -1},
        {"max_bytes": 1.5},
        {"max_bytes": True},
        {"max_bytes": 10, "max_entry_bytes": -1},
        {"max_bytes": 10, "max_entry_bytes": "1"},
    ],
)
def test_bad_sizes_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="max_"):
        CachedReader(FakeReader({}), **kwargs)  # type: ignore[arg-type]


def test_a_scan_of_one_off_reads_does_not_flush_the_hot_entries() -> None:
    hot = sized_files(8, 100, "hot")
    cold = sized_files(500, 100, "cold")
    inner = FakeReader(hot | cold)
    cache = CachedReader(inner, max_bytes=2000, max_entry_bytes=100)
    for _ in range(2):
        for name in hot:
            cache.read(name)
    for name in cold:  # an LRU of 20 entries would keep only the last 20 of these
        cache.read(name)
    for name in hot:
        cache.read(name)
    assert all(inner.calls[name] == 1 for name in hot)


def test_an_entry_evicted_and_read_again_soon_returns_to_the_main_queue() -> None:
    files = sized_files(40, 100)
    cache = CachedReader(FakeReader(files), max_bytes=1000, max_entry_bytes=100)
    for name in list(files)[:11]:  # f0 leaves the small queue for the ghost queue
        cache.read(name)
    queues = cache._queues
    assert "f0" not in queues.table
    assert "f0" in queues.ghost
    cache.read("f0")
    assert "f0" not in queues.ghost
    assert any(entry.name == "f0" for entry in queues.main)


def test_clear_drops_everything() -> None:
    inner = FakeReader(sized_files(5, 10))
    cache = CachedReader(inner, max_bytes=1000)
    for name in inner.files:
        cache.read(name)
    cache.clear()
    assert (cache.stats().entries, cache.stats().bytes_held) == (0, 0)
    cache.read("f1")
    assert inner.calls["f1"] == 2


# -- single flight -------------------------------------------------------------------


def test_sixteen_threads_missing_one_entry_cause_one_load() -> None:
    threads = 16
    inner = FakeReader({"hot": b"h" * 5000})
    cache = CachedReader(inner, max_bytes=100_000)
    lock_held_while_loading = []

    def stall_until_everyone_joined(_: str) -> None:
        # Whether the loading thread holds the lock: other threads may hold it
        # this very moment (joining), on a free-threaded build truly at once.
        lock_held_while_loading.append(cache._lock._owner == threading.get_ident())
        # stats() takes the cache lock: this also proves the load does not hold it.
        wait_until(lambda: cache.stats().joins == threads - 1, "15 joins")

    inner.before_read = stall_until_everyone_joined
    results: list[bytes] = [b""] * threads

    def work(index: int) -> None:
        results[index] = cache.read("hot")

    run_threads(threads, work, timeout=60)
    assert inner.calls == {"hot": 1}
    assert lock_held_while_loading == [False]
    assert all(result is results[0] for result in results)
    stats = cache.stats()
    assert (stats.misses, stats.joins, stats.hits) == (1, threads - 1, 0)
    assert cache.read("hot") is results[0]


def test_a_failed_load_reaches_every_waiter_and_is_not_cached() -> None:
    threads = 16
    inner = FakeReader({"bad": b"data"})
    inner.failures["bad"] = randread.ZipFormatError("entry 'bad': injected")
    cache = CachedReader(inner, max_bytes=1000)
    inner.before_read = lambda _: wait_until(lambda: cache.stats().joins == threads - 1, "15 joins")
    errors: list[BaseException] = []

    def work(_: int) -> None:
        try:
            cache.read("bad")
        except randread.ZipFormatError as exc:
            errors.append(exc)

    run_threads(threads, work, timeout=60)
    assert len(errors) == threads
    assert all(str(error) == "entry 'bad': injected" for error in errors)
    assert inner.calls["bad"] == 1
    assert cache.stats().entries == 0
    inner.before_read = None
    del inner.failures["bad"]
    assert cache.read("bad") == b"data"
    assert inner.calls["bad"] == 2


def test_a_waiter_times_out_naming_the_entry_and_the_loading_thread() -> None:
    inner = FakeReader({"slow": b"s"})
    inner.gate = threading.Event()
    cache = CachedReader(inner, max_bytes=1000, timeout=0.1)
    loaded: list[bytes] = []
    loader = threading.Thread(target=lambda: loaded.append(cache.read("slow")), name="loader-7")
    loader.start()
    try:
        wait_until(lambda: cache._flights != {}, "the load to start")
        with pytest.raises(randread.LockTimeoutError) as caught:
            cache.read("slow")
    finally:
        inner.gate.set()
        loader.join(30)
    message = str(caught.value)
    assert "'slow'" in message
    assert "'loader-7'" in message
    assert "within 0.1 s" in message
    assert loaded == [b"s"]
    assert cache.read("slow") == b"s"


def test_an_interrupted_load_makes_a_waiter_load_it_itself() -> None:
    inner = FakeReader({"a": b"value"})
    gate = threading.Event()
    cache = CachedReader(inner, max_bytes=1000)

    def interrupt_the_first_load(_: str) -> None:
        if inner.calls["a"] == 1:
            assert gate.wait(30)
            raise KeyboardInterrupt

    inner.before_read = interrupt_the_first_load
    interrupted: list[BaseException] = []
    result: list[bytes] = []

    def first() -> None:
        try:
            cache.read("a")
        except KeyboardInterrupt as exc:
            interrupted.append(exc)

    loader = threading.Thread(target=first)
    loader.start()
    wait_until(lambda: cache._flights != {}, "the load to start")
    waiter = threading.Thread(target=lambda: result.append(cache.read("a")))
    waiter.start()
    wait_until(lambda: cache.stats().joins == 1, "the join")
    gate.set()
    loader.join(30)
    waiter.join(30)
    assert len(interrupted) == 1  # raised in the loading thread only
    assert result == [b"value"]
    assert inner.calls["a"] == 2
    assert cache.stats().misses == 2


# -- lifetime ------------------------------------------------------------------------


def test_close_closes_the_inner_reader_and_refuses_later_reads() -> None:
    inner = FakeReader({"a": b"1"})
    cache = CachedReader(inner, max_bytes=100)
    cache.read("a")
    with cache:
        pass
    assert cache.closed
    assert inner.closed
    cache.close()  # twice is fine
    for call in (lambda: cache.read("a"), lambda: cache.open("a"), lambda: cache.read(1)):
        with pytest.raises(randread.ClosedError, match="closed CachedReader"):
            call()  # type: ignore[no-untyped-call]
    assert cache.stats().entries == 0
    assert repr(cache).startswith("<CachedReader closed")


def test_close_reader_false_leaves_the_inner_reader_open() -> None:
    inner = FakeReader({"a": b"1"})
    CachedReader(inner, max_bytes=100, close_reader=False).close()
    assert not inner.closed


def test_a_load_that_finishes_after_close_is_not_kept() -> None:
    inner = FakeReader({"a": b"1"})
    inner.gate = threading.Event()
    cache = CachedReader(inner, max_bytes=100, close_reader=False)
    result: list[bytes] = []
    loader = threading.Thread(target=lambda: result.append(cache.read("a")))
    loader.start()
    wait_until(lambda: cache._flights != {}, "the load to start")
    cache.close()
    inner.gate.set()
    loader.join(30)
    assert result == [b"1"]
    assert cache.stats().entries == 0


# -- pickling and processes ----------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_zip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    rng = random.Random(11)
    files = {
        f"d{i % 7}/f{i}.txt": (f"line {i} ".encode() * rng.randrange(1, 2000)) for i in range(300)
    }
    path = tmp_path_factory.mktemp("cache") / "corpus.zip"
    path.write_bytes(make_zip(files))
    return path, files


def test_pickle_carries_the_reader_and_settings_not_the_contents(
    corpus_zip: tuple[Path, dict[str, bytes]],
) -> None:
    path, files = corpus_zip
    with CachedReader(
        randread.ZipReader(path), max_bytes=1 << 22, max_entry_bytes=1 << 20, timeout=12.0
    ) as cache:
        for name in files:
            cache.read(name)
        assert cache.stats().bytes_held > 100_000
        payload = pickle.dumps(cache)
    assert len(payload) < 2000
    clone = pickle.loads(payload)
    with clone:
        assert (clone.max_bytes, clone.max_entry_bytes, clone._timeout) == (
            1 << 22,
            1 << 20,
            12.0,
        )
        assert clone.stats().entries == 0
        name = next(iter(files))
        assert clone.read(name) == files[name]
    with pytest.raises(randread.ClosedError):
        pickle.dumps(cache)


def _read_names(cache: CachedReader[zipfile.ZipInfo], names: list[str]) -> list[bytes]:
    results = [cache.read(name) for name in names + names]
    stats = cache.stats()
    assert stats.misses == len(names)
    assert stats.hits == len(names)
    return results[: len(names)]


@pytest.mark.parametrize(
    "start_method",
    [m for m in ("spawn", "fork") if m in multiprocessing.get_all_start_methods()],
)
def test_multiprocessing_workers(
    corpus_zip: tuple[Path, dict[str, bytes]], start_method: str
) -> None:
    path, files = corpus_zip
    names = list(files)
    chunks = [names[i : i + 40] for i in range(0, 160, 40)]
    context = multiprocessing.get_context(start_method)
    with CachedReader(randread.ZipReader(path), max_bytes=1 << 24) as cache:
        cache.read(names[0])
        with context.Pool(2) as pool:
            results = pool.starmap(_read_names, [(cache, chunk) for chunk in chunks])
    assert [data for chunk in results for data in chunk] == [files[n] for n in names[:160]]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_after_fork_the_child_has_fresh_locks_and_no_stale_loads(
    corpus_zip: tuple[Path, dict[str, bytes]],
) -> None:
    path, files = corpus_zip
    names = list(files)
    inner = randread.ZipReader(path)
    gate = threading.Event()
    original_read = inner.read

    parent = os.getpid()

    def stalling_read(name: str) -> bytes:
        if name == names[1] and os.getpid() == parent:
            assert gate.wait(30)
        return original_read(name)

    inner.read = stalling_read  # type: ignore[method-assign]
    taken, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with cache._lock:
            taken.set()
            release.wait(30)

    with CachedReader(inner, max_bytes=1 << 24, timeout=5) as cache:
        cache.read(names[0])
        loader = threading.Thread(target=cache.read, args=(names[1],))
        loader.start()
        holder = threading.Thread(target=hold_the_lock)
        try:
            wait_until(lambda: cache._flights != {}, "the load to start")
            holder.start()
            assert taken.wait(30)
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # child: the loader and the lock holder do not exist here
                try:
                    ok = (
                        cache.read(names[1]) == files[names[1]]  # loaded afresh
                        and all(cache.read(n) == files[n] for n in names[:50])
                        and cache.stats().hits >= 1
                    )
                    os.write(write_end, b"1" if ok else b"0")
                finally:
                    os._exit(0)
            os.close(write_end)
            answer = os.read(read_end, 1)
            os.close(read_end)
            os.waitpid(pid, 0)
        finally:
            release.set()
            gate.set()
            holder.join(30)
            loader.join(30)
    assert answer == b"1"


def test_stats_is_a_frozen_snapshot() -> None:
    cache = CachedReader(FakeReader({"a": b"1"}), max_bytes=10)
    stats = cache.stats()
    assert isinstance(stats, CacheStats)
    with pytest.raises(AttributeError):
        stats.hits = 5  # type: ignore[misc]
    assert stats.lock.name == "CachedReader"
    assert stats.hit_rate == 0.0
