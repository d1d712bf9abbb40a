"""Compression methods through ZipReader (randread.zip.methods): each one, and those it declines."""

from __future__ import annotations

import pytest

import randread
from randread.zip import methods
from tests.conftest import CORPORA
from tests.zipbuilder import Archive, Entry


@pytest.mark.parametrize("method", [0, 8, 12, 14, 93])
def test_methods(method: int) -> None:
    payload = b"the quick brown fox " * 2000
    data = Archive([Entry("f", payload, method=method)]).build()
    with randread.ZipReader(data) as reader:
        assert reader.read("f") == payload
        with reader.open("f") as stream:
            assert stream.read(7) == payload[:7]
            assert stream.read() == payload[7:]


def test_deflate64_when_installed() -> None:
    pytest.importorskip("inflate64")
    path = CORPORA / "rc-zip" / "found-me-deflate64.zip"
    if not path.exists():
        pytest.skip("corpora not present")
    with randread.ZipReader(path) as reader:
        assert reader.read("found-me.txt") == b"Oh no, you found me\n" * 5000


def test_deflate64_without_the_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # inflate64 is imported by the first Deflate64 read: make that import find nothing.
    monkeypatch.setattr(methods, "_inflate64", None)
    monkeypatch.setattr(methods, "_optional", lambda *_, **__: None)
    data = Archive([Entry("f", b"x", method=9, compressed=b"\x03\x00")]).build()
    with randread.ZipReader(data) as reader:
        with pytest.raises(randread.UnsupportedFeatureError, match="inflate64") as info:
            reader.read("f")
        assert info.value.method == 9


@pytest.mark.parametrize("method", [1, 6, 95, 98, 200])
def test_unknown_and_unsupported_methods(method: int) -> None:
    data = Archive([Entry("f", b"data", method=method, compressed=b"data")]).build()
    with randread.ZipReader(data) as reader:
        assert reader.getinfo("f").compress_type == method
        with pytest.raises(randread.UnsupportedFeatureError, match=f"method {method}") as info:
            reader.read("f")
        assert info.value.method == method
        with pytest.raises(NotImplementedError):
            reader.open("f")
