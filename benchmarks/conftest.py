"""Corpora and helpers shared by the benchmark suites.

Everything is built once per session in a temporary directory:

* ``corpus``: this Python's standard library ``.py`` files (site-packages left
  out, about 1800 files, 30 MB) as ``(name, content)`` pairs, written to a
  deflated zip (level 6) and to a stored zip, plus a fixed, seeded random
  sequence of names to read. Other formats (a bundle, a cache) build their own
  files from ``corpus.members`` and read ``corpus.sample`` in the same order,
  so their numbers line up with the zip ones.
* ``many_entries_zip``: 100 000 tiny stored entries, for open time.
* ``thread_gang``: long-lived worker threads that run one job together per
  benchmark round, started on a barrier.

Benchmarked functions do a batch of reads per call (``len(corpus.sample)``)
and record it as ``extra_info["reads"]``; ``ratios.py`` divides by it to show
the time per read.
"""

from __future__ import annotations

import faulthandler
import os
import random
import sys
import sysconfig
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from randread.bench.formats import zip_data_locations

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

#: reads per benchmarked call: enough to amortise the timer, few enough for many rounds
SAMPLE_SIZE = 256
SAMPLE_SEED = 20261125
DEFLATE_LEVEL = 6
MANY_ENTRIES = 100_000
#: seconds a benchmark thread may take for one round before the run fails
THREAD_TIMEOUT = 120.0

#: the system-wide CPU counters (Linux), to tell how busy other processes kept the machine
_PROC_STAT = Path("/proc/stat")
#: /proc/stat "cpu" columns that count as busy: user nice system (idle iowait) irq softirq steal
_BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)


@dataclass(frozen=True)
class Corpus:
    """The standard library sources, as data and as zip archives."""

    #: ``(name, content)`` in archive order; names are POSIX paths below the stdlib root
    members: tuple[tuple[str, bytes], ...]
    #: zipfile ``ZIP_DEFLATED`` at level 6
    deflated: Path
    #: zipfile ``ZIP_STORED``
    stored: Path
    #: the fixed random sequence of names every "random read" case reads, in order
    sample: tuple[str, ...]


@dataclass(frozen=True)
class RawMember:
    """One entry's compressed bytes, as a bare decompressor would receive them."""

    name: str
    #: where the entry's data starts in the archive
    data_offset: int
    raw: bytes
    size: int
    crc32: int


def stdlib_sources() -> list[tuple[str, bytes]]:
    """Return every ``.py`` file of this Python's standard library, sorted by name."""
    root = Path(sysconfig.get_paths()["stdlib"])
    members = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if "site-packages" in relative.parts or not path.is_file():
            continue
        members.append((relative.as_posix(), path.read_bytes()))
    return members


def write_zip(path: Path, members: tuple[tuple[str, bytes], ...], method: int) -> Path:
    """Write ``members`` to ``path`` with zipfile, one compression method for all."""
    level = DEFLATE_LEVEL if method == zipfile.ZIP_DEFLATED else None
    with zipfile.ZipFile(path, "w", method, compresslevel=level) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return path


def raw_members(path: Path, names: tuple[str, ...]) -> list[RawMember]:
    """Return the compressed bytes of ``names`` in ``path``, found through their local headers."""
    locations = zip_data_locations(path)
    with path.open("rb") as file:
        result = []
        for name in names:
            location = locations[name]
            file.seek(location.data_offset)
            raw = file.read(location.compress_size)
            result.append(
                RawMember(name, location.data_offset, raw, location.file_size, location.crc32)
            )
        return result


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    members = tuple(stdlib_sources())
    directory = tmp_path_factory.mktemp("corpus")
    names = [name for name, _ in members]
    sample = tuple(random.Random(SAMPLE_SEED).sample(names, min(SAMPLE_SIZE, len(names))))
    return Corpus(
        members=members,
        deflated=write_zip(directory / "stdlib-deflated.zip", members, zipfile.ZIP_DEFLATED),
        stored=write_zip(directory / "stdlib-stored.zip", members, zipfile.ZIP_STORED),
        sample=sample,
    )


@pytest.fixture(scope="session")
def deflated_sample(corpus: Corpus) -> list[RawMember]:
    """The raw deflate streams of ``corpus.sample``, in sample order."""
    return raw_members(corpus.deflated, corpus.sample)


