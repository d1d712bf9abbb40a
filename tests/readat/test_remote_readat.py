"""RemoteReadAt: request budgets counted at a real S3 API server, consistency, pickling, fork.

The servers run on 127.0.0.1 in their own processes (tests/remote.py). Every
request count here is what the server saw.
"""

from __future__ import annotations

import gc
import os
import pickle
import random
import weakref
from typing import Any

import pytest

import randread
from randread import (
    BundleReader,
    CachedReader,
    RemoteReadAt,
    SourceBundle,
    ZipReader,
    open_archive,
    open_readat,
)
from randread.errors import SourceChangedError
from randread.readat.remote import DEFAULT_TAIL_WINDOW, merge_ranges
from randread.readat.remote import readat as remote_readat
from randread.zip.local import entry_span
from tests import sentrybuilder as sb
from tests.conftest import run_threads
from tests.readat.remote_helpers import (
    central_directory_size,
    contents,
    make_bundle,
    make_zip,
    max_in_flight,
    ranges_of,
)
from tests.remote import S3

# -- zip: the request budget -------------------------------------------------------------


def test_zip_open_with_a_small_directory_is_one_request(s3: S3) -> None:
    data = make_zip(150, size=3000)
    assert len(data) > 4 * DEFAULT_TAIL_WINDOW
    assert central_directory_size(data) + 22 < DEFAULT_TAIL_WINDOW
    url = s3.put(data)
    s3.server.reset()
    with ZipReader(url, storage_options=s3.options) as reader:
        assert len(reader.namelist()) == 150
        log = s3.requests(url)
    assert len(log) == 1, log
    assert log[0]["method"] == "GET"
    assert log[0]["range"] == f"bytes=-{DEFAULT_TAIL_WINDOW}"


def test_zip_open_with_a_large_directory_takes_exactly_one_more_request(s3: S3) -> None:
    data = make_zip(3000, size=100, name_length=40)
    directory = central_directory_size(data)
    assert directory > 2 * DEFAULT_TAIL_WINDOW
    url = s3.put(data)
    s3.server.reset()
    with ZipReader(url, storage_options=s3.options) as reader:
        assert len(reader) == 3000
        log = s3.requests(url)
    assert len(log) == 2, log
    # The second request stops where the tail began: no byte is fetched twice.
    ((start, end),) = ranges_of(log)
    assert end == len(data) - DEFAULT_TAIL_WINDOW - 1
    assert start == len(data) - 22 - directory


def test_zip_tail_window_is_configurable(s3: S3) -> None:
    data = make_zip(3000, size=100, name_length=40)
    url = s3.put(data)
    s3.server.reset()
    # A window that holds the large directory: open is one request again.
    readat = RemoteReadAt(url, storage_options=s3.options, tail_window=1 << 20)
    with ZipReader(readat) as reader:
        assert len(reader) == 3000
    log = s3.requests(url)
    assert [record["range"] for record in log] == [f"bytes=-{1 << 20}"]
    readat.close()


def test_reading_one_zip_entry_is_one_request(s3: S3) -> None:
    data = make_zip(150, size=3000)
    expected = contents(data)
    url = s3.put(data)
    with ZipReader(url, storage_options=s3.options) as reader:
        for name in ("0000000003", "0000000077"):
            s3.server.reset()
            assert reader.read(f"{name}.txt") == expected[f"{name}.txt"]
            first = s3.requests(url)
            assert reader.read(f"{name}.txt") == expected[f"{name}.txt"]
            second = s3.requests(url)[len(first) :]
            assert len(first) == 1, first
            assert len(second) == 1, second
            # Every read after open is conditional on the version pinned at open.
            assert first[0]["if_match"]
            assert first[0]["if_match"] == second[0]["if_match"]
        with reader.open("0000000005.txt") as stream:
            assert stream.read() == expected["0000000005.txt"]


