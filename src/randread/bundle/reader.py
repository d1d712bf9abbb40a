"""BundleReader: O(1) open, lock-free reads, zero-copy views (formats/bundle.md).

Opening reads the header and footer and maps the index arrays; nothing is
built per entry. A name lookup hashes the name, binary-searches the hash
table and checks the stored name; an entry's record is checked against the
file before any of its bytes are used. The result of a lookup is remembered
per reader (a dict write of an immutable value, safe without a lock), so hot
entries cost a dict lookup.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import zstandard

from randread._checksum import crc32
from randread._closing import CloseOnExit
from randread._core.batch import fetches_ranges
from randread._core.errors import closed_error
from randread._core.lazy import OpenOnFirstUse
from randread._core.source import Source
from randread._core.stream import STREAM_BUFFER, EntryStream
from randread._extract import extract_entry
from randread.bundle import format as fmt
from randread.bundle.batch import BundleBatches
from randread.bundle.codecs import CodecError, DictionaryContext
from randread.bundle.index import BundleIndex, Entry, check_layout, entry_errors, unsupported_codec
from randread.bundle.info import BundleEntryInfo
from randread.errors import (
    BundleFormatError,
    ChecksumError,
    ClosedError,
)
from randread.readat import (
    BytesReadAt,
    ReadAt,
    ReadAtRawIO,
    open_readat,
    source_name,
)

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    import numpy.typing as npt

    from randread._core.stream import Decoding
    from randread.bundle.libzstd import FrameRuns
    from randread.readat import Source as ArchiveSource

__all__ = ["BundleEntryInfo", "BundleReader"]

_HEADER_SIZE = fmt.HEADER.size
_FOOTER_SIZE = fmt.FOOTER.size
#: a dictionary ending at most this far before the index is read with it
_NEIGHBOURS = 4096
_DOS_EPOCH = (1980, 1, 1, 0, 0, 0)


class BundleReader(OpenOnFirstUse, BundleBatches, CloseOnExit):
    """Read a bundle from any number of threads at once.

    ``source`` is a path (memory-mapped; ``backend="pread"`` reads with
    ``os.pread``), a bytes-like object, or any :class:`~randread.ReadAt`.
    The read API matches :class:`~randread.ZipReader` (``namelist``,
    ``infolist``, ``getinfo``, ``read``, ``open``, ``testzip``, ``in``,
    ``len``, iteration), plus ``view``, ``as_numpy`` and ``read_many``.

    Content is checked against its CRC-32 on every read (``verify=False``
    skips that). ``verify_index=True`` also runs :meth:`verify_index` at
    open, which costs time in proportion to the entry count; by default
    open does a constant amount of work and each entry is checked when used.

    ``close()`` closes what the reader opened (a memory map, a file, remote
    connections). A :class:`~randread.ReadAt` passed in stays open, unless
    ``close_source=True`` hands it to the reader. ``filename`` names a source
    given as a ReadAt (a path or a URL is its own name).
    """

    _closed_kind = "bundle"

    def __init__(
        self,
        source: ArchiveSource,
        *,
        verify: bool = True,
        verify_index: bool = False,
        backend: Literal["mmap", "pread"] = "mmap",
        storage_options: Mapping[str, Any] | None = None,
        close_source: bool = False,
        filename: str | None = None,
    ) -> None:
        readat = open_readat(source, backend=backend, storage_options=storage_options)
        owned = close_source or readat is not source
        self.filename: str | None = filename or source_name(source)
        self._verify = verify
        self._source = Source(readat, owned=owned, closed_error=_closed)
        # The read hot path's copy of the source's per-thread views (None once closed).
        self._whole = self._source.whole
        self._local = not fetches_ranges(readat)
        try:
            self._open(readat)
            if verify_index:
                self.verify_index()
        except BaseException:
            self._source.close()
            raise

    def _open(self, readat: ReadAt) -> None:
        size = self._source_size = readat.size
        if size < _HEADER_SIZE + _FOOTER_SIZE:
            msg = f"file of {size} bytes is too short for a bundle (at least 160)"
            raise BundleFormatError(msg)
        # From 1.1 the archive metadata repeats the header's fields: a remote
        # bundle then opens from its end alone (the tail and the index), and
        # the header costs no request. A local one's header is read first.
        header = fmt.parse_header(readat.read_at(0, _HEADER_SIZE)) if self._local else None
        footer_offset = size - _FOOTER_SIZE
        footer = fmt.parse_footer(readat.read_at(footer_offset, _FOOTER_SIZE), footer_offset)
        check_layout(footer, footer_offset)
        index_region, dictionary = _index_and_dictionary(readat, footer, footer_offset)
        index = self._index = BundleIndex(footer, index_region, closed_error=_closed)
        where = f"archive metadata at 0x{footer.archive_metadata_offset:x}"
        facts = fmt.header_facts(index.metadata, where)
        if header is None and facts is None:
            header = fmt.parse_header(readat.read_at(0, _HEADER_SIZE))
        if header is not None:
            if (footer.version_major, footer.version_minor) != (
                header.version_major,
                header.version_minor,
            ):
                msg = (
                    f"footer at 0x{size - _FOOTER_SIZE:x}: version {footer.version_major}."
                    f"{footer.version_minor} differs from the header's "
                    f"{header.version_major}.{header.version_minor}"
                )
                raise BundleFormatError(msg)
            must = fmt.HEADER_FLAGS_MUST_UNDERSTAND
            if facts is not None and (facts[0], facts[1] & must) != (
                header.alignment,
                header.flags & must,
            ):
                msg = (
                    f"{where}: alignment {facts[0]} and flags 0x{facts[1]:x} differ from "
                    f"the header's {header.alignment} and 0x{header.flags:x}"
                )
                raise BundleFormatError(msg)
            facts = (header.alignment, header.flags)
        if facts is None:  # pragma: no cover - a header or both keys were read
            raise AssertionError
        index.alignment = self._alignment = facts[0]
        self._count = index.count
        try:
            self._context = DictionaryContext(dictionary)
        except zstandard.ZstdError as exc:
            msg = f"dictionary at 0x{footer.dictionary_offset:x}: not a zstd dictionary: {exc}"
            raise BundleFormatError(msg) from None
        self._lookups = index.lookups
        self._verified: set[int] = set()
        # Entries whose stored bytes passed their codec's check (Codec.check);
        # a set add is atomic, so threads share it as they share _lookups.
        self._checked: set[int] = set()
        self._runs: dict[int, FrameRuns] | None = None
        #: zstd entries whose checked frames record their size (formats/bundle.md,
        #: Codecs): those may be decoded in runs (see _decode_in_chunks)
        self._sized_frames: set[int] = set()
        self._namelist: list[str] | None = None

    # -- metadata ----------------------------------------------------------------

    @property
    def metadata(self) -> dict[str, str]:
        """The archive metadata map (checked against the index checksum the first time)."""
        self._index.check()
        # The format's own keys (rrb.*) are not the bundle's metadata.
        return {
            key: value
            for key, value in self._index.metadata.items()
            if not key.startswith(fmt.RESERVED_KEY_PREFIX)
        }

    @property
    def comment(self) -> bytes:
        """The archive comment (metadata key ``comment``), as bytes like zipfile's."""
        return self.metadata.get("comment", "").encode("utf-8")

    @property
    def source_size(self) -> int:
        """The size of the bundle's source in bytes (readable after ``close()``)."""
        return self._source_size

    @property
    def alignment(self) -> int:
        """The alignment of stored entries, from the header."""
        return self._alignment

    @property
    def dictionary(self) -> bytes | None:
        """The bundle's zstd dictionary, or ``None``."""
        return self._context.raw

    @property
    def dictionary_size(self) -> int:
        """The size of the zstd dictionary in bytes (0 for none)."""
        return self._index.footer.dictionary_length

    def namelist(self) -> list[str]:
        """Return the entry names in archive order."""
        names = self._namelist
        if names is None:
            self._index.check()
            names = self._namelist = [self._index.name_at(index) for index in range(self._count)]
        return list(names)

    def infolist(self) -> list[BundleEntryInfo]:
        """Return a :class:`BundleEntryInfo` per entry, in archive order."""
        self._index.check()
        return [self._info(self._index.entry_at(index)) for index in range(self._count)]

    def check_records(self) -> list[BundleEntryInfo | BundleFormatError]:
        """Each entry's info as its record says, without the index checksum.

        For diagnosing a damaged index (``randread verify`` after
        :meth:`verify_index` failed): a record that fails its own checks gives
        its error in its place.
        """
        infos: list[BundleEntryInfo | BundleFormatError] = []
        for index in range(self._count):
            try:
                infos.append(self._info(self._index.entry_at(index)))
            except BundleFormatError as exc:
                infos.append(exc)
        return infos

    def getinfo(self, name: str) -> BundleEntryInfo:
        """Return the :class:`BundleEntryInfo` of ``name``; ``KeyError`` when there is none."""
        entry = self._index.entry(name)
        # Sizes, times, modes and metadata are not covered by the content's
        # CRC-32: the index checksum vouches for them (once per reader).
        self._index.check()
        return self._info(entry)

    def entries(self) -> npt.NDArray[np.void]:
        """Return the entry table as a read-only numpy structured array (no copy)."""
        self._index.check()
        return self._index.table()

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self._index.entry(name)
        except KeyError:
            return False
        return True

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[str]:
        return iter(self.namelist())

    def __repr__(self) -> str:
        deferred = self._deferred_arguments()
        if deferred is not None:
            return f"<BundleReader {deferred[1].get('filename')!r} [opens on first use]>"
        closed = self._source.closed
        source = self.filename or ("?" if closed else type(self._source.readat).__name__)
        state = "closed" if closed else f"{self._count} entries"
        return f"<BundleReader {source!r} {state}>"

    # -- reading -------------------------------------------------------------------

    def read(self, name: str | BundleEntryInfo) -> bytes:
        """Return the content of ``name``, checked against its CRC-32."""
        # The hot path: a name looked up before, of an entry whose stored bytes
        # passed their codec's check, needs only decoding and the CRC-32.
        entry = self._lookups.get(name) if isinstance(name, str) else None
        if entry is None or entry.index not in self._checked:
            key = name.filename if isinstance(name, BundleEntryInfo) else name
            return self._read_entry(self._index.entry(key), verify=self._verify)
        codec = entry.codec
        if codec is None:  # pragma: no cover - such entries never pass into _checked
            raise unsupported_codec(entry)
        whole = self._whole
        start = entry.data_offset
        # The stored bytes stay in this thread: every codec returns new bytes.
        stored = (
            whole.view[start : start + entry.stored_size]
            if whole is not None
            else self._source.readat.view_at(start, entry.stored_size)
        )
        try:
            data = codec.decode(stored, entry.size, self._context)
        except CodecError as exc:
            raise entry_errors(entry).problem(exc) from None
        if self._verify:
            actual = crc32(data)
            if actual != entry.checksum:
                raise entry_errors(entry).checksum(actual)
        return data

    def _read_entry(self, entry: Entry, *, verify: bool, stored: memoryview | None = None) -> bytes:
        readat = self._source.readat
        codec = entry.codec
        if codec is None:
            raise unsupported_codec(entry)
        if stored is None:
            stored = readat.view_at(entry.data_offset, entry.stored_size)
        try:
            if entry.index not in self._checked:
                if codec.check is not None:
                    codec.check(stored, entry.size)
                self._checked.add(entry.index)
            data = codec.decode(stored, entry.size, self._context)
        except CodecError as exc:
            raise entry_errors(entry).problem(exc) from None
        if verify:
            actual = crc32(data)
            if actual != entry.checksum:
                raise entry_errors(entry).checksum(actual)
        return data

    def view(self, name: str | BundleEntryInfo) -> memoryview:
        """Return the content of ``name`` as a read-only memoryview.

        For stored entries (codec ``none``) of a memory-mapped or in-memory
        bundle this is a zero-copy view of the file, checked against its CRC-32
        the first time; for compressed entries it is a view of a fresh copy.
        """
        name = name.filename if isinstance(name, BundleEntryInfo) else name
        entry = self._index.entry(name)
        if entry.codec_id != fmt.CODEC_NONE:
            return memoryview(self.read(name))
        readat = self._source.readat
        view = readat.view_at(entry.data_offset, entry.size)
        if self._verify and entry.index not in self._verified:
            actual = crc32(view)
            if actual != entry.checksum:
                raise entry_errors(entry).checksum(actual)
            self._verified.add(entry.index)
        return view if view.readonly else view.toreadonly()

    def as_numpy(
        self,
        name: str | BundleEntryInfo,
        dtype: npt.DTypeLike = np.uint8,
        shape: Sequence[int] | int | None = None,
    ) -> npt.NDArray[Any]:
        """Return the content of ``name`` as a read-only numpy array.

        Zero-copy for stored entries (aligned to the bundle's ``alignment``).
        ``ValueError`` when the size is not a multiple of the item size or
        does not match ``shape``.
        """
        view = self.view(name)
        item_size = np.dtype(dtype).itemsize
        if len(view) % item_size:
            msg = (
                f"entry {name!r} has {len(view)} bytes, "
                f"not a multiple of the {item_size}-byte {np.dtype(dtype)}"
            )
            raise ValueError(msg)
        array_view = np.frombuffer(view, dtype=dtype)
        if shape is not None:
            array_view = array_view.reshape(shape)
        array_view.flags.writeable = False
        return array_view

    def open(self, name: str | BundleEntryInfo) -> io.BufferedReader:
        """Return a read-only, seekable binary file object for ``name``.

        The file object has its own position and the CRC-32 is checked when
        the last byte has been read, as zip members are (the shared entry
        stream, :mod:`randread._core.stream`). Stored entries stream from the
        file and seek directly; zstd entries decode as they are read (seeking
        backwards restarts decoding); lz4 entries, which cannot be decoded a
        little at a time, are decoded and checked when opened. It stays
        readable after the reader is closed, until it is closed itself.
        """
        key = name.filename if isinstance(name, BundleEntryInfo) else name
        entry = self._index.entry(key)
        codec = entry.codec
        if codec is None:
            raise unsupported_codec(entry)
        stream = codec.stream
        if entry.codec_id != fmt.CODEC_NONE and stream is None:
            content: ReadAt | None = BytesReadAt(self.read(key))
        else:
            content = None
        source = self._source
        readat = source.acquire()
        try:
            raw = ReadAtRawIO(
                readat if content is None else content,
                entry.data_offset if content is None else 0,
                entry.stored_size if stream is not None else entry.size,
            )

            def start() -> Decoding:
                if stream is None:
                    raw.seek(0)
                    return raw
                stored = readat.view_at(entry.data_offset, entry.stored_size)
                if entry.index not in self._checked and codec.check is not None:
                    codec.check(stored, entry.size)
                return stream(stored, entry.size, self._context)

            entry_stream = EntryStream(
                source,
                entry_errors(entry),
                size=entry.size,
                start=start,
                raw=raw if stream is None else None,
                verify=self._verify,
                decode_errors=(CodecError, zstandard.ZstdError),
            )
        except BaseException:
            source.release()
            raise
        return io.BufferedReader(entry_stream, STREAM_BUFFER)

    def testzip(self) -> str | None:
        """Read every entry; return the first name whose content is bad, else ``None``.

        Like zipfile's ``testzip``; checks content even when ``verify=False``.
        Entries are read by position, not looked up by name, so an entry whose
        name a damaged hash table no longer finds is checked too. An entry
        whose record fails its checks (data outside the data area, say) is bad
        too; only a name that cannot be read at all, or an index that fails
        its checksum, raises.
        """
        self._index.check()
        for index in range(self._count):
            try:
                self._read_entry(self._index.entry_at(index), verify=True)
            except (BundleFormatError, ChecksumError):
                return self._index.name_at(index)
        return None

    def extract(self, name: str, path: str | os.PathLike[str] | None = None) -> str:
        """Extract one entry under ``path`` (default: the current directory).

        Names are made safe as for zip: drive letters, leading slashes and
        ``..`` parts are dropped, so nothing is written outside ``path``.
        Returns the path written.
        """
        root = Path(Path.cwd() if path is None else path)
        return extract_entry(name, root, lambda: self.open(name), BundleFormatError)

    def extractall(
        self, path: str | os.PathLike[str] | None = None, members: Iterable[str] | None = None
    ) -> None:
        """Extract all entries (or ``members``) under ``path``; see :meth:`extract`."""
        for name in self.namelist() if members is None else members:
            self.extract(name, path)

    def verify_index(self) -> None:
        """Check the whole index: every check of formats/bundle.md, in O(n log n).

        Raises :class:`~randread.BundleFormatError` naming the first problem.
        """
        self._index.verify()

    # -- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        """Release the file. Views and arrays handed out stay valid until dropped."""
        if self._close_unopened():
            return
        # Nothing of the source may stay referenced: a memory map is unmapped
        # (and its file closed) once no view of it is left.
        self._whole = None
        self._index.close()
        self._runs = None
        self._source.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        try:
            return self._source.closed
        except ClosedError:  # closed before it was ever opened
            return True

    def _reopen_arguments(self) -> tuple[tuple[object, ...], dict[str, object]]:
        # The unpickled ReadAt is the reader's; its path names the file again.
        options: dict[str, object] = {
            "verify": self._verify,
            "close_source": True,
            "filename": self.filename,
        }
        return (self._source.readat,), options

    # -- internals --------------------------------------------------------------------

    def _info(self, entry: Entry) -> BundleEntryInfo:
        record = entry.record
        flags = record[11]
        codec = entry.codec
        return BundleEntryInfo(
            filename=entry.name,
            file_size=entry.size,
            compress_size=entry.stored_size,
            codec=codec.name if codec is not None else f"unknown ({entry.codec_id})",
            CRC=entry.checksum,
            mtime_ns=record[5] if flags & fmt.ENTRY_HAS_MTIME else None,
            mode=record[9] if flags & fmt.ENTRY_HAS_MODE else None,
            metadata=self._index.metadata_of(entry),
            data_offset=entry.data_offset,
            index=entry.index,
        )


def _index_and_dictionary(
    readat: ReadAt, footer: fmt.Footer, footer_offset: int
) -> tuple[memoryview, bytes | None]:
    """Read the index area and the dictionary: in one read when they are neighbours.

    Writers put the dictionary last in the data area, so that over object
    storage the open fetches it with the index (one request, not two).
    """
    index_offset = footer.index_offset
    start = index_offset
    dictionary_end = footer.dictionary_offset + footer.dictionary_length
    if footer.dictionary_length and 0 <= index_offset - dictionary_end <= _NEIGHBOURS:
        start = footer.dictionary_offset
    region = readat.view_at(start, footer_offset - start)
    index = region[index_offset - start :]
    if not footer.dictionary_length:
        return index, None
    if start == footer.dictionary_offset:
        return index, bytes(region[: footer.dictionary_length])
    return index, readat.read_at(footer.dictionary_offset, footer.dictionary_length)


def _closed() -> ClosedError:
    return closed_error("bundle")
