"""Threads sharing one reader: reads per second from 1, 2, ... N threads, each format.

Run ``python benchmarks/threads.py`` (``--threads 1,2,4``, ``--seconds``,
``--rounds``) on a GIL build and on a free-threaded one (3.13t, 3.14t): it
prints which it ran on. The corpus is this Python's standard library ``.py``
files (``randread bench``'s default), written in a temporary directory to a
deflated zip (level 6) and to bundles (zstd level 3, lz4, none). Every case
is measured once per round, the cases in turn, and keeps its best round; the
ratio is to the same case on one thread, within the same run.

Cases: ``zipfile.ZipFile.read`` shared (its lock serialises reads),
``ZipReader.read`` (libdeflate where installed), bundle ``read`` per codec,
bundle ``view`` of stored entries, ``CachedReader.read`` hits (every entry
cached, so each read is a lookup), and a pure-Python loop that touches no
shared object: the ceiling threads can reach on this machine at that moment.

Each thread reads its own slice of one seeded random sequence of names (as
string objects of its own, as a server parsing requests has); all start
together on a barrier and stop together.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import randread
from randread._runtime import FREE_THREADED, gil_enabled
from randread.bench import default_corpus
from randread.bench.formats import SharedZipFile
from randread.bench.runner import reads_per_second

if TYPE_CHECKING:
    from collections.abc import Callable


def build(directory: Path, names: list[str], contents: list[bytes]) -> dict[str, Path]:
    paths = {"zip": directory / "corpus.zip"}
    with zipfile.ZipFile(paths["zip"], "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, data in zip(names, contents, strict=True):
            archive.writestr(name, data)
    for codec in ("zstd", "lz4", "none"):
        paths[codec] = directory / f"corpus-{codec}.rrb"
        with randread.BundleWriter(paths[codec], codec=codec) as writer:
            for name, data in zip(names, contents, strict=True):
                writer.add(name, data)
    return paths


def python_loop(_name: str) -> int:
    """Work of the size of a read that shares nothing between threads."""
    total = 0
    for number in range(40):
        total += number * number
    return total


def cases(paths: dict[str, Path], names: list[str]) -> dict[str, tuple[Any, Callable[[str], Any]]]:
    """Case name -> (the shared object to close, or None; the call each thread makes)."""
    zip_file = SharedZipFile(paths["zip"])
    zip_reader = randread.ZipReader(paths["zip"])
    bundles = {codec: randread.BundleReader(paths[codec]) for codec in ("zstd", "lz4", "none")}
    cache = randread.CachedReader(randread.BundleReader(paths["zstd"]), max_bytes=1 << 30)
    for name in names:  # every entry in the cache, every memo warm
        cache.read(name)
        zip_reader.read(name)
        for bundle in bundles.values():
            bundle.read(name)

    def view(name: str) -> int:
        with bundles["none"].view(name) as data:
            return len(data)

    return {
        "zipfile (shared)": (zip_file, zip_file.read),
        f"ZipReader ({randread.fast_deflate_backend()})": (zip_reader, zip_reader.read),
        "bundle zstd": (bundles["zstd"], bundles["zstd"].read),
        "bundle lz4": (bundles["lz4"], bundles["lz4"].read),
        "bundle none: read": (bundles["none"], bundles["none"].read),
        "bundle none: view": (None, view),
        "CachedReader hits": (cache, cache.read),
        "pure-Python loop": (None, python_loop),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=0.5, help="per case, count and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="use the first N files only")
    arguments = parser.parse_args()
    counts = sorted({int(part) for part in arguments.threads.split(",")})
    corpus = default_corpus(arguments.limit)
    sequence = random.Random(1).choices(corpus.names, k=20_000)
    build_kind = "free-threaded build" if FREE_THREADED else "GIL build"
    with tempfile.TemporaryDirectory() as temporary:
        paths = build(Path(temporary), corpus.names, corpus.contents)
        measured = cases(paths, corpus.names)
        best: dict[tuple[str, int], float] = {}
        failed: dict[str, str] = {}
        for _ in range(arguments.rounds):
            for case, (_, call) in measured.items():
                for count in counts:
                    if case in failed:
                        continue
                    try:
                        rate = reads_per_second(call, sequence, count, arguments.seconds)
                    except Exception as exc:
                        # Only zipfile may fail: it is not made to be shared.
                        if not case.startswith("zipfile") or count == 1:
                            raise
                        failed[case] = f"{count} threads: {type(exc).__name__}: {exc}"
                        continue
                    best[case, count] = max(best.get((case, count), 0.0), rate)
        gil = "on" if gil_enabled() else "off"
        version = ".".join(map(str, sys.version_info[:3]))
        print(f"Python {version}, {build_kind}, GIL {gil}")
        print(f"{corpus.description}: {len(corpus)} entries; best of {arguments.rounds} rounds")
        print()
        header = " | ".join(f"{count} thr reads/s | x" for count in counts)
        print(f"| case | {header} |")
        print("|---|" + "---:|---:|" * len(counts))
        for case in measured:
            one = best[case, counts[0]]
            cells = " | ".join(
                f"{best[case, n]:,.0f} | {best[case, n] / one:.2f}"
                if (case, n) in best
                else "failed |"
                for n in counts
            )
            print(f"| {case} | {cells} |")
        for case, failure in failed.items():
            print(f"\n{case} failed with {failure}")
        for shared, _ in measured.values():
            if shared is not None:
                shared.close()


if __name__ == "__main__":
    main()
