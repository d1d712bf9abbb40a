"""Training-data loading: samples per second of a PyTorch DataLoader over small records.

Run from the repository root (needs the test and torch extras)::

    python benchmarks/training.py [--samples 20000] [--quick] [--latency 0.02]

The same ``--samples`` records of about ``--record-size`` bytes (JSON-like
text from a fixed vocabulary) are read by a DataLoader with 2 workers (fork,
persistent), batches of 64 and a shuffle, through:

- (a) a ``zipfile.ZipFile`` opened once per worker, one ``read`` per sample
  (the baseline every ratio is against);
- (b) the records extracted to a directory, one file read per sample;
- (c) ``randread.torch.ArchiveDataset`` over the zip (a batch is one
  ``read_many``);
- (d) the same over bundles converted from the zip (lz4, zstd);
- (e) the zip and the lz4 bundle on a loopback S3 server that adds
  ``--latency`` to every request: the map-style dataset with the
  DataLoader prefetching 8 batches per worker, and
  ``IterableArchiveDataset`` reading runs of 512 neighbouring entries (one
  request each), two runs ahead, shuffled in a buffer of 8 runs.

Each loader first runs a few batches (workers start, readers open), then
three epochs are timed and the best is reported (the machine's other work
makes single epochs swing), one epoch for the slow map-style S3 row. Every
batch reports, from the worker, its resident memory (``/proc/self/status``:
``RssAnon``, private, and ``RssFile``, pages of mapped files such as a
memory-mapped archive); the table gives the largest value per worker,
averaged over the workers, next to a worker whose dataset reads nothing.
Over S3, the GET requests the server saw during the timed epochs are
divided by their batches.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import struct
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.remote import S3, Server, start_server
from torch.utils.data import DataLoader, Dataset, IterableDataset

import randread
from randread.torch import ArchiveDataset, ArchiveEntry, IterableArchiveDataset

BATCH = 64
WORKERS = 2
WARMUP_BATCHES = 5
#: S3: entries one run of the iterable dataset reads with one request
RUN_ENTRIES = 512
EOCD = struct.Struct("<4s4H2LH")  # APPNOTE 4.3.16, no comment (zipfile writes none here)


def make_records(count: int, size: int, seed: int = 0) -> list[tuple[str, bytes]]:
    """``count`` JSON-like records of about ``size`` bytes, from a fixed vocabulary."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choices(letters, k=rng.randrange(3, 10))) for _ in range(2000)]
    records = []
    for index in range(count):
        text = " ".join(rng.choices(words, k=size // 7))
        data = f'{{"id": {index}, "label": {rng.randrange(10)}, "text": "{text}"}}'.encode()
        records.append((f"train/{index:06d}.json", data[:size]))
    return records


# -- datasets of the baselines ------------------------------------------------------


class ZipfilePerWorker(Dataset[bytes]):
    """(a): a ``zipfile.ZipFile`` opened once in each process that reads."""

    def __init__(self, path: Path, names: list[str]) -> None:
        self.path = path
        self.names = names
        self.archive: zipfile.ZipFile | None = None
        self.pid = -1

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> bytes:
        if self.pid != os.getpid():
            self.archive = zipfile.ZipFile(self.path)
            self.pid = os.getpid()
        assert self.archive is not None
        return self.archive.read(self.names[index])


class ExtractedFiles(Dataset[bytes]):
    """(b): one file per record."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> bytes:
        return self.paths[index].read_bytes()


class Nothing(Dataset[bytes]):
    """A worker that reads nothing: the memory every worker starts from."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> bytes:
        return b""


def entry_data(entry: ArchiveEntry) -> bytes:
    """The transform of the randread datasets: a sample is its bytes, as in the baselines."""
    return entry.data


def memory_kb() -> tuple[int, int]:
    """This process's ``RssAnon`` and ``RssFile``, in kB."""
    fields = {}
    with Path("/proc/self/status").open() as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile"):
                fields[key] = int(value.split()[0])
    return fields.get("RssAnon", 0), fields.get("RssFile", 0)


def collate(samples: list[bytes]) -> tuple[list[bytes], int, int, int]:
    """Keep the batch as a list; add the worker's pid and resident memory."""
    anonymous, file_backed = memory_kb()
    return samples, os.getpid(), anonymous, file_backed


# -- measuring ----------------------------------------------------------------------


@dataclass
class Result:
    label: str
    samples_per_second: float
    rss_anon_mb: float
    rss_file_mb: float
    requests_per_batch: float | None = None


def measure(
    label: str,
    dataset: Dataset[bytes],
    *,
    expected: int,
    server: Server | None = None,
    latency: float = 0.0,
    prefetch_factor: int = 2,
    epochs: int = 3,
) -> Result:
    """Warm up, then time ``epochs`` epochs; the best epoch's rate is reported."""
    iterable = isinstance(dataset, IterableDataset)
    loader = DataLoader(
        dataset,
        batch_size=BATCH,
        shuffle=not iterable,
        num_workers=WORKERS,
        multiprocessing_context="fork",
        persistent_workers=True,
        prefetch_factor=prefetch_factor,
        collate_fn=collate,
        timeout=600,
    )
    if server is not None:
        server.reset()
        server.configure(latency=latency, fast_ranges=True)
    warmup = iter(loader)
    for _ in range(WARMUP_BATCHES):
        next(warmup)
    del warmup
    if server is not None:
        server.reset()
        server.configure(latency=latency, fast_ranges=True)
    memory: dict[int, tuple[int, int]] = {}
    rates = []
    batches = 0
    for epoch in range(epochs):
        if isinstance(dataset, IterableArchiveDataset):
            dataset.set_epoch(epoch + 1)
        samples = 0
        started = time.perf_counter()
        for data, pid, anonymous, file_backed in loader:
            samples += len(data)
            batches += 1
            seen = memory.get(pid, (0, 0))
            memory[pid] = (max(seen[0], anonymous), max(seen[1], file_backed))
        rates.append(samples / (time.perf_counter() - started))
        if samples != expected:
            msg = f"{label}: read {samples} samples, expected {expected}"
            raise AssertionError(msg)
    requests = None
    if server is not None:
        gets = [record for record in server.log() if record["method"] == "GET"]
        requests = len(gets) / batches
        server.reset()
    del loader
    gc.collect()
    return Result(
        label,
        max(rates),
        sum(anonymous for anonymous, _ in memory.values()) / len(memory) / 1024,
        sum(file_backed for _, file_backed in memory.values()) / len(memory) / 1024,
        requests,
    )


def central_directory_size(path: Path) -> int:
    data = path.read_bytes()[-EOCD.size :]
    return EOCD.unpack(data)[5]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--record-size", type=int, default=2048)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per S3 request")
    parser.add_argument("--quick", action="store_true", help="2000 samples: a check that it runs")
    parser.add_argument("--no-s3", action="store_true", help="leave out the S3 rows")
    args = parser.parse_args()
    count = 2000 if args.quick else args.samples
    records = make_records(count, args.record_size)
    names = [name for name, _ in records]
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        zip_path = root / "train.zip"
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in records:
                archive.writestr(name, data)
        extracted = root / "extracted"
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(extracted)
        bundles = {}
        for codec in ("lz4", "zstd"):
            bundles[codec] = root / f"train-{codec}.rrb"
            randread.convert(zip_path, bundles[codec], codec=codec)
        raw = sum(len(data) for _, data in records)
        print(
            f"{count} records, {raw / count:.0f} B each on average, {raw:,} B in all; "
            f"zip {zip_path.stat().st_size:,} B"
            f" (central directory {central_directory_size(zip_path):,} B), bundles "
            + ", ".join(f"{c} {p.stat().st_size:,} B" for c, p in bundles.items()),
            flush=True,
        )
        results.append(measure("empty worker (reads nothing)", Nothing(count), expected=count))
        results.append(
            measure(
                "(a) zipfile.ZipFile per worker", ZipfilePerWorker(zip_path, names), expected=count
            )
        )
        results.append(
            measure(
                "(b) extracted files",
                ExtractedFiles([extracted / name for name in names]),
                expected=count,
            )
        )
        results.append(
            measure(
                "(c) ArchiveDataset, zip",
                ArchiveDataset(zip_path, transform=entry_data),
                expected=count,
            )
        )
        for codec, path in bundles.items():
            results.append(
                measure(
                    f"(d) ArchiveDataset, bundle {codec}",
                    ArchiveDataset(path, transform=entry_data),
                    expected=count,
                )
            )
        for result in results:
            print(f"  {result.label}: {result.samples_per_second:,.0f} samples/s", flush=True)
        if not args.no_s3:
            results += measure_s3(zip_path, bundles["lz4"], count, args.latency)
    print_table(results, args.latency)


def measure_s3(zip_path: Path, bundle_path: Path, count: int, latency: float) -> list[Result]:
    server = start_server("s3")
    try:
        s3 = S3(server)
        zip_url = s3.put(zip_path.read_bytes(), "training/train.zip")
        bundle_url = s3.put(bundle_path.read_bytes(), "training/train-lz4.rrb")
        options = s3.options
        ms = f"{latency * 1000:g} ms"
        results = [
            measure(
                f"(e) S3 {ms}, ArchiveDataset zip, prefetch_factor 8",
                ArchiveDataset(zip_url, storage_options=options, transform=entry_data),
                expected=count,
                server=server,
                latency=latency,
                prefetch_factor=8,
                epochs=1,  # tens of requests per batch: one epoch is long enough
            )
        ]
        for label, url in (("zip", zip_url), ("bundle lz4", bundle_url)):
            dataset = IterableArchiveDataset(
                url,
                storage_options=options,
                transform=entry_data,
                block_size=RUN_ENTRIES,
                prefetch=2,
            )
            results.append(
                measure(
                    f"(e) S3 {ms}, IterableArchiveDataset {label}, runs of {RUN_ENTRIES}",
                    dataset,
                    expected=count,
                    server=server,
                    latency=latency,
                )
            )
        for result in results:
            print(f"  {result.label}: {result.samples_per_second:,.0f} samples/s", flush=True)
        return results
    finally:
        server.stop()


def print_table(results: list[Result], latency: float) -> None:
    baseline = next(r for r in results if r.label.startswith("(a)"))
    empty = next(r for r in results if r.label.startswith("empty"))
    print()
    print("| loader | samples/s | x (a) | requests/batch | worker RssAnon MB | worker RssFile MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for result in results:
        requests = (
            f"{result.requests_per_batch:.2f}" if result.requests_per_batch is not None else ""
        )
        print(
            f"| {result.label} | {result.samples_per_second:,.0f} "
            f"| {result.samples_per_second / baseline.samples_per_second:.2f} | {requests} "
            f"| {result.rss_anon_mb:.1f} | {result.rss_file_mb:.1f} |"
        )

    def find(prefix: str) -> Result | None:
        return next((r for r in results if r.label.startswith(prefix)), None)

    print()
    extracted, zip_reader = find("(b)"), find("(c)")
    lz4 = find("(d) ArchiveDataset, bundle lz4")
    checks = []
    if lz4 is not None and extracted is not None:
        checks.append(
            (
                "bundle lz4 >= 2x zipfile per worker and >= extracted files",
                lz4.samples_per_second >= 2 * baseline.samples_per_second
                and lz4.samples_per_second >= extracted.samples_per_second,
            )
        )
    if zip_reader is not None:
        checks.append(
            (
                "ZipReader dataset >= 1.5x zipfile per worker",
                zip_reader.samples_per_second >= 1.5 * baseline.samples_per_second,
            )
        )
    s3_iterable = find(f"(e) S3 {latency * 1000:g} ms, IterableArchiveDataset zip")
    if s3_iterable is not None:
        checks.append(
            (
                "S3 (iterable, prefetching) >= 0.5x zip recipe (a), < 2 requests per batch",
                s3_iterable.samples_per_second >= 0.5 * baseline.samples_per_second
                and (s3_iterable.requests_per_batch or 0) < 2,
            )
        )
    checks.extend(
        (
            f"{result.label}: worker RssAnon within 10% of an empty worker's",
            result.rss_anon_mb <= 1.1 * empty.rss_anon_mb,
        )
        for result in results
        if result.label.startswith(("(c)", "(d)"))
    )
    for label, met in checks:
        print(f"- {label}: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
