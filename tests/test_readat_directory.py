"""A directory given where an archive file is expected fails at open, as the OS says."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

import randread


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
