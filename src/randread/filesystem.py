"""An fsspec filesystem over one archive: protocol ``randread``, read-only.

The archive is a zip or a bundle that any fsspec URL names, local or remote,
so everything that speaks fsspec (pandas, pyarrow, xarray, Dask) reads its
entries::

    fsspec.open("randread://dir/a.csv::s3://bucket/data.rrb", s3={...})
    fsspec.filesystem("randread", fo="s3://bucket/data.zip", target_options={...})
    pandas.read_csv("randread://dir/a.csv::data.zip")

The protocol is registered through the ``fsspec.specs`` entry point. Entries
are files, the directories their names imply are directories; reads go
through :class:`~randread.ZipReader` or :class:`~randread.BundleReader`, so
one filesystem serves any number of threads, and ``cat`` of many paths is one
``read_many`` (over a remote archive: merged, concurrent range requests).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from fsspec.archive import AbstractArchiveFileSystem

from randread.archive import open_archive
from randread.bundle.reader import BundleReader
from randread.errors import BundleFormatError, ReadOnlyError, ZipFormatError
from randread.readat import is_url, redact_url
from randread.zip.reader import ZipReader

if TYPE_CHECKING:
    import io
    from collections.abc import Mapping

    from randread.protocol import EntryInfo

__all__ = ["ArchiveFileSystem"]


class ArchiveFileSystem(AbstractArchiveFileSystem):  # type: ignore[misc]
    """The entries of one zip or bundle as a read-only fsspec filesystem.

    ``fo`` is the archive: a URL or path (with ``target_protocol`` and
    ``target_options`` as fsspec's URL chaining passes them), or an open
    :class:`~randread.ZipReader` or :class:`~randread.BundleReader`.
    ``info`` reports each entry's ``size``, ``type``, ``checksum`` (CRC-32),
    ``codec`` (zip method or bundle codec) and ``compressed_size``.
    """

    protocol = "randread"
    root_marker = ""

    def __init__(
        self,
        fo: str | os.PathLike[str] | ZipReader | BundleReader = "",
        *,
        target_protocol: str | None = None,
        target_options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(fo, (ZipReader, BundleReader)):
            self.reader = fo
            self.fo = fo.filename or repr(fo)
        else:
            location = _archive_location(os.fspath(fo), target_protocol)
            self.fo = redact_url(location) if is_url(location) else location
            options = dict(target_options or {}) if is_url(location) else None
            try:
                self.reader = open_archive(location, storage_options=options)
            except (ZipFormatError, BundleFormatError) as exc:  # name the archive
                raise type(exc)(f"{self.fo}: {exc}") from None
        self.dir_cache: dict[str, dict[str, Any]] | None = None
        self._get_dirs()

    @classmethod
    def _strip_protocol(cls, path: str | list[str]) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(item) for item in path]
        return str(path).removeprefix("randread://").split("::", 1)[0].lstrip("/")

    def _get_dirs(self) -> None:
        if self.dir_cache is not None:
            return
        cache: dict[str, dict[str, Any]] = {}
        for info in self.reader.infolist():
            name = info.filename
            kind = "directory" if name.endswith("/") else "file"
            cache[name.rstrip("/")] = _describe(info, kind)
        for directory in self._all_dirnames(list(cache)):
            cache.setdefault(directory, {"name": directory, "size": 0, "type": "directory"})
        self.dir_cache = cache

    # -- reading ---------------------------------------------------------------

    def _entry_name(self, path: str) -> str:
        path = self._strip_protocol(path)
        info = self.info(path)
        if info["type"] == "directory":
            msg = f"{path!r} is a directory in {self.fo}"
            raise IsADirectoryError(msg)
        name: str = info["entry"]
        return name

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **_kwargs: Any
    ) -> bytes:
        """Return the content of one entry, or ``content[start:end]``."""
        data = self.reader.read(self._entry_name(path))
        return data if start is None and end is None else data[start:end]

    def cat(
        self,
        path: str | list[str],
        recursive: bool = False,
        on_error: str = "raise",
        **_kwargs: Any,
    ) -> bytes | dict[str, bytes | Exception]:
        """Return entries' contents: one path gives bytes, several a dict.

        The entries are read with one ``read_many`` call, so over a remote
        archive nearby entries share a request and requests run concurrently.
        """
        paths = self.expand_path(path, recursive=recursive)
        single = isinstance(path, str) and len(paths) == 1 and not self._has_magic(path)
        names: dict[str, str] = {}
        failures: dict[str, Exception] = {}
        for item in paths:
            if not single and self.isdir(item):
                continue  # what expanding a directory or a glob brings along
            try:
                names[item] = self._entry_name(item)
            except (FileNotFoundError, IsADirectoryError) as exc:
                if on_error == "raise" or single:
                    raise
                if on_error == "return":
                    failures[item] = exc
        contents = self.reader.read_many(list(names.values()))
        result: dict[str, bytes | Exception] = dict(zip(names, contents, strict=True))
        result.update(failures)
        if single:
            only = result[paths[0]]
            assert isinstance(only, bytes)  # noqa: S101 - failures raised above
            return only
        return result

    @staticmethod
    def _has_magic(path: str) -> bool:
        return any(character in path for character in "*?[")

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,  # noqa: ARG002 - fsspec's signature
        autocommit: bool = True,  # noqa: ARG002 - fsspec's signature
        cache_options: dict[str, Any] | None = None,  # noqa: ARG002 - fsspec's signature
        **_kwargs: Any,
    ) -> io.BufferedReader:
        if mode != "rb":
            raise _read_only(f"open {path!r} with mode {mode!r}")
        return self.reader.open(self._entry_name(path))

    # -- writing: refused ------------------------------------------------------------

    def _refuse(self, *args: Any, **_kwargs: Any) -> None:
        raise _read_only(f"change {args[0]!r}" if args else "change it")

    mkdir = makedirs = rmdir = rm_file = _rm = rm = _refuse
    pipe_file = put_file = cp_file = mv = touch = _refuse

    def __repr__(self) -> str:
        return f"<randread.ArchiveFileSystem {self.fo!r}>"

    __str__ = __repr__


def _archive_location(fo: str, target_protocol: str | None) -> str:
    """Put back the protocol that fsspec's URL chaining strips from ``fo``."""
    if not target_protocol or target_protocol == "file" or "://" in fo or "::" in fo:
        return fo
    return f"{target_protocol}://{fo}"


def _describe(info: EntryInfo, kind: str) -> dict[str, Any]:
    return {
        "name": info.filename.rstrip("/"),
        "entry": info.filename,
        "type": kind,
        "size": info.file_size,
        "compressed_size": info.compress_size,
        "checksum": info.CRC,
        "codec": info.codec,
    }


def _read_only(what: str) -> ReadOnlyError:
    return ReadOnlyError(f"randread archives are read-only: cannot {what}")
