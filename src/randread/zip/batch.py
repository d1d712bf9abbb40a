"""The batch half of ZipReader: ``read_many`` and ``read_many_into``.

A batch is looked up first (a missing name ends it, its error raised after
the entries before it), its bytes fetched together over a remote source
(nearby entries in one request, requests concurrently), then decoded by the
shared batch engine (:mod:`randread._core.batch`): in a loop, or on threads
when earlier batches of the kind say they pay.
"""

from __future__ import annotations

import functools
import operator
from typing import TYPE_CHECKING, Any, TypeVar, cast

from randread._core.batch import (
    look_up,
    read_one_by_one,
    run_batch,
    writable_target,
)
from randread.readat import byte_slots, read_ranges
from randread.zip import records as rec
from randread.zip.local import entry_errors, entry_span
from randread.zip.methods import (
    ChecksumMismatchError,
    DecodeError,
    crc32,
    fast_deflate_backend,
    get_method,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from zipfile import ZipInfo

    from typing_extensions import Buffer

    from randread._core.source import Source
    from randread.readat import ReadAt
    from randread.zip.directory import CentralDirectoryEntry
    from randread.zip.methods import Method

__all__ = ["ZipBatches"]

_STORED = rec.METHOD_STORED
#: what a name's memo in ZipReader.read says the entry decodes (0 when stored)
_DECODED = operator.itemgetter(5)
_T = TypeVar("_T")


class ZipBatches:
    """``read_many`` and ``read_many_into``, for :class:`~randread.ZipReader` to inherit.

    It uses the reader's own state (its source, the known data offsets) and
    its single-entry reads.
    """

    # No instance layout of its own: zipfile.Path swaps a reader's class for
    # one of zipfile's subclasses, which needs ZipFile's layout.
    __slots__ = ()

    _source: Source
    _data_offset_view: memoryview
    #: whether the source is local (not fetched in ranges): set by the reader
    _local: bool
    _ready: dict[str, tuple[Any, ...]]

    if TYPE_CHECKING:

        def read(self, name: str | ZipInfo, pwd: bytes | None = None) -> bytes:
            """Return the content of ``name`` (ZipReader's)."""

        def _entry(self, member: object) -> CentralDirectoryEntry: ...

        def _read_entry(
            self, entry: CentralDirectoryEntry, pwd: bytes | None, span: memoryview | None = None
        ) -> bytes: ...

        def _decode(
            self,
            entry: CentralDirectoryEntry,
            readat: ReadAt,
            data_offset: int,
            method: Method,
            compressed: memoryview | None = None,
        ) -> bytes: ...

    def read_many(
        self,
        names: Iterable[str | ZipInfo],
        pwd: bytes | None = None,
        *,
        workers: int | None = None,
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
        if type(names) is not list:
            names = list(names)
        if self._local:
            read = self.read if pwd is None else functools.partial(self.read, pwd=pwd)
            small = read_one_by_one(names, workers, read)
            if small is not None:
                return small
        # Apart, so that the small batches above pay for none of its closures.
        return self._read_batch(names, pwd, workers)

    def _read_batch(
        self, names: list[str | ZipInfo], pwd: bytes | None, workers: int | None
    ) -> list[bytes]:
        read = self.read
        if self._local:
            # Names read before: their memo says what the batch decodes, and
            # read() finds them again; no lookup of its own.
            memo = cast("Callable[[object], Any]", self._ready.get)
            try:
                decoded = sum(map(_DECODED, map(memo, names)))
            except TypeError:  # a name not read yet (or a ZipInfo): looked up below
                pass
            else:
                return run_batch(
                    len(names),
                    lambda start, stop: [read(name, pwd) for name in names[start:stop]],
                    kind=("zip", fast_deflate_backend()),
                    decoded_bytes=decoded,
                    workers=workers,
                )
        entries, views, readat, failure = self._batch_data(names)
        read_entry, prepared_data, decode = self._read_entry, self._prepared_data, self._decode

        def decode_range(start: int, stop: int) -> list[bytes]:
            if views is None:  # a local source: read() and its hot path
                return [read(name, pwd) for name in names[start:stop]]
            results = []
            for entry, view in zip(entries[start:stop], views[start:stop], strict=True):
                prepared = prepared_data(entry)
                if prepared is not None and len(view) == entry.compressed_size:
                    results.append(decode(entry, readat, *prepared, view))
                else:
                    results.append(read_entry(entry, pwd, span=view))
            return results

        results = self._run_batch(entries, views, decode_range, workers)
        if failure is not None:
            raise failure
        return results

    def read_many_into(
        self,
        names: Iterable[str | ZipInfo],
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
            target = writable_target(
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
                        raise entry_errors(entry, data_offset).checksum(actual)
                else:
                    try:
                        slot[:] = method.decode_checked(view, entry.uncompressed_size, entry.crc32)
                    except ChecksumMismatchError as exc:
                        raise entry_errors(entry, data_offset).checksum(exc.actual) from None
                    except DecodeError as exc:
                        raise entry_errors(entry, data_offset).problem(exc) from None
                return slot

            return self._run_batch(
                entries,
                views,
                lambda start, stop: [decode(position) for position in range(start, stop)],
                workers,
            )

    def _prepared_data(self, entry: CentralDirectoryEntry) -> tuple[int, Method] | None:
        """Return where the data of an entry that passed its checks starts, and its method.

        ``None`` for an entry not read yet (or encrypted): read it through _prepare.
        """
        data_offset = self._data_offset_view[entry.ordinal]
        return (data_offset, get_method(entry.method)) if data_offset >= 0 else None

    def _batch_data(
        self, names: Iterable[str | ZipInfo]
    ) -> tuple[list[CentralDirectoryEntry], list[memoryview] | None, ReadAt, Exception | None]:
        """Return a batch's entries and, for each, its data (or the span from its header on).

        A local source's bytes are viewed as each entry is decoded instead
        (``None``), as read() does. A name that is not there ends the batch;
        its error comes last, to be raised after the entries before it.
        """
        entries, failure = look_up(names, self._entry)
        readat = self._source.readat
        if self._local:
            return entries, None, readat, failure
        offsets = self._data_offset_view
        ranges = []
        for entry in entries:
            data_offset = offsets[entry.ordinal]
            if data_offset >= 0:
                ranges.append((data_offset, entry.compressed_size))
            else:
                ranges.append(entry_span(readat, entry, with_data=True))
        return entries, read_ranges(readat, ranges), readat, failure

    @staticmethod
    def _run_batch(
        entries: list[CentralDirectoryEntry],
        views: list[memoryview] | None,
        decode_range: Callable[[int, int], list[_T]],
        workers: int | None,
    ) -> list[_T]:
        """Decode a batch with the batch engine (fetched remote data: in a loop)."""
        return run_batch(
            len(entries),
            decode_range,
            kind=("zip", fast_deflate_backend()),
            decoded_bytes=sum(e.uncompressed_size for e in entries if e.method != _STORED),
            workers=workers,
            local=views is None,
        )
