"""ZipReader against zipfile and against the bare decompressors it is built on.

Each benchmarked call reads the whole fixed random sample (``corpus.sample``,
256 names) once, so a round is 256 reads; ``extra_info["reads"]`` records the
count and ``ratios.py`` turns round times into time per read. Every case
checks its output once, untimed, before it is measured; that pass also leaves
ZipReader in its steady state (each sampled entry read once), as in a
long-running service.

Groups, so pytest-benchmark prints the cases to compare side by side:

* ``zip-read-deflate``: zipfile, ZipReader with each deflate backend, the bare
  decompressors on the same raw streams, and the CRC-32 of the output.
* ``zip-read-stored``: zipfile, ZipReader.read, a zero-copy view through
  ZipReader.entry_readat, and a bare copy of the bytes from a memory map.
* ``zip-read-many``: ``ZipReader.read_many`` of the sample on 2 workers
  against a loop of ``read()`` (the baseline), fast deflate backend.
* ``zip-threads``: 1, 2 and 4 threads sharing one ZipReader, and the same
  for one zipfile.ZipFile; 1024 reads per round in total.
* ``zip-open``: opening an archive of 100 000 entries.
"""

from __future__ import annotations

import importlib
import mmap
import zipfile
import zlib
from typing import Any

import pytest

import randread
from randread.zip import methods
from randread.zip import reader as reader_module


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


libdeflate = _optional("deflate")
isal_zlib = _optional("isal.isal_zlib")

#: how many times the sample is read per round in the thread cases (4 x 256 reads)
THREAD_ROUND_REPEATS = 4
THREAD_COUNTS = (1, 2, 4)
THREAD_ROUNDS = 30
OPEN_ROUNDS = 7


def crc_library() -> str:
    """Name the library whose CRC-32 ZipReader uses."""
    crc = reader_module.crc32
    if isal_zlib is not None and crc is isal_zlib.crc32:
        return "isal"
    if libdeflate is not None and crc is libdeflate.crc32:
        return "libdeflate"
    return "zlib"


def record(benchmark, group: str, role: str, *, reads: int, codec: str | None = None) -> None:
    """Set the group and the fields ``ratios.py`` reads.

    ``role`` is ``baseline`` (zipfile), ``subject`` (randread), ``bare`` (the
    codec alone, the floor of a read) or ``part`` (a piece of a read, the CRC).
    """
    benchmark.group = group
    benchmark.extra_info.update(role=role, reads=reads)
    if codec is not None:
        benchmark.extra_info["codec"] = codec


# -- random reads of deflated entries ----------------------------------------


def test_read_deflate_zipfile(benchmark, corpus, sample_contents):
    names = corpus.sample
    with zipfile.ZipFile(corpus.deflated) as archive:
        read = archive.read
        assert [read(name) for name in names] == sample_contents

        def batch():
            for name in names:
                read(name)

        record(benchmark, "zip-read-deflate", "baseline", reads=len(names), codec="zlib")
        benchmark(batch)


#: ZipReader's deflate backend: the fastest installed, or one forced (with zlib,
#: zlib's CRC-32 too: what a user without the ``fast`` extra gets)
READER_BACKENDS = ("fast", "isal", "zlib")


@pytest.mark.parametrize("backend", READER_BACKENDS)
def test_read_deflate_randread(benchmark, corpus, sample_contents, monkeypatch, backend):
    fast = randread.fast_deflate_backend()
    if backend == "fast":
        backend = fast
    elif backend == fast or (backend == "isal" and isal_zlib is None):
        pytest.skip(f"{backend} is the fast backend already, or is not installed")
    crc = crc_library()
    if backend == "zlib":
        # read() computes the CRC-32 in methods, read_into() in the reader
        monkeypatch.setattr(methods, "crc32", zlib.crc32)
        monkeypatch.setattr(reader_module, "crc32", zlib.crc32)
        crc = "zlib"
    names = corpus.sample
    with randread.ZipReader(corpus.deflated) as archive, methods.forced_deflate_backend(backend):
        read = archive.read
        assert [read(name) for name in names] == sample_contents

        def batch():
            for name in names:
                read(name)

        record(benchmark, "zip-read-deflate", "subject", reads=len(names), codec=backend)
        benchmark.extra_info["crc"] = crc
        benchmark(batch)


@pytest.mark.parametrize("how", ["loop", "read_many"])
def test_read_many_deflate(benchmark, corpus, sample_contents, how):
    """``read_many(sample, workers=2)`` against a loop of ``read()`` (the group's baseline)."""
    names = corpus.sample
    with randread.ZipReader(corpus.deflated) as archive:
        assert archive.read_many(names, workers=2) == sample_contents
        backend = randread.fast_deflate_backend()
        if how == "loop":
            record(benchmark, "zip-read-many", "baseline", reads=len(names), codec=backend)
            read = archive.read

            def batch():
                # Keeps its results, as read_many does (see benchmarks/batch.py).
                return [read(name) for name in names]

            benchmark(batch)
        else:
            record(benchmark, "zip-read-many", "subject", reads=len(names), codec=backend)
            benchmark(archive.read_many, names, workers=2)


BARE_CODECS = ("libdeflate", "isal", "zlib")


