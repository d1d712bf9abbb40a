"""Remote reads side by side: requests, bytes and wall time on a loopback S3 server.

Run from the repository root (needs the test extra; remotezip is measured when
it is installed)::

    python benchmarks/remote.py [--latency 0.02] [--reads 200] [--markdown]

The archive is this Python's standard library ``.py`` files, deflated (the
same corpus as ``randread bench``), and its conversion to a zstd bundle. Every
request is counted at the server, which adds ``--latency`` seconds to each.
Readers compared, each opening the archive and reading the same random
entries: randread's ZipReader and BundleReader (single reads, ``read_many``,
and 8 threads sharing one reader), fsspec's ``zip://`` filesystem with
zipfile (1 thread, and 8 threads each with its own handle, since one
zipfile handle is not safe to share), and remotezip.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fsspec
from tests.remote import S3, start_server

import randread
from randread.bench.corpus import default_corpus

THREADS = 8


def build_zip() -> bytes:
    corpus = default_corpus()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in zip(corpus.names, corpus.contents, strict=True):
            archive.writestr(name, data)
    return buffer.getvalue()


def measure(s3: S3, url: str, run: Any) -> dict[str, float]:
    """Run once to warm up (clients, connections, caches), then once measured."""
    s3.server.reset()
    s3.server.configure(fast_ranges=FAST_RANGES)
    run()
    s3.server.reset()
    s3.server.configure(latency=LATENCY, fast_ranges=FAST_RANGES, bandwidth=BANDWIDTH)
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    log = s3.requests(url)
    s3.server.reset()
    return {
        "requests": len(log),
        "bytes": sum(record["bytes"] for record in log),
        "seconds": seconds,
    }


def split(names: list[str], parts: int) -> list[list[str]]:
    return [names[index::parts] for index in range(parts)]


def main() -> None:
    global LATENCY, FAST_RANGES, BANDWIDTH  # noqa: PLW0603 - one setting for every measurement
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument(
        "--moto-ranges",
        action="store_true",
        help="let moto answer every range request (it copies the whole object each time)",
    )
    parser.add_argument(
        "--bandwidth",
        type=float,
        default=0.0,
        help="MB/s each answer is held to, as a network would (default: loopback speed)",
    )
    args = parser.parse_args()
    LATENCY = args.latency
    BANDWIDTH = args.bandwidth * 1e6
    FAST_RANGES = not args.moto_ranges
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    server = start_server("s3")
    try:
        s3 = S3(server)
        data = build_zip()
        zip_url = s3.put(data, "stdlib.zip")
        with tempfile.TemporaryDirectory() as directory:
            source = Path(directory) / "stdlib.zip"
            source.write_bytes(data)
            randread.convert(source, Path(directory) / "stdlib.rrb", codec="zstd")
            bundle_url = s3.put((Path(directory) / "stdlib.rrb").read_bytes(), "stdlib.rrb")
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = sorted(archive.namelist())
            expected = {name: archive.read(name) for name in names}
        wanted = random.Random(args.seed).sample(names, args.reads)
        options = s3.options
        rows: list[tuple[str, dict[str, float]]] = []

        def check(name: str, content: bytes) -> None:
            if content != expected[name]:
                msg = f"wrong content for {name}"
                raise AssertionError(msg)

        def randread_single(url: str) -> None:
            with randread.open_archive(url, storage_options=options) as reader:
                for name in wanted:
                    check(name, reader.read(name))

        def randread_many(url: str, **settings: Any) -> None:
            source = randread.RemoteReadAt(url, storage_options=options, **settings)
            with source, randread.open_archive(source) as reader:
                for name, content in zip(wanted, reader.read_many(wanted), strict=True):
                    check(name, content)

        def randread_threads(url: str) -> None:
            with randread.open_archive(url, storage_options=options) as reader:

                def work(part: list[str]) -> None:
                    for name in part:
                        check(name, reader.read(name))

                with ThreadPoolExecutor(THREADS) as pool:
                    list(pool.map(work, split(wanted, THREADS)))

        def fsspec_single() -> None:
            fs = fsspec.filesystem("zip", fo=zip_url, target_options=options)
            for name in wanted:
                check(name, fs.cat_file(name))

        def fsspec_threads() -> None:
            def work(part: list[str]) -> None:
                fs = fsspec.filesystem("zip", fo=zip_url, target_options=options)
                for name in part:
                    check(name, fs.cat_file(name))

            with ThreadPoolExecutor(THREADS) as pool:
                list(pool.map(work, split(wanted, THREADS)))

        for label, url, run in (
            ("randread ZipReader, read()", zip_url, lambda: randread_single(zip_url)),
            ("randread ZipReader, read_many()", zip_url, lambda: randread_many(zip_url)),
            (
                "randread ZipReader, read_many(), merge_gap 8 KiB",
                zip_url,
                lambda: randread_many(zip_url, merge_gap=8192),
            ),
            (
                "randread ZipReader, read_many(), merge_gap 8 KiB, 64 in flight",
                zip_url,
                lambda: randread_many(zip_url, merge_gap=8192, max_concurrency=64),
            ),
            (
                f"randread ZipReader, {THREADS} threads, one reader",
                zip_url,
                lambda: randread_threads(zip_url),
            ),
            ("randread bundle (zstd), read()", bundle_url, lambda: randread_single(bundle_url)),
            ("randread bundle (zstd), read_many()", bundle_url, lambda: randread_many(bundle_url)),
            (
                f"randread bundle (zstd), {THREADS} threads, one reader",
                bundle_url,
                lambda: randread_threads(bundle_url),
            ),
            ("fsspec zip:: + zipfile", zip_url, fsspec_single),
            (f"fsspec zip:: + zipfile, {THREADS} threads, own handles", zip_url, fsspec_threads),
        ):
            rows.append((label, measure(s3, url, run)))
        try:
            import remotezip  # noqa: PLC0415 - a peer measured only when installed
        except ImportError:
            remotezip = None
        if remotezip is not None:
            http_url = s3.fs.url(zip_url, expires=3600)  # presigned: remotezip speaks plain HTTP

            def remotezip_single() -> None:
                with remotezip.RemoteZip(http_url) as archive:
                    for name in wanted:
                        check(name, archive.read(name))

            rows.append(("remotezip", measure(s3, zip_url, remotezip_single)))
    finally:
        server.stop()
    print_table(rows, args, len(data), markdown=args.markdown)


def print_table(
    rows: list[tuple[str, dict[str, float]]], args: Any, size: int, *, markdown: bool
) -> None:
    print(
        f"stdlib zip {size / 1e6:.1f} MB, open + {args.reads} random entries, "
        f"{args.latency * 1000:.0f} ms added per request"
        + (f", {args.bandwidth:g} MB/s per answer" if args.bandwidth else "")
    )
    header = ("reader", "requests", "MB fetched", "seconds")
    lines = [
        (label, f"{r['requests']:.0f}", f"{r['bytes'] / 1e6:.2f}", f"{r['seconds']:.2f}")
        for label, r in rows
    ]
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|---|---:|---:|---:|")
        for line in lines:
            print("| " + " | ".join(line) + " |")
        return
    for line in (header, *lines):
        print(f"{line[0]:<58}{line[1]:>10}{line[2]:>12}{line[3]:>9}")


LATENCY = 0.0
FAST_RANGES = True
BANDWIDTH = 0.0

if __name__ == "__main__":
    main()
