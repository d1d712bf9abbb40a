"""Ownership: every way to make a reader closes exactly what it opened (randread._core.source).

Checked the way a service would notice a leak: after ``close()`` (and after a
``with`` block), while the reader object still lives, the archive's file is
neither mapped (``/proc/self/maps``) nor open (``/proc/self/fd``); and a
ReadAt the caller made stays open.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import randread
from tests.sentrybuilder import build, source_bundle_files

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/maps").exists(), reason="needs /proc to see mappings and descriptors"
)

FILES = {"a.txt": b"alpha " * 100, "dir/b.bin": bytes(range(256)) * 40}


def _held(path: Path) -> list[str]:
    """Return how this process still holds ``path``: its mappings and descriptors."""
    target = str(path.resolve())
    held = [
        line.strip()
        for line in Path("/proc/self/maps").read_text().splitlines()
        if line.endswith(target)
    ]
    for fd in Path("/proc/self/fd").iterdir():
        try:
            if str(fd.readlink()) == target:
                held.append(f"fd {fd.name}")
        except OSError:
            continue
    return held


@pytest.fixture
def zip_path(tmp_path: Path) -> Path:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in FILES.items():
            archive.writestr(name, content)
    return path


@pytest.fixture
def bundle_path(tmp_path: Path) -> Path:
    path = tmp_path / "a.rrb"
    with randread.BundleWriter(path, codec="zstd") as writer:
        for name, content in FILES.items():
            writer.add(name, content)
    return path


def _use(reader: object) -> None:
    """Read through ``reader`` so that everything lazy is made."""
    read = reader.read  # type: ignore[attr-defined]
    for name, content in FILES.items():
        assert read(name) == content
    namelist = getattr(reader, "namelist", None)
    if namelist is not None:
        assert set(FILES) <= set(namelist())


Maker = Callable[[Path], object]

MAKERS: dict[str, Maker] = {
    "ZipReader(path)": randread.ZipReader,
    "ZipReader(path, backend=pread)": lambda p: randread.ZipReader(p, backend="pread"),
    "BundleReader(path)": randread.BundleReader,
    "BundleReader(path, backend=pread)": lambda p: randread.BundleReader(p, backend="pread"),
    "open_archive(path)": randread.open_archive,
    "open_archive(file URL)": lambda p: randread.open_archive(p.resolve().as_uri()),
    "ReadAt handed over": lambda p: (
        randread.ZipReader if p.suffix == ".zip" else randread.BundleReader
    )(randread.MmapReadAt(p), close_source=True),
    "CachedReader(path)": lambda p: randread.CachedReader(p, max_bytes=1 << 20),
    "unpickled": lambda p: pickle.loads(pickle.dumps(randread.open_archive(p))),
}


@pytest.mark.parametrize("kind", ["zip", "bundle"])
@pytest.mark.parametrize("make", MAKERS.values(), ids=MAKERS.keys())
@pytest.mark.parametrize("how", ["close", "with"])
def test_a_reader_closes_what_it_opened(
    kind: str, make: Maker, how: str, zip_path: Path, bundle_path: Path
) -> None:
    path = zip_path if kind == "zip" else bundle_path
    if kind == "zip" and make is MAKERS["BundleReader(path)"]:
        pytest.skip("a bundle reader of a zip")
    if kind == "zip" and make is MAKERS["BundleReader(path, backend=pread)"]:
        pytest.skip("a bundle reader of a zip")
    if kind == "bundle" and make in (
        MAKERS["ZipReader(path)"],
        MAKERS["ZipReader(path, backend=pread)"],
    ):
        pytest.skip("a zip reader of a bundle")
    reader = make(path)
    _use(reader)
    assert _held(path), "the reader should hold the file while open"
    if how == "close":
        reader.close()  # type: ignore[attr-defined]
    else:
        with reader:  # type: ignore[attr-defined]
            _use(reader)
    assert _held(path) == [], f"still held after close(): {_held(path)}"
    with pytest.raises(randread.ClosedError):
        reader.read("a.txt")  # type: ignore[attr-defined]
    del reader


@pytest.mark.parametrize("kind", ["zip", "bundle"])
def test_source_bundle_and_path_close_what_they_opened(
    kind: str, zip_path: Path, bundle_path: Path
) -> None:
    path = zip_path if kind == "zip" else bundle_path
    tree = randread.Path(path)
    assert (tree / "a.txt").read_bytes() == FILES["a.txt"]
    assert _held(path)
    with tree:
        pass
    assert _held(path) == []


def test_source_bundle_closes_what_it_opened(tmp_path: Path) -> None:
    files, attributes = source_bundle_files()
    path = tmp_path / "bundle.zip"
    path.write_bytes(build(files, attributes))
    bundle = randread.SourceBundle(path)
    assert bundle.files
    assert _held(path)
    bundle.close()
    assert _held(path) == []


@pytest.mark.parametrize("kind", ["zip", "bundle"])
def test_a_callers_readat_is_never_closed(kind: str, zip_path: Path, bundle_path: Path) -> None:
    path = zip_path if kind == "zip" else bundle_path
    readat = randread.MmapReadAt(path)
    for make in (
        randread.open_archive,
        randread.ZipReader if kind == "zip" else randread.BundleReader,
    ):
        with make(readat) as reader:  # type: ignore[operator]
            _use(reader)
        assert not readat.closed
        assert readat.read_at(0, 2) == path.read_bytes()[:2]
    reader = randread.open_archive(readat)
    tree = randread.Path(reader)
    tree.close()  # the reader was passed in: its owner's to close
    assert (tree / "a.txt").read_bytes() == FILES["a.txt"]
    reader.close()
    assert not readat.closed
    readat.close()
    assert _held(path) == []


@pytest.mark.parametrize("kind", ["zip", "bundle"])
def test_an_open_stream_keeps_the_source_until_it_is_closed(
    kind: str, zip_path: Path, bundle_path: Path
) -> None:
    path = zip_path if kind == "zip" else bundle_path
    reader = randread.open_archive(path)
    stream = reader.open("dir/b.bin")
    reader.close()
    with pytest.raises(randread.ClosedError):
        reader.open("a.txt")
    assert _held(path), "a stream still open needs the file"
    with stream:
        assert stream.read() == FILES["dir/b.bin"]
    assert _held(path) == []
