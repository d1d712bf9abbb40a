"""Measure each format: random reads, a cost breakdown, thread scaling, scans, open, size.

Timings are medians of many short batches, so a noisy machine moves them less
than a single long run would. Every format reads the same name sequence.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

import randread
from randread._runtime import FREE_THREADED, gil_enabled

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from randread.bench.corpus import Corpus
    from randread.bench.formats import Phases, Reader, Subject

__all__ = ["BenchConfig", "FormatResult", "reads_per_second", "run", "share_out"]

_BATCH = 64
#: the shortest time threads are measured for, however quick the run
_THREADS_MIN_SECONDS = 0.05
_ZIPF_EXPONENT = 1.1


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """How long and how to measure."""

    seconds_per_measure: float = 0.25
    threads: tuple[int, ...] = (1, 2, 4)
    sequence_length: int = 4096
    seed: int = 1


@dataclass(slots=True)
class FormatResult:
    """What was measured for one format (µs are per entry read)."""

    format: str
    description: str
    file_size: int
    build_seconds: float
    open_us: float
    uniform_us: float
    zipf_us: float
    scan_mb_per_s: float
    breakdown_us: dict[str, float] = field(default_factory=dict)
    #: None where threads sharing the reader failed (a reader not made to be shared)
    threads_ops_per_s: dict[int, float | None] = field(default_factory=dict)
    #: why they failed
    threads_failure: str | None = None


def run(
    corpus: Corpus,
    subjects: Sequence[Subject],
    directory: Path,
    config: BenchConfig,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Build every subject's archive in ``directory``, measure it, return a JSON-able report."""
    rng = np.random.default_rng(config.seed)
    count = len(corpus)
    uniform = [corpus.names[i] for i in rng.integers(0, count, config.sequence_length)]
    ranks = np.arange(1, count + 1, dtype=np.float64) ** -_ZIPF_EXPONENT
    popular = rng.permutation(count)
    draws = rng.choice(count, size=config.sequence_length, p=ranks / ranks.sum())
    zipf = [corpus.names[popular[i]] for i in draws]
    results = []
    for subject in subjects:
        if progress is not None:
            progress(subject.name)
        results.append(_measure(subject, corpus, directory, config, uniform=uniform, zipf=zipf))
    return {
        "machine": _machine(),
        "corpus": {
            "description": corpus.description,
            "entries": count,
            "total_bytes": corpus.total_size,
            "mean_entry_bytes": corpus.total_size / count,
            "mean_sampled_entry_bytes": statistics.fmean(
                len(corpus.contents[corpus.names.index(n)]) for n in uniform[:512]
            ),
        },
        "config": asdict(config),
        "results": [asdict(result) for result in results],
    }


def _measure(
    subject: Subject,
    corpus: Corpus,
    directory: Path,
    config: BenchConfig,
    *,
    uniform: list[str],
    zipf: list[str],
) -> FormatResult:
    started = time.perf_counter()
    path = subject.build(corpus, directory)
    build_seconds = time.perf_counter() - started
    budget = config.seconds_per_measure
    with subject.setting():
        first = corpus.names[0]

        def open_once() -> None:
            reader = subject.open(path)
            reader.read(first)
            reader.close()

        open_us = _per_call(open_once, budget)
        reader = subject.open(path)
        try:
            _check(reader, corpus)
            uniform_us = _per_read(reader.read, uniform, budget)
            zipf_us = _per_read(reader.read, zipf, budget)
            breakdown = {"total": uniform_us}
            if subject.phases is not None:
                phases = subject.phases(path, reader)
                try:
                    breakdown = _breakdown(phases, reader, uniform, budget)
                finally:
                    phases.close()
            started = time.perf_counter()
            scanned = sum(len(reader.read(name)) for name in corpus.names)
            scan_mb_per_s = scanned / (time.perf_counter() - started) / 1e6
            threads: dict[int, float | None] = {}
            failure = None
            for count in config.threads:
                try:
                    threads[count] = reads_per_second(
                        reader.read, uniform, count, max(budget, _THREADS_MIN_SECONDS)
                    )
                except Exception as exc:
                    if subject.thread_safe or count == 1:
                        raise
                    threads[count] = None
                    failure = f"{type(exc).__name__}: {exc}"
        finally:
            reader.close()
    return FormatResult(
        format=subject.name,
        description=subject.description,
        file_size=path.stat().st_size if path.is_file() else _tree_size(path),
        build_seconds=build_seconds,
        open_us=open_us,
        uniform_us=uniform_us,
        zipf_us=zipf_us,
        scan_mb_per_s=scan_mb_per_s,
        breakdown_us=breakdown,
        threads_ops_per_s=threads,
        threads_failure=failure,
    )