def test_zip_read_many_merges_nearby_ranges_and_fetches_them_concurrently(s3: S3) -> None:
    data = make_zip(400, size=3000)
    expected = contents(data)
    url = s3.put(data)
    names = sorted(expected)
    rng = random.Random(5)
    wanted = rng.sample(names, 60)
    # Small merges make many requests, so that concurrency shows.
    readat = RemoteReadAt(url, storage_options=s3.options, merge_gap=0, max_merged=4096)
    with ZipReader(readat) as reader:
        s3.server.reset()
        s3.server.configure(latency=0.05)
        assert reader.read_many(wanted) == [expected[name] for name in wanted]
        log = s3.gets(url)
    assert len(log) >= 8
    assert max_in_flight(log) >= 8
    readat.close()


def test_zip_read_many_of_a_dense_batch_fetches_little_more_than_it_needs(s3: S3) -> None:
    data = make_zip(400, size=3000)
    expected = contents(data)
    url = s3.put(data)
    with ZipReader(url, storage_options=s3.options) as reader:
        names = reader.namelist()[:300]
        needed = sum(reader.getinfo(name).compress_size for name in names)
        s3.server.reset()
        assert reader.read_many(names) == [expected[name] for name in names]
        log = s3.gets(url)
        # Requests equal the merged ranges of what was asked for.
        spans = [
            entry_span(reader.fp, reader._entry(n), with_data=True)  # type: ignore[arg-type]
            for n in names
        ]
        assert len(log) == len(merge_ranges(spans))
        fetched = sum(record["bytes"] for record in log)
        assert fetched <= 1.25 * needed, (fetched, needed)
        # Entries read before are fetched as their data alone.
        s3.server.reset()
        again = names[100:200]
        assert reader.read_many(again) == [expected[name] for name in again]
        fetched = sum(record["bytes"] for record in s3.gets(url))
        assert fetched <= 1.25 * sum(reader.getinfo(name).compress_size for name in again)


def test_one_remote_zip_reader_is_shared_by_many_threads(s3: S3) -> None:
    data = make_zip(200, size=2000)
    expected = contents(data)
    url = s3.put(data)
    names = sorted(expected)
    with ZipReader(url, storage_options=s3.options) as reader:
        s3.server.reset()
        s3.server.configure(latency=0.03)

        def work(index: int) -> None:
            rng = random.Random(index)
            for name in rng.sample(names, 12):
                assert reader.read(name) == expected[name]

        run_threads(8, work, timeout=120)
        log = s3.gets(url)
    # No lock around I/O: the threads' requests overlapped at the server.
    assert max_in_flight(log) >= 4


# -- bundles -----------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["zstd", "none"])
def test_bundle_open_and_first_read_take_at_most_three_requests(
    s3: S3, tmp_path: Any, codec: str
) -> None:
    data = make_zip(300, size=3000)
    expected = contents(data)
    bundle = make_bundle(tmp_path, data, codec=codec)
    assert len(bundle) > 3 * DEFAULT_TAIL_WINDOW
    url = s3.put(bundle)
    s3.server.reset()
    with BundleReader(url, storage_options=s3.options) as reader:
        names = reader.namelist()
        assert reader.read(names[150]) == expected[names[150]]
        assert len(s3.requests(url)) <= 3
        footer = reader._index.footer
        opened = len(s3.requests(url))
        for name in names[100:110]:  # outside the pinned head and tail
            assert reader.read(name) == expected[name]
        later = s3.requests(url)[opened:]
        assert len(later) == 10
        # No request after open touches the index.
        for start, _end in ranges_of(later):
            assert start < footer.index_offset
        assert reader.read_many(names[:40]) == [expected[n] for n in names[:40]]


def test_open_archive_sniffs_a_remote_bundle_without_extra_requests(s3: S3, tmp_path: Any) -> None:
    data = make_zip(300, size=3000)
    expected = contents(data)
    bundle_url = s3.put(make_bundle(tmp_path, data, codec="zstd", dictionary_size=8192))
    zip_url = s3.put(data)
    s3.server.reset()
    with open_archive(bundle_url, storage_options=s3.options) as reader:
        assert isinstance(reader, BundleReader)
        assert reader.filename == bundle_url
        name = reader.namelist()[200]
        assert reader.read(name) == expected[name]
        assert len(s3.requests(bundle_url)) <= 3
    with open_archive(zip_url, storage_options=s3.options) as reader:
        assert isinstance(reader, ZipReader)
        assert len(s3.requests(zip_url)) <= 2


