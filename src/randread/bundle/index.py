"""A bundle's index: footer, entry table, name lookup and their checks (formats/bundle.md).

Open maps the index and reads the footer; nothing is built per entry. A name
lookup hashes the name, binary-searches the hash table and checks the stored
name; an entry's record is checked against the file before any of its bytes
are used, and the result of a lookup is remembered (a dict write of an
immutable value, safe without a lock), so hot entries cost a dict lookup.
"""

from __future__ import annotations

import itertools
import sys
import threading
from array import array
from bisect import bisect_left
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from randread._checksum import crc32
from randread._core.errors import EntryErrors
from randread._locks import TimedLock
from randread.bundle import format as fmt
from randread.bundle.codecs import Codec, codec_by_id
from randread.bundle.info import ENTRY_DTYPE
from randread.errors import BundleFormatError, ChecksumError, UnsupportedFeatureError
from randread.readat import exporter_of, view_of

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import numpy.typing as npt
    from typing_extensions import Buffer

    from randread.errors import ClosedError
    from randread.readat._views import Exporter

__all__ = ["BundleIndex", "Entry", "check_layout", "entry_errors", "unsupported_codec"]

_HEADER_SIZE = fmt.HEADER.size
_FOOTER_SIZE = fmt.FOOTER.size
_RECORD = fmt.ENTRY_RECORD
_RECORD_SIZE = _RECORD.size


@dataclass(frozen=True, slots=True)
class Entry:
    """A looked-up entry whose record passed every check; immutable, shareable."""

    index: int
    name: str
    data_offset: int
    stored_size: int
    size: int
    checksum: int
    codec_id: int
    codec: Codec | None
    record: tuple[Any, ...]


