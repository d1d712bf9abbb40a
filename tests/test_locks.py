"""The lock helper: timeouts that name the holder, exact counters, fresh locks after fork."""

from __future__ import annotations

import gc
import os
import re
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import randread
from randread import _locks
from randread._locks import TimedLock, lock_stats, set_lock_timeout
from tests.conftest import run_threads

SOURCE = Path(randread.__file__).parent


def hold_in_thread(
    lock: TimedLock, name: str = "holder"
) -> tuple[threading.Event, threading.Thread]:
    """Start a thread that takes ``lock`` and keeps it until the returned event is set."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            taken.set()
            release.wait(30)

    thread = threading.Thread(target=hold, name=name, daemon=True)
    thread.start()
    assert taken.wait(30)
    return release, thread


def test_uncontended_acquisitions_are_counted_with_their_hold_time() -> None:
    lock = TimedLock("test.uncontended")
    for _ in range(5):
        with lock:
            assert lock.locked()
            time.sleep(0.001)
    assert not lock.locked()
    stats = lock.stats()
    assert (stats.name, stats.locks, stats.acquisitions, stats.contended) == (
        "test.uncontended",
        1,
        5,
        0,
    )
    assert stats.wait_total == stats.wait_max == stats.mean_wait == stats.contention == 0.0
    assert 0.001 <= stats.hold_max <= stats.hold_total


def test_a_contended_acquisition_records_its_wait() -> None:
    lock = TimedLock("test.contended")
    release, holder = hold_in_thread(lock)
    timer = threading.Timer(0.05, release.set)
    timer.start()
    with lock:
        pass
    holder.join(30)
    stats = lock.stats()
    assert (stats.acquisitions, stats.contended) == (2, 1)
    assert stats.wait_total == stats.wait_max == stats.mean_wait
    assert 0.03 <= stats.wait_max < 30
    assert stats.hold_max >= 0.03  # the holder kept it for the whole wait
    assert stats.contention == 0.5


def test_a_timeout_names_the_lock_the_holder_and_how_long_it_held_it() -> None:
    lock = TimedLock("test.timeout", timeout=0.1)
    release, holder = hold_in_thread(lock, name="slow-holder")
    try:
        started = time.perf_counter()
        with pytest.raises(randread.LockTimeoutError) as caught, lock:
            pass  # pragma: no cover - never acquired
        assert 0.09 <= time.perf_counter() - started < 10
    finally:
        release.set()
        holder.join(30)
    error = caught.value
    assert isinstance(error, TimeoutError)
    assert isinstance(error, randread.RandreadError)
    message = str(error)
    assert "'test.timeout'" in message
    assert "within 0.1 s" in message
    assert "'slow-holder'" in message
    assert error.lock == "test.timeout"
    assert error.holder is not None
    assert "slow-holder" in error.holder
    assert error.held_for is not None
    assert error.held_for >= 0.09
    assert re.search(r"for \d+\.\d{3} s", message)
    with lock:  # usable again once released; the failed attempt is not counted
        pass
    assert lock.stats().acquisitions == 2


def test_the_package_timeout_applies_to_existing_locks() -> None:
    lock = TimedLock("test.default-timeout")
    release, holder = hold_in_thread(lock)
    previous = set_lock_timeout(0.05)
    try:
        assert previous == _locks.DEFAULT_LOCK_TIMEOUT
        assert _locks.get_lock_timeout() == 0.05
        with pytest.raises(randread.LockTimeoutError, match=r"within 0\.05 s"), lock:
            pass  # pragma: no cover - never acquired
    finally:
        assert set_lock_timeout(None) == 0.05
        release.set()
        holder.join(30)
    assert _locks.get_lock_timeout() == 30.0


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_timeouts_must_be_finite_and_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        set_lock_timeout(bad)
    with pytest.raises(ValueError, match="timeout"):
        TimedLock("test.bad", timeout=bad)
    assert _locks.get_lock_timeout() == 30.0


def test_timeouts_must_be_numbers() -> None:
    with pytest.raises(TypeError, match="seconds"):
        TimedLock("test.bad", timeout="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="seconds"):
        set_lock_timeout(True)


def test_sixteen_threads_are_excluded_and_counted_exactly() -> None:
    lock = TimedLock("test.sixteen")
    rounds = 2000
    inside = []
    counter = [0]

    def work(_: int) -> None:
        for _ in range(rounds):
            with lock:
                inside.append(1)
                assert len(inside) == 1
                counter[0] += 1
                inside.pop()

    run_threads(16, work, timeout=60)
    stats = lock.stats()
    assert counter[0] == stats.acquisitions == 16 * rounds
    assert 0 <= stats.contended <= stats.acquisitions
    assert stats.wait_max <= stats.wait_total


def test_lock_stats_sums_every_lock_of_a_name_alive_or_collected() -> None:
    first, second = TimedLock("test.family"), TimedLock("test.family")
    for _ in range(3):
        with first:
            pass
    for _ in range(4):
        with second:
            pass
    stats = lock_stats()["test.family"]
    assert (stats.locks, stats.acquisitions) == (2, 7)
    del first
    gc.collect()
    stats = lock_stats()["test.family"]
    assert (stats.locks, stats.acquisitions) == (1, 7)
    del second
    gc.collect()
    assert lock_stats()["test.family"].acquisitions == 7
    assert lock_stats()["test.family"].locks == 0


def test_readers_locks_are_timed_locks_named_for_what_they_guard(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a", b"x")
    with randread.ZipReader(path) as reader, path.open("rb") as file:
        assert isinstance(reader._infos.lock, TimedLock)
        reader.infolist()
        assert reader._infos.lock.stats().acquisitions == 1
        assert lock_stats()["ZipReader.infolist"].acquisitions >= 1
        seek_read = randread.readat._file._LockedSeekRead(file, owned=False)
        assert isinstance(seek_read._lock, TimedLock)
        assert seek_read.read(0, 2) == b"PK"
        assert lock_stats()["FileReadAt.seek_read"].acquisitions >= 1


#: constructors of lock-like primitives that must go through randread._locks (an
#: asyncio.Semaphore bounds coroutines on one event loop and blocks no thread)
RAW_LOCKS = re.compile(
    r"(?<!asyncio\.)\b(?:threading\.)?(?:R?Lock|Condition|Semaphore|BoundedSemaphore)\("
)


def test_every_lock_in_the_package_is_a_timed_lock() -> None:
    offenders = []
    for path in sorted(SOURCE.rglob("*.py")):
        if path.name == "_locks.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if RAW_LOCKS.search(code) and "TimedLock(" not in code:
                offenders.append(f"{path.relative_to(SOURCE)}:{number}: {line.strip()}")
    assert not offenders, "use randread._locks.TimedLock:\n" + "\n".join(offenders)


def test_thread_name_of_a_finished_thread() -> None:
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    assert thread.ident is not None
    assert "no longer running" in _locks.thread_name(thread.ident)
    assert repr(threading.current_thread().name) in _locks.thread_name(threading.get_ident())


def test_repr() -> None:
    lock = TimedLock("test.repr")
    assert repr(lock) == "<TimedLock 'test.repr' unlocked, 0 acquisitions>"
    with lock:
        assert "locked" in repr(lock)


# -- fork ----------------------------------------------------------------------------


def run_in_child(body: Callable[[], bytes]) -> bytes:
    """Fork; run ``body()`` (which returns one byte) in the child; return that byte."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.write(write_end, body())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        answer = os.read(read_end, 1)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    return answer


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_a_lock_held_by_another_thread_is_free_in_the_child() -> None:
    lock = TimedLock("test.fork-other", timeout=5)
    release, holder = hold_in_thread(lock)
    try:

        def child() -> bytes:
            with lock:
                return b"1"

        assert run_in_child(child) == b"1"
    finally:
        release.set()
        holder.join(30)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_lock_held_by_the_forking_thread_stays_held_in_the_child() -> None:
    lock = TimedLock("test.fork-self", timeout=5)

    def child() -> bytes:
        # Still ours: the with block below releases it, and releasing twice would fail.
        return b"1" if lock.locked() and lock._owner == threading.get_ident() else b"0"

    with lock:
        assert run_in_child(child) == b"1"
    assert not lock.locked()


def test_dead_locks_do_not_pile_up_when_nobody_asks_for_stats() -> None:
    """A service opening a reader per request must not leak a record per lock."""
    name = "test.many-short-lived"
    for _ in range(10_000):
        with _locks.TimedLock(name):
            pass
    gc.collect()
    assert len(_locks._families[name].retired) <= _locks._FOLD_AT
    stats = _locks.lock_stats()[name]
    assert stats.acquisitions == 10_000