def test_cached_reader_takes_a_url(s3: S3) -> None:
    data = make_zip(50)
    expected = contents(data)
    url = s3.put(data)
    with CachedReader(url, max_bytes=1 << 20, storage_options=s3.options) as cached:
        s3.server.reset()
        for _ in range(3):
            assert cached.read("0000000007.txt") == expected["0000000007.txt"]
        assert len(s3.gets(url)) <= 1
    with pytest.raises(ValueError, match="storage_options"):
        CachedReader(ZipReader(data), max_bytes=10, storage_options={"anon": True})


def test_sentry_bundles_from_s3(s3: S3, tmp_path: Any) -> None:
    files = sb.artifact_files(200, size=3000)
    data = sb.build(files, sb.ARTIFACT_ATTRIBUTES, header=2)
    url = s3.put(data)
    local = tmp_path / "bundle.zip"
    local.write_bytes(data)
    converted = tmp_path / "bundle.rrb"
    randread.convert(local, converted)
    converted_url = s3.put(converted.read_bytes())
    for source in (url, converted_url):
        with SourceBundle(source, storage_options=s3.options) as bundle:
            assert bundle.filename == source
            assert bundle.release == "1.0.0"
            record = bundle.by_url("https://example.com/static/js/chunk-1.min.js")
            assert record is not None
            s3.server.reset()
            assert bundle.read(record) == next(f.data for f in files if f.name == record.name)
            assert len(s3.gets(source)) <= 1


# -- consistency -------------------------------------------------------------------------


def test_a_replaced_object_raises_source_changed(s3: S3) -> None:
    data = make_zip(150, size=3000)
    url = s3.put(data)
    reader = ZipReader(url, storage_options=s3.options)
    assert reader.read("0000000001.txt")
    s3.put(make_zip(150, size=3000, seed=1), url.rsplit("/", 1)[1])
    with pytest.raises(SourceChangedError) as caught:
        reader.read("0000000100.txt")
    assert url in str(caught.value)
    assert "changed since it was opened" in str(caught.value)
    assert caught.value.url == url
    assert caught.value.offset is not None
    # The condition is sent, and the server refused it: not retried.
    assert s3.gets(url)[-1]["status"] == 412
    reader.close()


def test_empty_object(s3: S3) -> None:
    url = s3.put(b"")
    readat = open_readat(url, storage_options=s3.options)
    assert readat.size == 0
    assert readat.read_at(0, 0) == b""
    with pytest.raises(randread.ZipFormatError):
        ZipReader(readat)


# -- pickling and fork -------------------------------------------------------------------


def test_pickle_is_small_and_reconnects_lazily(s3: S3) -> None:
    data = make_zip(3000, size=100, name_length=40)
    url = s3.put(data)
    readat = RemoteReadAt(url, storage_options=s3.options)
    blob = pickle.dumps(readat)
    assert len(blob) < 4096
    assert data[-1000:] not in blob
    s3.server.reset()
    copy = pickle.loads(blob)
    assert s3.requests(url) == []  # nothing until the first read
    assert copy.read_at(len(data) - 100, 100) == data[-100:]
    assert copy.version == readat.version
    reader = ZipReader(readat)
    clone = pickle.loads(pickle.dumps(reader))
    assert clone.read("0000000000000000000000000000000000000005.txt") == reader.read(
        "0000000000000000000000000000000000000005.txt"
    )
    assert len(pickle.dumps(reader)) < 4096


def test_unpickled_reader_refuses_a_replaced_object(s3: S3) -> None:
    url = s3.put(make_zip(150, size=3000))
    blob = pickle.dumps(ZipReader(url, storage_options=s3.options))
    s3.put(make_zip(150, size=3000, seed=9), url.rsplit("/", 1)[1])
    copy = pickle.loads(blob)  # opens on first use: no request yet
    with pytest.raises(SourceChangedError):
        copy.namelist()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads (3.12+)
def test_forked_child_reads_on_its_own_connections(s3: S3) -> None:
    data = make_zip(150, size=3000)
    expected = contents(data)
    url = s3.put(data)
    reader = ZipReader(url, storage_options=s3.options)
    assert reader.read("0000000001.txt") == expected["0000000001.txt"]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:
            status = 0 if reader.read("0000000002.txt") == expected["0000000002.txt"] else 2
        finally:
            os.write(write_end, bytes([status]))
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    assert answer == b"\x00"
    assert reader.read("0000000003.txt") == expected["0000000003.txt"]
    reader.close()


