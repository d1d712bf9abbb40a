"""Path: zipfile.Path's interface over any randread archive (zip or bundle).

A :class:`Path` names a place in an archive: the root, a directory (its name
ends with ``/``) or a file. Directories need no entry of their own: ``a/b.txt``
implies ``a/``, as in :class:`zipfile.Path`. Names are taken as the archive
spells them: ``..`` is an ordinary directory name here, and names with a
leading ``/`` are not below the root (both as zipfile.Path treats them).

Every Path of one archive shares one immutable tree, built once when the first
Path is made from a reader; reading goes through the reader, so Paths may be
used from any number of threads.
"""

from __future__ import annotations

import io
import pathlib
import posixpath
import sys
from typing import IO, TYPE_CHECKING, Any

from randread.archive import open_archive
from randread.bundle.reader import BundleReader
from randread.cache import CachedReader
from randread.zip.reader import ZipReader

if sys.version_info >= (3, 11):
    from importlib.resources.abc import Traversable
else:  # pragma: no cover - Python 3.10
    from importlib.abc import Traversable

if TYPE_CHECKING:
    from collections.abc import Iterator

    from typing_extensions import Self

    from randread.protocol import ArchiveReader
    from randread.readat import Source

__all__ = ["Path"]


def _parent_key(name: str) -> str:
    """Return the directory key (no trailing ``/``) whose child ``name`` is."""
    return posixpath.dirname(name.rstrip("/"))


class _Tree:
    """The names of an archive with the directories they imply.

    ``children`` maps each directory (no trailing ``/``; the root is ``""``)
    to the names directly below it, in archive order, implied directories last.
    """

    __slots__ = ("children", "filename", "names", "owned", "reader")

    def __init__(
        self, reader: ArchiveReader[Any], filename: str | None, *, owned: bool = False
    ) -> None:
        self.reader = reader
        #: whether the Path opened the reader itself (and so closes it)
        self.owned = owned
        self.filename = filename
        entries = reader.namelist()
        names = dict.fromkeys(entries)
        implied: dict[str, None] = {}
        for name in entries:
            parent = _parent_key(name)
            while parent.rstrip("/"):
                directory = parent + "/"
                if directory in implied:
                    break  # and so are its parents
                if directory not in names:
                    implied[directory] = None
                parent = _parent_key(parent)
        children: dict[str, list[str]] = {}
        for name in (*names, *implied):
            children.setdefault(_parent_key(name), []).append(name)
        self.names = frozenset(names) | frozenset(implied)
        self.children = children

    def resolve(self, at: str) -> str:
        """Return ``at`` as a directory name (``a/``) when only that exists."""
        if at and not at.endswith("/") and at not in self.names and at + "/" in self.names:
            return at + "/"
        return at


