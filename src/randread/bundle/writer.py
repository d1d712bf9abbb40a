"""BundleWriter: stream entries into a bundle file, atomically (formats/bundle.md).

Entries are compressed (on several threads if asked) and written as they come;
the index and footer follow at ``close()``. Everything goes to a temporary file
in the target directory, which is fsynced and renamed into place only when
complete, so a failure or a crash never leaves a partial bundle under the
target name, and never touches a file already there.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

import numpy as np
import zstandard

from randread._checksum import crc32
from randread.bundle import format as fmt
from randread.bundle.codecs import Codec, DictionaryContext, codec_by_name

if TYPE_CHECKING:
    import types
    from collections.abc import Callable, Iterable, Mapping

    from typing_extensions import Self

__all__ = ["BundleWriter", "train_dictionary"]

PathLike = str | os.PathLike[str]
CodecChoice = Literal["auto", "none", "zstd", "lz4"]

#: ``codec="auto"`` stores entries smaller than this uncompressed.
AUTO_MIN_SIZE = 64
#: ... and entries that compression shrinks by less than 1/AUTO_MIN_SAVING.
AUTO_MIN_SAVING = 10
#: Default size of a trained zstd dictionary. Decoding with a dictionary costs
#: more the larger it is: on the stdlib sources (mean 17 KB) 16 KiB bought 69 %
#: of the size gain of zstd's default 110 KiB for a third of the decode cost.
DEFAULT_DICTIONARY_SIZE = 16_384
#: ``dictionary="train"`` buffers up to this much content as training samples.
DEFAULT_TRAIN_BYTES = 16 << 20
_TRAIN_MAX_SAMPLES = 20_000
_WRITE_CHUNK = 1 << 20


def train_dictionary(
    samples: Iterable[bytes], *, size: int = DEFAULT_DICTIONARY_SIZE, level: int = 3
) -> bytes | None:
    """Train a zstd dictionary from ``samples``; ``None`` if they are too few or too small.

    zstd's trainer needs a fair number of samples (a few dozen at the least);
    with fewer it fails, and a bundle is then better off without a dictionary.
    """
    kept: list[bytes | bytearray | memoryview] = [sample for sample in samples if sample]
    total = sum(len(sample) for sample in kept)
    if len(kept) < 8 or total < 4 * 1024:
        return None
    try:
        trained = zstandard.train_dictionary(min(size, total // 4), kept, level=level)
    except zstandard.ZstdError:
        return None
    return trained.as_bytes()


@dataclass(frozen=True, slots=True)
class _Pending:
    """An entry accepted by ``add`` whose data is not written yet."""

    name: bytes
    mtime_ns: int | None
    mode: int | None
    metadata: bytes


@dataclass(frozen=True, slots=True)
class _Encoded:
    codec: int
    stored: bytes
    size: int
    checksum: int


class BundleWriter:
    """Write a bundle: ``add()`` entries, then ``close()`` (or leave the ``with`` block).

    ``codec`` is ``"zstd"`` (default), ``"lz4"``, ``"none"``, or ``"auto"``:
    zstd, except that entries under 64 bytes or that zstd shrinks by less than
    10 % are stored. ``level`` is the zstd level (or the LZ4-HC level for lz4;
    0 selects plain LZ4). ``dictionary`` is ``None``, the bytes of a zstd
    dictionary, or ``"train"``: the first entries (up to ``train_bytes`` of
    content) are held back as samples, a dictionary is trained on them, and
    all entries are written with it. ``alignment`` (a power of two up to 4096)
    aligns stored entries for zero-copy numpy views. ``workers`` > 1
    compresses on that many threads (zstd and lz4 release the GIL). ``comment``
    and ``metadata`` describe the whole bundle.

    The file appears at ``path`` only when ``close()`` succeeds; an exception
    in the ``with`` block, or ``abort()``, leaves nothing behind. An existing
    file at ``path`` is replaced only with ``overwrite=True``
    (``FileExistsError`` otherwise). ``before_publish``, if given, is called
    with the path of the complete temporary file just before it is moved into
    place (to verify it, say); an exception from it discards the file.

    Memory use is bounded by the largest entry times the number of workers,
    plus the index (names and metadata), plus the training samples with
    ``dictionary="train"``.

    A writer is used from one thread at a time.
    """

    def __init__(
        self,
        path: PathLike,
        *,
        codec: CodecChoice = "zstd",
        level: int = 3,
        dictionary: bytes | Literal["train"] | None = None,
        dictionary_size: int = DEFAULT_DICTIONARY_SIZE,
        train_bytes: int = DEFAULT_TRAIN_BYTES,
        alignment: int = 8,
        workers: int = 1,
        comment: str = "",
        metadata: Mapping[str, str] | None = None,
        overwrite: bool = False,
        before_publish: Callable[[Path], None] | None = None,
    ) -> None:
        if codec not in ("auto", "none", "zstd", "lz4"):
            msg = f"codec must be 'auto', 'none', 'zstd' or 'lz4', not {codec!r}"
            raise ValueError(msg)
        if not 1 <= alignment <= fmt.ALIGNMENT_MAX or alignment & (alignment - 1):
            msg = f"alignment must be a power of two from 1 to 4096, not {alignment}"
            raise ValueError(msg)
        if workers < 1:
            msg = f"workers must be at least 1, not {workers}"
            raise ValueError(msg)
        if dictionary is not None and dictionary != "train" and not isinstance(dictionary, bytes):
            msg = "dictionary must be None, 'train' or the bytes of a zstd dictionary"  # type: ignore[unreachable]
            raise TypeError(msg)
        self.path = Path(path)
        if not overwrite and self.path.exists():
            msg = f"{self.path} exists; pass overwrite=True to replace it"
            raise FileExistsError(msg)
        self._overwrite = overwrite
        self._before_publish = before_publish
        self._codec = codec
        self._level = level
        self._alignment = alignment
        self._dictionary_size = dictionary_size
        self._train_bytes = train_bytes
        self.comment = comment
        self.metadata: dict[str, str] = dict(metadata or {})
        reserved = [key for key in self.metadata if key.startswith(fmt.RESERVED_KEY_PREFIX)]
        if reserved:
            msg = f"metadata keys starting {fmt.RESERVED_KEY_PREFIX!r} are the format's: {reserved}"
            raise ValueError(msg)
        self._context: DictionaryContext | None = None
        self._training: list[tuple[_Pending, bytes]] | None = None
        self._training_size = 0
        if dictionary is not None and codec in ("none", "lz4"):
            msg = f"a zstd dictionary does not apply to codec {codec!r}; use 'zstd' or 'auto'"
            raise ValueError(msg)
        if dictionary == "train":
            self._training = []
        elif isinstance(dictionary, bytes):
            self._context = DictionaryContext(dictionary)

        # Per-entry index state: fixed-size fields, then the variable blocks.
        self._records: list[tuple[int, ...]] = []
        self._hashes: list[int] = []
        self._names = bytearray()
        self._entry_metadata = bytearray()
        self._seen: set[bytes] = set()

        self._pool = ThreadPoolExecutor(workers, "randread-bundle") if workers > 1 else None
        self._workers = workers
        self._in_flight: deque[tuple[_Pending, Future[_Encoded]]] = deque()

        directory = self.path.parent
        # Not mkstemp: its 0600 mode would make the bundle private to its writer.
        # 0o666 less the umask is what open(path, "wb") would give.
        self._temporary = directory / f".{self.path.name}.{secrets.token_hex(6)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        self._file: BinaryIO | None = os.fdopen(os.open(self._temporary, flags, 0o666), "wb")
        self._position = 0
        self._dictionary_offset = 0
        self._finished = False
        try:
            self._write(fmt.Header(fmt.VERSION_MAJOR, fmt.VERSION_MINOR, alignment, 0).encode())
        except BaseException:
            self.abort()
            raise

    # -- adding entries -------------------------------------------------------

    def add(
        self,
        name: str,
        data: bytes | bytearray | memoryview,
        *,
        mtime: float | None = None,
        mode: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Add an entry. ``mtime`` is in seconds since the epoch, ``mode`` POSIX mode bits.

        Names must be unique; ``ValueError`` for a repeated name.
        """
        mtime_ns = None if mtime is None else round(mtime * 1_000_000_000)
        self._add(name, data, mtime_ns=mtime_ns, mode=mode, metadata=metadata)

    def add_file(self, path: PathLike, arcname: str | None = None) -> None:
        """Add the regular file at ``path`` (by default under its own name), with mtime and mode."""
        path = Path(path)
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            msg = f"{path} is not a regular file"
            raise ValueError(msg)
        name = arcname if arcname is not None else path.as_posix().lstrip("/")
        self._add(
            name, path.read_bytes(), mtime_ns=info.st_mtime_ns, mode=info.st_mode, metadata=None
        )

    def _add(
        self,
        name: str,
        data: bytes | bytearray | memoryview,
        *,
        mtime_ns: int | None,
        mode: int | None,
        metadata: Mapping[str, str] | None,
    ) -> None:
        self._check_open()
        raw_name = name.encode("utf-8")
        if raw_name in self._seen:
            msg = f"duplicate entry name {name!r}: bundle names are unique"
            raise ValueError(msg)
        if mode is not None and not 0 <= mode <= 0xFFFF:
            msg = f"mode {mode:#o} of {name!r} does not fit the 16-bit mode field"
            raise ValueError(msg)
        if mtime_ns is not None and not -(1 << 63) <= mtime_ns < (1 << 63):
            msg = f"mtime of {name!r} is out of range"
            raise ValueError(msg)
        pending = _Pending(raw_name, mtime_ns, mode, fmt.encode_metadata(metadata or {}))
        self._seen.add(raw_name)
        data = bytes(data) if not isinstance(data, bytes) else data
        try:
            if self._training is not None:
                self._training.append((pending, data))
                self._training_size += len(data)
                if (
                    self._training_size >= self._train_bytes
                    or len(self._training) >= _TRAIN_MAX_SAMPLES
                ):
                    self._finish_training()
                return
            self._submit(pending, data)
        except BaseException:
            self.abort()
            raise

    # -- finishing -------------------------------------------------------------

    def close(self) -> None:
        """Write the index and footer, fsync, and move the bundle into place."""
        if self._finished:
            return
        self._check_open()
        try:
            if self._training is not None:
                self._finish_training()
            self._drain(0)
            self._write_dictionary()
            self._write_index()
            file = self._live_file()
            file.flush()
            os.fsync(file.fileno())
            file.close()
            self._file = None
            self._shutdown_pool()
            if self._before_publish is not None:
                self._before_publish(self._temporary)
            self._publish()
        except BaseException:
            self.abort()
            raise
        self._finished = True
        self._shutdown_pool()

    def abort(self) -> None:
        """Discard everything written; the target path is left as it was."""
        if self._finished:
            return
        self._finished = True
        self._shutdown_pool(cancel=True)
        if self._file is not None:
            self._file.close()
            self._file = None
        self._temporary.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __len__(self) -> int:
        return len(self._seen)

    @property
    def dictionary(self) -> bytes | None:
        """The zstd dictionary in use (after training, the trained one)."""
        return self._context.raw if self._context is not None else None

    # -- internals ---------------------------------------------------------------

    def _live_file(self) -> BinaryIO:
        file = self._file
        if file is None:
            msg = f"BundleWriter for {self.path} is closed"
            raise ValueError(msg)
        return file

    def _check_open(self) -> None:
        if self._finished or self._file is None:
            msg = f"BundleWriter for {self.path} is closed"
            raise ValueError(msg)

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        file = self._live_file()
        file.write(data)
        self._position += len(data)

    def _pad_to(self, alignment: int) -> None:
        remainder = self._position % alignment
        if remainder:
            self._write(bytes(alignment - remainder))

    def _write_dictionary(self) -> None:
        # Last in the data area, next to the index: a reader over object
        # storage fetches the two in one request.
        dictionary = self.dictionary
        if dictionary is not None:
            self._dictionary_offset = self._position
            self._write(dictionary)

    def _finish_training(self) -> None:
        training, self._training = self._training or [], None
        trained = train_dictionary(
            (data for _pending, data in training), size=self._dictionary_size, level=self._level
        )
        if trained is not None:
            self._context = DictionaryContext(trained)
        for pending, data in training:
            self._submit(pending, data)

    def _submit(self, pending: _Pending, data: bytes) -> None:
        if self._pool is None:
            self._store(pending, self._encode(data))
            return
        self._in_flight.append((pending, self._pool.submit(self._encode, data)))
        self._drain(2 * self._workers)

    def _drain(self, keep: int) -> None:
        while len(self._in_flight) > keep:
            pending, future = self._in_flight.popleft()
            self._store(pending, future.result())

    def _encode(self, data: bytes) -> _Encoded:
        """Compress one entry's content (runs on a worker thread when there are workers)."""
        size = len(data)
        checksum = crc32(data)
        choice = self._codec
        if choice == "none" or (choice == "auto" and size < AUTO_MIN_SIZE):
            return _Encoded(fmt.CODEC_NONE, data, size, checksum)
        codec: Codec
        if choice == "lz4":
            codec = codec_by_name("lz4")
        elif self._context is not None:
            codec = codec_by_name("zstd-dict")
        else:
            codec = codec_by_name("zstd")
        stored = codec.encode(data, self._level, self._context)
        if choice == "auto" and len(stored) > size - size // AUTO_MIN_SAVING:
            return _Encoded(fmt.CODEC_NONE, data, size, checksum)
        return _Encoded(codec.id, stored, size, checksum)

    def _store(self, pending: _Pending, encoded: _Encoded) -> None:
        if encoded.codec == fmt.CODEC_NONE:
            self._pad_to(self._alignment)
        data_offset = self._position
        stored = encoded.stored
        for start in range(0, len(stored), _WRITE_CHUNK):
            self._write(memoryview(stored)[start : start + _WRITE_CHUNK])
        flags = 0
        if pending.mtime_ns is not None:
            flags |= fmt.ENTRY_HAS_MTIME
        if pending.mode is not None:
            flags |= fmt.ENTRY_HAS_MODE
        self._records.append(
            (
                data_offset,
                len(stored),
                encoded.size,
                len(self._names),
                len(self._entry_metadata) if pending.metadata else 0,
                pending.mtime_ns or 0,
                len(pending.name),
                len(pending.metadata),
                encoded.checksum,
                pending.mode or 0,
                encoded.codec,
                flags,
            )
        )
        self._hashes.append(fmt.name_hash(pending.name))
        self._names += pending.name
        self._entry_metadata += pending.metadata

    def _write_index(self) -> None:
        self._pad_to(8)
        index_offset = self._position
        count = len(self._records)
        checksum = 0

        def emit(data: bytes | bytearray | memoryview) -> int:
            nonlocal checksum
            offset = self._position
            checksum = crc32(data, checksum)
            self._write(data)
            # The offset of an empty block is unused: writers put 0 (formats/bundle.md).
            return offset if len(data) else 0

        record = fmt.ENTRY_RECORD
        table = bytearray(record.size * count)
        for position, fields in enumerate(self._records):
            record.pack_into(table, position * record.size, *fields)
        entry_table_offset = emit(table)
        hashes = np.array(self._hashes, dtype="<u8")
        order = np.argsort(hashes, kind="stable").astype("<u4")
        hash_table_offset = emit(hashes[order].tobytes())
        hash_order_offset = emit(order.tobytes())
        names_offset = emit(self._names)
        metadata_offset = emit(self._entry_metadata)
        archive = dict(self.metadata)
        if self.comment:
            archive["comment"] = self.comment
        # The header's fields again, where a reader finds them from the end (1.1).
        archive[fmt.ALIGNMENT_KEY] = str(self._alignment)
        archive[fmt.FLAGS_KEY] = "0"
        archive_metadata = fmt.encode_metadata(archive)
        archive_metadata_offset = emit(archive_metadata)
        dictionary = self.dictionary
        footer = fmt.Footer(
            index_offset=index_offset,
            entry_count=count,
            entry_table_offset=entry_table_offset,
            hash_table_offset=hash_table_offset,
            hash_order_offset=hash_order_offset,
            names_offset=names_offset,
            names_length=len(self._names),
            metadata_offset=metadata_offset,
            metadata_length=len(self._entry_metadata),
            archive_metadata_offset=archive_metadata_offset,
            archive_metadata_length=len(archive_metadata),
            dictionary_offset=self._dictionary_offset,
            dictionary_length=len(dictionary) if dictionary is not None else 0,
            dictionary_id=self._context.dictionary_id if self._context is not None else 0,
            index_checksum=checksum,
        )
        self._write(footer.encode())

    def _publish(self) -> None:
        if self._overwrite:
            self._temporary.replace(self.path)
        else:
            # A hard link fails if the target appeared meanwhile: no clobbering.
            try:
                os.link(self._temporary, self.path)
            except FileExistsError:
                msg = f"{self.path} exists; pass overwrite=True to replace it"
                raise FileExistsError(msg) from None
            except OSError:
                if self.path.exists():
                    raise
                self._temporary.replace(self.path)  # file systems without hard links
            else:
                self._temporary.unlink()
        _fsync_directory(self.path.parent)

    def _shutdown_pool(self, *, cancel: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=cancel)
            self._pool = None
        self._in_flight.clear()


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
