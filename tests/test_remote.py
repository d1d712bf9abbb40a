"""Remote sources: request budgets counted at a real S3 API server, faults, consistency.

The servers run on 127.0.0.1 in their own processes (tests/remote.py). Every
request count here is what the server saw.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import socket
import subprocess
import sys
import zipfile
from typing import Any

import fsspec
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
from randread.errors import (
    MissingDependencyError,
    RemoteConnectionError,
    RemoteError,
    RemoteTimeoutError,
    SourceAccessError,
    SourceChangedError,
    SourceNotFoundError,
)
from randread.readat._remote import DEFAULT_TAIL_WINDOW, merge_ranges, redact_url
from tests import sentrybuilder as sb
from tests.conftest import run_threads
from tests.remote import HTTP, S3

SECRET = "testing-secret-do-not-leak"


def make_zip(count: int, *, size: int = 2000, name_length: int = 10, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(count):
            name = f"{index:0{name_length}d}.txt"
            # Hex digits: content that deflates to about half its size.
            archive.writestr(name, rng.randbytes(size // 2).hex().encode())
    return buffer.getvalue()


def make_bundle(tmp_path: Any, zip_bytes: bytes, **options: Any) -> bytes:
    source = tmp_path / "in.zip"
    source.write_bytes(zip_bytes)
    target = tmp_path / "out.rrb"
    randread.convert(source, target, **options)
    return target.read_bytes()


def contents(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def central_directory_size(data: bytes) -> int:
    with ZipReader(data) as reader:
        return reader._directory.central_directory_size


def ranges_of(log: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """The ``[start, end]`` of each logged GET with a plain range."""
    spans = []
    for record in log:
        spec = record["range"] or ""
        first, _, last = spec.removeprefix("bytes=").partition("-")
        if first:
            spans.append((int(first), int(last)))
    return spans


def max_in_flight(log: list[dict[str, Any]]) -> int:
    events = sorted(
        [(r["start"], 1) for r in log if r["end"]] + [(r["end"], -1) for r in log if r["end"]]
    )
    best = current = 0
    for _, step in events:
        current += step
        best = max(best, current)
    return best


# -- zip: the request budget ---------------------------------------------------------------


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
        spans = [reader._span(reader._readat, reader._entry(n), with_data=True) for n in names]
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


# -- bundles -------------------------------------------------------------------------------


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
        footer = reader._footer
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


# -- consistency -----------------------------------------------------------------------------


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


# -- faults ----------------------------------------------------------------------------------


def test_missing_object_and_bucket(s3: S3) -> None:
    with pytest.raises(SourceNotFoundError) as caught:
        ZipReader("s3://randread-test/no-such-key.zip", storage_options=s3.options)
    assert isinstance(caught.value, FileNotFoundError)
    assert "s3://randread-test/no-such-key.zip" in str(caught.value)
    with pytest.raises(SourceNotFoundError):
        open_readat("s3://no-such-bucket/a.zip", storage_options=s3.options)


def test_access_denied(s3: S3) -> None:
    url = s3.put(make_zip(3))
    s3.server.configure(faults=[{"status": 403}])
    with pytest.raises(SourceAccessError) as caught:
        open_readat(url, storage_options=s3.options)
    assert isinstance(caught.value, PermissionError)
    assert len(s3.gets(url)) == 1  # not retried


def test_transient_errors_are_retried_with_backoff(s3: S3) -> None:
    data = make_zip(150, size=3000)
    url = s3.put(data)
    reader = ZipReader(RemoteReadAt(url, storage_options=s3.options, backoff=0.01))
    s3.server.reset()
    s3.server.configure(faults=[{"status": 503, "times": 2}])
    assert reader.read("0000000009.txt") == contents(data)["0000000009.txt"]
    statuses = [record["status"] for record in s3.gets(url)]
    assert statuses == [503, 503, 206]
    reader.close()


def test_retries_are_bounded(s3: S3) -> None:
    data = make_zip(150, size=3000)
    url = s3.put(data)
    readat = RemoteReadAt(url, storage_options=s3.options, retries=2, backoff=0.01)
    s3.server.reset()
    s3.server.configure(faults=[{"status": 500, "times": 100}])
    with pytest.raises(RemoteError) as caught:
        readat.read_at(1000, 100)
    message = str(caught.value)
    assert "after 3 attempts" in message
    assert "bytes 1000-1099 (0x3e8-0x44b)" in message
    assert url in message
    assert (caught.value.offset, caught.value.length) == (1000, 100)
    assert caught.value.status == 500
    assert len(s3.gets(url)) == 3
    s3.server.reset()


def test_short_response_is_an_error_naming_the_range(s3: S3) -> None:
    data = make_zip(150, size=3000)
    url = s3.put(data)
    readat = RemoteReadAt(url, storage_options=s3.options, retries=1, backoff=0.01)
    s3.server.configure(faults=[{"short": 10, "times": 5}])
    with pytest.raises(RemoteError, match=r"bytes 1000-5999 .*4990 bytes, not 5000"):
        readat.read_at(1000, 5000)
    s3.server.reset()
    # A single short answer is retried and then read whole.
    s3.server.configure(faults=[{"short": 10}])
    assert readat.read_at(7000, 5000) == data[7000:12000]
    readat.close()


def test_connection_reset_is_retried(s3: S3) -> None:
    data = make_zip(150, size=3000)
    url = s3.put(data)
    readat = RemoteReadAt(url, storage_options=s3.options, backoff=0.01)
    s3.server.configure(faults=[{"reset": True}])
    assert readat.read_at(5000, 300) == data[5000:5300]
    readat.close()


def test_hung_request_times_out(s3: S3) -> None:
    data = make_zip(150, size=3000)
    url = s3.put(data)
    readat = RemoteReadAt(url, storage_options=s3.options, timeout=0.5, retries=0)
    s3.server.configure(faults=[{"hang": 3}])
    with pytest.raises(RemoteTimeoutError) as caught:
        readat.read_at(0, 100)
    assert isinstance(caught.value, TimeoutError)
    assert "no answer within 0.5 s" in str(caught.value)
    readat.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable_endpoint(s3: S3) -> None:
    options = dict(s3.options)
    options["client_kwargs"] = {
        "endpoint_url": f"http://127.0.0.1:{free_port()}",
        "region_name": "us-east-1",
    }
    with pytest.raises(RemoteConnectionError) as caught:
        RemoteReadAt("s3://randread-test/a.zip", storage_options=options, backoff=0.01)
    assert isinstance(caught.value, ConnectionError)
    assert "after 4 attempts" in str(caught.value)


def test_no_credential_in_messages_or_reprs(s3: S3) -> None:
    url = s3.put(make_zip(150, size=3000))
    readat = RemoteReadAt(url, storage_options=s3.options, retries=0)
    reader = ZipReader(readat)
    texts = [repr(readat), repr(reader)]
    s3.server.configure(faults=[{"status": 403}])
    with pytest.raises(SourceAccessError) as caught:
        reader.read("0000000100.txt")
    texts.append(str(caught.value))
    for text in texts:
        assert SECRET not in text
        assert "testing-key" not in text
    reader.close()
    assert redact_url("https://user:pw@example.test/a.zip?X-Amz-Signature=abc") == (
        "https://***@example.test/a.zip?***"
    )


def test_empty_object(s3: S3) -> None:
    url = s3.put(b"")
    readat = open_readat(url, storage_options=s3.options)
    assert readat.size == 0
    assert readat.read_at(0, 0) == b""
    with pytest.raises(randread.ZipFormatError):
        ZipReader(readat)


# -- pickling and fork -------------------------------------------------------------------------


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
    with pytest.raises(SourceChangedError):
        pickle.loads(blob)


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


# -- other backends ------------------------------------------------------------------------


def test_http_core_cases(http: HTTP) -> None:
    data = make_zip(150, size=3000)
    expected = contents(data)
    url = http.put(data, "sub/a.zip")
    with ZipReader(url) as reader:
        assert len(http.requests(url)) == 1
        http.server.reset()
        assert reader.read("0000000042.txt") == expected["0000000042.txt"]
        assert len(http.gets(url)) == 1
        assert reader.read_many(["0000000001.txt", "0000000002.txt"]) == [
            expected["0000000001.txt"],
            expected["0000000002.txt"],
        ]
        http.put(make_zip(150, size=3000, seed=3), "sub/a.zip")
        with pytest.raises(SourceChangedError):
            reader.read("0000000100.txt")


def test_http_faults(http: HTTP) -> None:
    with pytest.raises(SourceNotFoundError):
        open_readat(f"{http.server.endpoint}/missing.zip")
    url = http.put(b"x" * 100, "private/a.zip")
    with pytest.raises(SourceAccessError):
        open_readat(url)
    url = http.put(make_zip(150, size=3000), "big.zip")
    http.server.configure(ignore_ranges=True)
    with pytest.raises(RemoteError, match="does not serve byte ranges"):
        open_readat(url)
    http.server.reset()
    readat = open_readat(url)
    http.server.reset()
    http.server.configure(faults=[{"status": 416}])
    with pytest.raises(RemoteError, match="range not satisfiable") as caught:
        readat.read_at(0, 10)
    assert caught.value.status == 416
    assert len(http.gets(url)) == 1  # not retried


def test_http_empty_and_tiny_objects(http: HTTP) -> None:
    assert open_readat(http.put(b"", "empty.bin")).size == 0
    tiny = open_readat(http.put(b"abc", "tiny.bin"))
    assert tiny.read_at(0, 3) == b"abc"


def test_http_url_with_credentials_is_redacted(http: HTTP) -> None:
    url = http.put(make_zip(3), "c.zip")
    secret_url = url.replace("http://", "http://user:hunter2@") + "?token=hunter2"
    reader = ZipReader(secret_url)
    assert "hunter2" not in repr(reader)
    assert "hunter2" not in repr(reader._readat)
    assert reader.filename is not None
    assert "hunter2" not in reader.filename
    reader.close()


def test_memory_filesystem(tmp_path: Any) -> None:
    data = make_zip(120, size=3000)
    expected = contents(data)
    fs = fsspec.filesystem("memory")
    fs.pipe_file("/randread/a.zip", data)
    fs.pipe_file("/randread/a.rrb", make_bundle(tmp_path, data))
    for url in ("memory://randread/a.zip", "memory://randread/a.rrb"):
        with open_archive(url) as reader:
            assert sorted(reader.namelist()) == sorted(expected)
            for name in sorted(expected)[::7]:
                assert reader.read(name) == expected[name]
            names = sorted(expected)[:30]
            assert reader.read_many(names) == [expected[name] for name in names]
    with pytest.raises(SourceNotFoundError):
        open_readat("memory://randread/missing.zip")


def test_file_urls_are_local_paths(tmp_path: Any) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(make_zip(3))
    readat = open_readat(f"file://{path}")
    assert isinstance(readat, randread.MmapReadAt)
    readat.close()
    with open_archive(f"file://{path}") as reader:
        assert isinstance(reader, ZipReader)
        assert reader.namelist() == [f"{i:010d}.txt" for i in range(3)]


def test_storage_options_need_a_url(tmp_path: Any) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(make_zip(3))
    with pytest.raises(ValueError, match="only to URLs"):
        open_readat(str(path), storage_options={"anon": True})


def test_without_the_remote_extra_a_url_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(MissingDependencyError, match=r"randread\[remote\]") as caught:
        ZipReader("s3://bucket/a.zip")
    assert isinstance(caught.value, ImportError)


def test_merge_ranges_rules() -> None:
    ranges = [(0, 10), (100, 10), (10_000, 5), (50, 0), (110, 5)]
    merged = merge_ranges(ranges, gap=100, max_length=1000)
    assert [(m.start, m.end, m.members) for m in merged] == [
        (0, 115, (0, 1, 4)),
        (10_000, 10_005, (2,)),
    ]
    assert len(merge_ranges(ranges, gap=0)) == 3  # 100-110 and 110-115 touch
    assert len(merge_ranges([(0, 10), (10, 10)], max_length=15)) == 2
    assert len(merge_ranges([(0, 100)], max_length=10)) == 1  # never split


# -- the command line ----------------------------------------------------------------------


def cli_env() -> dict[str, str]:
    """Credentials as the usual environment variables, nothing beyond loopback."""
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing-key",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONIOENCODING": "utf-8",
    }


def randread_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter, on loopback
        [sys.executable, "-m", "randread", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=cli_env(),
    )


def test_cli_commands_read_s3_urls(s3: S3, tmp_path: Any) -> None:
    data = make_zip(40)
    expected = contents(data)
    url = s3.put(data)
    endpoint = f"--storage-option=endpoint_url={s3.server.endpoint}"
    listing = randread_cli("ls", endpoint, url)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.split() == sorted(expected)
    cat = randread_cli("cat", endpoint, url, "0000000003.txt")
    assert cat.stdout.encode() == expected["0000000003.txt"]
    info = randread_cli(
        "--storage-option", f"endpoint_url={s3.server.endpoint}", "info", "--json", url
    )
    assert info.returncode == 0, info.stderr
    facts = json.loads(info.stdout)
    assert (facts["entries"], facts["file_size"]) == (40, len(data))
    assert randread_cli("verify", endpoint, url).returncode == 0
    extracted = randread_cli("extract", endpoint, url, str(tmp_path / "out"))
    assert extracted.returncode == 0, extracted.stderr
    assert (tmp_path / "out" / "0000000007.txt").read_bytes() == expected["0000000007.txt"]
    bundle = tmp_path / "a.rrb"
    converted = randread_cli("convert", "-q", endpoint, url, str(bundle))
    assert converted.returncode == 0, converted.stderr
    with BundleReader(bundle) as reader:
        assert {name: reader.read(name) for name in reader.namelist()} == expected


def test_cli_remote_errors_are_one_line_without_secrets(s3: S3) -> None:
    endpoint = f"--storage-option=endpoint_url={s3.server.endpoint}"
    missing = randread_cli("ls", endpoint, "s3://randread-test/missing.zip")
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1, missing.stderr
    assert "s3://randread-test/missing.zip" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert SECRET not in missing.stderr
    bad = randread_cli("ls", "--storage-option", "no-equals-sign", "s3://randread-test/a.zip")
    assert bad.returncode == 2
    assert "KEY=VALUE" in bad.stderr


def test_cli_storage_options_parse_json_and_dotted_keys(s3: S3) -> None:
    url = s3.put(make_zip(5))
    result = randread_cli(
        "ls",
        "--storage-option=anon=false",
        f"--storage-option=client_kwargs.endpoint_url={s3.server.endpoint}",
        "--storage-option=client_kwargs.region_name=us-east-1",
        url,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split()) == 5


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


def test_block_cache_serves_repeated_and_neighbouring_reads(s3: S3) -> None:
    data = make_zip(300, size=3000)
    expected = contents(data)
    url = s3.put(data)
    readat = RemoteReadAt(url, storage_options=s3.options, block_cache=256 * 1024, block_size=65536)
    with ZipReader(readat) as reader:
        names = reader.namelist()
        s3.server.reset()
        assert reader.read(names[100]) == expected[names[100]]
        assert len(s3.gets(url)) == 1
        assert reader.read(names[100]) == expected[names[100]]
        assert reader.read(names[101]) == expected[names[101]]  # same block, most likely
        assert len(s3.gets(url)) <= 2
        # Blocks are whole and aligned: every request starts on a block boundary.
        assert all(start % 65536 == 0 for start, _ in ranges_of(s3.gets(url)))
        # Reading everything keeps the cache within its bound, and right.
        assert reader.read_many(names) == [expected[name] for name in names]
        for name in names[::10]:
            assert reader.read(name) == expected[name]
        assert 0 < readat.cached_bytes <= 256 * 1024
    with pytest.raises(ValueError, match="block_cache"):
        RemoteReadAt(url, storage_options=s3.options, block_cache=-1)


def test_block_cache_is_shared_by_threads(s3: S3) -> None:
    data = make_zip(200, size=2000)
    expected = contents(data)
    url = s3.put(data)
    readat = RemoteReadAt(url, storage_options=s3.options, block_cache=1 << 20, block_size=16384)
    names = sorted(expected)
    with ZipReader(readat) as reader:

        def work(index: int) -> None:
            rng = random.Random(index)
            for name in rng.sample(names, 40):
                assert reader.read(name) == expected[name]

        run_threads(8, work, timeout=120)
        assert readat.cached_bytes <= 1 << 20


def test_cli_bench_measures_a_remote_corpus(s3: S3) -> None:
    url = s3.put(make_zip(30))
    result = randread_cli(
        "bench",
        "--quick",
        "--formats",
        "zipfile",
        "--threads",
        "1",
        f"--storage-option=endpoint_url={s3.server.endpoint}",
        url,
    )
    assert result.returncode == 0, result.stderr
    assert "zipfile" in result.stdout