def _check(reader: Reader, corpus: Corpus) -> None:
    """Refuse to time a reader that returns wrong bytes."""
    step = max(1, len(corpus) // 50)
    for name, data in zip(corpus.names[::step], corpus.contents[::step], strict=True):
        if reader.read(name) != data:
            msg = f"{name!r} read back wrong"
            raise AssertionError(msg)


def _per_call(function: Callable[[], object], budget: float) -> float:
    """Median µs per call of ``function``, over at least 5 calls."""
    samples: list[float] = []
    deadline = time.perf_counter() + budget
    while len(samples) < 5 or time.perf_counter() < deadline:
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def _per_read(function: Callable[[str], object], names: list[str], budget: float) -> float:
    """Median µs per call of ``function(name)`` over batches of the name sequence."""
    samples: list[float] = []
    deadline = time.perf_counter() + budget
    position = 0
    clock = time.perf_counter
    while len(samples) < 5 or clock() < deadline:
        batch = names[position : position + _BATCH]
        position = (position + _BATCH) % (len(names) - _BATCH)
        started = clock()
        for name in batch:
            function(name)
        samples.append((clock() - started) / len(batch))
    return statistics.median(samples) * 1e6


def _breakdown(phases: Phases, reader: Reader, names: list[str], budget: float) -> dict[str, float]:
    """Time each phase alone over the same names and share a read's time out between them.

    The parts add up to ``total``, the time of the reader's own ``read()``.
    "other" is what the reader adds beyond the phases. Timed alone, the phases
    can add up to more than a whole read (timing noise; a phase that costs
    more outside the reader's hot path, decoding from a fresh copy, say):
    then they are scaled down in proportion to fill the read's time and
    "other" is 0; ``phases_alone`` keeps their sum as measured.
    """
    raws = {name: phases.io(name) for name in set(names)}
    contents = {name: phases.decode(name, raws[name]) for name in raws}
    measured = {
        "lookup": _per_read(phases.lookup, names, budget),
        "io": _per_read(phases.io, names, budget),
        "decode": _per_read(lambda name: phases.decode(name, raws[name]), names, budget),
        "checksum": _per_read(lambda name: phases.checksum(contents[name]), names, budget),
    }
    total = _per_read(reader.read, names, budget)
    return share_out(measured, total)


def share_out(measured: dict[str, float], total: float) -> dict[str, float]:
    """Return ``measured`` phases and "other" adding up to ``total``, and the phases' own sum."""
    phases_alone = sum(measured.values())
    if phases_alone > total > 0:
        scale = total / phases_alone
        parts = {phase: value * scale for phase, value in measured.items()}
        other = 0.0
    else:
        parts = dict(measured)
        other = total - phases_alone
    return {**parts, "other": other, "total": total, "phases_alone": phases_alone}


def reads_per_second(
    call: Callable[[str], Any], names: list[str], threads: int, seconds: float
) -> float:
    """Aggregate calls per second of ``threads`` threads calling ``call`` for ``seconds``."""
    barrier = threading.Barrier(threads + 1)
    stop = threading.Event()
    share = len(names) // threads
    workers = [
        _Worker(call, names[index * share : (index + 1) * share], barrier, stop)
        for index in range(threads)
    ]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    for worker in workers:
        if worker.error is not None:
            raise worker.error
    return sum(worker.done for worker in workers) / elapsed


class _Worker(threading.Thread):
    """One of the threads of :func:`reads_per_second`.

    What the loop calls and reads lives in attributes and locals: the same
    loop written as a closure over the caller's variables ran about 50 times
    slower on CPython 3.13.5t here (the cause was not isolated).
    """

    def __init__(
        self,
        call: Callable[[str], Any],
        names: list[str],
        barrier: threading.Barrier,
        stop: threading.Event,
    ) -> None:
        super().__init__(daemon=True)
        self.call, self.names, self.barrier, self.stop = call, names, barrier, stop
        self.done = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        call, stop = self.call, self.stop
        # Names of this thread's own, as a server parses them from its
        # requests: on a free-threaded build, touching objects another thread
        # made costs atomic reference counts.
        mine = [name.encode().decode() for name in self.names]
        wrap = len(mine) - _BATCH
        done = position = 0
        try:
            self.barrier.wait()
            while not stop.is_set():
                for name in mine[position : position + _BATCH]:
                    call(name)
                done += _BATCH
                position = (position + _BATCH) % wrap
        except Exception as exc:  # noqa: BLE001 - raised by the main thread
            self.error = exc
        self.done = done


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "free_threaded": FREE_THREADED,
        "gil_enabled": gil_enabled(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "randread": randread.__version__,
        "deflate_backend": randread.fast_deflate_backend(),
        "date": dt.datetime.now(tz=dt.timezone.utc).isoformat(timespec="seconds"),
    }
