"""Eight threads, one reader: every reader kind x every read API, warm and cold.

What a service relies on when it shares one reader between threads: every
byte each thread reads is the entry's, whatever else the other threads do,
from the first call on. "Cold" starts all threads on a reader nobody has read
from yet, so that its lazy state (memos, index checks, per-thread views,
decoders, pools) is built by all of them at once; "warm" first reads every
entry once. On a free-threaded build this is where shared memoryviews and
unguarded lazy state fail (CPython gh-155606); on a GIL build it still
checks that nothing depends on call order.

``RANDREAD_THREAD_ROUNDS`` repeats each case (the free-threaded CI lane sets
it); every round makes a new reader.
"""

from __future__ import annotations

import os
import random
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import randread
from randread import _locks
from randread._runtime import FREE_THREADED, gil_enabled
from randread.filesystem import ArchiveFileSystem
from randread.readat import BytesReadAt
from tests import sentrybuilder as sb
from tests.conftest import run_threads

THREADS = 8
#: calls each thread makes per case and round
CALLS = 40
ROUNDS = int(os.environ.get("RANDREAD_THREAD_ROUNDS", "1"))
BATCH = 24

Files = dict[str, bytes]


@pytest.fixture(autouse=True)
def short_lock_timeout() -> Iterator[None]:
    previous = _locks.set_lock_timeout(20.0)
    yield
    _locks.set_lock_timeout(previous)