def test_unpickling_makes_no_request_and_the_first_reads_one_each(s3: S3) -> None:
    data = make_zip(150, size=3000)
    url = s3.put(data)
    readat = RemoteReadAt(url, storage_options=s3.options)
    blob = pickle.dumps(readat)
    readat.close()
    s3.server.reset()
    copy = pickle.loads(blob)
    assert s3.server.log() == []  # not a request to anything: no HEAD, no size or ETag probe
    assert copy.size == len(data)
    assert s3.server.log() == []
    # A read before the tail: one request, conditional on the pickled version.
    assert copy.read_at(1000, 500) == data[1000:1500]
    (first,) = s3.server.log()
    assert (first["method"], first["range"]) == ("GET", "bytes=1000-1499")
    assert first["if_match"] == copy.version.etag
    # The first read in the tail fetches the tail window once; later ones cost nothing.
    tail_start = len(data) - DEFAULT_TAIL_WINDOW
    assert copy.read_at(len(data) - 22, 22) == data[-22:]
    assert ranges_of(s3.server.log()[1:]) == [(tail_start, len(data) - 1)]
    assert copy.read_at(tail_start, 100) == data[tail_start : tail_start + 100]
    assert len(s3.server.log()) == 2
    copy.close()


def test_an_unpickled_copy_connects_and_fetches_its_tail_once_for_many_threads(s3: S3) -> None:
    data = make_zip(150, size=3000)
    url = s3.put(data)
    with RemoteReadAt(url, storage_options=s3.options) as readat:
        copy = pickle.loads(pickle.dumps(readat))
    s3.server.reset()
    s3.server.configure(latency=0.05)  # the threads arrive while the first fetch is in flight
    connections = set()

    def work(index: int) -> None:
        offset = len(data) - 1000 + index * 100
        assert copy.read_at(offset, 100) == data[offset : offset + 100]
        connections.add(id(copy._connection))

    run_threads(8, work, timeout=60)
    assert len(s3.gets(url)) == 1  # single flight: one tail fetch, not one per thread
    assert len(connections) == 1
    copy.close()


def test_the_first_tail_read_takes_the_callers_hint(s3: S3, tmp_path: Any) -> None:
    data = make_zip(150, size=3000)
    url = s3.put(data)
    s3.server.reset()
    with open_readat(url, storage_options=s3.options, tail_window=4096) as readat:
        assert readat.read_at(len(data) - 4096, 4096) == data[-4096:]
    assert [record["range"] for record in s3.requests(url)] == ["bytes=-4096"]
    s3.server.reset()
    with open_readat(url, storage_options=s3.options) as readat:
        assert readat.size == len(data)
    assert [record["range"] for record in s3.requests(url)] == [f"bytes=-{DEFAULT_TAIL_WINDOW}"]
    # The hint is about remote sources: a local one ignores it.
    path = tmp_path / "a.zip"
    path.write_bytes(data)
    with open_readat(path, tail_window=4096) as local:
        assert local.size == len(data)
    with pytest.raises(ValueError, match="tail_window"):
        open_readat(url, storage_options=s3.options, tail_window=0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads (3.12+)
def test_clients_that_closed_readers_dropped_are_finalised_before_a_fork(s3: S3) -> None:
    url = s3.put(make_zip(20))
    gc.disable()  # only the collection before the fork may finalise the client
    try:
        readat = RemoteReadAt(url, storage_options={**s3.options, "skip_instance_cache": True})
        # The filesystem of its own that a listing opens, say; it lives in reference cycles.
        filesystem = weakref.ref(readat._connect().driver.fs)  # type: ignore[attr-defined]
        readat.close()
        assert filesystem() is not None
        assert remote_readat._CLIENTS_DROPPED.is_set()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os._exit(0)
        os.waitpid(pid, 0)
    finally:
        gc.enable()
    assert filesystem() is None
    assert not remote_readat._CLIENTS_DROPPED.is_set()