class BundleIndex:
    """The index of an open bundle, shared by every thread that reads it.

    ``index`` holds the bytes of the index area (``[index_offset,
    footer_offset)``) of a bundle whose ``footer`` passed
    :func:`check_layout`; ``closed_error`` is what using the index after
    :meth:`close` raises.
    """

    def __init__(
        self,
        footer: fmt.Footer,
        index: Buffer,
        *,
        closed_error: Callable[[], ClosedError],
    ) -> None:
        self.footer = footer
        self.count = footer.entry_count
        #: the header's alignment of stored entries, set by the reader once known
        self.alignment = 1
        self._closed_error = closed_error
        # The index as an exporter that any thread may take views from; each
        # thread reads it through views of its own (_IndexBlocks).
        exporter = exporter_of(index)
        self._exporter: Exporter | None = exporter
        self._blocks: _IndexBlocks | None = _IndexBlocks(exporter, footer)
        #: the archive metadata map, as the index says (see :meth:`check`)
        self.metadata = fmt.decode_metadata(
            bytes(
                self.blocks.block(footer.archive_metadata_offset, footer.archive_metadata_length)
            ),
            f"archive metadata at 0x{footer.archive_metadata_offset:x}",
        )
        #: name -> its checked entry, filled as names are looked up
        self.lookups: dict[str, Entry] = {}
        # The index checksum, checked once when first needed (check): None
        # until then, then "" or the error message.
        self._problem: str | None = None
        self._lock = TimedLock("BundleReader.index_checksum")

    @property
    def blocks(self) -> _IndexBlocks:
        """Return this thread's views of the index; the reader's ClosedError once closed."""
        blocks = self._blocks
        if blocks is None:
            raise self._closed_error()
        return blocks

    def close(self) -> None:
        """Drop every view of the index, so that a memory map can go."""
        self._blocks = None
        self._exporter = None

    def table(self) -> npt.NDArray[np.void]:
        """Return the entry table as a read-only numpy structured array (no copy)."""
        # From the index's exporter, not a thread's view: the caller may hand
        # the array to any thread.
        exporter = self._exporter
        if exporter is None:
            raise self._closed_error()
        start = self.footer.entry_table_offset - self.footer.index_offset
        table = np.frombuffer(exporter, dtype=np.uint8)[start : start + self.count * _RECORD_SIZE]
        return table.view(ENTRY_DTYPE)

    def entry(self, name: str) -> Entry:
        """Return the checked entry of ``name``; ``KeyError`` when there is none."""
        entry = self.lookups.get(name)
        if entry is not None:
            return entry
        try:
            raw = name.encode("utf-8")
        except (UnicodeEncodeError, AttributeError):
            raise KeyError(name) from None
        wanted = fmt.name_hash(raw)
        blocks, count = self.blocks, self.count
        hashes, order = blocks.hashes, blocks.order
        position = bisect_left(hashes, wanted)
        while position < count and hashes[position] == wanted:
            index = order[position]
            if index >= count:
                msg = (
                    f"hash order at 0x{self.footer.hash_order_offset + 4 * position:x}: "
                    f"entry index {index} is past the last entry ({count - 1})"
                )
                raise BundleFormatError(msg)
            if self.raw_name_at(index) == raw:
                entry = self.entry_at(index)
                self.lookups[name] = entry
                return entry
            position += 1
        # A damaged hash table, hash order or name could fake this miss: only
        # an index that passes its checksum may answer "not there".
        self.check()
        msg = f"There is no item named {name!r} in the archive"
        raise KeyError(msg)

    def check(self) -> None:
        """Raise BundleFormatError if the index fails its checksum; computed once per reader.

        Open does not read the whole index (it stays O(1)); whatever returns
        index fields that no content checksum covers (names, sizes, times,
        metadata, a lookup miss) calls this first.
        """
        problem = self._problem
        if problem is None:
            with self._lock:
                problem = self._problem
                if problem is None:
                    problem = self._problem = self._checksum_problem()
        if problem:
            raise BundleFormatError(problem)

    def _checksum_problem(self) -> str:
        footer = self.footer
        actual = crc32(self.blocks.index)
        if actual == footer.index_checksum:
            return ""
        return (
            f"index at 0x{footer.index_offset:x}: checksum 0x{footer.index_checksum:08x} "
            f"does not match its content (0x{actual:08x})"
        )

    def record_offset(self, index: int) -> int:
        """Return where entry ``index``'s record is in the file."""
        return self.footer.entry_table_offset + index * _RECORD_SIZE

    def raw_name_at(self, index: int) -> bytes:
        """Return entry ``index``'s name as stored, checked to lie in the names block."""
        blocks = self.blocks
        record = _RECORD.unpack_from(blocks.table, index * _RECORD_SIZE)
        name_offset, name_length = record[3], record[6]
        names = blocks.names
        if name_offset + name_length > len(names):
            msg = (
                f"entry #{index} at 0x{self.record_offset(index):x}: name at +{name_offset} "
                f"of {name_length} bytes runs past the names block ({len(names)} bytes)"
            )
            raise BundleFormatError(msg)
        return bytes(names[name_offset : name_offset + name_length])

    def name_at(self, index: int) -> str:
        """Return entry ``index``'s name, checked to be UTF-8."""
        raw = self.raw_name_at(index)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            msg = f"entry #{index} at 0x{self.record_offset(index):x}: name {raw!r} is not UTF-8"
            raise BundleFormatError(msg) from None

    def entry_at(self, index: int) -> Entry:
        """Check entry ``index``'s record against the file and return it."""
        record = _RECORD.unpack_from(self.blocks.table, index * _RECORD_SIZE)
        (data_offset, stored_size, size, _, _, mtime_ns, _, _, checksum, mode, codec_id, flags) = (
            record
        )
        where = f"entry #{index} at 0x{self.record_offset(index):x}"
        footer = self.footer
        if data_offset < _HEADER_SIZE or data_offset + stored_size > footer.index_offset:
            msg = (
                f"{where}: data at 0x{data_offset:x} of {stored_size} bytes lies outside the "
                f"data area (0x{_HEADER_SIZE:x} to 0x{footer.index_offset:x})"
            )
            raise BundleFormatError(msg)
        if flags & ~fmt.ENTRY_FLAGS_KNOWN:
            msg = f"{where}: undefined flag bits 0x{flags:02x}"
            raise BundleFormatError(msg)
        # Fields a flag does not mark valid are zero (formats/bundle.md, Entry table).
        if mtime_ns and not flags & fmt.ENTRY_HAS_MTIME:
            msg = f"{where}: mtime_ns {mtime_ns} is not zero but flag HAS_MTIME is clear"
            raise BundleFormatError(msg)
        if mode and not flags & fmt.ENTRY_HAS_MODE:
            msg = f"{where}: mode 0o{mode:o} is not zero but flag HAS_MODE is clear"
            raise BundleFormatError(msg)
        if codec_id == fmt.CODEC_NONE:
            if stored_size != size:
                msg = f"{where}: stored entry has stored size {stored_size} but size {size}"
                raise BundleFormatError(msg)
            if data_offset % self.alignment:
                msg = (
                    f"{where}: stored entry at 0x{data_offset:x} is not aligned to {self.alignment}"
                )
                raise BundleFormatError(msg)
        return Entry(
            index,
            self.name_at(index),
            data_offset,
            stored_size,
            size,
            checksum,
            codec_id,
            codec_by_id(codec_id),
            record,
        )

    def metadata_of(self, entry: Entry) -> dict[str, str]:
        """Return ``entry``'s metadata map (checked to lie in the metadata block)."""
        offset, length = entry.record[4], entry.record[7]
        if not length:
            return {}
        metadata = self.blocks.entry_metadata
        if offset + length > len(metadata):
            msg = (
                f"entry #{entry.index} ({entry.name!r}): metadata at +{offset} of {length} "
                f"bytes runs past the metadata block ({len(metadata)} bytes)"
            )
            raise BundleFormatError(msg)
        return fmt.decode_metadata(
            bytes(metadata[offset : offset + length]),
            f"entry #{entry.index} ({entry.name!r}) at 0x{self.footer.metadata_offset + offset:x}",
        )

    def verify(self) -> None:
        """Check the whole index: every check of formats/bundle.md, in O(n log n).

        Raises :class:`~randread.BundleFormatError` naming the first problem.
        """
        footer = self.footer
        self.check()
        count = self.count
        blocks = self.blocks
        hashes = np.frombuffer(blocks.hash_block, dtype="<u8", count=count)
        order = np.frombuffer(blocks.order_block, dtype="<u4", count=count)
        if count and np.any(hashes[1:] < hashes[:-1]):
            msg = f"hash table at 0x{footer.hash_table_offset:x}: not sorted"
            raise BundleFormatError(msg)
        if not np.array_equal(np.sort(order), np.arange(count, dtype="<u4")):
            msg = f"hash order at 0x{footer.hash_order_offset:x}: not a permutation of the entries"
            raise BundleFormatError(msg)
        names: set[str] = set()
        for position in range(count):
            entry = self.entry_at(int(order[position]))
            if entry.name in names:
                msg = f"entry #{entry.index}: name {entry.name!r} repeats"
                raise BundleFormatError(msg)
            names.add(entry.name)
            if fmt.name_hash(entry.name.encode("utf-8")) != int(hashes[position]):
                msg = (
                    f"hash table at 0x{footer.hash_table_offset:x}: position {position} "
                    f"does not hold the hash of {entry.name!r}"
                )
                raise BundleFormatError(msg)
            self.metadata_of(entry)
        self._check_overlaps()

    def _check_overlaps(self) -> None:
        table = self.table()
        sized = table[table["stored_size"] > 0]
        if not len(sized):
            return
        ordering = np.argsort(sized["data_offset"], kind="stable")
        starts = sized["data_offset"][ordering]
        ends = starts + sized["stored_size"][ordering]
        bad = np.nonzero(starts[1:] < ends[:-1])[0]
        if len(bad):
            first = int(bad[0])
            msg = (
                f"entry data at 0x{int(starts[first + 1]):x} "
                f"overlaps the entry data at 0x{int(starts[first]):x}"
            )
            raise BundleFormatError(msg)
        footer = self.footer
        if footer.dictionary_length:
            dictionary_end = footer.dictionary_offset + footer.dictionary_length
            inside = (starts < dictionary_end) & (ends > footer.dictionary_offset)
            if np.any(inside):
                msg = f"entry data overlaps the dictionary at 0x{footer.dictionary_offset:x}"
                raise BundleFormatError(msg)


