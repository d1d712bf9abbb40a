"""ZipReader: a thread-safe, seek-free zip reader on ReadAt.

Everything parsed at open is immutable; a read touches only the ReadAt and
state local to the call, so one reader serves any number of threads with no
lock on the read path.
"""

from __future__ import annotations

import io
import os
import struct
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar, cast

import numpy as np

from randread._batch import (
    PARALLEL_MIN_BYTES,
    PARALLEL_MIN_ITEMS,
    batch_modes,
    batch_work,
    cpu_count,
    run_in_chunks,
    shared_pool,
    timed,
)
from randread._extract import extract_entry
from randread._locks import TimedLock
from randread.errors import (
    ClosedError,
    EncryptionError,
    OutOfBoundsError,
    UnsupportedFeatureError,
    ZipChecksumError,
    ZipFormatError,
    ZipTruncatedError,
)
from randread.readat import (
    ReadAt,
    ReadAtRawIO,
    SectionReadAt,
    ThreadViews,
    byte_slots,
    open_readat,
    read_ranges,
    source_name,
    thread_views,
)
from randread.readat._stream import seek_target, skip
from randread.zip import records as rec
from randread.zip.central import decode_name, header_fields
from randread.zip.crypto import ENCRYPTION_HEADER_LENGTH, ZipCryptoDecrypter, ZipCryptoStream
from randread.zip.directory import CentralDirectoryEntry, Directory, read_directory
from randread.zip.extra import AES_EXTRA_ID, ExtraFieldError, find_extra_field
from randread.zip.index import load_directory
from randread.zip.methods import (
    ChecksumMismatchError,
    DecodeError,
    Method,
    Readable,
    crc32,
    fast_deflate_backend,
    get_method,
    method_name,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from _typeshed import SupportsWrite
    from numpy.typing import NDArray
    from typing_extensions import Buffer

    from randread.readat import Source

    #: A memo entry of ``ZipReader.read``'s hot path: where the data of an
    #: entry whose checks have passed starts and ends, its size, its CRC-32, the
    #: method's ``read_checked`` and the entry (for error messages).
    _Ready: TypeAlias = tuple[
        int, int, int, int, Callable[[memoryview, int, int], bytes], CentralDirectoryEntry
    ]

__all__ = ["ZipEntryInfo", "ZipExtFile", "ZipReader"]

_LFH = rec.LOCAL_FILE_HEADER
_LFH_LENGTH = rec.LOCAL_FILE_HEADER_LENGTH
_LFH_SIGNATURE = rec.LOCAL_FILE_HEADER_SIGNATURE
_ENCRYPTED = rec.FLAG_ENCRYPTED
_STORED = rec.METHOD_STORED
_UNSUPPORTED_FLAGS = rec.FLAG_STRONG_ENCRYPTION | rec.FLAG_COMPRESSED_PATCHED
#: the file name and extra field lengths inside a central directory header (4.3.12)
_CDH_LENGTHS = struct.Struct("<HH")
_CDH_LENGTHS_OFFSET = 28
#: read buffer of the file objects ``open()`` returns
_STREAM_BUFFER = 64 * 1024
#: names whose checked (entry, data offset, method) ``read`` keeps at hand;
#: past this many the memo starts over (the data offsets themselves stay known)
_READY_LIMIT = 1 << 17
#: bytes fetched past the name for the local extra field, so that the first
#: read of an entry takes one request: the local extra field may differ from
#: the central one (zip64 sizes, access times), and is rarely this long
_LOCAL_EXTRA_SLACK = 4096
_T = TypeVar("_T")


class ZipEntryInfo(zipfile.ZipInfo):
    """A :class:`zipfile.ZipInfo` for one entry of a :class:`ZipReader`.

    It carries every attribute zipfile fills in when reading, and can be passed
    back to ``read()``/``open()`` (of this reader or of a zipfile.ZipFile).
    """

    __slots__ = ("_entry_index",)

    _entry_index: int

    @property
    def codec(self) -> str:
        """The compression method's name (``"deflate"``, ``"stored"``, ...; ``"method N"``)."""
        name = method_name(self.compress_type)
        return f"method {self.compress_type}" if name == "unknown" else name

    @property
    def offset(self) -> int:
        """Where the entry's local header starts in the archive."""
        return self.header_offset

    def is_dir(self) -> bool:
        """Return True if the entry is a directory (its name ends with ``/``)."""
        # zipfile's own is_dir() indexes filename[-1]: an IndexError for the
        # empty name that a header with a zero name length (or a NUL first) gives.
        return self.filename.endswith("/")


Member = str | zipfile.ZipInfo

#: compression methods zipfile.ZipFile accepts as its ``compression`` argument
_ZIPFILE_COMPRESSIONS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)


