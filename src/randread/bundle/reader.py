"""BundleReader: O(1) open, lock-free reads, zero-copy views (formats/bundle.md).

Opening reads the header and footer and maps the index arrays; nothing is
built per entry. A name lookup hashes the name, binary-searches the hash
table and checks the stored name; an entry's record is checked against the
file before any of its bytes are used. The result of a lookup is remembered
per reader (a dict write of an immutable value, safe without a lock), so hot
entries cost a dict lookup.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import zstandard

from randread._checksum import crc32
from randread._closing import CloseOnExit
from randread._core.batch import PARALLEL_MIN_ITEMS, cpu_count, look_up, run_batch
from randread._core.errors import EntryErrors, closed_error
from randread._core.source import Source
from randread._core.stream import STREAM_BUFFER, EntryStream
from randread._extract import extract_entry
from randread.bundle import format as fmt
from randread.bundle import libzstd
from randread.bundle.codecs import CodecError, DictionaryContext
from randread.bundle.index import BundleIndex, Entry
from randread.bundle.info import BundleEntryInfo
from randread.errors import (
    BundleFormatError,
    ChecksumError,
    ClosedError,
    UnsupportedFeatureError,
)
from randread.readat import (
    BytesReadAt,
    ReadAt,
    ReadAtRawIO,
    byte_slots,
    open_readat,
    read_ranges,
    source_name,
)

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    import numpy.typing as npt
    from typing_extensions import Buffer

    from randread._core.stream import Decoding
    from randread.bundle.libzstd import FrameRuns
    from randread.readat import Source as ArchiveSource

__all__ = ["BundleEntryInfo", "BundleReader"]

_HEADER_SIZE = fmt.HEADER.size
_FOOTER_SIZE = fmt.FOOTER.size
_RECORD = fmt.ENTRY_RECORD
_RECORD_SIZE = _RECORD.size
_DOS_EPOCH = (1980, 1, 1, 0, 0, 0)
#: Whether batches decoded on threads hand runs of zstd frames to libzstd, one
#: call per run with the GIL released once (bundle.libzstd), when the system
#: has libzstd; else, and for other codecs, entries decode one by one.
frame_runs = True
#: zstd frame magic number and the Frame_Header_Descriptor bits that say the
#: frame records its content size (RFC 8878 3.1.1 and 3.1.1.1.1)
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_SIZE_FLAGS = 0xE0
#: A run holds at most this many decoded bytes (or one entry), so that its
#: CRC-32s and copies read what the decoder has just left in the core's cache.
#: For ``read_many`` a run lands in a buffer of the thread's own and is then
#: copied out entry by entry: entries too large to run decode on their own,
#: straight into their bytes.
_RUN_BYTES = 512 * 1024
#: each thread's buffer for runs decoded for ``read_many`` (_RUN_BYTES)
_run_buffers = threading.local()


class BundleReader(CloseOnExit):
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
    ``close_source=True`` hands it to the reader.
    """

    def __init__(
        self,
        source: ArchiveSource,
        *,
        verify: bool = True,
        verify_index: bool = False,
        backend: Literal["mmap", "pread"] = "mmap",
        storage_options: Mapping[str, Any] | None = None,
        close_source: bool = False,
    ) -> None:
        readat = open_readat(source, backend=backend, storage_options=storage_options)
        owned = close_source or readat is not source
        self.filename: str | None = source_name(source)
        self._verify = verify
        self._source = Source(readat, owned=owned, closed_error=_closed)
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
        header = self._header = fmt.parse_header(readat.read_at(0, _HEADER_SIZE))
        index = self._index = BundleIndex(
            readat, size, alignment=header.alignment, closed_error=_closed
        )
        footer = index.footer
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
        self._count = index.count
        dictionary = (
            readat.read_at(footer.dictionary_offset, footer.dictionary_length)
            if footer.dictionary_length
            else None
        )
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
        return self._index.metadata

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
        return self._header.alignment

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
            raise _unsupported_codec(entry)
        source = self._source
        whole = source.whole
        start = entry.data_offset
        # The stored bytes stay in this thread: every codec returns new bytes.
        stored = (
            whole.view[start : start + entry.stored_size]
            if whole is not None
            else source.readat.view_at(start, entry.stored_size)
        )
        try:
            data = codec.decode(stored, entry.size, self._context)
        except CodecError as exc:
            raise _errors(entry).problem(exc) from None
        if self._verify:
            actual = crc32(data)
            if actual != entry.checksum:
                raise _errors(entry).checksum(actual)
        return data

    def _read_entry(self, entry: Entry, *, verify: bool, stored: memoryview | None = None) -> bytes:
        readat = self._source.readat
        codec = entry.codec
        if codec is None:
            raise _unsupported_codec(entry)
        if stored is None:
            stored = readat.view_at(entry.data_offset, entry.stored_size)
        try:
            if entry.index not in self._checked:
                if codec.check is not None:
                    codec.check(stored, entry.size)
                self._checked.add(entry.index)
            data = codec.decode(stored, entry.size, self._context)
        except CodecError as exc:
            raise _errors(entry).problem(exc) from None
        if verify:
            actual = crc32(data)
            if actual != entry.checksum:
                raise _errors(entry).checksum(actual)
        return data

    def read_many(
        self, names: Iterable[str | BundleEntryInfo], *, workers: int | None = None
    ) -> list[bytes]:
        """Return the contents of ``names`` in order, decoding on several threads.

        A batch may be decoded on up to ``workers`` threads (default: the
        number of CPUs the process may use), in chunks that the caller's
        thread and pool threads take in turn. zstd and lz4 release the GIL
        while decoding; with the system's libzstd, a chunk's zstd frames are
        decoded in one call (see :mod:`randread.bundle.libzstd`). Whether
        threads pay is judged from the timings of earlier batches (a busy
        machine makes them lose); batches too small to gain (few entries,
        little to decode, stored entries) are read in a plain loop. The
        pool threads are the process's, shared by every reader. The first
        error in the order of ``names`` is raised.
        """
        names = names if isinstance(names, list) else list(names)
        readat = self._source.readat
        if (len(names) < PARALLEL_MIN_ITEMS or (workers or cpu_count()) <= 1) and not hasattr(
            readat, "read_ranges"
        ):
            # Nothing to gain from a batch: exactly a loop of read().
            read = self.read
            return [read(name) for name in names]
        readat, entries, failure = self._batch_entries(names)
        if hasattr(readat, "read_ranges"):
            # A remote source: fetch every entry's bytes together (nearby ones
            # in one request, the requests concurrently), then decode.
            stored = read_ranges(readat, [(e.data_offset, e.stored_size) for e in entries])
            results: list[Buffer] = [
                self._read_entry(entry, verify=self._verify, stored=view)
                for entry, view in zip(entries, stored, strict=True)
            ]
        else:
            results = self._decode_batch(readat, entries, workers, into=None)
        if failure is not None:
            raise failure
        return cast("list[bytes]", results)  # without ``into`` every item is bytes

    def read_many_into(
        self,
        names: Iterable[str | BundleEntryInfo],
        buffer: Buffer,
        *,
        workers: int | None = None,
    ) -> list[memoryview]:
        """Decode the contents of ``names`` back to back into ``buffer``; return a view of each.

        ``buffer`` (a bytearray, a writable numpy array, any writable
        contiguous buffer) must hold the sum of the entries' sizes, else
        ``ValueError`` before anything is decoded. The views are slices of
        ``buffer``, in the order of ``names``. Stored entries are copied
        straight from the file into it. Decoding, threads and errors are as
        in :meth:`read_many`.
        """
        readat, entries, failure = self._batch_entries(names)
        if failure is not None:
            # Only entries before the failing name may fail first; decode them.
            self._decode_run(readat, entries, stored_views=True)
            raise failure
        with memoryview(buffer) as target_view:
            if target_view.readonly:
                msg = "read_many_into needs a writable buffer"
                raise TypeError(msg)
            if not target_view.c_contiguous:
                msg = "read_many_into needs a contiguous buffer"
                raise TypeError(msg)
            target = target_view.cast("B")
            total = sum(entry.size for entry in entries)
            if target.nbytes < total:
                # Sizes no content checksum has covered yet: a damaged one is
                # the index's fault, not the buffer's.
                self._index.check()
                msg = (
                    f"buffer of {target.nbytes} bytes is too small for {total} bytes "
                    f"({len(entries)} entries)"
                )
                raise ValueError(msg)
            # A view of its own per entry: pool threads write into them, and
            # the caller may hand them to any thread.
            slots = byte_slots(target[:total], [entry.size for entry in entries])
            if hasattr(readat, "read_ranges"):
                stored = read_ranges(readat, [(e.data_offset, e.stored_size) for e in entries])
                _fill(
                    slots,
                    [
                        self._read_entry(entry, verify=self._verify, stored=view)
                        for entry, view in zip(entries, stored, strict=True)
                    ],
                )
            else:
                self._decode_batch(readat, entries, workers, into=slots)
            return slots

    def _batch_entries(
        self, names: Iterable[str | BundleEntryInfo]
    ) -> tuple[ReadAt, list[Entry], Exception | None]:
        """Look up a batch's names; a failed lookup ends the batch and is returned."""
        readat = self._source.readat
        looked_up, entry_of = self._lookups.get, self._index.entry

        def lookup(name: str | BundleEntryInfo) -> Entry:
            entry = looked_up(name) if type(name) is str else None
            if entry is None:
                entry = entry_of(name.filename if isinstance(name, BundleEntryInfo) else name)
            return entry

        entries, failure = look_up(names, lookup)
        return readat, entries, failure

    def _decode_batch(
        self,
        readat: ReadAt,
        entries: list[Entry],
        workers: int | None,
        *,
        into: list[memoryview] | None,
    ) -> list[Buffer]:
        """Decode a local batch, in a loop or on threads when earlier batches say they pay.

        Without ``into`` each item is the checked content of one entry, as
        bytes. With ``into`` (back-to-back views of one buffer, one per entry,
        from ``byte_slots``) each content is written into its entry's view,
        and the items are those views.
        """

        def loop() -> list[Buffer]:
            results = self._decode_run(readat, entries, stored_views=into is not None)
            return results if into is None else _fill(into, results)

        return run_batch(
            len(entries),
            self._chunk_decoder(readat, entries, into),
            loop=loop,
            kind=("bundle", frame_runs),
            decoded_bytes=sum(entry.size for entry in entries if entry.codec_id),
            workers=workers,
        )

    def _chunk_decoder(
        self, readat: ReadAt, entries: list[Entry], into: list[memoryview] | None
    ) -> Callable[[int, int], list[Buffer]]:
        """Return how a thread decodes a chunk of a batch (``decode_range(start, stop)``).

        In a chunk, each run of zstd frames of one codec goes to libzstd in
        one call (see :data:`frame_runs`); other entries decode one by one,
        in order, so the first error of the chunk is raised.
        """
        runs = self._run_decoders() if frame_runs else {}
        # Where each entry's slot starts in ``into``.
        starts = (
            list(itertools.accumulate((entry.size for entry in entries), initial=0))
            if into is not None
            else []
        )
        checked, sized, view_at = self._checked, self._sized_frames, readat.view_at

        def sized_frame(entry: Entry) -> bool:
            # A run needs frames that were checked (one whole frame each) and
            # that record their size, so that libzstd holds each frame to its
            # entry's size and no entry's bytes can shift into another's.
            if entry.index not in checked or entry.size == 0 or entry.stored_size < 5:
                return False
            head = view_at(entry.data_offset, 5)
            if head[:4] != _ZSTD_MAGIC or not head[4] & _ZSTD_SIZE_FLAGS:
                return False
            sized.add(entry.index)
            return True

        def one(position: int) -> Buffer:
            content = self._decode_one(readat, entries[position], stored_views=into is not None)
            if into is None:
                return content
            slot = into[position]
            slot[:] = content
            return slot

        def decode_range(first: int, stop: int) -> list[Buffer]:
            results: list[Buffer] = []
            position = first
            while position < stop:
                codec_id = entries[position].codec_id
                decoder = runs.get(codec_id)
                end = position
                run_bytes = 0
                while decoder is not None and end < stop:
                    entry = entries[end]
                    if (
                        entry.codec_id != codec_id
                        or (run_bytes + entry.size > _RUN_BYTES and end > position)
                        or (entry.index not in sized and not sized_frame(entry))
                    ):
                        break
                    run_bytes += entry.size
                    end += 1
                # For read_many an entry alone (a large one among them) decodes
                # as fast through zstandard, straight into its bytes.
                if decoder is None or end == position or (into is None and end - position < 2):
                    results.append(one(position))
                    position += 1
                    continue
                if into is None:
                    region = _run_buffer(run_bytes)[:run_bytes]
                else:
                    # This thread's own view of the run's part of the caller's
                    # buffer (the array behind the slots).
                    region = memoryview(into[position].obj)[starts[position] : starts[end]]
                run = entries[position:end]
                try:
                    results.extend(
                        self._decode_frame_run(
                            readat,
                            decoder,
                            run,
                            region,
                            slots=None if into is None else into[position:end],
                        )
                    )
                except (CodecError, ChecksumError):
                    # Decoded again one by one, for the error of its entry.
                    results.extend(one(index) for index in range(position, end))
                position = end
            return results

        return decode_range

    def _decode_frame_run(
        self,
        readat: ReadAt,
        decoder: FrameRuns,
        run: Sequence[Entry],
        region: memoryview,
        *,
        slots: Sequence[memoryview] | None,
    ) -> list[Buffer]:
        """Decode ``run``'s frames into ``region``, which they fill; return each entry's content.

        Each entry's part of ``region`` is checked against its CRC-32; the
        contents are ``slots`` (views of the same memory as ``region``, one per
        entry) or, without them, bytes copied from ``region``.
        """
        view_at = readat.view_at
        frames = b"".join([view_at(entry.data_offset, entry.stored_size) for entry in run])
        decoder.decode_into(frames, region)
        contents: list[Buffer] = []
        verify = self._verify
        position = 0
        for index, entry in enumerate(run):
            part = region[position : position + entry.size]
            position += entry.size
            if verify:
                actual = crc32(part)
                if actual != entry.checksum:
                    raise _errors(entry).checksum(actual)
            contents.append(part.tobytes() if slots is None else slots[index])
        return contents

    def _run_decoders(self) -> dict[int, FrameRuns]:
        """Return the libzstd decoders of frame runs by codec id (none without libzstd)."""
        runs = self._runs
        if runs is None:
            runs = {}
            plain = libzstd.frame_runs(None)
            if plain is not None:
                runs[fmt.CODEC_ZSTD] = plain
                if self._context.raw is not None:
                    with contextlib.suppress(CodecError):
                        runs[fmt.CODEC_ZSTD_DICT] = libzstd.FrameRuns(
                            plain.library, self._context.raw
                        )
            self._runs = runs
        return runs

    def _decode_run(
        self, readat: ReadAt, entries: Sequence[Entry], *, stored_views: bool
    ) -> list[Buffer]:
        """Decode ``entries`` in order on this thread (``read()``'s hot path, inlined)."""
        checked, verify, context, view_at = (
            self._checked,
            self._verify,
            self._context,
            readat.view_at,
        )
        results: list[Buffer] = []
        add = results.append
        for entry in entries:
            codec = entry.codec
            if codec is None or entry.index not in checked or self._source.closed:
                add(self._decode_one(readat, entry, stored_views=stored_views))
                continue
            stored = view_at(entry.data_offset, entry.stored_size)
            if stored_views and entry.codec_id == fmt.CODEC_NONE:
                content: Buffer = stored  # its record passed its checks: stored_size == size
            else:
                try:
                    content = codec.decode(stored, entry.size, context)
                except CodecError as exc:
                    raise _errors(entry).problem(exc) from None
            if verify:
                actual = crc32(content)
                if actual != entry.checksum:
                    raise _errors(entry).checksum(actual)
            add(content)
        return results

    def _decode_one(self, readat: ReadAt, entry: Entry, *, stored_views: bool) -> Buffer:
        if self._source.closed:
            raise _closed()
        stored = readat.view_at(entry.data_offset, entry.stored_size)
        if stored_views and entry.codec_id == fmt.CODEC_NONE:
            # A stored entry's record passed its checks (stored_size == size),
            # so the view is its content.
            if self._verify:
                actual = crc32(stored)
                if actual != entry.checksum:
                    raise _errors(entry).checksum(actual)
            return stored
        return self._read_entry(entry, verify=self._verify, stored=stored)

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
                raise _errors(entry).checksum(actual)
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
            raise _unsupported_codec(entry)
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
                _errors(entry),
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
        # Nothing of the source may stay referenced: a memory map is unmapped
        # (and its file closed) once no view of it is left.
        self._index.close()
        self._runs = None
        self._source.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._source.closed

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Pickle as "reopen the same source" (a path, or the bytes), not the parsed state."""
        readat = self._source.readat
        return (_reopen, (readat, self._verify))

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


def _run_buffer(size: int) -> memoryview:
    """Return this thread's buffer for runs of frames, of ``size`` bytes or more."""
    buffer: memoryview | None = getattr(_run_buffers, "buffer", None)
    if buffer is None or buffer.nbytes < size:
        buffer = _run_buffers.buffer = memoryview(bytearray(max(size, _RUN_BYTES)))
    return buffer


def _fill(slots: list[memoryview], contents: Sequence[Buffer]) -> list[Buffer]:
    """Copy each of ``contents`` into its slot; return the slots."""
    for slot, content in zip(slots, contents, strict=True):
        slot[:] = content
    return list(slots)


def _closed() -> ClosedError:
    return closed_error("bundle")


def _errors(entry: Entry) -> EntryErrors:
    """How the errors of ``entry`` are worded."""
    where = f"#{entry.index}, data at 0x{entry.data_offset:x}"
    return EntryErrors(
        name=entry.name,
        detail=where,
        crc_where=where,
        expected_crc=entry.checksum,
        format_error=BundleFormatError,
        checksum_error=ChecksumError,
        truncated_error=BundleFormatError,
    )


def _unsupported_codec(entry: Entry) -> UnsupportedFeatureError:
    msg = f"entry {entry.name!r} uses codec id {entry.codec_id}, unknown to this reader"
    return UnsupportedFeatureError(msg, method=entry.codec_id)


def _reopen(readat: ReadAt, verify: bool) -> BundleReader:
    # The unpickled source belongs to the reader.
    reader = BundleReader(readat, verify=verify, close_source=True)
    reader.filename = getattr(readat, "path", None)
    return reader