def check_layout(footer: fmt.Footer, footer_offset: int) -> None:
    """Check the footer's blocks against the file (formats/bundle.md, Footer)."""
    index_offset = footer.index_offset
    where = f"footer at 0x{footer_offset:x}"
    if not _HEADER_SIZE <= index_offset <= footer_offset or index_offset % 8:
        msg = (
            f"{where}: index offset 0x{index_offset:x} is not an 8-aligned offset "
            f"between 0x20 and 0x{footer_offset:x}"
        )
        raise BundleFormatError(msg)
    count = footer.entry_count
    index_length = footer_offset - index_offset
    if count > index_length // (_RECORD_SIZE + 12):
        msg = f"{where}: entry count {count} does not fit in an index of {index_length} bytes"
        raise BundleFormatError(msg)
    blocks = [
        ("entry table", footer.entry_table_offset, count * _RECORD_SIZE, 8),
        ("hash table", footer.hash_table_offset, count * 8, 8),
        ("hash order", footer.hash_order_offset, count * 4, 4),
        ("names", footer.names_offset, footer.names_length, 1),
        ("entry metadata", footer.metadata_offset, footer.metadata_length, 1),
        ("archive metadata", footer.archive_metadata_offset, footer.archive_metadata_length, 1),
    ]
    placed = []
    for name, offset, length, alignment in blocks:
        if not length:
            continue
        if offset < index_offset or offset + length > footer_offset or offset % alignment:
            msg = (
                f"{where}: {name} at 0x{offset:x} of {length} bytes is not an {alignment}-aligned "
                f"block inside the index area (0x{index_offset:x} to 0x{footer_offset:x})"
            )
            raise BundleFormatError(msg)
        placed.append((offset, offset + length, name))
    placed.sort()
    for (_, end, first), (start, _, second) in itertools.pairwise(placed):
        if start < end:
            msg = f"{where}: {second} at 0x{start:x} overlaps the {first}"
            raise BundleFormatError(msg)
    if footer.dictionary_length and (
        footer.dictionary_offset < _HEADER_SIZE
        or footer.dictionary_offset + footer.dictionary_length > index_offset
    ):
        msg = (
            f"{where}: dictionary at 0x{footer.dictionary_offset:x} of "
            f"{footer.dictionary_length} bytes lies outside the data area"
        )
        raise BundleFormatError(msg)