@pytest.fixture(scope="session")
def stored_sample(corpus: Corpus) -> list[RawMember]:
    """Where the data of each name of ``corpus.sample`` is in the stored zip, in sample order."""
    return raw_members(corpus.stored, corpus.sample)


@pytest.fixture(scope="session")
def sample_contents(corpus: Corpus) -> list[bytes]:
    """The uncompressed contents of ``corpus.sample``, in sample order."""
    by_name = dict(corpus.members)
    return [by_name[name] for name in corpus.sample]


@pytest.fixture(scope="session")
def many_entries_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A zip of 100 000 stored entries of a few bytes each (open time is all it measures)."""
    path = tmp_path_factory.mktemp("many") / "many-entries.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for index in range(MANY_ENTRIES):
            archive.writestr(f"d{index // 1000:03d}/e{index:06d}.txt", b"%d\n" % index)
    return path


class ThreadGang:
    """``count`` long-lived threads that run one job together on each ``run()``.

    The threads start each job on a barrier with the caller, so a round's time
    is from the moment all are released to the moment the last one finishes,
    with no thread start-up inside it. A job is ``job(index)`` for the thread's
    index; the first exception a thread raises is re-raised by ``run()``.
    """

    def __init__(self, count: int) -> None:
        self.count = count
        self._start = threading.Barrier(count + 1)
        self._done = threading.Barrier(count + 1)
        self._job: Callable[[int], object] | None = None
        self._stopping = False
        self._errors: list[BaseException] = []
        self._threads = [
            threading.Thread(target=self._work, args=(index,), daemon=True, name=f"bench-{index}")
            for index in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def _work(self, index: int) -> None:
        while True:
            self._start.wait()
            if self._stopping:
                return
            job = self._job
            try:
                if job is not None:
                    job(index)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller of run()
                self._errors.append(exc)
            self._done.wait()

    def run(self, job: Callable[[int], object]) -> None:
        """Run ``job(index)`` in every thread at once; return when all have finished."""
        self._job = job
        try:
            self._start.wait(THREAD_TIMEOUT)
            self._done.wait(THREAD_TIMEOUT)
        except threading.BrokenBarrierError:
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
            pytest.fail(f"benchmark threads did not finish a round within {THREAD_TIMEOUT} s")
        if self._errors:
            raise self._errors[0]

    def close(self) -> None:
        """Stop the threads."""
        self._stopping = True
        try:
            self._start.wait(THREAD_TIMEOUT)
        except threading.BrokenBarrierError:
            return
        for thread in self._threads:
            thread.join(THREAD_TIMEOUT)


@pytest.fixture
def thread_gang() -> Iterator[Callable[[int], ThreadGang]]:
    """A factory of :class:`ThreadGang`; every gang it made is stopped after the test."""
    gangs: list[ThreadGang] = []

    def make(count: int) -> ThreadGang:
        gang = ThreadGang(count)
        gangs.append(gang)
        return gang

    yield make
    for gang in gangs:
        gang.close()


def _cpu_counters() -> tuple[float, float, float] | None:
    """Return (wall clock, CPU seconds busy machine-wide, CPU seconds of this process)."""
    try:
        fields = _PROC_STAT.read_text(encoding="ascii").split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    busy = sum(int(fields[column]) for column in _BUSY_COLUMNS if column < len(fields)) / ticks
    own = os.times()
    return time.monotonic(), busy, own.user + own.system


@pytest.fixture(autouse=True)
def _record_other_load(request: pytest.FixtureRequest) -> Iterator[None]:
    """Record in each benchmark's ``extra_info["other_load"]`` the cores other processes used.

    On a shared machine a case that ran while something else was busy is slow
    for reasons of its own; thread cases cannot scale when a core is taken.
    ``ratios.py`` flags such cases.
    """
    before = _cpu_counters()
    yield
    benchmark = request.node.funcargs.get("benchmark")
    after = _cpu_counters()
    if benchmark is None or before is None or after is None or after[0] <= before[0]:
        return
    others = (after[1] - before[1]) - (after[2] - before[2])
    benchmark.extra_info["other_load"] = round(max(others, 0.0) / (after[0] - before[0]), 2)