class ZipReader(zipfile.ZipFile):
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

    # zipfile.ZipFile's public attributes that mean nothing for a reader
    debug = 0
    mode = "r"
    # Set for real by __init__; here so that close() (and zipfile.ZipFile's
    # __del__, which calls it) work on a reader whose __init__ failed.
    _readat: ReadAt | None = None
    _whole: ThreadViews | None = None
    _source: _SharedSource | None = None

    def __init__(
        self,
        source: Source,
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
        self._owns_readat = owns_readat
        self._readat = readat
        self._source_size = readat.size
        self._source = _SharedSource(readat, owned=owns_readat)
        self._directory = directory
        # Per entry, where its data starts once every check of ``_prepare`` has
        # passed for it (-1 before); see there.
        self._data_offsets = np.full(len(directory), -1, dtype=np.int64)
        self._data_offset_view = self._data_offsets.data
        # name -> what ``read`` needs of an entry read by name before: the hot
        # path of ``read``. Later entries win, as in zipfile's NameToInfo.
        self._ready: dict[str, _Ready] = {}
        # Each thread's view of all of a source in memory that the reader
        # opened itself (bytes, a memory-mapped path), for ``read`` to slice:
        # None otherwise, and once closed. A ReadAt passed in may be closed by
        # its owner at any time; its view_at says so, views kept here would not.
        self._whole = thread_views(readat) if owns_readat else None
        self._info_cache: dict[int, ZipEntryInfo] = {}
        self._infos: list[ZipEntryInfo] | None = None
        self._name_to_info: dict[str, zipfile.ZipInfo] | None = None
        self._infos_lock = TimedLock("ZipReader.infolist")
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
        readat = self._readat
        if readat is None:
            return None
        return self._passed_file if self._passed_file is not None else readat

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
        return self._all_infos()  # type: ignore[return-value]

    @property
    def NameToInfo(self) -> dict[str, zipfile.ZipInfo]:  # type: ignore[override]  # noqa: N802
        """Name to ZipInfo; of entries sharing a name, the last (zipfile's dict)."""
        by_name = self._name_to_info
        if by_name is None:
            infos = self._all_infos()
            with self._infos_lock:
                by_name = self._name_to_info
                if by_name is None:
                    by_name = self._name_to_info = {info.filename: info for info in infos}
        return by_name

    def namelist(self) -> list[str]:
        """Return the entry names in central directory order."""
        return self._directory.name_list()

    def infolist(self) -> list[zipfile.ZipInfo]:
        """Return a :class:`zipfile.ZipInfo` per entry, in central directory order.

        As zipfile, the list returned is the reader's own (``filelist``).
        """
        return self._all_infos()  # type: ignore[return-value]

    def getinfo(self, name: str) -> zipfile.ZipInfo:
        """Return the ZipInfo of ``name``; ``KeyError`` when there is none."""
        return self._info(self._entry(name).ordinal)

    def printdir(self, file: SupportsWrite[str] | None = None) -> None:
        """Print a table of the entries (name, modification time, size), as zipfile does."""
        out = sys.stdout if file is None else file
        out.write(f"{'File Name':<46} {'Modified    ':>19} {'Size':>12}\n")
        for info in self._all_infos():
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
        cls = type(self)
        name = "randread.ZipReader" if cls is ZipReader else f"{cls.__module__}.{cls.__qualname__}"
        if self._readat is None:
            return f"<{name} [closed]>"
        if self._passed_file is not None:
            where = f" file={self._passed_file!r}"
        elif self.filename is not None:
            where = f" filename={self.filename!r}"
        else:
            where = f" source={type(self._readat).__name__}"
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
            data_offset, data_end, size, crc, read_checked, entry = ready
            whole = self._whole
            if whole is not None:
                compressed = whole.view[data_offset:data_end]
            else:
                compressed = self._live_readat().view_at(data_offset, data_end - data_offset)
            try:
                return read_checked(compressed, size, crc)
            except ChecksumMismatchError as exc:
                raise _crc_error(entry, exc.actual) from None
            except DecodeError as exc:
                raise self._decode_error(entry, data_offset, exc) from None
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
            with io.BufferedReader(self._entry_stream(entry, pwd), _STREAM_BUFFER) as stream:
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
            raise _crc_error(entry, exc.actual) from None
        except DecodeError as exc:
            raise self._decode_error(entry, data_offset, exc) from None

    def read_into(self, name: Member, buffer: Buffer, pwd: bytes | None = None) -> int:
        """Read the content of ``name`` into ``buffer``; return the byte count.

        ``buffer`` must be writable and at least the entry's size. Stored
        entries are copied straight from the archive with no intermediate copy.
        """
        entry = self._entry(name)
        size = entry.uncompressed_size
        with memoryview(buffer) as target:
            target_bytes = _writable_bytes(target, size, "read_into")
            if entry.method == _STORED and not entry.flags & _ENCRYPTED:
                readat, data_offset, _, _, stored = self._prepare(entry, pwd, with_data=True)
                if stored is None:
                    stored = readat.view_at(data_offset, size)
                if len(stored) != size:
                    raise _short_read_error(entry, "data", data_offset, len(stored), size)
                target_bytes[:size] = stored
                actual = crc32(target_bytes[:size])
                if actual != entry.crc32:
                    raise _crc_error(entry, actual)
            else:
                target_bytes[:size] = self._read_entry(entry, pwd)
        return size

    def read_many(
        self, names: Iterable[Member], pwd: bytes | None = None, *, workers: int | None = None
    ) -> list[bytes]:
        """Return the contents of ``names`` in order, each checked against its CRC-32.

        The entries' bytes are fetched together first: over a remote source,
        nearby entries share one request and the requests run concurrently
        (see :meth:`RemoteReadAt.read_ranges`). A local batch with enough to
        decompress may be decoded on up to ``workers`` threads (default: the
        CPUs the process may use), the caller's included; zlib, libdeflate and
        isal release the GIL. Whether threads pay is judged from the timings
        of earlier batches (a busy machine makes them lose), else it is a
        plain loop. The first error in the order of ``names`` is raised.
        """
        names = names if isinstance(names, list) else list(names)
        if len(names) < PARALLEL_MIN_ITEMS or (workers or cpu_count()) <= 1:
            readat = self._live_readat()
            if not hasattr(readat, "read_ranges"):
                # Nothing to gain from a batch: exactly a loop of read().
                read = self.read
                return [read(name, pwd) for name in names]
        entries, views, readat, failure = self._batch_data(names)
        prepared_data, decode_prepared, read = self._prepared_data, self._decode, self.read

        def decode(position: int) -> bytes:
            if views is None:  # a local source: read() and its hot path
                return read(names[position], pwd)
            entry = entries[position]
            prepared = prepared_data(entry)
            view = views[position]
            if prepared is not None and len(view) == entry.compressed_size:
                return decode_prepared(entry, readat, *prepared, view)
            return self._read_entry(entry, pwd, span=view)

        results = self._run_batch(entries, readat, decode, workers)
        if failure is not None:
            raise failure
        return results

    def read_many_into(
        self,
        names: Iterable[Member],
        buffer: Buffer,
        pwd: bytes | None = None,
        *,
        workers: int | None = None,
    ) -> list[memoryview]:
        """Decode the contents of ``names`` back to back into ``buffer``; return a view of each.

        The batch counterpart of :meth:`read_into`: ``buffer`` (a bytearray, a
        writable numpy array, any writable buffer) must hold the sum of the
        entries' sizes, else ``ValueError`` before anything is read. The
        views are slices of ``buffer`` in the order of ``names``; stored
        entries are copied from the archive straight into it. Decoding,
        threads and errors are as in :meth:`read_many`.
        """
        entries, views, readat, failure = self._batch_data(names)
        if failure is not None:
            # The entries before the failing name may fail first.
            for entry in entries:
                self._read_entry(entry, pwd)
            raise failure
        with memoryview(buffer) as target_view:
            target = _writable_bytes(
                target_view, sum(e.uncompressed_size for e in entries), "read_many_into"
            )
            # A view of its own per slot: pool threads write into them, and
            # the caller may hand them to any thread.
            slots = byte_slots(target, [entry.uncompressed_size for entry in entries])

            def decode(position: int) -> memoryview:
                entry, slot = entries[position], slots[position]
                view = None if views is None else views[position]
                prepared = self._prepared_data(entry)
                if prepared is None or (view is not None and len(view) != entry.compressed_size):
                    slot[:] = self._read_entry(entry, pwd, span=view)
                    return slot
                data_offset, method = prepared
                if view is None:
                    view = readat.view_at(data_offset, entry.compressed_size)
                if entry.method == _STORED:
                    slot[:] = view
                    actual = crc32(slot)
                    if actual != entry.crc32:
                        raise _crc_error(entry, actual)
                else:
                    try:
                        slot[:] = method.decode_checked(view, entry.uncompressed_size, entry.crc32)
                    except ChecksumMismatchError as exc:
                        raise _crc_error(entry, exc.actual) from None
                    except DecodeError as exc:
                        raise self._decode_error(entry, data_offset, exc) from None
                return slot

            return self._run_batch(entries, readat, decode, workers)

    def _prepared_data(self, entry: CentralDirectoryEntry) -> tuple[int, Method] | None:
        """Return where the data of an entry that passed its checks starts, and its method.

        ``None`` for an entry not read yet (or encrypted): read it through _prepare.
        """
        data_offset = self._data_offset_view[entry.ordinal]
        return (data_offset, get_method(entry.method)) if data_offset >= 0 else None

    def _batch_data(
        self, names: Iterable[Member]
    ) -> tuple[
        list[CentralDirectoryEntry], list[memoryview] | None, ReadAt, KeyError | TypeError | None
    ]:
        """Return a batch's entries and, for each, its data (or the span from its header on).

        A local source's bytes are viewed as each entry is decoded instead
        (``None``), as read() does. A name that is not there ends the batch;
        its error comes last, to be raised after the entries before it.
        """
        entries: list[CentralDirectoryEntry] = []
        failure = None
        entry_of, add = self._entry, entries.append
        for name in names:
            try:
                add(entry_of(name))
            except (KeyError, TypeError) as exc:
                failure = exc
                break
        readat = self._live_readat()
        if not hasattr(readat, "read_ranges"):
            return entries, None, readat, failure
        offsets = self._data_offset_view
        ranges = []
        for entry in entries:
            data_offset = offsets[entry.ordinal]
            if data_offset >= 0:
                ranges.append((data_offset, entry.compressed_size))
            else:
                ranges.append(self._span(readat, entry, with_data=True))
        return entries, read_ranges(readat, ranges), readat, failure

    def _run_batch(
        self,
        entries: list[CentralDirectoryEntry],
        readat: ReadAt,
        decode: Callable[[int], _T],
        workers: int | None,
    ) -> list[_T]:
        """Decode a batch in a loop, or on threads when earlier batches say they pay."""
        count = len(entries)
        threads = workers or cpu_count()
        if (
            threads <= 1
            or count < PARALLEL_MIN_ITEMS
            or hasattr(readat, "read_ranges")  # remote: the fetch, not decoding, dominates
        ):
            return [decode(position) for position in range(count)]
        decoded = sum(entry.uncompressed_size for entry in entries if entry.method != _STORED)
        if decoded < PARALLEL_MIN_BYTES:
            return [decode(position) for position in range(count)]
        key = ("zip", fast_deflate_backend(), threads)
        work = batch_work(count, decoded)
        threaded = batch_modes.threaded(key, work)
        if threaded:
            results, seconds = timed(
                lambda: run_in_chunks(count, decode, threads, shared_pool(threads))
            )
        else:
            results, seconds = timed(lambda: [decode(position) for position in range(count)])
        batch_modes.record(key, work, threaded=threaded, seconds=seconds)
        return results

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
        return ZipExtFile(self._entry_stream(entry, pwd), _STREAM_BUFFER)

    def _entry_stream(self, entry: CentralDirectoryEntry, pwd: bytes | None) -> _EntryStream:
        readat, data_offset, _, password, _ = self._prepare(entry, pwd)
        source = self._source
        if source is None or not source.acquire():
            raise _closed_error()
        try:
            return _EntryStream(
                self, source, readat, entry, data_offset=data_offset, password=password
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
        self._whole = None
        self._readat = None
        source = self._source
        if source is not None:
            source.close_owner()

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Pickle as "reopen the same source": a path (or bytes), not the parsed state."""
        readat = self._live_readat()
        return (_reopen, (readat, self._metadata_encoding, self._pwd, self._index_cache))

    # -- internals -------------------------------------------------------------

    def _live_readat(self) -> ReadAt:
        readat = self._readat
        if readat is None:
            raise _closed_error()
        return readat

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
            index = member._entry_index  # noqa: SLF001 - set by this module
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
        readat = self._live_readat()
        known = self._data_offset_view[entry.ordinal]
        if known >= 0 and span is None:
            return readat, known, get_method(entry.method), None, None
        if entry.flags & _UNSUPPORTED_FLAGS or entry.method == rec.METHOD_AES:
            raise self._unsupported_encryption(entry)
        try:
            method = get_method(entry.method)
        except UnsupportedFeatureError as exc:
            msg = f"entry {entry.name!r}: {exc}"
            raise UnsupportedFeatureError(msg, method=entry.method) from None
        password = None
        if entry.flags & _ENCRYPTED:
            if _has_aes_extra(self._directory.central_directory, entry):
                raise self._unsupported_encryption(entry)
            password = _check_password(pwd if pwd is not None else self._pwd)
            if not password:
                msg = f"File {entry.name!r} is encrypted, password required for extraction"
                raise EncryptionError(msg)
        if span is None:
            start, length = self._span(readat, entry, with_data=with_data)
            span = readat.view_at(start, length)
        data_offset = self._data_offset(readat, entry, span)
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

    def _span(
        self, readat: ReadAt, entry: CentralDirectoryEntry, *, with_data: bool
    ) -> tuple[int, int]:
        """Return the range to read for an entry's local header, and its data if ``with_data``.

        It never reaches past the entry's data limit (the next local header or
        the central directory) or the end of the file.
        """
        offset = entry.header_offset
        header_end = offset + _LFH_LENGTH + len(entry.raw_name)
        end = header_end + _LOCAL_EXTRA_SLACK + (entry.compressed_size if with_data else 0)
        end = min(max(min(end, entry.data_limit), header_end), readat.size)
        if offset >= end:  # a header past the end: _data_offset says so
            return min(offset, readat.size), 0
        return offset, end - offset

    def _unsupported_encryption(self, entry: CentralDirectoryEntry) -> UnsupportedFeatureError:
        if entry.method == rec.METHOD_AES:
            what = "is encrypted with WinZip AES (method 99), which is not supported"
        elif entry.flags & rec.FLAG_STRONG_ENCRYPTION:
            what = "uses PKWARE strong encryption, which is not supported"
        else:
            what = "is a compressed patch data set (flag bit 5), which is not supported"
        return UnsupportedFeatureError(f"entry {entry.name!r} {what}", method=entry.method)

    def _data_offset(self, readat: ReadAt, entry: CentralDirectoryEntry, span: memoryview) -> int:
        """Check the local header of ``entry`` and return where its data starts.

        ``span`` holds the bytes from the local header on (see ``_span``).
        """
        offset = entry.header_offset
        name_length = len(entry.raw_name)
        limit = entry.data_limit
        header_end = offset + _LFH_LENGTH + name_length
        if header_end > readat.size:
            msg = (
                f"entry {entry.name!r}: local file header at 0x{offset:x} runs past the end "
                f"of the file (size 0x{readat.size:x})"
            )
            raise ZipFormatError(msg)
        header = span[: _LFH_LENGTH + name_length]
        if len(header) != _LFH_LENGTH + name_length:
            raise _short_read_error(
                entry, "local file header", offset, len(header), _LFH_LENGTH + name_length
            )
        (
            signature,
            _needed,
            flags,
            method,
            _time,
            _date,
            crc,
            compressed_size,
            uncompressed_size,
            local_name_length,
            extra_length,
        ) = _LFH.unpack_from(header)
        if signature != _LFH_SIGNATURE:
            msg = (
                f"entry {entry.name!r}: invalid local file header signature 0x{signature:08x} "
                f"at 0x{offset:x}"
            )
            raise ZipFormatError(msg)
        if local_name_length != name_length or header[_LFH_LENGTH:] != entry.raw_name:
            local_name = readat.read_at(
                offset + _LFH_LENGTH, min(local_name_length, readat.size - offset - _LFH_LENGTH)
            )
            if not _same_name(entry, local_name, flags, self._metadata_encoding):
                msg = (
                    f"entry {entry.name!r}: local file header at 0x{offset:x}: File name "
                    f"{local_name!r} and central directory name {entry.raw_name!r} differ"
                )
                raise ZipFormatError(msg)
            header_end += local_name_length - name_length
        if method != entry.method:
            msg = (
                f"entry {entry.name!r}: local file header at 0x{offset:x} says method {method}, "
                f"the central directory {entry.method}"
            )
            raise ZipFormatError(msg)
        if not flags & rec.FLAG_DATA_DESCRIPTOR:
            _check_local_sizes(entry, offset, crc, compressed_size, uncompressed_size)
        data_offset: int = header_end + extra_length
        data_end = data_offset + entry.compressed_size
        if data_end > limit:
            if data_end > readat.size:
                what = f"runs past the end of the file (size 0x{readat.size:x})"
            else:
                what = (
                    f"overlaps the next entry or the central directory at 0x{limit:x} "
                    "(Overlapped entries: a possible zip bomb)"
                )
            msg = (
                f"entry {entry.name!r}: data at 0x{data_offset:x} "
                f"({entry.compressed_size} bytes) {what}"
            )
            raise ZipFormatError(msg)
        if entry.method == _STORED:
            expected = entry.uncompressed_size + (
                ENCRYPTION_HEADER_LENGTH if entry.flags & _ENCRYPTED else 0
            )
            if entry.compressed_size != expected:
                msg = (
                    f"entry {entry.name!r}: stored entry has compressed size "
                    f"{entry.compressed_size} but uncompressed size {entry.uncompressed_size}"
                )
                raise ZipFormatError(msg)
        return data_offset

    def _decode_error(
        self, entry: CentralDirectoryEntry, data_offset: int, exc: Exception
    ) -> ZipFormatError:
        return ZipFormatError(
            f"entry {entry.name!r} ({method_name(entry.method)}, data at 0x{data_offset:x}): {exc}"
        )

    def _info(self, ordinal: int) -> ZipEntryInfo:
        """Return the ZipInfo of entry ``ordinal``: the same object on every call."""
        infos = self._infos
        if infos is not None:
            return infos[ordinal]
        info = self._info_cache.get(ordinal)
        if info is None:
            with self._infos_lock:
                if self._infos is not None:  # built meanwhile, with the cached infos
                    return self._infos[ordinal]
                info = self._info_cache.get(ordinal)
                if info is None:
                    directory = self._directory
                    info = _make_info(directory.central_directory, directory.entry(ordinal))
                    self._info_cache[ordinal] = info
        return info

    def _all_infos(self) -> list[ZipEntryInfo]:
        infos = self._infos
        if infos is None:
            with self._infos_lock:
                infos = self._infos
                if infos is None:
                    directory = self._directory
                    cached = self._info_cache
                    infos = _build_infos(directory)
                    for ordinal, info in cached.items():  # the objects getinfo() gave out
                        infos[ordinal] = info
                    self._info_cache = {}
                    self._infos = infos
        return infos


def _central_extra(directory: bytes | NDArray[np.uint8], entry: CentralDirectoryEntry) -> bytes:
    """Return the extra field of ``entry``'s central directory header."""
    name_length, extra_length = _CDH_LENGTHS.unpack_from(
        cast("Buffer", directory), entry.directory_offset + _CDH_LENGTHS_OFFSET
    )
    start = entry.directory_offset + rec.CENTRAL_DIRECTORY_HEADER_LENGTH + name_length
    return bytes(directory[start : start + extra_length])


def _has_aes_extra(directory: bytes | NDArray[np.uint8], entry: CentralDirectoryEntry) -> bool:
    try:
        return find_extra_field(_central_extra(directory, entry), AES_EXTRA_ID) is not None
    except ExtraFieldError:
        return False


def _same_name(
    entry: CentralDirectoryEntry, local_name: bytes, local_flags: int, encoding: str | None
) -> bool:
    """Tell whether differing local and central name bytes mean the same name.

    zipfile compares the two names decoded, each by its own header's UTF-8
    flag; its append mode writes UTF-8 central names for legacy-encoded local ones.
    """
    try:
        return decode_name(local_name, local_flags, encoding, "local") == decode_name(
            entry.raw_name, entry.flags, encoding, "central"
        )
    except ValueError:  # undecodable (ZipNameDecodeError) or unknown encoding
        return False


def _writable_bytes(target: memoryview, size: int, caller: str) -> memoryview:
    """Return ``target`` as bytes, checked to be writable and to hold ``size`` bytes."""
    if target.readonly:
        msg = f"{caller} needs a writable buffer"
        raise TypeError(msg)
    if not target.c_contiguous:
        msg = f"{caller} needs a contiguous buffer"
        raise TypeError(msg)
    target_bytes = target.cast("B")
    if target_bytes.nbytes < size:
        msg = f"buffer of {target_bytes.nbytes} bytes is too small for {size} bytes"
        raise ValueError(msg)
    return target_bytes


def _check_password(pwd: object) -> bytes | None:
    if pwd is not None and not isinstance(pwd, bytes):
        msg = f"pwd: expected bytes, got {type(pwd).__name__}"
        raise TypeError(msg)
    return pwd


def _check_local_sizes(
    entry: CentralDirectoryEntry, offset: int, crc: int, compressed: int, uncompressed: int
) -> None:
    for label, local, central in (
        ("CRC-32", crc, entry.crc32),
        ("compressed size", compressed, entry.compressed_size),
        ("uncompressed size", uncompressed, entry.uncompressed_size),
    ):
        if local not in (central, rec.ZIP64_LIMIT_32) and not (label == "CRC-32" and local == 0):
            msg = (
                f"entry {entry.name!r}: local file header at 0x{offset:x} says {label} "
                f"{local}, the central directory {central}"
            )
            raise ZipFormatError(msg)


def _crc_error(entry: CentralDirectoryEntry, actual: int) -> ZipChecksumError:
    return ZipChecksumError(
        f"Bad CRC-32 for file {entry.name!r}: expected 0x{entry.crc32:08x}, got 0x{actual:08x} "
        f"(local header at 0x{entry.header_offset:x})",
        name=entry.name,
        expected=entry.crc32,
        actual=actual,
    )


def _short_read_error(
    entry: CentralDirectoryEntry, what: str, offset: int, got: int, wanted: int
) -> ZipFormatError:
    # A ReadAt that breaks its contract (or a file truncated under a reader).
    return ZipFormatError(
        f"entry {entry.name!r}: {what} at 0x{offset:x}: the source returned {got} of {wanted} bytes"
    )


def _closed_error() -> ClosedError:
    return ClosedError("Attempt to use ZIP archive that was already closed")


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


class _SharedSource:
    """A reader's ReadAt, shared by the reader and the file objects it opened.

    zipfile keeps a member readable after its ZipFile is closed, until the
    member is closed too. The reader and each open member count as one user;
    a ReadAt the reader opened itself is closed when the last user is done.
    The lock guards the count only, when a member opens or closes: never a read.
    """

    __slots__ = ("_lock", "_owner_open", "_users", "owned", "readat")

    def __init__(self, readat: ReadAt, *, owned: bool) -> None:
        self.readat = readat
        self.owned = owned
        self._users = 1  # the reader
        self._owner_open = True
        self._lock = TimedLock("ZipReader.members")

    def acquire(self) -> bool:
        """Count one more member; False once the reader is closed."""
        with self._lock:
            if not self._owner_open:
                return False
            self._users += 1
            return True

    def release(self) -> None:
        """Count one user less; close an owned ReadAt after the last."""
        with self._lock:
            self._users -= 1
            last = self._users == 0
        if last and self.owned:
            self.readat.close()

    def close_owner(self) -> None:
        """Release the reader's own share (once): the reader is closed."""
        with self._lock:
            if not self._owner_open:
                return
            self._owner_open = False
        self.release()


#: the fields _new_info sets itself (ZipInfo's other fields differ between versions)
_POPULATED = frozenset(
    {
        "filename",
        "orig_filename",
        "date_time",
        "create_version",
        "create_system",
        "extract_version",
        "reserved",
        "flag_bits",
        "compress_type",
        "CRC",
        "compress_size",
        "file_size",
        "volume",
        "internal_attr",
        "external_attr",
        "header_offset",
        "extra",
        "comment",
        "_raw_time",
    }
)


def _info_defaults() -> tuple[tuple[str, object], ...]:
    """Return the fields ZipInfo's constructor sets that _new_info does not, with defaults.

    Such as the compression level, whose name differs between Python versions.
    """
    template = zipfile.ZipInfo()
    defaults = []
    for name in zipfile.ZipInfo.__slots__:
        if name in _POPULATED:
            continue
        try:
            value = getattr(template, name)
        except AttributeError:  # not set by the constructor
            continue
        defaults.append((name, value))
    return tuple(defaults)


_INFO_DEFAULTS = _info_defaults()


def _make_info(directory: bytes | NDArray[np.uint8], entry: CentralDirectoryEntry) -> ZipEntryInfo:
    """Build the zipfile.ZipInfo that zipfile itself would build for this entry."""
    (
        _signature,
        made_by,
        needed,
        flags,
        _method,
        dos_time,
        dos_date,
        _crc,
        _compressed,
        _uncompressed,
        name_length,
        extra_length,
        comment_length,
        _disk,
        internal_attributes,
        external_attributes,
        _offset,
    ) = rec.CENTRAL_DIRECTORY_HEADER.unpack_from(cast("Buffer", directory), entry.directory_offset)
    extra_start = entry.directory_offset + rec.CENTRAL_DIRECTORY_HEADER_LENGTH + name_length
    comment_start = extra_start + extra_length
    return _new_info(
        entry.ordinal,
        entry.name,
        rec.dos_date_time(dos_date, dos_time),
        made_by,
        needed,
        flags,
        entry.method,
        entry.crc32,
        entry.compressed_size,
        entry.uncompressed_size,
        internal_attributes,
        external_attributes,
        entry.header_offset,
        bytes(directory[extra_start:comment_start]),
        bytes(directory[comment_start : comment_start + comment_length]),
        dos_time,
    )


def _new_info(  # noqa: PLR0917 - one per field; called by map() in bulk
    ordinal: int,
    name: str,
    date_time: tuple[int, int, int, int, int, int],
    made_by: int,
    needed: int,
    flags: int,
    method: int,
    crc: int,
    compressed_size: int,
    uncompressed_size: int,
    internal_attributes: int,
    external_attributes: int,
    header_offset: int,
    extra: bytes,
    comment: bytes,
    dos_time: int,
) -> ZipEntryInfo:
    """Return an info with every field set as zipfile sets it when reading.

    zipfile sets the date without the range check of ZipInfo's constructor.
    Plain assignments: this runs once per entry of a big infolist().
    """
    info = _new_entry_info(ZipEntryInfo)
    for field, default in _INFO_DEFAULTS:
        setattr(info, field, default)
    info._entry_index = ordinal  # noqa: SLF001
    info.filename = name
    info.orig_filename = name
    info.date_time = date_time
    info.create_version = made_by & 0xFF
    info.create_system = made_by >> 8
    info.extract_version = needed & 0xFF
    info.reserved = needed >> 8
    info.flag_bits = flags
    info.compress_type = method
    info.CRC = crc
    info.compress_size = compressed_size
    info.file_size = uncompressed_size
    info.volume = 0
    info.internal_attr = internal_attributes
    info.external_attr = external_attributes
    info.header_offset = header_offset
    info.extra = extra
    info.comment = comment
    info._raw_time = dos_time  # type: ignore[attr-defined]  # noqa: SLF001 - zipfile's own
    return info


_new_entry_info = ZipEntryInfo.__new__


def _build_infos(directory: Directory) -> list[ZipEntryInfo]:
    """Return the info of every entry, built from the directory's arrays in bulk."""
    directory.check_all()
    central = directory.central_directory
    columns = directory.columns
    count = len(directory)
    headers = header_fields(central, columns.directory_offset.astype(np.int64))
    dos_times = headers["dos_time"].tolist()
    # Archives hold few distinct times: one tuple each, shared.
    date_times: dict[tuple[int, int], tuple[int, int, int, int, int, int]] = {}
    dates = [
        date_times.get(key) or date_times.setdefault(key, rec.dos_date_time(*key))
        for key in zip(headers["dos_date"].tolist(), dos_times, strict=True)
    ]
    extra_start = (
        columns.directory_offset.astype(np.int64)
        + rec.CENTRAL_DIRECTORY_HEADER_LENGTH
        + headers["name_length"]
    )
    comment_start = extra_start + headers["extra_length"]
    comment_end = comment_start + headers["comment_length"]
    return list(
        map(
            _new_info,
            range(count),
            directory.name_list(),
            dates,
            headers["made_by"].tolist(),
            headers["needed"].tolist(),
            columns.flags.tolist(),
            columns.method.tolist(),
            columns.crc32.tolist(),
            columns.compressed_size.tolist(),
            columns.uncompressed_size.tolist(),
            headers["internal_attributes"].tolist(),
            headers["external_attributes"].tolist(),
            columns.header_offset.tolist(),
            _slices(central, extra_start, comment_start),
            _slices(central, comment_start, comment_end),
            dos_times,
        )
    )


def _slices(
    data: bytes | NDArray[np.uint8], starts: NDArray[np.int64], ends: NDArray[np.int64]
) -> list[bytes]:
    """Return ``bytes(data[start:end])`` for each pair (one shared ``b""`` for the empty ones)."""
    empty = b""
    return [
        bytes(data[start:end]) if end > start else empty
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True)
    ]