class _IndexBlocks(threading.local):
    """Views of a bundle's index and of its blocks, per thread (formats/bundle.md, Index).

    Made once per thread from the index's exporter, so that no two threads
    slice or take buffers from one memoryview (see randread.readat._views).
    """

    index: memoryview
    table: memoryview
    hash_block: memoryview
    order_block: memoryview
    hashes: Sequence[int]
    order: Sequence[int]
    names: memoryview
    entry_metadata: memoryview

    def __init__(self, exporter: Exporter, footer: fmt.Footer) -> None:
        self.index = view_of(exporter)
        self._start = footer.index_offset
        count = footer.entry_count
        self.table = self.block(footer.entry_table_offset, count * _RECORD_SIZE)
        self.hash_block = self.block(footer.hash_table_offset, count * 8)
        self.order_block = self.block(footer.hash_order_offset, count * 4)
        self.hashes = _little_endian_ints(self.hash_block, "Q")
        self.order = _little_endian_ints(self.order_block, "I")
        self.names = self.block(footer.names_offset, footer.names_length)
        self.entry_metadata = self.block(footer.metadata_offset, footer.metadata_length)

    def block(self, offset: int, length: int) -> memoryview:
        """Return the ``length`` bytes at file offset ``offset`` (inside the index)."""
        start = offset - self._start
        return self.index[start : start + length]


def _little_endian_ints(view: memoryview, typecode: Literal["Q", "I"]) -> Sequence[int]:
    """Return the little-endian array in ``view`` (``"Q"``/``"I"`` items) as ints.

    Zero-copy on little-endian machines; a byte-swapped copy elsewhere.
    """
    if sys.byteorder == "little":
        return view.cast(typecode)
    values = array(typecode, view)
    values.byteswap()
    return values


def entry_errors(entry: Entry) -> EntryErrors:
    """Return how the errors of ``entry`` are worded."""
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


def unsupported_codec(entry: Entry) -> UnsupportedFeatureError:
    """Return the error for an entry whose codec this reader does not know."""
    msg = f"entry {entry.name!r} uses codec id {entry.codec_id}, unknown to this reader"
    return UnsupportedFeatureError(msg, method=entry.codec_id)
