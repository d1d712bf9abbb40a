"""The batch half of BundleReader: ``read_many`` and ``read_many_into``.

A batch is looked up first (a missing name ends it, its error raised after
the entries before it), fetched together over a remote source, then decoded
by the shared batch engine (:mod:`randread._core.batch`): in a loop, or on
threads when earlier batches of the kind say they pay. On threads, runs of
zstd frames go to libzstd in one call each (:mod:`randread.bundle.libzstd`).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from typing import TYPE_CHECKING, cast

from randread._checksum import crc32
from randread._core.batch import (
    fetches_ranges,
    look_up,
    read_one_by_one,
    run_batch,
    writable_target,
)
from randread._core.errors import closed_error
from randread.bundle import format as fmt
from randread.bundle import libzstd
from randread.bundle.codecs import CodecError
from randread.bundle.index import entry_errors
from randread.bundle.info import BundleEntryInfo
from randread.errors import ChecksumError
from randread.readat import byte_slots, read_ranges

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from typing_extensions import Buffer

    from randread._core.source import Source
    from randread.bundle.codecs import DictionaryContext
    from randread.bundle.index import BundleIndex, Entry
    from randread.bundle.libzstd import FrameRuns
    from randread.readat import ReadAt, ThreadViews

__all__ = ["BundleBatches", "frame_runs"]

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


class BundleBatches:
    """``read_many`` and ``read_many_into``, for :class:`~randread.BundleReader` to inherit.

    It uses the reader's own state (its source, index, dictionary and
    checks) and its single-entry reads.
    """

    _source: Source
    _index: BundleIndex
    _context: DictionaryContext
    _verify: bool
    _lookups: dict[str, Entry]
    _checked: set[int]
    _sized_frames: set[int]
    _whole: ThreadViews | None
    #: whether the source is local (not fetched in ranges): set by the reader
    _local: bool
    _runs: dict[int, FrameRuns] | None

    if TYPE_CHECKING:

        def read(self, name: str | BundleEntryInfo) -> bytes:
            """Return the content of ``name`` (BundleReader's)."""

        def _read_entry(
            self, entry: Entry, *, verify: bool, stored: memoryview | None = None
        ) -> bytes: ...

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
        if type(names) is not list:
            names = list(names)
        if self._local:
            small = read_one_by_one(names, workers, self.read)
            if small is not None:
                return small
        readat, entries, failure = self._batch_entries(names)
        if fetches_ranges(readat):
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
            total = sum(entry.size for entry in entries)
            if target_view.nbytes < total:
                # Sizes no content checksum has covered yet: a damaged one is
                # the index's fault, not the buffer's.
                self._index.check()
            target = writable_target(target_view, total, "read_many_into")
            # A view of its own per entry: pool threads write into them, and
            # the caller may hand them to any thread.
            slots = byte_slots(target[:total], [entry.size for entry in entries])
            if fetches_ranges(readat):
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
        # Names looked up before, all of them: one dict lookup each.
        known = [looked_up(name) for name in names]  # type: ignore[arg-type]
        if all(known):  # no None: every name was found
            return readat, cast("list[Entry]", known), None

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
                    raise entry_errors(entry).checksum(actual)
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
        # This thread's view of a source in memory, as read() slices it. A
        # batch that has started finishes on valid memory if the reader is
        # closed meanwhile, as a read does.
        whole = self._whole
        view = whole.view if whole is not None else None
        results: list[Buffer] = []
        add = results.append
        for entry in entries:
            codec = entry.codec
            if codec is None or entry.index not in checked:
                add(self._decode_one(readat, entry, stored_views=stored_views))
                continue
            start = entry.data_offset
            stored = (
                view[start : start + entry.stored_size]
                if view is not None
                else view_at(start, entry.stored_size)
            )
            if stored_views and entry.codec_id == fmt.CODEC_NONE:
                content: Buffer = stored  # its record passed its checks: stored_size == size
            else:
                try:
                    content = codec.decode(stored, entry.size, context)
                except CodecError as exc:
                    raise entry_errors(entry).problem(exc) from None
            if verify:
                actual = crc32(content)
                if actual != entry.checksum:
                    raise entry_errors(entry).checksum(actual)
            add(content)
        return results

    def _decode_one(self, readat: ReadAt, entry: Entry, *, stored_views: bool) -> Buffer:
        if self._source.closed:
            raise closed_error("bundle")
        stored = readat.view_at(entry.data_offset, entry.stored_size)
        if stored_views and entry.codec_id == fmt.CODEC_NONE:
            # A stored entry's record passed its checks (stored_size == size),
            # so the view is its content.
            if self._verify:
                actual = crc32(stored)
                if actual != entry.checksum:
                    raise entry_errors(entry).checksum(actual)
            return stored
        return self._read_entry(entry, verify=self._verify, stored=stored)


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
