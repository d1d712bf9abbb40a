"""The ``randread://`` fsspec filesystem over zips and bundles, local and on loopback S3."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import pytest

import randread
from randread.errors import ReadOnlyError, ZipFormatError
from randread.filesystem import ArchiveFileSystem
from tests.conftest import run_threads
from tests.remote import S3

FILES = {
    "data/a.csv": b"x,y\n1,2\n3,4\n",
    "data/deep/b.txt": b"hello " * 100,
    "top.json": b'{"k": 1}',
    "empty/": b"",
    "caf\u00e9/na\u00efve.txt": b"non-ASCII name",
}


def make_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in FILES.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(params=["zip", "bundle"])
def archive_path(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / "a.zip"
    path.write_bytes(make_zip())
    if request.param == "bundle":
        bundle = tmp_path / "a.rrb"
        randread.convert(path, bundle)
        return bundle
    return path


def test_listing_and_info(archive_path: Path) -> None:
    fs = fsspec.filesystem("randread", fo=str(archive_path))
    assert isinstance(fs, ArchiveFileSystem)
    assert sorted(fs.ls("", detail=False)) == ["caf\u00e9", "data", "empty", "top.json"]
    assert sorted(fs.ls("data", detail=False)) == ["data/a.csv", "data/deep"]
    info = fs.info("data/a.csv")
    assert info["type"] == "file"
    assert info["size"] == len(FILES["data/a.csv"])
    assert info["checksum"] == zipfile.ZipFile(io.BytesIO(make_zip())).getinfo("data/a.csv").CRC
    assert info["codec"] in ("deflate", "zstd", "zstd-dict", "none", "stored", "lz4")
    assert fs.info("data/deep")["type"] == "directory"  # implied by a name
    assert fs.info("empty")["type"] == "directory"  # a directory entry
    assert fs.isdir("data")
    assert fs.isfile("top.json")
    assert fs.exists("data/deep/b.txt")
    assert not fs.exists("data/nope")
    assert sorted(fs.find("")) == sorted(name for name in FILES if not name.endswith("/"))
    assert fs.glob("**/*.txt") == ["caf\u00e9/na\u00efve.txt", "data/deep/b.txt"]
    with pytest.raises(FileNotFoundError):
        fs.info("missing.txt")


def test_reading(archive_path: Path) -> None:
    fs = fsspec.filesystem("randread", fo=str(archive_path))
    assert fs.cat_file("data/a.csv") == FILES["data/a.csv"]
    assert fs.cat_file("data/deep/b.txt", start=6, end=11) == b"hello"
    assert fs.cat_file("data/deep/b.txt", start=-5) == FILES["data/deep/b.txt"][-5:]
    assert fs.cat("top.json") == FILES["top.json"]
    many = fs.cat(["data/a.csv", "top.json", "caf\u00e9/na\u00efve.txt"])
    assert many == {name: FILES[name] for name in many}
    assert fs.cat("data", recursive=True) == {
        "data/a.csv": FILES["data/a.csv"],
        "data/deep/b.txt": FILES["data/deep/b.txt"],
    }
    with fs.open("data/deep/b.txt") as stream:
        stream.seek(600 - 6)
        assert stream.read() == b"hello "
        stream.seek(0)
        assert stream.read(5) == b"hello"
    with fsspec.open(f"randread://data/a.csv::{archive_path}", "rt") as text:
        assert text.read() == FILES["data/a.csv"].decode()
    # pandas before 3 infers compression from the end of the whole URL (".zip").
    frame = pd.read_csv(f"randread://data/a.csv::{archive_path}", compression=None)
    assert frame["y"].tolist() == [2, 4]
    with pytest.raises(FileNotFoundError):
        fs.cat_file("nope")
    with pytest.raises(IsADirectoryError):
        fs.cat_file("data")
    result = fs.cat(["top.json", "nope"], on_error="return")
    assert isinstance(result["nope"], FileNotFoundError)
    assert fs.cat(["top.json", "nope"], on_error="omit") == {"top.json": FILES["top.json"]}


def test_writes_are_refused(archive_path: Path) -> None:
    fs = fsspec.filesystem("randread", fo=str(archive_path))
    for attempt in (
        lambda: fs.open("new.txt", "wb"),
        lambda: fs.pipe_file("top.json", b"x"),
        lambda: fs.rm("top.json"),
        lambda: fs.mkdir("new"),
        lambda: fs.touch("x"),
        lambda: fs.mv("top.json", "other.json"),
    ):
        with pytest.raises(ReadOnlyError, match="read-only") as caught:
            attempt()
        assert isinstance(caught.value, PermissionError)
    assert fs.cat_file("top.json") == FILES["top.json"]


def test_pickle_and_threads(archive_path: Path) -> None:
    fs = fsspec.filesystem("randread", fo=str(archive_path), skip_instance_cache=True)
    clone = pickle.loads(pickle.dumps(fs))
    assert clone.cat_file("data/a.csv") == FILES["data/a.csv"]
    names = [name for name in FILES if not name.endswith("/")]

    def work(index: int) -> None:
        for _ in range(50):
            name = names[index % len(names)]
            assert fs.cat_file(name) == FILES[name]

    run_threads(8, work, timeout=60)


def test_an_open_reader_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(make_zip())
    with randread.ZipReader(path) as reader:
        fs = ArchiveFileSystem(fo=reader)
        assert fs.cat_file("top.json") == FILES["top.json"]


def test_a_bad_archive_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "bad.zip"
    path.write_bytes(b"not a zip at all" * 10)
    with pytest.raises(ZipFormatError, match=r"bad\.zip: not a zip file"):
        fsspec.filesystem("randread", fo=str(path), skip_instance_cache=True)


def test_over_s3(s3: S3, tmp_path: Path) -> None:
    data = make_zip()
    zip_url = s3.put(data, "fs/a.zip")
    source = tmp_path / "a.zip"
    source.write_bytes(data)
    randread.convert(source, tmp_path / "a.rrb")
    bundle_url = s3.put((tmp_path / "a.rrb").read_bytes(), "fs/a.rrb")
    for url in (zip_url, bundle_url):
        chained = f"randread://data/a.csv::{url}"
        with fsspec.open(chained, s3=s3.options) as stream:
            assert stream.read() == FILES["data/a.csv"]
        fs = fsspec.filesystem("randread", fo=url, target_options=s3.options)
        assert fs.cat("data", recursive=True)["data/deep/b.txt"] == FILES["data/deep/b.txt"]
        frame = pd.read_csv(chained, storage_options={"s3": s3.options}, compression=None)
        assert frame["x"].tolist() == [1, 3]
    # No whole-object download: every GET of the archives asked for a range.
    gets = s3.gets(zip_url) + s3.gets(bundle_url)
    assert gets
    assert all(record["range"] for record in gets), gets
    with pytest.raises(FileNotFoundError):
        fsspec.filesystem(
            "randread",
            fo="s3://randread-test/fs/missing.zip",
            target_options=s3.options,
            skip_instance_cache=True,
        )


def test_a_bad_remote_archive_names_its_url(s3: S3) -> None:
    url = s3.put(b"garbage" * 50, "fs/bad.zip")
    with pytest.raises(ZipFormatError, match=r"s3://randread-test/fs/bad\.zip: not a zip file"):
        fsspec.filesystem("randread", fo=url, target_options=s3.options)


def test_info_of_the_root(archive_path: Path) -> None:
    fs: Any = fsspec.filesystem("randread", fo=str(archive_path))
    assert fs.info("")["type"] == "directory"
