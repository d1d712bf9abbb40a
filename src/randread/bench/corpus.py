"""The files a benchmark reads: a directory, an archive, or the default corpus.

The default corpus is the running Python's own standard library ``.py`` files:
present on every machine, about two thousand small text files.
"""

from __future__ import annotations

import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from randread.archive import open_archive
from randread.readat import is_url

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Corpus", "default_corpus", "load_corpus"]


@dataclass(frozen=True, slots=True)
class Corpus:
    """Named contents, in a fixed order."""

    description: str
    names: list[str]
    contents: list[bytes]

    @property
    def total_size(self) -> int:
        """Sum of the content sizes."""
        return sum(len(data) for data in self.contents)

    def __len__(self) -> int:
        return len(self.names)


def default_corpus(limit: int | None = None) -> Corpus:
    """Return this Python's standard library ``.py`` files (site-packages excluded)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    paths = sorted(
        path
        for path in root.rglob("*.py")
        if "site-packages" not in path.parts and "dist-packages" not in path.parts
    )
    corpus = _from_paths(root, paths[:limit] if limit else paths)
    return Corpus(f"Python {sysconfig.get_python_version()} stdlib .py files", *corpus)


def load_corpus(
    sources: list[str],
    limit: int | None = None,
    *,
    storage_options: Mapping[str, Any] | None = None,
) -> Corpus:
    """Return the files under directories and the entries of archives in ``sources``.

    An archive may be a URL (``storage_options`` go to its filesystem).
    """
    names: list[str] = []
    contents: list[bytes] = []
    for source in sources:
        path = Path(source)
        if is_url(source):
            more_names, more_contents = _from_archive(source, storage_options)
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
            more_names, more_contents = _from_paths(path, found, prefix=f"{path.name}/")
        else:
            more_names, more_contents = _from_archive(os.fspath(path), None)
        names += more_names
        contents += more_contents
    if limit:
        names, contents = names[:limit], contents[:limit]
    unique = list(dict(zip(names, contents, strict=True)).items())  # the last of a name wins
    if not unique:
        msg = f"no files found in {', '.join(sources)}"
        raise ValueError(msg)
    return Corpus(", ".join(sources), [n for n, _ in unique], [c for _, c in unique])


def _from_paths(root: Path, paths: list[Path], prefix: str = "") -> tuple[list[str], list[bytes]]:
    names, contents = [], []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            continue  # unreadable files are not part of the corpus
        names.append(prefix + path.relative_to(root).as_posix())
        contents.append(data)
    return names, contents


def _from_archive(
    location: str, storage_options: Mapping[str, Any] | None
) -> tuple[list[str], list[bytes]]:
    with open_archive(location, storage_options=storage_options) as archive:
        names = [name for name in archive.namelist() if not name.endswith("/")]
        return names, archive.read_many(names)
