"""Which sources are URLs, which are local paths, and what a URL needs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import randread
from randread import ZipReader, open_archive, open_readat
from randread.errors import MissingDependencyError
from randread.readat.remote.urls import is_chained, is_url, local_path, protocol_of, redact_url
from tests.readat.remote_helpers import make_zip


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


@pytest.mark.parametrize(
    ("source", "url", "path", "protocol"),
    [
        ("s3://bucket/a.zip", True, None, "s3"),
        ("https://example.test/a.zip?sig=1", True, None, "https"),
        ("simplecache::s3://bucket/a.zip", True, None, ""),
        ("file:///data/a.zip", False, "/data/a.zip", "file"),
        ("/data/a.zip", False, None, ""),
        ("a.zip", False, None, ""),
    ],
)
def test_urls_and_local_paths(source: str, url: bool, path: str | None, protocol: str) -> None:
    assert is_url(source) is url
    assert local_path(source) == path
    assert protocol_of(source) == protocol
    assert is_chained(source) is ("::" in source)


def test_is_url_takes_only_strings() -> None:
    assert not is_url(b"s3://bucket/a.zip")
    assert not is_url(Path("s3://bucket/a.zip"))


def test_redact_url_removes_user_info_and_query_in_every_link() -> None:
    assert redact_url("simplecache::https://u:p@host.test/a.zip?token=x") == (
        "simplecache::https://***@host.test/a.zip?***"
    )
    assert redact_url("s3://bucket/key.zip") == "s3://bucket/key.zip"
