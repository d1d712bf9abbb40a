"""randread.Path: zipfile.Path's interface over zips and bundles alike."""

from __future__ import annotations

import io
import pickle
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path as FsPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import randread
from tests.conftest import run_threads

if sys.version_info >= (3, 11):
    from importlib.resources.abc import Traversable
else:
    from importlib.abc import Traversable

FILES = {
    "a.txt": b"alpha\n",
    "b/c.txt": b"charlie\n",
    "b/d/e.bin": b"\x00\x01echo",
    "b/f.tar.gz": b"fox",
    "g/": b"",
    "g/h.txt": "hotel \u00e9\n".encode(),
}


def make_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def make_bundle(tmp_path: FsPath, files: dict[str, bytes]) -> FsPath:
    path = tmp_path / "archive.bundle"
    with randread.BundleWriter(path, codec="zstd") as writer:
        for name, data in files.items():
            writer.add(name, data)
    return path


@pytest.fixture(params=["zip-reader", "zip-path", "zip-bytes", "bundle-reader", "bundle-path"])
def root(request: pytest.FixtureRequest, tmp_path: FsPath) -> Iterator[randread.Path]:
    kind = request.param
    if kind.startswith("zip"):
        data = make_zip(FILES)
        path = tmp_path / "archive.zip"
        path.write_bytes(data)
        if kind == "zip-reader":
            with randread.ZipReader(path) as reader:
                yield randread.Path(reader)
            return
        yield randread.Path(data if kind == "zip-bytes" else path)
        return
    path = make_bundle(tmp_path, FILES)
    if kind == "bundle-reader":
        with randread.BundleReader(path) as bundle:
            yield randread.Path(bundle)
        return
    yield randread.Path(path)


def names(paths: object) -> list[str]:
    return [path.at for path in paths]  # type: ignore[attr-defined]


def test_root_lists_files_and_implied_directories(root: randread.Path) -> None:
    assert root.is_dir()
    assert not root.is_file()
    assert root.exists()
    assert names(root.iterdir()) == ["a.txt", "g/", "b/"]
    assert names((root / "b").iterdir()) == ["b/c.txt", "b/f.tar.gz", "b/d/"]
    assert names(root.joinpath("b", "d").iterdir()) == ["b/d/e.bin"]


def test_directories_files_and_missing_names(root: randread.Path) -> None:
    implied = root / "b"
    assert implied.at == "b/"
    assert implied.is_dir()
    assert not implied.is_file()
    explicit = root / "g"
    assert explicit.at == "g/"
    assert explicit.is_dir()
    file = root / "b" / "c.txt"
    assert file.is_file()
    assert not file.is_dir()
    assert file.exists()
    missing = root / "nope" / "x.txt"
    assert not missing.exists()
    assert not missing.is_file()
    assert not missing.is_dir()
    with pytest.raises(FileNotFoundError):
        missing.read_bytes()
    with pytest.raises(IsADirectoryError):
        implied.open()
    with pytest.raises(ValueError, match="listdir"):
        list(file.iterdir())


def test_names_and_parents(root: randread.Path) -> None:
    file = root / "b/f.tar.gz"
    assert file.name == "f.tar.gz"
    assert file.suffix == ".gz"
    assert file.suffixes == [".tar", ".gz"]
    assert file.stem == "f.tar"
    assert file.parent == root / "b"
    assert file.parent.parent == root
    assert (root / "b/d/").name == "d"
    assert str(file).endswith("b/f.tar.gz")
    assert "b/f.tar.gz" in repr(file)
    assert file == root.joinpath("b").joinpath("f.tar.gz")
    assert len({file, root / "b" / "f.tar.gz"}) == 1
    assert file != root / "a.txt"


def test_open_in_text_and_binary_mode(root: randread.Path) -> None:
    file = root / "g" / "h.txt"
    assert file.read_bytes() == FILES["g/h.txt"]
    assert file.read_text(encoding="utf-8") == "hotel \u00e9\n"
    with file.open("r", encoding="utf-8") as text:
        assert text.readline() == "hotel \u00e9\n"
    with file.open("rb") as binary:
        assert binary.read(5) == b"hotel"
    with pytest.raises(ValueError, match="binary"):
        file.open("rb", encoding="utf-8")
    with pytest.raises(ValueError, match="read only"):
        file.open("w")


