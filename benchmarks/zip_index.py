"""Big zip archives: open, memory, listing and reads, with and without an index cache.

Run ``python benchmarks/zip_index.py --entries 1000000`` (default 100 000). It
writes a stored zip of short names (``dirN/file_NNNNNNN.txt``, a few bytes
each) into a temporary directory and measures, side by side in one run:

* opening it with ``zipfile.ZipFile`` and with ``ZipReader`` (no index cache);
* the first ``ZipReader(path, index_cache=DIR)`` open (parse, then write the
  index) and a warm one (load the index), each with a first read;
* heap after opening and reading one entry (tracemalloc), per entry;
* ``namelist()`` and ``infolist()`` (the first call, which decodes the names
  or makes the infos, and a later one), and reading a field of every info;
* a random ``read()`` of small entries, in the steady state (each sampled
  entry read once before timing), from a cold- and a warm-opened reader.

Times are the best of ``--rounds`` runs; compare ratios, not absolute times,
on a shared machine.
"""

from __future__ import annotations

import argparse
import gc
import random
import struct
import tempfile
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import randread

if TYPE_CHECKING:
    from collections.abc import Callable

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_EOCD = struct.Struct("<IHHHHIIH")
_ZIP64_EOCD = struct.Struct("<IQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<IIQI")


def write_stored_zip(path: Path, count: int) -> None:
    """Write ``count`` tiny stored entries; zip64 end records when over 65 535."""
    local_parts: list[bytes] = []
    central_parts: list[bytes] = []
    offset = 0
    for number in range(count):
        name = f"dir{number % 100}/file_{number:07d}.txt".encode()
        data = b"%d" % number
        crc = zlib.crc32(data)
        header = _LOCAL.pack(
            0x04034B50, 20, 0, 0, 0x6000, 0x5A21, crc, len(data), len(data), len(name), 0
        )
        local_parts += (header, name, data)
        central_parts += (
            _CENTRAL.pack(
                0x02014B50, 20, 20, 0, 0, 0x6000, 0x5A21, crc, len(data), len(data),
                len(name), 0, 0, 0, 0, 0o644 << 16, offset,
            ),
            name,
        )  # fmt: skip
        offset += len(header) + len(name) + len(data)
    central = b"".join(central_parts)
    end = b""
    if count > 0xFFFF:
        zip64_offset = offset + len(central)
        end += _ZIP64_EOCD.pack(
            0x06064B50, 44, 45, 45, 0, 0, count, count, len(central), offset
        ) + _ZIP64_LOCATOR.pack(0x07064B50, 0, zip64_offset, 1)
        end += _EOCD.pack(0x06054B50, 0, 0, 0xFFFF, 0xFFFF, len(central), offset, 0)
    else:
        end += _EOCD.pack(0x06054B50, 0, 0, count, count, len(central), offset, 0)
    with path.open("wb") as file:
        file.write(b"".join(local_parts))
        file.write(central)
        file.write(end)


def best(function: Callable[[], Any], rounds: int) -> float:
    """The fastest of ``rounds`` calls, in seconds; each result is dropped before the next."""
    times = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
        close = getattr(result, "close", None)
        if close is not None:
            close()
        del result
    return min(times)


