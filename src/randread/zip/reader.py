"""ZipReader: a thread-safe, seek-free zip reader on ReadAt.

Everything parsed at open is immutable; a read touches only the ReadAt and
state local to the call, so one reader serves any number of threads with no
lock on the read path.
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np

from randread._core.batch import fetches_ranges, writable_target
from randread._core.errors import closed_error
from randread._core.lazy import OpenOnFirstUse
from randread._core.source import Source
from randread._extract import extract_entry
from randread.errors import (
    ClosedError,
    EncryptionError,
    UnsupportedFeatureError,
    ZipFormatError,
)
from randread.readat import (
    ReadAt,
    SectionReadAt,
    open_readat,
    source_name,
)
from randread.zip import records as rec
from randread.zip.batch import ZipBatches
from randread.zip.directory import CentralDirectoryEntry, read_directory
from randread.zip.index import load_directory
from randread.zip.infos import Infos, ZipEntryInfo
from randread.zip.local import (
    entry_errors,
    entry_span,
    has_aes_extra,
    local_data_offset,
    short_read_error,
    unsupported_encryption,
)
from randread.zip.methods import (
    ChecksumMismatchError,
    DecodeError,
    Method,
    crc32,
    get_method,
    method_name,
)
from randread.zip.stream import ZipExtFile, open_member

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from _typeshed import SupportsWrite
    from typing_extensions import Buffer

    from randread.readat import Source as ArchiveSource

    #: A memo entry of ``ZipReader.read``'s hot path: where the data of an
    #: entry whose checks have passed starts and ends, its size, its CRC-32, the
    #: method's ``read_checked`` and the entry (for error messages).
    _Ready: TypeAlias = tuple[
        int, int, int, int, Callable[[memoryview, int, int], bytes], int, CentralDirectoryEntry
    ]

__all__ = ["ZipEntryInfo", "ZipExtFile", "ZipReader"]

_ENCRYPTED = rec.FLAG_ENCRYPTED
_STORED = rec.METHOD_STORED
_UNSUPPORTED_FLAGS = rec.FLAG_STRONG_ENCRYPTION | rec.FLAG_COMPRESSED_PATCHED
#: names whose checked (entry, data offset, method) ``read`` keeps at hand;
#: past this many the memo starts over (the data offsets themselves stay known)
_READY_LIMIT = 1 << 17


Member = str | zipfile.ZipInfo

#: compression methods zipfile.ZipFile accepts as its ``compression`` argument
_ZIPFILE_COMPRESSIONS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)


class ZipReader(zipfile.ZipFile, OpenOnFirstUse, ZipBatches):
    """Read a zip archive from any number of threads at once.

    ``source`` is a path (memory-mapped; ``backend="pread"`` reads with
    ``os.pread`` instead), a bytes-like object, a binary file object, or any
    :class:`~randread.ReadAt`. The reader is a :class:`zipfile.ZipFile` for
    reading: it takes zipfile's constructor arguments (``mode`` must be
    ``"r"``; ``compression``, ``allowZip64``, ``compresslevel`` and
    ``strict_timestamps`` only matter for writing and are checked, then
    ignored) and has its reading API: ``namelist``, ``infolist``, ``getinfo``,
    ``read``, ``open``, ``testzip``, ``extract``, ``extractall``, ``printdir``,
    ``setpassword``, ``comment``, ``filelist``, ``NameToInfo``, ``fp``,
    ``pwd``, ``filename``, ``mode``. It is a subclass of zipfile.ZipFile that
    shares none of its state: no lock and no file position, so
    ``isinstance(reader, zipfile.ZipFile)`` holds and ``zipfile.Path(reader)``
    works.

    ``index_cache`` names a directory in which the parsed central directory
    is kept (one index file per archive, see ``formats/zip-index.md``), so
    that later opens of a big archive skip the parse; an index is used only
    when it matches the archive's size, end records and modification time
    (ETag or version for a URL), and is rebuilt otherwise.

    Names without the UTF-8 flag are decoded with ``metadata_encoding``
    (default cp437, as zipfile). Errors in the archive raise
    :class:`~randread.ZipFormatError` (a :class:`zipfile.BadZipFile`) naming the
    entry, the record and the offset.

    ``close()`` closes what the reader opened (a memory map, a file, remote
    connections). A :class:`~randread.ReadAt` or file object passed in stays
    open, unless ``close_source=True`` hands it to the reader.
    """

    _closed_kind = "ZIP archive"
    # zipfile.ZipFile's public attributes that mean nothing for a reader
    debug = 0
    mode = "r"
    # Set for real by __init__; here so that close() (and zipfile.ZipFile's
    # __del__, which calls it) work on a reader whose __init__ failed.
    _source: Source

    def __init__(
        self,
        source: ArchiveSource,
        mode: str = "r",
        compression: int = zipfile.ZIP_STORED,
        allowZip64: bool = True,  # noqa: N803 - zipfile's name
        compresslevel: int | None = None,
        *,
        strict_timestamps: bool = True,
        metadata_encoding: str | None = None,
        pwd: bytes | None = None,
        backend: Literal["mmap", "pread"] = "mmap",
        storage_options: Mapping[str, Any] | None = None,
        index_cache: str | os.PathLike[str] | None = None,
        close_source: bool = False,
    ) -> None:
        del allowZip64, compresslevel, strict_timestamps  # writing options
        if mode != "r":
            msg = f"ZipReader only reads: mode must be 'r', not {mode!r} (use zipfile to write)"
            raise ValueError(msg)
        if compression not in _ZIPFILE_COMPRESSIONS:
            msg = f"compression method {compression!r} is not supported"
            raise NotImplementedError(msg)
        readat = open_readat(source, backend=backend, storage_options=storage_options)
        owns_readat = close_source or readat is not source
        # zipfile's filename: the path (a URL without credentials), or the
        # name of a file object passed in.
        filename: object = source_name(source)
        passed: object = None
        if readat is not source and not isinstance(
            source, (str, os.PathLike, bytes, bytearray, memoryview)
        ):
            passed = source
            filename = getattr(source, "name", None)
        self.filename: str | None = filename if isinstance(filename, str) else None
        self._passed_file = passed
        self._metadata_encoding = metadata_encoding
        self._index_cache = index_cache
        try:
            if index_cache is None:
                directory = read_directory(readat, metadata_encoding=metadata_encoding)
            else:
                directory = load_directory(readat, index_cache, metadata_encoding=metadata_encoding)
        except BaseException:
            if owns_readat:
                readat.close()
            raise
        self._source_size = readat.size
        self._source = Source(readat, owned=owns_readat, closed_error=_closed_error)
        # The read hot path's copy of the source's per-thread views (None once closed).
        self._whole = self._source.whole
        self._local = not fetches_ranges(readat)
        self._directory = directory
        # Per entry, where its data starts once every check of ``_prepare`` has
        # passed for it (-1 before); see there.
        self._data_offsets = np.full(len(directory), -1, dtype=np.int64)
        self._data_offset_view = self._data_offsets.data
        # name -> what ``read`` needs of an entry read by name before: the hot
        # path of ``read``. Later entries win, as in zipfile's NameToInfo.
        self._ready: dict[str, _Ready] = {}
        self._infos = Infos(directory)
        self._pwd: bytes | None = None
        if pwd is not None:
            self.setpassword(pwd)

    @property
    def _index_status(self) -> str | None:
        """The index cache status: "hit", "built" or "rebuilt" (see randread.zip.index)."""
        return self._directory.index_status

    def __setattr__(self, name: str, value: object) -> None:
        # zipfile.Path(reader) turns its ZipFile into one of zipfile's own
        # subclasses (adding implied directories to namelist) by assigning
        # __class__. Those subclasses call ZipFile's methods through super(), so
        # the reader becomes a class that puts them in front of ZipReader.
        if (
            name == "__class__"
            and isinstance(value, type)
            and issubclass(value, zipfile.ZipFile)
            and not issubclass(value, ZipReader)
        ):
            self._open_now()  # an unpickled reader opens before it changes class
            value = _with_reader(value)
        object.__setattr__(self, name, value)

    # -- zipfile-compatible metadata ----------------------------------------

    @property
    def comment(self) -> bytes:
        """The archive comment (from the end of central directory record)."""
        return self._directory.comment

    @comment.setter
    def comment(self, comment: bytes) -> None:  # noqa: ARG002 - refused whatever the value
        msg = "the archive comment can only be changed when writing (use zipfile)"
        raise ValueError(msg)

    @property
    def source_size(self) -> int:
        """The size of the archive's source in bytes (readable after ``close()``)."""
        return self._source_size

    def source_head(self, size: int) -> bytes:
        """Return the first ``size`` bytes of the source (fewer if it is shorter).

        For what some tools put before the zip's first record: Sentry's SYSB
        header, a self-extractor stub (see :attr:`base_offset`).
        """
        readat = self._source.readat
        return readat.read_at(0, min(max(size, 0), readat.size))

    @property
    def base_offset(self) -> int:
        """Bytes of data before the archive (e.g. a self-extractor stub).

        Negative when the recorded offsets count bytes that are not in the
        source (a zip cut out of a larger file).
        """
        return self._directory.base_offset

    @property
    def fp(self) -> object:  # type: ignore[override]
        """The file object passed in (else the ReadAt read from); None once closed."""
        try:
            self._open_now()
        except ClosedError:
            return None
        source = self.__dict__.get("_source")
        if source is None or source.closed:
            return None
        return self._passed_file if self._passed_file is not None else source.readat

    @property
    def pwd(self) -> bytes | None:
        """The default password for encrypted entries (see :meth:`setpassword`)."""
        return self._pwd

    @pwd.setter
    def pwd(self, pwd: bytes | None) -> None:
        self.setpassword(pwd)

    @property
    def filelist(self) -> list[zipfile.ZipInfo]:  # type: ignore[override]
        """The ZipInfo of every entry, in central directory order (zipfile's list)."""
        return self._infos.all()  # type: ignore[return-value]

    @property
    def NameToInfo(self) -> dict[str, zipfile.ZipInfo]:  # type: ignore[override]  # noqa: N802
        """Name to ZipInfo; of entries sharing a name, the last (zipfile's dict)."""
        return self._infos.by_name()  # type: ignore[return-value]

    def namelist(self) -> list[str]:
        """Return the entry names in central directory order."""
        return self._directory.name_list()

    def infolist(self) -> list[ZipEntryInfo]:  # type: ignore[override]
        """Return a :class:`ZipEntryInfo` (a zipfile.ZipInfo) per entry, in directory order.

        As zipfile, the list returned is the reader's own (``filelist``).
        """
        return self._infos.all()

    def getinfo(self, name: str) -> ZipEntryInfo:
        """Return the :class:`ZipEntryInfo` of ``name``; ``KeyError`` when there is none."""
        return self._infos.one(self._entry(name).ordinal)

    def printdir(self, file: SupportsWrite[str] | None = None) -> None:
        """Print a table of the entries (name, modification time, size), as zipfile does."""
        out = sys.stdout if file is None else file
        out.write(f"{'File Name':<46} {'Modified    ':>19} {'Size':>12}\n")
        for info in self._infos.all():
            year, month, day, hour, minute, second = info.date_time[:6]
            modified = f"{year}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}"
            out.write(f"{info.filename:<46} {modified} {info.file_size:>12}\n")

    def setpassword(self, pwd: bytes | None) -> None:
        """Set the default password for encrypted entries."""
        self._pwd = _check_password(pwd) or None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._ready or self._directory.find(name) >= 0)

    def __len__(self) -> int:
        return len(self._directory)

    def __iter__(self) -> Iterator[str]:
        return iter(self._directory.name_list())

    def __repr__(self) -> str:
        cls = type(self).__dict__.get("_unopened_of", type(self))
        name = "randread.ZipReader" if cls is ZipReader else f"{cls.__module__}.{cls.__qualname__}"
        deferred = self._deferred_arguments()
        if deferred is not None:
            return f"<{name} source={type(deferred[0][0]).__name__} [opens on first use]>"
        source = self.__dict__.get("_source")
        if source is None or source.closed:
            return f"<{name} [closed]>"
        if self._passed_file is not None:
            where = f" file={self._passed_file!r}"
        elif self.filename is not None:
            where = f" filename={self.filename!r}"
        else:
            where = f" source={type(source.readat).__name__}"
        return f"<{name}{where} mode={self.mode!r} entries={len(self._directory)}>"

    # -- writing: refused, as zipfile refuses it in mode "r" -----------------

    def write(self, *args: object, **kwargs: object) -> None:  # noqa: ARG002 - refused
        """Refuse: a reader does not write (``ValueError``, as zipfile in mode "r")."""
        raise _read_only("write")

    def writestr(self, *args: object, **kwargs: object) -> None:  # noqa: ARG002 - refused
        """Refuse: a reader does not write (``ValueError``, as zipfile in mode "r")."""
        raise _read_only("writestr")

    def mkdir(self, *args: object, **kwargs: object) -> None:  # noqa: ARG002 - refused
        """Refuse: a reader does not write (``ValueError``, as zipfile in mode "r")."""
        raise _read_only("mkdir")

    # -- reading ---------------------------------------------------------------

    def read(self, name: Member, pwd: bytes | None = None) -> bytes:
        """Return the content of ``name``, checked against its CRC-32."""
        # The hot path: a name read before, of an entry that passed its
        # checks then (see _prepare), needs only decoding and CRC. Everything
        # it needs is in the name's memo, and over a source in memory the data
        # is a slice of this thread's own view of it: about 1 µs a read less
        # than going through _decode and view_at.
        ready = self._ready.get(name) if isinstance(name, str) else None
        if ready is not None:
            data_offset, data_end, size, crc, read_checked, _, entry = ready
            whole = self._whole
            if whole is not None:
                compressed = whole.view[data_offset:data_end]
            else:
                compressed = self._source.readat.view_at(data_offset, data_end - data_offset)
            try:
                return read_checked(compressed, size, crc)
            except ChecksumMismatchError as exc:
                raise entry_errors(entry, data_offset).checksum(exc.actual) from None
            except DecodeError as exc:
                raise entry_errors(entry, data_offset).problem(exc) from None
        entry = self._entry(name)
        data = self._read_entry(entry, pwd)
        offset = self._data_offset_view[entry.ordinal]
        if isinstance(name, str) and offset >= 0:
            ready_names = self._ready
            if len(ready_names) >= _READY_LIMIT:
                ready_names.clear()
            ready_names[name] = (
                offset,
                offset + entry.compressed_size,
                entry.uncompressed_size,
                entry.crc32,
                get_method(entry.method).read_checked,
                0 if entry.method == _STORED else entry.uncompressed_size,
                entry,
            )
        return data

    def _read_entry(
        self, entry: CentralDirectoryEntry, pwd: bytes | None, span: memoryview | None = None
    ) -> bytes:
        readat, data_offset, method, password, data = self._prepare(
            entry, pwd, with_data=True, span=span
        )
        if password is not None:
            with self._open_entry(entry, pwd) as stream:
                return stream.read()
        return self._decode(entry, readat, data_offset, method, data)

    def _decode(
        self,
        entry: CentralDirectoryEntry,
        readat: ReadAt,
        data_offset: int,
        method: Method,
        compressed: memoryview | None = None,
    ) -> bytes:
        """Decode an unencrypted entry whose checks have passed; check its CRC-32."""
        if compressed is None:
            compressed = readat.view_at(data_offset, entry.compressed_size)
        try:
            return method.read_checked(compressed, entry.uncompressed_size, entry.crc32)
        except ChecksumMismatchError as exc:
            raise entry_errors(entry, data_offset).checksum(exc.actual) from None
        except DecodeError as exc:
            raise entry_errors(entry, data_offset).problem(exc) from None

    def read_into(self, name: Member, buffer: Buffer, pwd: bytes | None = None) -> int:
        """Read the content of ``name`` into ``buffer``; return the byte count.

        ``buffer`` must be writable and at least the entry's size. Stored
        entries are copied straight from the archive with no intermediate copy.
        """
        entry = self._entry(name)
        size = entry.uncompressed_size
        with memoryview(buffer) as target:
            target_bytes = writable_target(target, size, "read_into")
            if entry.method == _STORED and not entry.flags & _ENCRYPTED:
                readat, data_offset, _, _, stored = self._prepare(entry, pwd, with_data=True)
                if stored is None:
                    stored = readat.view_at(data_offset, size)
                if len(stored) != size:
                    raise short_read_error(entry, "data", data_offset, len(stored), size)
                target_bytes[:size] = stored
                actual = crc32(target_bytes[:size])
                if actual != entry.crc32:
                    raise entry_errors(entry, data_offset).checksum(actual)
            else:
                target_bytes[:size] = self._read_entry(entry, pwd)
        return size

    def open(
        self,
        name: Member,
        mode: str = "r",
        pwd: bytes | None = None,
        *,
        force_zip64: bool = False,
    ) -> ZipExtFile:
        """Return a read-only, seekable binary file object for ``name``.

        The file object has its own position and decompresses as it is read;
        the CRC-32 is checked when the last byte has been read. Seeking
        backwards in a compressed entry restarts decompression (as zipfile does).
        It stays readable after the reader is closed, until it is closed itself.
        ``force_zip64`` only matters for writing, as in zipfile.
        """
        del force_zip64
        if mode != "r":
            msg = f'open() requires mode "r", not {mode!r} (a ZipReader does not write)'
            raise ValueError(msg)
        return self._open_entry(self._entry(name), pwd)

    def _open_entry(self, entry: CentralDirectoryEntry, pwd: bytes | None) -> ZipExtFile:
        _, data_offset, _, password, _ = self._prepare(entry, pwd)
        source = self._source
        readat = source.acquire()
        try:
            return open_member(
                source,
                readat,
                entry,
                entry_errors(entry, data_offset),
                data_offset=data_offset,
                password=password,
            )
        except BaseException:
            source.release()
            raise

    def entry_readat(self, name: Member) -> SectionReadAt:
        """Return a stored, unencrypted entry as a zero-copy ReadAt window.

        No CRC check happens on reads through the window; call ``read`` or
        ``testzip`` for that.
        """
        entry = self._entry(name)
        if entry.flags & _ENCRYPTED or entry.method != _STORED:
            msg = (
                f"entry {entry.name!r} is "
                + (
                    "encrypted"
                    if entry.flags & _ENCRYPTED
                    else f"compressed ({method_name(entry.method)})"
                )
                + "; entry_readat needs a stored, unencrypted entry"
            )
            raise UnsupportedFeatureError(msg, method=entry.method)
        readat, data_offset, _, _, _ = self._prepare(entry, None)
        return SectionReadAt(readat, data_offset, entry.uncompressed_size)

    def testzip(self) -> str | None:
        """Read every entry; return the name of the first bad one, or None."""
        for entry in self._all_entries():
            try:
                with self._open_entry(entry, None) as stream:
                    while stream.read(1 << 20):
                        pass
            except ZipFormatError:
                return entry.name
        return None

    # -- extraction ----------------------------------------------------------

    def extract(
        self, member: Member, path: str | os.PathLike[str] | None = None, pwd: bytes | None = None
    ) -> str:
        """Extract one entry under ``path`` (default: the current directory).

        Names are made safe as zipfile does: drive letters, leading slashes and
        ``..`` components are dropped, so nothing is written outside ``path``.
        Symbolic links are written as regular files holding the link target,
        never created as links. Returns the path written: ``path`` joined with
        the safe name and normalised, as zipfile returns it.
        """
        entry = self._entry(member)
        return self._extract(entry, Path(Path.cwd() if path is None else path), pwd)

    def extractall(
        self,
        path: str | os.PathLike[str] | None = None,
        members: Iterable[str | zipfile.ZipInfo] | None = None,
        pwd: bytes | None = None,
    ) -> None:
        """Extract all entries (or ``members``) under ``path``; see :meth:`extract`."""
        root = Path(Path.cwd() if path is None else path)
        selected = self._all_entries() if members is None else [self._entry(m) for m in members]
        for entry in selected:
            self._extract(entry, root, pwd)

    def _extract(self, entry: CentralDirectoryEntry, root: Path, pwd: bytes | None) -> str:
        return extract_entry(entry.name, root, lambda: self._open_entry(entry, pwd), ZipFormatError)

    # -- lifetime ------------------------------------------------------------

    def close(self) -> None:
        """Close the reader.

        The source is closed (if the reader opened it) once every file object
        that ``open()`` returned is closed too.
        """
        if self._close_unopened():
            return
        source = self.__dict__.get("_source")
        if source is not None:
            self._whole = None
            source.close()

    def _reopen_arguments(self) -> tuple[tuple[object, ...], dict[str, object]]:
        options: dict[str, object] = {
            "metadata_encoding": self._metadata_encoding,
            "pwd": self._pwd,
            "index_cache": self._index_cache,
            "close_source": True,  # the unpickled ReadAt is the reader's
        }
        return (self._source.readat,), options

    # -- internals -------------------------------------------------------------

    def _all_entries(self) -> Iterator[CentralDirectoryEntry]:
        return self._directory.entries()

    def _entry(self, member: object) -> CentralDirectoryEntry:
        directory = self._directory
        if isinstance(member, str):
            ready = self._ready.get(member)
            if ready is not None:
                return ready[-1]
            ordinal = directory.find(member)
            if ordinal < 0:
                msg = f"There is no item named {member!r} in the archive"
                raise KeyError(msg)
            return directory.entry(ordinal)
        if isinstance(member, ZipEntryInfo):
            index = member.index
            if index < len(directory):
                entry = directory.entry(index)
                if entry.name == member.filename:
                    return entry
        if isinstance(member, zipfile.ZipInfo):
            entry = self._entry(member.filename)
            if entry.header_offset != member.header_offset:
                # Of entries sharing a name, the one this ZipInfo describes
                # (zipfile reads at the info's header offset).
                for ordinal in directory.find_all(entry.name):
                    other = directory.entry(ordinal)
                    if other.header_offset == member.header_offset:
                        return other
            return entry
        msg = f"expected an entry name or a ZipInfo, not {type(member).__name__}"
        raise TypeError(msg)

    def _prepare(
        self,
        entry: CentralDirectoryEntry,
        pwd: bytes | None,
        *,
        with_data: bool = False,
        span: memoryview | None = None,
    ) -> tuple[ReadAt, int, Method, bytes | None, memoryview | None]:
        """Everything a read checks before touching data, cheapest first.

        Returns the ReadAt, where the data starts, the method, the password
        (None for an unencrypted entry) and, when ``with_data`` is set or
        ``span`` (the bytes from the local header on) holds them, the entry's
        data; the local header and the data then take one read.
        """
        readat = self._source.readat
        known = self._data_offset_view[entry.ordinal]
        if known >= 0 and span is None:
            return readat, known, get_method(entry.method), None, None
        if entry.flags & _UNSUPPORTED_FLAGS or entry.method == rec.METHOD_AES:
            raise unsupported_encryption(entry)
        try:
            method = get_method(entry.method)
        except UnsupportedFeatureError as exc:
            msg = f"entry {entry.name!r}: {exc}"
            raise UnsupportedFeatureError(msg, method=entry.method) from None
        password = None
        if entry.flags & _ENCRYPTED:
            if has_aes_extra(self._directory.central_directory, entry):
                raise unsupported_encryption(entry)
            password = _check_password(pwd if pwd is not None else self._pwd)
            if not password:
                msg = f"File {entry.name!r} is encrypted, password required for extraction"
                raise EncryptionError(msg)
        if span is None:
            start, length = entry_span(readat, entry, with_data=with_data)
            span = readat.view_at(start, length)
        data_offset = local_data_offset(readat, entry, span, self._metadata_encoding)
        data_start = data_offset - entry.header_offset
        data: memoryview | None = span[data_start : data_start + entry.compressed_size]
        if len(span) < data_start + entry.compressed_size:  # the span ended early
            data = None  # the data is read apart
        if password is None:
            # Every check above depends only on the entry and on archive bytes
            # that the reader takes as immutable after open (as it does the
            # central directory), so an unencrypted entry that passed them once
            # skips them on later reads; the CRC-32 still checks every read.
            # Threads racing here store equal values into one aligned 8-byte
            # slot: no lock is needed.
            self._data_offset_view[entry.ordinal] = data_offset
        return readat, data_offset, method, password, data


def _check_password(pwd: object) -> bytes | None:
    if pwd is not None and not isinstance(pwd, bytes):
        msg = f"pwd: expected bytes, got {type(pwd).__name__}"
        raise TypeError(msg)
    return pwd


def _closed_error() -> ClosedError:
    return closed_error("ZIP archive")


def _read_only(operation: str) -> ValueError:
    return ValueError(f"{operation}() requires mode 'w', 'x', or 'a'; a ZipReader only reads")


#: zipfile's subclass -> the class with its methods in front of ZipReader's
_READER_CLASSES: dict[type[zipfile.ZipFile], type[ZipReader]] = {}


def _with_reader(zipfile_class: type[zipfile.ZipFile]) -> type[ZipReader]:
    """Return a class with ``zipfile_class``'s methods in front of ZipReader's."""
    combined = _READER_CLASSES.get(zipfile_class)
    if combined is None:
        # Threads racing here build equal classes; one of them is kept.
        built = type(zipfile_class.__name__, (zipfile_class, ZipReader), {"__module__": __name__})
        combined = _READER_CLASSES.setdefault(zipfile_class, built)
    return combined
