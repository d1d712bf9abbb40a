"""BundleReader against zipfile and against the bare codecs it is built on.

Same conventions as ``test_zip.py``: each benchmarked call reads the fixed
random sample (``corpus.sample``, 256 names) once and records
``extra_info["reads"]``; every case checks its output once, untimed, first.

Groups:

* ``bundle-read-<codec>`` for zstd, zstd with a trained dictionary, and lz4:
  zipfile.read of the same files (the baseline), BundleReader.read, and the
  bare codec on the same stored bytes (the floor).
* ``bundle-read-stored``: BundleReader.read (a copy), BundleReader.view
  (zero-copy) and a bare memoryview slice of a memory map.
* ``bundle-read-many-<codec>``: ``read_many`` of the sample on 2 workers
  against a loop of ``read()`` (the baseline) for each codec.
* ``bundle-peers``: bagz and array_record (zstd level 3), when installed,
  single reads and batches of the sample.
* ``bundle-threads``: 1, 2 and 4 threads sharing one zstd BundleReader.
* ``bundle-open``: open plus the first lookup and read of a bundle of
  1 000 000 entries.
* Sizes go into ``extra_info["file_size"]`` of the read cases, with the
  deflated zip's size as ``extra_info["zip_size"]``.
"""

from __future__ import annotations

import mmap
import zipfile

import lz4.block
import pytest
import zstandard
from batch import BUNDLE_CODECS

import randread
from randread.bundle.codecs import DictionaryContext

THREAD_COUNTS = (1, 2, 4)
THREAD_ROUND_REPEATS = 4
THREAD_ROUNDS = 30
OPEN_ENTRIES = 1_000_000
OPEN_ROUNDS = 15

#: codec name -> BundleWriter options: the bundles batch.py measures too
CODECS = BUNDLE_CODECS


def record(benchmark, group: str, role: str, *, reads: int, codec: str | None = None) -> None:
    benchmark.group = group
    benchmark.extra_info.update(role=role, reads=reads)
    if codec is not None:
        benchmark.extra_info["codec"] = codec


@pytest.fixture(scope="session")
def bundles(corpus, tmp_path_factory):
    """One bundle of the corpus per codec."""
    directory = tmp_path_factory.mktemp("bundles")
    paths = {}
    for name, options in CODECS.items():
        path = directory / f"stdlib-{name}.rrb"
        with randread.BundleWriter(path, workers=2, **options) as writer:
            for member, content in corpus.members:
                writer.add(member, content)
        paths[name] = path
    return paths


def batch_of(read, names):
    def batch():
        for name in names:
            read(name)

    return batch


@pytest.mark.parametrize("codec", ["zstd", "zstd-dict", "lz4"])
def test_read_zipfile_baseline(benchmark, corpus, sample_contents, codec):
    names = corpus.sample
    with zipfile.ZipFile(corpus.deflated) as archive:
        assert [archive.read(name) for name in names] == sample_contents
        record(benchmark, f"bundle-read-{codec}", "baseline", reads=len(names), codec="zlib")
        benchmark.extra_info["file_size"] = corpus.deflated.stat().st_size
        benchmark(batch_of(archive.read, names))


@pytest.mark.parametrize("codec", ["zstd", "zstd-dict", "lz4"])
def test_read_bundle(benchmark, corpus, sample_contents, bundles, codec):
    names = corpus.sample
    with randread.BundleReader(bundles[codec]) as bundle:
        assert [bundle.read(name) for name in names] == sample_contents
        record(benchmark, f"bundle-read-{codec}", "subject", reads=len(names), codec=codec)
        benchmark.extra_info["file_size"] = bundles[codec].stat().st_size
        benchmark.extra_info["zip_size"] = corpus.deflated.stat().st_size
        benchmark(batch_of(bundle.read, names))


@pytest.mark.parametrize("codec", ["zstd", "zstd-dict", "lz4"])
def test_read_bare_codec(benchmark, corpus, sample_contents, bundles, codec):
    """The floor: the codec alone on the very bytes the bundle stores."""
    with randread.BundleReader(bundles[codec]) as bundle:
        infos = [bundle.getinfo(name) for name in corpus.sample]
        with bundles[codec].open("rb") as file:
            stored = []
            for info in infos:
                file.seek(info.data_offset)
                stored.append((file.read(info.compress_size), info.file_size))
        dictionary = bundle.dictionary
    if codec == "lz4":

        def decode(raw, size):
            return lz4.block.decompress(raw, uncompressed_size=size)
    else:
        decompressor = DictionaryContext(dictionary).decompressor()

        def decode(raw, size):
            return decompressor.decompress(raw, max_output_size=size)

    assert [decode(raw, size) for raw, size in stored] == sample_contents

    def batch():
        for raw, size in stored:
            decode(raw, size)

    record(benchmark, f"bundle-read-{codec}", "bare", reads=len(stored), codec=codec)
    benchmark(batch)


# -- batches: read_many against a loop of read() --------------------------------------


@pytest.mark.parametrize("codec", ["zstd", "zstd-dict", "lz4", "none"])
@pytest.mark.parametrize("how", ["loop", "read_many"])
def test_read_many(benchmark, corpus, sample_contents, bundles, *, codec, how):
    """``read_many(sample, workers=2)`` and a loop of ``read()`` over the same names.

    The loop is the group's baseline, so ``ratios.py`` shows read_many's
    speed-up over it (the "x zipfile" column of this group).
    """
    names = corpus.sample
    with randread.BundleReader(bundles[codec]) as bundle:
        assert bundle.read_many(names, workers=2) == sample_contents
        group = f"bundle-read-many-{codec}"
        if how == "loop":
            record(benchmark, group, "baseline", reads=len(names), codec=codec)
            read = bundle.read
            # Keeps its results, as read_many does (see benchmarks/batch.py).
            benchmark(lambda: [read(name) for name in names])
        else:
            record(benchmark, group, "subject", reads=len(names), codec=codec)
            benchmark(bundle.read_many, names, workers=2)