@pytest.mark.parametrize("codec", BARE_CODECS)
def test_read_deflate_bare(benchmark, deflated_sample, sample_contents, codec):
    """The decompressor alone on the entries' raw deflate streams, already in memory."""
    pairs = [(member.raw, member.size) for member in deflated_sample]
    if codec == "libdeflate":
        if libdeflate is None:
            pytest.skip("libdeflate (the deflate package) is not installed")
        decompress = libdeflate.deflate_decompress

        def batch():
            for raw, size in pairs:
                decompress(raw, size)

        outputs = [bytes(decompress(raw, size)) for raw, size in pairs]
    else:
        if codec == "isal" and isal_zlib is None:
            pytest.skip("isal is not installed")
        module_decompress = isal_zlib.decompress if codec == "isal" else zlib.decompress

        # bufsize is the exact size, as zip gives it: the cheapest call there is
        def batch():
            for raw, size in pairs:
                module_decompress(raw, -15, size)

        outputs = [module_decompress(raw, -15, size) for raw, size in pairs]
    assert outputs == sample_contents
    record(benchmark, "zip-read-deflate", "bare", reads=len(pairs), codec=codec)
    benchmark(batch)


CRC_LIBRARIES = ("isal", "libdeflate", "zlib")


@pytest.mark.parametrize("library", CRC_LIBRARIES)
def test_read_deflate_crc32(benchmark, deflated_sample, sample_contents, library):
    """The CRC-32 every read checks, from each library that has one."""
    module = {"isal": isal_zlib, "libdeflate": libdeflate, "zlib": zlib}[library]
    if module is None:
        pytest.skip(f"{library} is not installed")
    crc32 = module.crc32
    contents = sample_contents
    assert [crc32(content) for content in contents] == [m.crc32 for m in deflated_sample]

    def batch():
        for content in contents:
            crc32(content)

    record(benchmark, "zip-read-deflate", "part", reads=len(contents), codec=f"crc32-{library}")
    benchmark.extra_info["used_by_randread"] = library == crc_library()
    benchmark(batch)


# -- random reads of stored entries ------------------------------------------


def test_read_stored_zipfile(benchmark, corpus, sample_contents):
    names = corpus.sample
    with zipfile.ZipFile(corpus.stored) as archive:
        read = archive.read
        assert [read(name) for name in names] == sample_contents

        def batch():
            for name in names:
                read(name)

        record(benchmark, "zip-read-stored", "baseline", reads=len(names))
        benchmark(batch)


@pytest.mark.parametrize("how", ["read", "view"])
def test_read_stored_randread(benchmark, corpus, sample_contents, how):
    """``read`` copies and checks the CRC-32; ``view`` is a zero-copy window, unchecked."""
    names = corpus.sample
    with randread.ZipReader(corpus.stored) as archive:
        if how == "read":
            read = archive.read
            assert [read(name) for name in names] == sample_contents

            def batch():
                for name in names:
                    read(name)

        else:
            entry_readat = archive.entry_readat

            def view(name):
                window = entry_readat(name)
                return window.view_at(0, window.size)

            assert [bytes(view(name)) for name in names] == sample_contents

            def batch():
                for name in names:
                    window = entry_readat(name)
                    window.view_at(0, window.size)

        record(benchmark, "zip-read-stored", "subject", reads=len(names), codec=f"stored-{how}")
        benchmark(batch)


def test_read_stored_bare(benchmark, corpus, stored_sample, sample_contents):
    """A copy of each entry's bytes out of a memory map: the floor of a stored read."""
    spans = [(member.data_offset, member.data_offset + member.size) for member in stored_sample]
    with (
        corpus.stored.open("rb") as file,
        mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
        memoryview(mapped) as view,
    ):
        assert [bytes(view[start:end]) for start, end in spans] == sample_contents

        def batch():
            for start, end in spans:
                bytes(view[start:end])

        record(benchmark, "zip-read-stored", "bare", reads=len(spans), codec="stored-read")
        benchmark(batch)


# -- threads sharing one reader ----------------------------------------------


@pytest.mark.parametrize("threads", THREAD_COUNTS)
@pytest.mark.parametrize("library", ["randread", "zipfile"])
def test_threads(  # noqa: PLR0917 - pytest passes fixtures and parameters by name
    benchmark, corpus, sample_contents, thread_gang, library, threads
):
    """A fixed total of reads split across threads that share one open archive."""
    sequence = list(corpus.sample) * THREAD_ROUND_REPEATS
    shares = [sequence[index::threads] for index in range(threads)]
    opener = randread.ZipReader if library == "randread" else zipfile.ZipFile
    with opener(corpus.deflated) as archive:
        read = archive.read
        assert [read(name) for name in corpus.sample] == sample_contents

        def job(index):
            for name in shares[index]:
                read(name)

        gang = thread_gang(threads)
        gang.run(job)  # untimed: every thread has run once
        codec = randread.fast_deflate_backend() if library == "randread" else "zlib"
        role = "subject" if library == "randread" else "baseline"
        record(benchmark, "zip-threads", role, reads=len(sequence), codec=codec)
        benchmark.extra_info["threads"] = threads
        benchmark.pedantic(gang.run, args=(job,), rounds=THREAD_ROUNDS, warmup_rounds=1)


# -- open ----------------------------------------------------------------------


@pytest.mark.parametrize("library", ["randread", "zipfile"])
def test_open(benchmark, many_entries_zip, library):
    """Open (parse the central directory of) an archive of 100 000 entries."""
    opener = randread.ZipReader if library == "randread" else zipfile.ZipFile
    opened = []

    def open_archive():
        opened.append(opener(many_entries_zip))

    def close_all():
        while opened:
            opened.pop().close()

    with opener(many_entries_zip) as archive:
        entries = len(archive.namelist())
    role = "subject" if library == "randread" else "baseline"
    record(benchmark, "zip-open", role, reads=1)
    benchmark.extra_info["entries"] = entries
    try:
        benchmark.pedantic(open_archive, teardown=close_all, rounds=OPEN_ROUNDS, warmup_rounds=1)
    finally:
        close_all()
