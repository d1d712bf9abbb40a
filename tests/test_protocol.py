"""The one reader protocol (randread.protocol): both readers and their infos have it."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

import randread
from randread.protocol import ArchiveReader, EntryInfo

FILES = {"a.txt": b"alpha " * 50, "dir/": b"", "dir/b.bin": bytes(range(256))}


def _zip(_tmp_path: Path | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in FILES.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _bundle(tmp_path: Path) -> bytes:
    path = tmp_path / "a.rrb"
    with randread.BundleWriter(path, codec="zstd") as writer:
        for name, content in FILES.items():
            writer.add(name, content)
    return path.read_bytes()


@pytest.mark.parametrize("make", [_zip, _bundle], ids=["zip", "bundle"])
def test_both_readers_have_the_protocol_and_agree(make: object, tmp_path: Path) -> None:
    data = make(tmp_path)  # type: ignore[operator]
    with randread.open_archive(data) as reader:
        assert isinstance(reader, ArchiveReader)
        assert reader.source_size == len(data)
        assert reader.namelist() == list(FILES)
        infos = reader.infolist()
        for info, (name, content) in zip(infos, FILES.items(), strict=True):
            assert isinstance(info, EntryInfo)
            assert info.filename == name
            assert info.file_size == len(content)
            assert info.is_dir() == name.endswith("/")
            assert 0 <= info.offset < len(data)
            assert info.codec in {"deflate", "stored", "zstd", "none"}
            assert reader.getinfo(name) == info
        assert reader.read_many(list(FILES)) == list(FILES.values())
        with reader.open("a.txt") as stream:
            assert stream.read() == FILES["a.txt"]
        assert reader.testzip() is None


def test_an_unknown_zip_method_is_named_by_its_number() -> None:
    data = bytearray(_zip())
    with randread.ZipReader(bytes(data)) as reader:
        info = reader.getinfo("a.txt")
    info.compress_type = 250
    assert info.codec == "method 250"