# -- peers: bagz and array_record, when installed ----------------------------------------

PEERS = ("bagz", "array_record")


@pytest.fixture(scope="session")
def peer_archives(corpus, tmp_path_factory):
    """Each installed peer format, built from the corpus (zstd level 3): name -> (path, open)."""
    from randread.bench.corpus import Corpus as BenchCorpus  # noqa: PLC0415 - a fixture's own
    from randread.bench.formats import subjects  # noqa: PLC0415

    directory = tmp_path_factory.mktemp("peers")
    bench_corpus = BenchCorpus(
        "stdlib sources",
        [name for name, _ in corpus.members],
        [content for _, content in corpus.members],
    )
    return {
        subject.name: (subject.build(bench_corpus, directory), subject.open)
        for subject in subjects()
        if subject.name in PEERS
    }


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("how", ["read", "batch"])
def test_read_peer(benchmark, corpus, sample_contents, peer_archives, *, peer, how):
    """bagz (``Reader[i]``, ``read_indices``) and array_record (``read([i])``, ``read(indices)``).

    Beside ``bundle-read-many-zstd``: single reads against the loop there,
    batches against ``read_many``.
    """
    if peer not in peer_archives:
        pytest.skip(f"{peer} is not installed")
    path, open_reader = peer_archives[peer]
    names = list(corpus.sample)
    reader = open_reader(path)
    try:
        assert reader.read_many(names) == sample_contents
        record(benchmark, "bundle-peers", "subject", reads=len(names), codec=f"{peer}-{how}")
        if how == "read":
            benchmark(batch_of(reader.read, names))
        else:
            benchmark(reader.read_many, names)
    finally:
        reader.close()


# -- stored entries ------------------------------------------------------------------


def test_stored_read(benchmark, corpus, sample_contents, bundles):
    names = corpus.sample
    with randread.BundleReader(bundles["none"]) as bundle:
        assert [bundle.read(name) for name in names] == sample_contents
        record(benchmark, "bundle-read-stored", "subject", reads=len(names), codec="none")
        benchmark(batch_of(bundle.read, names))


def test_stored_view(benchmark, corpus, sample_contents, bundles):
    names = corpus.sample
    with randread.BundleReader(bundles["none"]) as bundle:
        assert [bytes(bundle.view(name)) for name in names] == sample_contents
        record(benchmark, "bundle-read-stored", "subject", reads=len(names), codec="view")
        benchmark(batch_of(bundle.view, names))


def test_stored_bare_slice(benchmark, corpus, sample_contents, bundles):
    with randread.BundleReader(bundles["none"]) as bundle:
        ranges = [
            (info.data_offset, info.data_offset + info.file_size)
            for info in (bundle.getinfo(name) for name in corpus.sample)
        ]
    with bundles["none"].open("rb") as file:
        mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    view = memoryview(mapped)
    try:
        assert [bytes(view[start:end]) for start, end in ranges] == sample_contents

        def batch():
            for start, end in ranges:
                view[start:end]

        record(benchmark, "bundle-read-stored", "bare", reads=len(ranges), codec="slice")
        benchmark(batch)
    finally:
        view.release()
        mapped.close()


# -- threads -------------------------------------------------------------------------


@pytest.mark.parametrize("threads", THREAD_COUNTS)
def test_threads_share_one_bundle(benchmark, corpus, bundles, thread_gang, threads):
    names = corpus.sample
    per_thread = len(names) * THREAD_ROUND_REPEATS // threads
    with randread.BundleReader(bundles["zstd"]) as bundle:
        read = bundle.read
        gang = thread_gang(threads)

        def job(index):
            start = index * per_thread
            for position in range(start, start + per_thread):
                read(names[position % len(names)])

        gang.run(job)
        record(benchmark, "bundle-threads", "subject", reads=per_thread * threads, codec="zstd")
        benchmark.extra_info["threads"] = threads
        benchmark.pedantic(gang.run, args=(job,), rounds=THREAD_ROUNDS, warmup_rounds=2)


# -- open ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def million_entry_bundle(tmp_path_factory):
    path = tmp_path_factory.mktemp("million") / "million.rrb"
    with randread.BundleWriter(path, codec="none") as writer:
        for index in range(OPEN_ENTRIES):
            writer.add(f"d{index // 1000:04d}/e{index:07d}.txt", b"%d\n" % index)
    return path


def test_open_million_entries(benchmark, million_entry_bundle):
    name = f"d{(OPEN_ENTRIES - 1) // 1000:04d}/e{OPEN_ENTRIES - 1:07d}.txt"

    def open_and_read():
        with randread.BundleReader(million_entry_bundle) as bundle:
            return bundle.read(name)

    assert open_and_read() == b"%d\n" % (OPEN_ENTRIES - 1)
    record(benchmark, "bundle-open", "subject", reads=1)
    benchmark.extra_info["entries"] = OPEN_ENTRIES
    benchmark.pedantic(open_and_read, rounds=OPEN_ROUNDS, warmup_rounds=1)


def test_zstd_frames_declare_their_size(bundles, corpus):
    """The bare-codec floor above is only fair if bundle frames carry their size."""
    with randread.BundleReader(bundles["zstd"]) as bundle, bundles["zstd"].open("rb") as file:
        info = bundle.getinfo(corpus.sample[0])
        file.seek(info.data_offset)
        frame = file.read(info.compress_size)
    assert zstandard.frame_content_size(frame) == info.file_size
