"""FileReadAt: the caller's file objects, descriptors, shrinking files, directories."""

from __future__ import annotations

import errno
import pickle
from pathlib import Path

import pytest

import randread
from tests.readat.sources import DATA, write_source


def test_file_readat_leaves_callers_file_open(tmp_path: Path) -> None:
    path = write_source(DATA, tmp_path)
    with path.open("rb") as file:
        source = randread.FileReadAt(file)
        assert source.read_at(5, 5) == DATA[5:10]
        source.close()
        assert not file.closed
        assert file.read(3) == DATA[:3]


def test_file_readat_releases_descriptor_on_close(tmp_path: Path) -> None:
    path = write_source(DATA, tmp_path)
    descriptors = Path("/proc/self/fd")
    if not descriptors.exists():
        pytest.skip("needs /proc/self/fd")
    before = len(list(descriptors.iterdir()))
    source = randread.FileReadAt(path)
    assert len(list(descriptors.iterdir())) == before + 1
    source.close()
    assert len(list(descriptors.iterdir())) == before


def test_file_readat_reports_a_shrunk_file(tmp_path: Path) -> None:
    path = write_source(DATA, tmp_path)
    with randread.FileReadAt(path) as source:
        path.write_bytes(DATA[:100])
        with pytest.raises(randread.OutOfBoundsError, match="shrank"):
            source.read_at(50, 100)


def test_pickle_of_file_object_reader_is_refused(tmp_path: Path) -> None:
    with (
        write_source(DATA, tmp_path).open("rb") as file,
        pytest.raises(TypeError, match="from a path"),
    ):
        pickle.dumps(randread.FileReadAt(file))


# -- a directory given where an archive file is expected fails at open, as the OS says


@pytest.mark.parametrize("backend", ["mmap", "pread"])
def test_a_directory_is_not_an_archive(tmp_path: Path, backend: str) -> None:
    with pytest.raises(IsADirectoryError) as caught:
        randread.ZipReader(tmp_path, backend=backend)  # type: ignore[arg-type]
    assert caught.value.errno == errno.EISDIR
    assert caught.value.filename == str(tmp_path)


@pytest.mark.parametrize("opener", [randread.MmapReadAt, randread.FileReadAt])
def test_readat_backends_refuse_a_directory(tmp_path: Path, opener: type) -> None:
    with pytest.raises(IsADirectoryError):
        opener(tmp_path)