@pytest.fixture(scope="module")
def files() -> Files:
    """About 200 entries of 0 to 30 KB in nine directories: text, repeats and random bytes."""
    rng = random.Random(155606)
    result: Files = {}
    for index in range(200):
        size = rng.choice([0, 1, 100, 1500, 4000, 12_000, 30_000])
        if index % 3 == 0:
            data = rng.randbytes(size)
        else:
            data = (f"line {index} of entry {index % 17}\n".encode() * (size // 20 + 1))[:size]
        result[f"dir{index % 9}/entry{index}.txt"] = data
    return result


@pytest.fixture(scope="module")
def archives(files: Files, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The files as a zip of mixed methods and as a bundle per codec."""
    directory = tmp_path_factory.mktemp("threads")
    paths = {"zip": directory / "shared.zip"}
    methods = [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2]
    with zipfile.ZipFile(paths["zip"], "w") as archive:
        for index, (name, data) in enumerate(files.items()):
            archive.writestr(name, data, compress_type=methods[index % 4])
    for codec in ("none", "zstd", "lz4", "auto"):
        path = paths[f"bundle-{codec}"] = directory / f"shared-{codec}.rrb"
        # "auto" with a trained dictionary: zstd frames that need it, stored random bytes
        dictionary = "train" if codec == "auto" else None
        writer_codec = "zstd" if codec == "auto" else codec
        with randread.BundleWriter(path, codec=writer_codec, dictionary=dictionary) as writer:
            for name, data in files.items():
                writer.add(name, data)
    paths["index-cache"] = directory / "index-cache"
    return paths


#: name -> (archives, tmp dir) -> a new reader over the same files
READERS: dict[str, Callable[[dict[str, Path]], Any]] = {
    "zip-path": lambda a: randread.ZipReader(a["zip"]),
    "zip-pread": lambda a: randread.ZipReader(a["zip"], backend="pread"),
    "zip-bytes": lambda a: randread.ZipReader(a["zip"].read_bytes()),
    "zip-readat": lambda a: randread.ZipReader(BytesReadAt(a["zip"].read_bytes())),
    "zip-index-cache": lambda a: randread.ZipReader(a["zip"], index_cache=a["index-cache"]),
    "open-archive": lambda a: randread.open_archive(a["zip"]),
    "bundle-none": lambda a: randread.BundleReader(a["bundle-none"]),
    "bundle-zstd": lambda a: randread.BundleReader(a["bundle-zstd"]),
    "bundle-zstd-dict": lambda a: randread.BundleReader(a["bundle-auto"]),
    "bundle-lz4": lambda a: randread.BundleReader(a["bundle-lz4"]),
    "bundle-bytes": lambda a: randread.BundleReader(a["bundle-zstd"].read_bytes()),
    "bundle-pread": lambda a: randread.BundleReader(a["bundle-lz4"], backend="pread"),
    "cached-zip": lambda a: randread.CachedReader(a["zip"], max_bytes=1 << 20),
    "cached-bundle": lambda a: randread.CachedReader(a["bundle-zstd"], max_bytes=1 << 20),
}


def _read_many(reader: Any, names: list[str]) -> list[bytes]:
    return [bytes(content) for content in reader.read_many(names)]


def _read_many_into(reader: Any, names: list[str]) -> list[bytes]:
    sizes = [reader.getinfo(name).file_size for name in names]
    buffer = bytearray(sum(sizes))
    views = reader.read_many_into(names, buffer)
    return [bytes(view) for view in views]


def _view(reader: Any, name: str) -> bytes:
    view = reader.view(name)
    try:
        return bytes(view)
    finally:
        view.release()


def _lookup(reader: Any, name: str) -> bytes:
    # The metadata path: the name is there, and its info tells its size.
    assert name in reader
    content: bytes = reader.read(name)
    assert reader.getinfo(name).file_size == len(content)
    return content


def _iterate(reader: Any, name: str) -> bytes:
    names = list(reader)
    assert names == reader.namelist()
    assert {info.filename for info in reader.infolist()} == set(names)
    return reader.read(name)


def _path(reader: Any, name: str) -> bytes:
    return (randread.Path(reader) / name).read_bytes()


#: API -> (reader, names) -> the contents it read, in the order of ``names``
APIS: dict[str, Callable[[Any, list[str]], list[bytes]]] = {
    "read": lambda r, names: [r.read(name) for name in names],
    "open": lambda r, names: [r.open(name).read() for name in names],
    "view": lambda r, names: [_view(r, name) for name in names],
    "read_many": _read_many,
    "read_many_into": _read_many_into,
    "lookup": lambda r, names: [_lookup(r, name) for name in names],
    "iterate": lambda r, names: [_iterate(r, name) for name in names[:2]],
    "path": lambda r, names: [_path(r, name) for name in names],
}
#: How many names one call takes, per API.
PER_CALL = {"read_many": BATCH, "read_many_into": BATCH, "iterate": 2}


def _supports(kind: str, api: str) -> bool:
    """Whether readers of ``kind`` have ``api`` (no ``view`` in zip; the cache reads one by one)."""
    if api == "view":
        return kind.startswith("bundle")
    if api in ("read_many", "read_many_into"):
        return not kind.startswith("cached")
    return True


def hammer(reader: Any, files: Files, api: str, *, calls: int = CALLS) -> None:
    """Run ``api`` on ``reader`` from THREADS threads at once, checking every byte."""
    names = sorted(files)
    call = APIS[api]
    per_call = PER_CALL.get(api, 1)

    def work(index: int) -> None:
        rng = random.Random(index)
        for _ in range(calls):
            wanted = rng.sample(names, per_call)
            got = call(reader, wanted)
            expected = [files[name] for name in wanted[: len(got)]]
            if got != expected:
                wrong = [n for n, g, e in zip(wanted, got, expected, strict=True) if g != e]
                pytest.fail(f"thread {index}: {api} returned wrong bytes for {wrong[:3]}")

    run_threads(THREADS, work, timeout=120.0)


@pytest.mark.parametrize(
    ("kind", "api"),
    [(kind, api) for kind in READERS for api in APIS if _supports(kind, api)],
)
@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_eight_threads_share_one_reader(
    kind: str, api: str, warm: bool, files: Files, archives: dict[str, Path]
) -> None:
    for _ in range(ROUNDS):
        with READERS[kind](archives) as reader:
            if warm:
                for name in files:
                    assert reader.read(name) == files[name]
            hammer(reader, files, api)


def test_every_api_at_once_on_one_reader(files: Files, archives: dict[str, Path]) -> None:
    """Each thread a different API, on one cold reader per kind: the mix users make."""
    apis = list(APIS)
    names = sorted(files)
    for kind, factory in READERS.items():
        for _ in range(ROUNDS):
            with factory(archives) as reader:
                usable = [api for api in apis if _supports(kind, api)]

                def work(
                    index: int, reader: Any = reader, usable: list[str] = usable, kind: str = kind
                ) -> None:
                    api = usable[index % len(usable)]
                    rng = random.Random(index)
                    for _ in range(CALLS):
                        wanted = rng.sample(names, PER_CALL.get(api, 1))
                        got = APIS[api](reader, wanted)
                        assert got == [files[name] for name in wanted[: len(got)]], (kind, api)

                run_threads(THREADS, work, timeout=120.0)


def test_views_handed_to_other_threads_stay_valid(files: Files, archives: dict[str, Path]) -> None:
    """Views made in one thread and dropped in another (a producer and its consumers)."""
    names = [name for name in sorted(files) if files[name]]
    with randread.BundleReader(archives["bundle-none"]) as reader:
        source = randread.MmapReadAt(archives["bundle-none"])
        handed: list[tuple[str, memoryview]] = []

        def work(index: int) -> None:
            rng = random.Random(index)
            for _ in range(200):
                name = rng.choice(names)
                if index % 2:  # producers
                    handed.append((name, reader.view(name)))
                    info = reader.getinfo(name)
                    source.view_at(info.data_offset, info.file_size)[:1].tobytes()
                else:  # consumers: check, slice and drop what a producer made
                    try:
                        taken, view = handed.pop()
                    except IndexError:
                        continue
                    assert bytes(view[: len(view)]) == files[taken]
                    del view

        run_threads(THREADS, work, timeout=120.0)
        source.close()


def test_filesystem_cat_and_open_from_eight_threads(
    files: Files, archives: dict[str, Path]
) -> None:
    names = sorted(files)
    for path in (archives["zip"], archives["bundle-lz4"]):
        fs = ArchiveFileSystem(str(path), skip_instance_cache=True)

        def work(index: int, fs: ArchiveFileSystem = fs) -> None:
            rng = random.Random(index)
            for _ in range(CALLS):
                name = rng.choice(names)
                assert fs.cat_file(name) == files[name]
                with fs.open(name) as stream:
                    assert stream.read() == files[name]
                assert fs.info(name)["size"] == len(files[name])

        run_threads(THREADS, work, timeout=120.0)
        fs.reader.close()


def test_cache_counters_are_exact_under_threads(files: Files, archives: dict[str, Path]) -> None:
    """Every read is counted once, as a hit, a miss or a join; the lock counts every miss."""
    names = sorted(files)
    with randread.CachedReader(archives["bundle-zstd"], max_bytes=64 << 20) as cache:

        def work(index: int) -> None:
            rng = random.Random(index)
            for _ in range(500):
                name = rng.choice(names)
                assert cache.read(name) == files[name]

        run_threads(THREADS, work, timeout=120.0)
        stats = cache.stats()
        assert stats.lookups == THREADS * 500
        assert stats.misses == stats.entries  # everything fits: each entry was loaded once
        # The lock's own count: a claim per miss, join and hit found under the
        # lock, a settle per miss, and the one of stats() itself.
        claims = stats.misses + stats.joins + cache._locked_hits
        assert stats.lock.acquisitions == claims + stats.misses + 1


def test_the_gil_stays_off_on_a_free_threaded_build(
    files: Files, archives: dict[str, Path]
) -> None:
    """Importing and using randread (every codec, both formats) leaves the GIL off."""
    if not FREE_THREADED:
        pytest.skip("a GIL build")
    with randread.ZipReader(archives["zip"]) as reader:
        assert [reader.read(name) for name in files] == list(files.values())
    for codec in ("none", "zstd", "lz4", "auto"):
        with randread.BundleReader(archives[f"bundle-{codec}"]) as bundle:
            assert bundle.read_many(sorted(files)) == [files[name] for name in sorted(files)]
    assert not gil_enabled()


@pytest.mark.parametrize("form", ["zip", "bundle"])
@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_source_bundle_lookups_and_reads_from_eight_threads(
    form: str, warm: bool, tmp_path: Path
) -> None:
    """A symbol server's pattern: URL and debug-id lookups, then reads, on one SourceBundle."""
    artifacts = sb.artifact_files(60, size=3000)
    contents = {file.name: file.data for file in artifacts}
    path = tmp_path / "artifacts.zip"
    path.write_bytes(sb.build(artifacts, sb.ARTIFACT_ATTRIBUTES))
    if form == "bundle":
        randread.convert(path, tmp_path / "artifacts.rrb")
        path = tmp_path / "artifacts.rrb"
    minified = [file for file in artifacts if file.name.endswith(".min.js")]
    for _ in range(ROUNDS):
        with randread.SourceBundle(path) as bundle:
            if warm:
                for file in minified:
                    assert bundle.read(file.name) == file.data

            def work(index: int, bundle: randread.SourceBundle = bundle) -> None:
                rng = random.Random(index)
                for _ in range(CALLS):
                    file = rng.choice(minified)
                    info = file.info or {}
                    record = bundle.by_url(info["url"])
                    assert record is not None
                    assert record.name == file.name
                    assert bundle.read(record) == contents[file.name]
                    source_map = bundle.source_map_for(record)
                    assert source_map is not None
                    assert bundle.read(source_map) == contents[source_map.name]
                    identifier = info["headers"]["debug-id"]
                    by_id = bundle.by_debug_id(identifier, "minified_source")
                    assert by_id is not None
                    assert by_id.name == file.name

            run_threads(THREADS, work, timeout=120.0)