class Path(Traversable):
    """A place in an archive, with :class:`zipfile.Path`'s interface.

    ``root`` is a :class:`~randread.ZipReader`, a :class:`~randread.BundleReader`,
    a :class:`~randread.CachedReader` (or anything with ``namelist()`` and
    ``open(name)``), or anything :func:`~randread.open_archive` opens: a path,
    bytes, or a :class:`~randread.ReadAt` such as a remote source. ``at`` is a
    name inside it (``""`` is the root). Paths are also
    :class:`importlib.resources.abc.Traversable`.
    """

    __slots__ = ("_tree", "at")

    _tree: _Tree
    at: str

    def __init__(self, root: ArchiveReader[Any] | Source | Path, at: str = "") -> None:
        if isinstance(root, Path):
            tree = root._tree  # noqa: SLF001 - same class
        elif isinstance(root, (ZipReader, BundleReader, CachedReader)) or (
            hasattr(root, "namelist") and hasattr(root, "open")
        ):
            tree = _Tree(root, _filename(root))  # type: ignore[arg-type]
        else:
            reader = open_archive(root)  # type: ignore[arg-type]
            try:
                tree = _Tree(reader, _filename(reader), owned=True)
            except BaseException:
                reader.close()
                raise
        self._tree = tree
        self.at = tree.resolve(at)

    def close(self) -> None:
        """Close the archive if this Path opened it (from a path, bytes or a ReadAt).

        A reader passed in is its owner's to close. Every Path derived from
        this one reads the same archive, and stops with it.
        """
        tree = self._tree
        if tree.owned:
            close = getattr(tree.reader, "close", None)
            if close is not None:
                close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- names ---------------------------------------------------------------

    @property
    def root(self) -> object:
        """The reader this Path reads from."""
        return self._tree.reader

    @property
    def name(self) -> str:
        """The last part of the name (the archive's file name at the root)."""
        return self._base().name

    @property
    def suffix(self) -> str:
        """The extension of :attr:`name`."""
        return self._base().suffix

    @property
    def suffixes(self) -> list[str]:
        """Every extension of :attr:`name`."""
        return self._base().suffixes

    @property
    def stem(self) -> str:
        """:attr:`name` without its extension."""
        return self._base().stem

    @property
    def filename(self) -> pathlib.Path:
        """The archive's file name joined with ``at``."""
        return pathlib.Path(self._tree.filename or "").joinpath(self.at)

    @property
    def parent(self) -> Path | pathlib.Path:
        """The directory holding this Path (at the root: the archive's directory)."""
        if not self.at:
            return self.filename.parent
        parent = _parent_key(self.at)
        return self._next(parent + "/" if parent else "")

    def _base(self) -> pathlib.PurePosixPath:
        return pathlib.PurePosixPath(self.at or self._tree.filename or "")

    def _next(self, at: str) -> Path:
        path = Path.__new__(Path)
        path._tree = self._tree  # noqa: SLF001 - same class
        path.at = at
        return path

    def joinpath(self, *other: str | pathlib.PurePath) -> Path:
        """Return the Path of ``other`` below this one (``a`` finds directory ``a/``)."""
        parts = [part.as_posix() if isinstance(part, pathlib.PurePath) else part for part in other]
        return self._next(self._tree.resolve(posixpath.join(self.at, *parts)))

    def __truediv__(self, other: str | pathlib.PurePath) -> Path:
        return self.joinpath(other)

    # -- queries -------------------------------------------------------------

    def exists(self) -> bool:
        """Tell whether an entry or an implied directory has this name."""
        return not self.at or self.at in self._tree.names

    def is_dir(self) -> bool:
        """Tell whether this is the root or an existing (maybe implied) directory."""
        return not self.at or (self.at.endswith("/") and self.at in self._tree.names)

    def is_file(self) -> bool:
        """Tell whether this is an existing entry that is not a directory."""
        return bool(self.at) and not self.at.endswith("/") and self.at in self._tree.names

    def is_symlink(self) -> bool:
        """Return False: archive members are never followed as links."""
        return False

    def iterdir(self) -> Iterator[Path]:
        """Yield the Paths directly below this directory, in archive order."""
        if not self.is_dir():
            msg = f"Can't listdir a file: {self.at!r} is not a directory of the archive"
            raise ValueError(msg)
        for name in self._tree.children.get(self.at.rstrip("/"), ()):
            yield self._next(name)

    # -- reading -------------------------------------------------------------

    def open(
        self, mode: str = "r", *args: object, pwd: bytes | None = None, **kwargs: object
    ) -> IO[Any]:
        """Open the entry for reading, in text (``"r"``) or binary (``"rb"``) mode.

        Binary mode gives the reader's file object; text mode wraps it in
        :class:`io.TextIOWrapper` (``encoding`` and the rest as for
        :func:`open`; no encoding means the locale's, as zipfile.Path).
        ``pwd`` is the password of an encrypted zip entry.
        """
        if self.is_dir():
            raise IsADirectoryError(self)
        if mode not in ("r", "rb"):
            msg = f"mode must be 'r' or 'rb', not {mode!r}: archives are read only"
            raise ValueError(msg)
        if not self.exists():
            raise FileNotFoundError(self)
        reader = self._tree.reader
        if pwd is not None and isinstance(reader, ZipReader):
            stream: IO[bytes] = reader.open(self.at, pwd=pwd)
        else:
            stream = reader.open(self.at)
        if mode == "rb":
            if args or kwargs:
                stream.close()
                msg = "encoding args invalid for binary operation"
                raise ValueError(msg)
            return stream
        encoding = kwargs.pop("encoding", args[0] if args else None)
        args = args[1:]
        return io.TextIOWrapper(
            stream,
            "locale" if encoding is None else encoding,  # type: ignore[arg-type]
            *args,  # type: ignore[arg-type]
            **kwargs,  # type: ignore[arg-type]
        )

    def read_text(self, *args: object, **kwargs: object) -> str:
        """Return the entry decoded as text (arguments as :func:`open`)."""
        with self.open("r", *args, **kwargs) as stream:  # type: ignore[arg-type]
            text: str = stream.read()
        return text

    def read_bytes(self) -> bytes:
        """Return the entry's content."""
        with self.open("rb") as stream:
            data: bytes = stream.read()
        return data

    # -- comparison and display ----------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Path):
            return NotImplemented
        return (self._tree, self.at) == (other._tree, other.at)

    def __hash__(self) -> int:
        return hash((id(self._tree), self.at))

    def __str__(self) -> str:
        return posixpath.join(self._tree.filename or "", self.at)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._tree.filename!r}, {self.at!r})"


def _filename(reader: object) -> str | None:
    if isinstance(reader, CachedReader):
        reader = reader.reader
    filename = getattr(reader, "filename", None)
    return filename if isinstance(filename, str) else None
