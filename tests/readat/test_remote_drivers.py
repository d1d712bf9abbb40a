"""The drivers other than S3: HTTP(S) range servers and fsspec filesystems (``memory://``)."""

from __future__ import annotations

from typing import Any

import fsspec
import pytest

from randread import ZipReader, open_archive, open_readat
from randread.errors import RemoteError, SourceAccessError, SourceChangedError, SourceNotFoundError
from tests.readat.remote_helpers import contents, make_bundle, make_zip
from tests.remote import HTTP


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
    assert "hunter2" not in repr(reader.fp)
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