def heap_per_entry(open_and_read: Callable[[], Any], count: int) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        kept = open_and_read()
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    kept.close()
    return current / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reads", type=int, default=2000)
    options = parser.parse_args()
    count, rounds = options.entries, options.rounds
    with tempfile.TemporaryDirectory() as temporary:
        path = Path(temporary) / "big.zip"
        write_stored_zip(path, count)
        cache = Path(temporary) / "index-cache"
        first = "dir0/file_0000000.txt"

        def zipfile_open() -> zipfile.ZipFile:
            archive = zipfile.ZipFile(path)
            archive.read(first)
            return archive

        def reader_open() -> randread.ZipReader:
            reader = randread.ZipReader(path)
            reader.read(first)
            return reader

        def cold_cached_open() -> randread.ZipReader:
            for stale in cache.glob("*"):
                stale.unlink()
            reader = randread.ZipReader(path, index_cache=cache)
            reader.read(first)
            return reader

        def warm_cached_open() -> randread.ZipReader:
            reader = randread.ZipReader(path, index_cache=cache)
            reader.read(first)
            assert reader._index_status == "hit"  # noqa: SLF001 - a benchmark sanity check
            return reader

        rows: list[tuple[str, str, str]] = []
        zipfile_time = best(zipfile_open, rounds)
        reader_time = best(reader_open, rounds)
        cold_time = best(cold_cached_open, rounds)
        warm_time = best(warm_cached_open, rounds)
        index_size = sum(file.stat().st_size for file in cache.glob("*"))
        rows += [
            ("open + first read: zipfile", f"{zipfile_time * 1e3:.0f} ms", "1.00x"),
            (
                "open + first read: ZipReader",
                f"{reader_time * 1e3:.0f} ms",
                f"{zipfile_time / reader_time:.2f}x",
            ),
            (
                "open + first read: ZipReader, index cache cold (parse + write)",
                f"{cold_time * 1e3:.0f} ms",
                f"{zipfile_time / cold_time:.2f}x",
            ),
            (
                "open + first read: ZipReader, index cache warm",
                f"{warm_time * 1e3:.0f} ms",
                f"{zipfile_time / warm_time:.2f}x",
            ),
        ]
        zipfile_heap = heap_per_entry(zipfile_open, count)
        reader_heap = heap_per_entry(reader_open, count)
        warm_heap = heap_per_entry(warm_cached_open, count)
        rows += [
            ("heap after open + one read: zipfile", f"{zipfile_heap:.0f} B/entry", "1.00x"),
            (
                "heap after open + one read: ZipReader",
                f"{reader_heap:.0f} B/entry",
                f"{reader_heap / zipfile_heap:.2f}x",
            ),
            (
                "heap after open + one read: ZipReader, warm index",
                f"{warm_heap:.0f} B/entry",
                f"{warm_heap / zipfile_heap:.2f}x",
            ),
            ("index file size", f"{index_size / count:.0f} B/entry", ""),
        ]
        with (
            zipfile.ZipFile(path) as archive,
            randread.ZipReader(path) as reader,
            randread.ZipReader(path, index_cache=cache) as warm,
        ):
            for label, lister in (
                ("namelist()", "namelist"),
                ("infolist()", "infolist"),
                ("infolist() + every info's file_size", "sizes"),
            ):
                theirs = best(lambda lister=lister: _list(archive, lister), rounds)
                # The first call decodes the names or makes the infos; time that
                # one (from a fresh reader each round) and a later one.
                ours = min(_first_call(path, lister) for _ in range(rounds))
                later = best(lambda lister=lister: _list(reader, lister), rounds)
                rows += [
                    (f"{label}: zipfile", f"{theirs * 1e3:.0f} ms", "1.00x"),
                    (
                        f"{label}: ZipReader, first call",
                        f"{ours * 1e3:.0f} ms",
                        _ratio(theirs, ours),
                    ),
                    (
                        f"{label}: ZipReader, later calls",
                        f"{later * 1e3:.0f} ms",
                        _ratio(theirs, later),
                    ),
                ]
            names = random.Random(0).sample(archive.namelist(), min(options.reads, count))
            for name in names:  # the steady state: every sampled entry read once
                reader.read(name)
                warm.read(name)
            per_read = {}
            for label, source in (("zipfile", archive), ("ZipReader", reader), ("warm", warm)):
                read = source.read
                per_read[label] = best(lambda read=read: [read(n) for n in names], rounds) / len(
                    names
                )
            rows += [
                ("random read(): zipfile", f"{per_read['zipfile'] * 1e6:.2f} µs", "1.00x"),
                (
                    "random read(): ZipReader",
                    f"{per_read['ZipReader'] * 1e6:.2f} µs",
                    _ratio(per_read["zipfile"], per_read["ZipReader"]),
                ),
                (
                    "random read(): ZipReader, warm index",
                    f"{per_read['warm'] * 1e6:.2f} µs",
                    _ratio(per_read["zipfile"], per_read["warm"]),
                ),
            ]
    print(f"{count:,} stored entries, best of {rounds}")
    print("| measure | value | vs zipfile |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def _list(archive: zipfile.ZipFile, lister: str) -> list[Any]:
    if lister == "sizes":
        return [info.file_size for info in archive.infolist()]
    return getattr(archive, lister)()  # type: ignore[no-any-return]


def _first_call(path: Path, lister: str) -> float:
    with randread.ZipReader(path) as reader:
        gc.collect()
        start = time.perf_counter()
        _list(reader, lister)
        return time.perf_counter() - start


def _ratio(theirs: float, ours: float) -> str:
    return f"{theirs / ours:.2f}x faster" if ours <= theirs else f"{ours / theirs:.2f}x slower"


if __name__ == "__main__":
    main()