class ZipExtFile(io.BufferedReader):
    """The file object :meth:`ZipReader.open` returns.

    A buffered, seekable, read-only binary file with :class:`zipfile.ZipExtFile`'s
    observable behaviour: ``name`` (the entry name), ``mode`` (``"rb"``; ``"r"``
    before Python 3.13, as zipfile), its
    repr, ``ValueError`` from every method once closed. It has its own position
    and stays readable after the reader is closed, until it is closed itself.
    """

    #: zipfile.ZipExtFile's attribute (code written for zipfile may set it);
    #: reads here are buffered by ``io.BufferedReader`` instead
    MIN_READ_SIZE = 4096

    def __repr__(self) -> str:
        if self.closed:
            return "<randread.ZipExtFile [closed]>"
        method = self.raw.compress_type  # type: ignore[attr-defined]
        kind = "" if method == _STORED else f" compress_type={method_name(method)}"
        return f"<randread.ZipExtFile name={self.name!r} mode={self.mode!r}{kind}>"


class _EntryStream(io.RawIOBase):
    """The raw stream behind ``ZipReader.open()``: decompression, size and CRC checks."""

    #: ZipExtFile.mode: "rb" from Python 3.13 on, "r" before
    mode = "rb" if sys.version_info >= (3, 13) else "r"
    #: the reader's source while this stream is open (see _SharedSource)
    _shared: _SharedSource | None = None

    def __init__(
        self,
        reader: ZipReader,
        shared: _SharedSource,
        readat: ReadAt,
        entry: CentralDirectoryEntry,
        *,
        data_offset: int,
        password: bytes | None,
    ) -> None:
        super().__init__()
        self.name = entry.name
        self.compress_type = entry.method
        self._reader = reader
        self._readat = readat
        self._entry = entry
        self._data_offset = data_offset
        self._password = password
        self._seekable_raw = entry.method == _STORED and not entry.flags & _ENCRYPTED
        self._start()
        # Only now: when _start raises, the caller releases the share.
        self._shared = shared

    def close(self) -> None:
        shared, self._shared = self._shared, None
        try:
            super().close()
        finally:
            if shared is not None:
                shared.release()

    def _start(self) -> None:
        entry = self._entry
        raw = ReadAtRawIO(self._readat, self._data_offset, entry.compressed_size)
        self._raw = raw
        source: Readable = raw
        if entry.flags & _ENCRYPTED:
            try:
                source = self._decrypting(raw)
            except OutOfBoundsError as exc:
                raise self._truncated(exc) from None
        method = get_method(entry.method)
        try:
            self._decoder = method.open(source)
        except DecodeError as exc:
            raise self._reader._decode_error(entry, self._data_offset, exc) from None  # noqa: SLF001
        self._position = 0
        self._crc = 0
        self._crc_valid = True
        self._finished = False

    def _decrypting(self, raw: ReadAtRawIO) -> Readable:
        entry = self._entry
        assert self._password is not None  # checked by ZipReader._prepare  # noqa: S101
        decrypter = ZipCryptoDecrypter(self._password)
        header = decrypter.decrypt(raw.read(ENCRYPTION_HEADER_LENGTH))
        if len(header) < ENCRYPTION_HEADER_LENGTH:
            msg = f"entry {entry.name!r}: encryption header is truncated"
            raise ZipFormatError(msg)
        # 6.1.6: the last header byte is the CRC's high byte, or the DOS time's
        # high byte when sizes and CRC come in a data descriptor.
        check = (
            (entry.dos_time >> 8) & 0xFF
            if entry.flags & rec.FLAG_DATA_DESCRIPTOR
            else (entry.crc32 >> 24) & 0xFF
        )
        if header[-1] != check:
            msg = f"Bad password for file {entry.name!r}"
            raise EncryptionError(msg)
        return ZipCryptoStream(raw, decrypter)

    def readable(self) -> bool:
        self._checkClosed()
        return True

    def seekable(self) -> bool:
        self._checkClosed()
        return True

    def _truncated(self, exc: OutOfBoundsError) -> ZipTruncatedError:
        return ZipTruncatedError(f"entry {self._entry.name!r}: {exc}")

    def readinto(self, buffer: Buffer) -> int:
        self._checkClosed()
        size = self._entry.uncompressed_size
        with memoryview(buffer) as target_view:
            target = target_view.cast("B")
            wanted = min(target.nbytes, size - self._position)
            if wanted <= 0:
                self._finish()
                return 0
            try:
                chunk = self._decoder.read(wanted)
            except DecodeError as exc:
                raise self._reader._decode_error(  # noqa: SLF001
                    self._entry, self._data_offset, exc
                ) from None
            except OutOfBoundsError as exc:
                raise self._truncated(exc) from None
            count = len(chunk)
            if count == 0:
                msg = (
                    f"entry {self._entry.name!r} ({method_name(self._entry.method)}, data at "
                    f"0x{self._data_offset:x}): decompressed data ends after {self._position} "
                    f"of the declared {size} bytes"
                )
                raise ZipTruncatedError(msg)
            target[:count] = chunk
        if self._crc_valid:
            self._crc = crc32(chunk, self._crc)
        self._position += count
        if self._position == size:
            self._finish()
        return count

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        entry = self._entry
        if self._position == entry.uncompressed_size:
            try:
                extra = self._decoder.read(1)
            except DecodeError as exc:
                # Corrupt data past the declared size fails here as in read().
                raise self._reader._decode_error(entry, self._data_offset, exc) from None  # noqa: SLF001
            if extra:
                msg = (
                    f"entry {entry.name!r} ({method_name(entry.method)}, data at "
                    f"0x{self._data_offset:x}): decompressed data is larger than the declared "
                    f"size {entry.uncompressed_size}"
                )
                raise ZipFormatError(msg)
        if self._crc_valid and self._crc != entry.crc32:
            raise _crc_error(entry, self._crc)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        size = self._entry.uncompressed_size
        target = max(0, min(seek_target(offset, whence, self._position, size), size))
        if target == self._position:
            return target
        if self._seekable_raw:
            self._raw.seek(target)
            self._position = target
            self._crc = 0
            self._crc_valid = target == 0
            self._finished = False
            return target
        if target < self._position:
            self._start()
        skip(self, target - self._position, _STREAM_BUFFER)
        return self._position

    def tell(self) -> int:
        self._checkClosed()
        return self._position


def _reopen(
    readat: ReadAt,
    metadata_encoding: str | None,
    pwd: bytes | None,
    index_cache: str | os.PathLike[str] | None = None,
) -> ZipReader:
    # The unpickled source belongs to the reader.
    return ZipReader(
        readat,
        metadata_encoding=metadata_encoding,
        pwd=pwd,
        index_cache=index_cache,
        close_source=True,
    )