def test_path_is_a_traversable(root: randread.Path) -> None:
    assert isinstance(root, Traversable)
    # What importlib.resources does with a Traversable.
    child = root.joinpath("b").joinpath("c.txt")
    assert child.read_bytes() == FILES["b/c.txt"]
    assert [p.name for p in root.iterdir() if p.is_file()] == ["a.txt"]


def test_names_with_dots_and_leading_slashes_as_zipfile_path() -> None:
    files = {
        "/one-slash.txt": b"1",
        "//two-slash.txt": b"2",
        "../parent.txt": b"p",
        "x/../y.txt": b"y",
    }
    data = make_zip(files)
    ours = randread.Path(data)
    # zipfile.Path before 3.12 loops forever on a name starting with "//".
    del files["//two-slash.txt"]
    theirs = zipfile.Path(zipfile.ZipFile(io.BytesIO(make_zip(files))))
    assert names(ours.iterdir()) == [p.at for p in theirs.iterdir()]
    assert names(ours.iterdir()) == ["../", "x/"]
    assert ours.joinpath("..").joinpath("parent.txt").read_bytes() == b"p"
    assert ours.joinpath("x", "..", "y.txt").read_bytes() == b"y"
    assert names((ours / "x" / "..").iterdir()) == ["x/../y.txt"]


def test_encrypted_zip_entry_reads_with_pwd() -> None:
    from tests.zipbuilder import Archive, Entry  # noqa: PLC0415

    data = Archive([Entry("secret.txt", b"hidden", password=b"pw")]).build()
    path = randread.Path(randread.ZipReader(data)) / "secret.txt"
    with pytest.raises(randread.EncryptionError):
        path.read_bytes()
    with path.open("rb", pwd=b"pw") as stream:
        assert stream.read() == b"hidden"


def test_cached_reader_root(tmp_path: FsPath) -> None:
    bundle = randread.BundleReader(make_bundle(tmp_path, FILES))
    with randread.CachedReader(bundle, max_bytes=1 << 20) as cached:
        root = randread.Path(cached)
        assert (root / "b" / "c.txt").read_bytes() == FILES["b/c.txt"]
        assert root.name == "archive.bundle"


def test_paths_from_many_threads(root: randread.Path) -> None:
    expected = {name: data for name, data in FILES.items() if not name.endswith("/")}

    def work(index: int) -> None:
        for _ in range(20):
            for name, data in expected.items():
                assert root.joinpath(name).read_bytes() == data
            assert len(names(root.iterdir())) == 3 + index * 0

    run_threads(8, work, timeout=60)


def test_pickled_reader_root_still_works(tmp_path: FsPath) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(make_zip(FILES))
    with pickle.loads(pickle.dumps(randread.ZipReader(path))) as reader:
        assert (randread.Path(reader) / "a.txt").read_bytes() == FILES["a.txt"]


segment = st.sampled_from(["a", "b", "c", "..", ".", "d.txt", ""])
# zipfile cannot write an empty name, and its Path before 3.12 loops forever
# on a name starting with "//".
entry_names = st.lists(
    st.lists(segment, min_size=1, max_size=4)
    .map("/".join)
    .filter(lambda name: name and not name.startswith("//")),
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(entry_names)
def test_tree_matches_zipfile_path(entries: list[str]) -> None:
    """Every directory lists what zipfile.Path lists, in the same order."""
    files = {name: name.encode() for name in dict.fromkeys(entries)}
    data = make_zip(files)
    ours = randread.Path(data)
    theirs = zipfile.Path(zipfile.ZipFile(io.BytesIO(data)))
    pending = [(ours, theirs)]
    seen = set()
    while pending:
        mine, reference = pending.pop()
        if mine.at in seen:  # "/" lists the root again, in both
            continue
        seen.add(mine.at)
        assert mine.is_dir() == reference.is_dir(), mine.at
        if not reference.is_dir():
            assert mine.read_bytes() == reference.read_bytes()
            continue
        mine_children = list(mine.iterdir())
        reference_children = list(reference.iterdir())
        assert names(mine_children) == [p.at for p in reference_children], mine.at
        pending.extend(zip(mine_children, reference_children, strict=True))
