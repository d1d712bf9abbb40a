"""Batch reads: read_many against a loop of read(), CRC inside the decoder, threads.

Run ``python benchmarks/batch.py`` (``--rounds``, ``--workers``). It writes
this Python's standard library ``.py`` files to a deflated zip (level 6) and to
bundles (zstd level 6, zstd with a trained dictionary, lz4, none) in a
temporary directory, then prints, measured side by side in one run (every
round times each case once, in turn; a case's figure is its best round):

* per codec and batch size, a loop of ``read()`` against ``read_many`` (the
  default choice between threads and a loop, and each forced),
  ``read_many_into`` a preallocated bytearray, and (bundles, with the system's
  libzstd) forced threads decoding zstd frame by frame instead of in runs, on
  ``--workers`` threads; batches of random names from all entries and from the
  small ones (4 KiB or less); the ratio is the loop's time over the batch call's;
* ``ZipReader.read`` against the bare libdeflate decoder (with and without a
  CRC-32 after it, and the same inline as a read must do it: a slice of the
  archive, decode, a copy into ``bytes``, the CRC-32), with the CRC-32 checked
  by libdeflate inside a gzip wrap and after decoding, over a memory-mapped
  path, bytes and ``backend="pread"`` (at least 30 rounds, the order turning);
* ``read()`` from 1 and 2 threads sharing one reader (ZipReader, zstd bundle),
  and the same for the bare decoders (zstandard, lz4, libdeflate) called
  once per entry: what a second thread can give one call per entry here.

Compare ratios, not absolute times: the machine may be shared.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import random
import tempfile
import threading
import time
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lz4.block
import zstandard

import randread
from randread._checksum import crc32
from randread._core.batch import batch_modes
from randread.bench.corpus import default_corpus
from randread.bench.formats import zip_data_locations
from randread.bundle import batch as bundle_batch
from randread.zip import methods

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

SEED = 20261125
BATCH_SIZES = (8, 32, 256)
SMALL_ENTRY = 4096
BUNDLE_CODECS = {
    "zstd": {"codec": "zstd", "level": 6},
    "zstd-dict": {"codec": "zstd", "level": 6, "dictionary": "train"},
    "lz4": {"codec": "lz4", "level": 0},
    "none": {"codec": "none"},
}
THREAD_READS = 1024
#: the fewest rounds of the ZipReader.read overhead table
OVERHEAD_ROUNDS = 30
THREAD_TIMEOUT = 120.0


def _decode_for_a_while(data: bytes) -> None:
    for _ in range(20):
        zlib.decompress(data)


def free_cores_check() -> float:
    """Return how much faster 2 processes decode than 1 (about 2 when both cores are free)."""
    data = zlib.compress(bytes(range(256)) * 40_000)
    times = []
    for processes in (1, 2):
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            pool.map(abs, range(processes))  # started before the clock
            start = time.perf_counter()
            pool.map(_decode_for_a_while, [data] * processes)
            times.append((time.perf_counter() - start) / processes)
    return times[0] / times[1]


def side_by_side(
    cases: dict[str, Callable[[], Any]], rounds: int, *, rotate: bool = False
) -> dict[str, float]:
    """Best seconds of each case, the cases taking turns within every round.

    ``rotate``: each round starts one case later, so that no case always
    follows the same one.
    """
    best = dict.fromkeys(cases, float("inf"))
    order = list(cases)
    for number in range(rounds):
        shift = number % len(order) if rotate else 0
        for name in order[shift:] + order[:shift]:
            start = time.perf_counter()
            cases[name]()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


@contextlib.contextmanager
def mode(choice: str) -> Iterator[None]:
    """``default``: the chooser decides; ``threads``/``loop``: forced."""
    if choice == "default":
        yield
    else:
        with batch_modes.forced(threaded=choice == "threads"):
            yield


def batch_cases(
    reader: Any,
    names: list[str],
    workers: int,
) -> dict[str, Callable[[], Any]]:
    read, read_many, read_many_into = reader.read, reader.read_many, reader.read_many_into
    target = bytearray(sum(len(read(name)) for name in names))

    def loop() -> list[bytes]:
        # The loop keeps its results, as read_many does: dropping each at once
        # lets the allocator hand the same memory back, which a batch cannot.
        return [read(name) for name in names]

    def many(choice: str) -> Callable[[], Any]:
        if choice == "default":
            return lambda: read_many(names, workers=workers)

        def call() -> Any:
            with mode(choice):
                return read_many(names, workers=workers)

        return call

    def many_into() -> Any:
        return read_many_into(names, target, workers=workers)

    def frame_by_frame() -> Any:
        saved = bundle_batch.frame_runs
        bundle_batch.frame_runs = False
        try:
            return many("threads")()
        finally:
            bundle_batch.frame_runs = saved

    cases = {
        "loop": loop,
        "read_many": many("default"),
        "threads": many("threads"),
        "no threads": many("loop"),
        "read_many_into": many_into,
    }
    if isinstance(reader, randread.BundleReader) and reader._run_decoders():  # noqa: SLF001
        cases["threads, frame by frame"] = frame_by_frame
    return cases


def batch_table(
    readers: dict[str, Any], samples: dict[str, list[str]], workers: int, rounds: int
) -> None:
    print(
        f"\n### read_many of random entries, {workers} workers: loop time / batch time "
        f"(µs per entry of the loop)\n"
    )
    print(
        "| archive | entries | batch | loop µs | read_many | forced threads | forced loop "
        "| read_many_into | forced threads, zstd frame by frame |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for label, reader in readers.items():
        for sample_name, pool in samples.items():
            generator = random.Random(SEED)
            for size in BATCH_SIZES:
                names = generator.sample(pool, size)
                expected = [reader.read(name) for name in names]
                assert reader.read_many(names, workers=workers) == expected
                batch_modes.forget()
                cases = batch_cases(reader, names, workers)
                # Enough batches per case that the chooser has timed both ways.
                repeat = max(1, 2048 // size)

                def repeated(case: Callable[[], Any]) -> Callable[[], None]:
                    def run() -> None:
                        for _ in range(repeat):  # noqa: B023 - used at once
                            case()

                    return run

                best = side_by_side({k: repeated(v) for k, v in cases.items()}, rounds)
                loop = best["loop"]
                ratios = " | ".join(
                    f"{loop / best[key]:.2f}x" if key in best else "-"
                    for key in (
                        "read_many",
                        "threads",
                        "no threads",
                        "read_many_into",
                        "threads, frame by frame",
                    )
                )
                print(
                    f"| {label} | {sample_name} | {size} | "
                    f"{loop / repeat / size * 1e6:.1f} | {ratios} |"
                )


def overhead_table(zip_path: Path, names: list[str], rounds: int) -> None:
    # A round here is ~50 ms and the differences sought are ~1 µs a read: best
    # of more rounds than the other tables, the cases' order turning each round.
    rounds = max(rounds, OVERHEAD_ROUNDS)
    print(
        f"\n### ZipReader.read over the bare decoder (µs per read, libdeflate, "
        f"best of {rounds} rounds)\n"
    )
    locations = zip_data_locations(zip_path)
    data = zip_path.read_bytes()
    whole = memoryview(data)
    spans = []
    for name in names:
        location = locations[name]
        start = location.data_offset
        spans.append((start, start + location.compress_size, location.file_size, location.crc32))
    raws = [(data[start:end], size) for start, end, size, _ in spans]
    libdeflate = methods._libdeflate  # noqa: SLF001 - the very decoder the reader uses
    if libdeflate is None:
        print("(libdeflate is not installed)")
        return
    with contextlib.ExitStack() as stack:
        readers = {
            "path (mmap)": stack.enter_context(randread.ZipReader(zip_path)),
            "bytes": stack.enter_context(randread.ZipReader(data)),
            'path, backend="pread"': stack.enter_context(
                randread.ZipReader(zip_path, backend="pread")
            ),
        }
        for reader in readers.values():
            for name in names:
                reader.read(name)

        def bare() -> None:
            for raw, size in raws:
                libdeflate.deflate_decompress(raw, size)

        def bare_crc() -> None:
            for raw, size in raws:
                crc32(libdeflate.deflate_decompress(raw, size))

        def floor() -> None:
            # The least a read that returns checked bytes can do in Python: a
            # slice of the archive, decode, a copy into bytes, the CRC-32.
            for start, end, size, expected in spans:
                content = bytes(libdeflate.deflate_decompress(whole[start:end], size))
                if crc32(content) != expected:
                    raise AssertionError(start)

        def read_with(reader: randread.ZipReader, *, wrapping: bool) -> Callable[[], None]:
            def run() -> None:
                saved = methods.gzip_wrapping
                methods.gzip_wrapping = wrapping
                try:
                    for name in names:
                        reader.read(name)
                finally:
                    methods.gzip_wrapping = saved

            return run

        cases = {
            "bare deflate_decompress": bare,
            "bare + crc32": bare_crc,
            "slice + deflate_decompress + bytes() + crc32 (inline)": floor,
            "ZipReader(path).read, CRC-32 in libdeflate (gzip wrap)": read_with(
                readers["path (mmap)"], wrapping=True
            ),
        }
        for label, reader in readers.items():
            cases[f"ZipReader({label}).read, decode then crc32"] = read_with(reader, wrapping=False)
        best = side_by_side(cases, rounds, rotate=True)
    floor_micros = best["bare deflate_decompress"] / len(names) * 1e6
    print("| case | µs per read | over bare |")
    print("|---|---|---|")
    for label, seconds in best.items():
        micros = seconds / len(names) * 1e6
        print(f"| {label} | {micros:.2f} | +{micros - floor_micros:.2f} |")


class BareDecoder:
    """``read(name)``: the bare decoder over the entry's stored bytes, a reader's floor.

    In the threads table it shows what one decoder call per entry gains from a
    second thread on this machine, with no reader around it.
    """

    def __init__(self, decode: Callable[[bytes, int], Any], stored: dict[str, tuple[bytes, int]]):
        self._decode = decode
        self._stored = stored

    def read(self, name: str) -> Any:
        data, size = self._stored[name]
        return self._decode(data, size)


def bare_decoders(
    bundles: dict[str, randread.BundleReader], zip_path: Path, names: list[str]
) -> dict[str, BareDecoder]:
    """Bare zstandard, lz4 and libdeflate over the stored bytes of ``names``."""
    local = threading.local()

    def zstd(data: bytes, size: int) -> bytes:
        decompressor = getattr(local, "decompressor", None)
        if decompressor is None:
            decompressor = local.decompressor = zstandard.ZstdDecompressor()
        return decompressor.decompress(data, max_output_size=size)

    def stored(reader: randread.BundleReader) -> dict[str, tuple[bytes, int]]:
        infos = [reader.getinfo(name) for name in names]
        data = Path(str(reader.filename)).read_bytes()
        return {
            info.filename: (data[info.offset : info.offset + info.compress_size], info.file_size)
            for info in infos
        }

    decoders = {
        "bare zstandard": BareDecoder(zstd, stored(bundles["bundle zstd"])),
        "bare lz4": BareDecoder(
            lambda data, size: lz4.block.decompress(data, uncompressed_size=size),
            stored(bundles["bundle lz4"]),
        ),
    }
    libdeflate = methods._libdeflate  # noqa: SLF001 - the very decoder the reader uses
    if libdeflate is not None:
        locations = zip_data_locations(zip_path)
        data = zip_path.read_bytes()
        deflated = {
            name: (
                data[locations[name].data_offset :][: locations[name].compress_size],
                locations[name].file_size,
            )
            for name in names
        }
        decoders["bare libdeflate"] = BareDecoder(libdeflate.deflate_decompress, deflated)
    return decoders


def threads_table(readers: dict[str, Any], names: list[str], rounds: int) -> None:
    print(f"\n### read() from threads sharing one reader ({THREAD_READS} reads per round)\n")
    print("| reader | 1 thread µs/read | 2 threads µs/read | throughput 2 / 1 |")
    print("|---|---|---|---|")
    for label, reader in readers.items():
        results = {}
        for threads in (1, 2):
            share = THREAD_READS // threads
            sequence = (names * (THREAD_READS // len(names) + 1))[:THREAD_READS]

            def run(threads: int = threads, share: int = share, seq: list[str] = sequence) -> None:
                barrier = threading.Barrier(threads)

                def work(part: list[str]) -> None:
                    barrier.wait(THREAD_TIMEOUT)
                    for name in part:
                        reader.read(name)  # noqa: B023 - used at once

                workers = [
                    threading.Thread(target=work, args=(seq[i * share : (i + 1) * share],))
                    for i in range(threads)
                ]
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join(THREAD_TIMEOUT)
                    if worker.is_alive():
                        msg = "a benchmark thread did not finish"
                        raise RuntimeError(msg)

            results[threads] = run
        best = side_by_side({str(k): v for k, v in results.items()}, rounds)
        one, two = best["1"], best["2"]
        print(
            f"| {label} | {one / THREAD_READS * 1e6:.2f} | {two / THREAD_READS * 1e6:.2f} "
            f"| {one / two:.2f}x |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    arguments = parser.parse_args()
    print(
        f"machine check: zlib in 2 processes decodes {free_cores_check():.2f}x as fast as in 1 "
        "(2x: both cores free)"
    )
    corpus = default_corpus()
    members = list(zip(corpus.names, corpus.contents, strict=True))
    sizes = {name: len(content) for name, content in members}
    everything = [name for name, _ in members]
    small = [name for name in everything if 0 < sizes[name] <= SMALL_ENTRY]
    samples = {"all": everything, f"<= {SMALL_ENTRY // 1024} KiB": small}
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        zip_path = root / "stdlib.zip"
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for name, content in members:
                archive.writestr(name, content)
        readers: dict[str, Any] = {}
        with contextlib.ExitStack() as stack:
            for codec, options in BUNDLE_CODECS.items():
                path = root / f"stdlib-{codec}.rrb"
                with randread.BundleWriter(path, workers=2, **options) as writer:
                    for name, content in members:
                        writer.add(name, content)
                readers[f"bundle {codec}"] = stack.enter_context(randread.BundleReader(path))
            zip_reader = stack.enter_context(randread.ZipReader(zip_path))
            backends = ["libdeflate", "zlib"]
            print(
                f"{len(members)} entries, mean {sum(sizes.values()) / len(sizes) / 1024:.1f} KiB; "
                f"{len(small)} of 4 KiB or less (mean "
                f"{sum(sizes[n] for n in small) / len(small) / 1024:.1f} KiB); "
                f"best of {arguments.rounds} rounds"
            )
            batch_table(readers, samples, arguments.workers, arguments.rounds)
            for backend in backends:
                try:
                    with methods.forced_deflate_backend(backend):
                        batch_table(
                            {f"zip deflate ({backend})": zip_reader},
                            samples,
                            arguments.workers,
                            arguments.rounds,
                        )
                except ValueError as exc:
                    print(f"\n(zip deflate with {backend}: {exc})")
            names = random.Random(SEED).sample(everything, 256)
            overhead_table(zip_path, names, arguments.rounds)
            threads_table(
                {
                    "zip deflate (fast backend)": zip_reader,
                    "bundle zstd": readers["bundle zstd"],
                    **bare_decoders(readers, zip_path, names),
                },
                names,
                arguments.rounds,
            )


if __name__ == "__main__":
    main()
