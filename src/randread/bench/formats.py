"""The archive formats ``randread bench`` compares, each built from one corpus.

A :class:`Subject` knows how to build its archive, open a reader that is shared
by all threads, and take one read apart into phases (lookup, I/O, decode,
checksum) for the cost breakdown.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sqlite3
import threading
import zipfile
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import zstandard

from randread._checksum import crc32
from randread._locks import TimedLock
from randread.bundle import BundleReader, BundleWriter
from randread.bundle.codecs import DictionaryContext, codec_by_name
from randread.readat import MmapReadAt
from randread.zip import methods
from randread.zip import records as rec
from randread.zip.reader import ZipReader

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from randread.bench.corpus import Corpus

__all__ = [
    "Phases",
    "SharedZipFile",
    "Subject",
    "ZipDataLocation",
    "subjects",
    "zip_data_locations",
]


class Reader(Protocol):
    """What the benchmark needs of a reader: read by name, and close."""

    def read(self, name: str) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Phases:
    """One read taken apart: each callable does just its phase for one entry."""

    lookup: Callable[[str], object]
    io: Callable[[str], bytes]
    decode: Callable[[str, bytes], bytes]
    checksum: Callable[[bytes], int]
    close: Callable[[], None]


@dataclass(frozen=True, slots=True)
class Subject:
    """One format under test."""

    name: str
    description: str
    build: Callable[[Corpus, Path], Path]
    open: Callable[[Path], Reader]
    phases: Callable[[Path, Reader], Phases] | None = None
    setting: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext
    #: False for a reader whose own failures under shared threads are measured, not bugs
    thread_safe: bool = True


# -- zip ----------------------------------------------------------------------------


def _build_zip(compression: int) -> Callable[[Corpus, Path], Path]:
    def build(corpus: Corpus, directory: Path) -> Path:
        path = directory / f"corpus-{compression}.zip"
        if not path.exists():
            with zipfile.ZipFile(path, "w", compression, compresslevel=6) as archive:
                for name, data in zip(corpus.names, corpus.contents, strict=True):
                    archive.writestr(name, data)
        return path

    return build


def _build_zip_zstd(corpus: Corpus, directory: Path) -> Path:
    """Write a zip with zstd entries (method 93), which zipfile cannot write before 3.14."""
    path = directory / "corpus-zstd.zip"
    if path.exists():
        return path
    compressor = zstandard.ZstdCompressor(level=3)
    central = []
    offset = 0
    with path.open("wb") as out:
        for name, data in zip(corpus.names, corpus.contents, strict=True):
            raw_name = name.encode("utf-8")
            packed = compressor.compress(data)
            crc = zlib.crc32(data)
            # version 6.3 (zstd needs 6.3), UTF-8 names (bit 11), DOS date 1980-01-01
            fields = (63, 1 << 11, rec.METHOD_ZSTANDARD, 0, 0x21, crc, len(packed), len(data))
            out.write(
                rec.LOCAL_FILE_HEADER.pack(
                    rec.LOCAL_FILE_HEADER_SIGNATURE, *fields, len(raw_name), 0
                )
            )
            out.write(raw_name)
            out.write(packed)
            central.append(
                rec.CENTRAL_DIRECTORY_HEADER.pack(
                    rec.CENTRAL_DIRECTORY_SIGNATURE,
                    63,
                    *fields,
                    len(raw_name),
                    0,
                    0,
                    0,
                    0,
                    0,
                    offset,
                )
                + raw_name
            )
            offset += rec.LOCAL_FILE_HEADER.size + len(raw_name) + len(packed)
        directory_bytes = b"".join(central)
        out.write(directory_bytes)
        out.write(
            rec.END_OF_CENTRAL_DIRECTORY.pack(
                rec.END_OF_CENTRAL_DIRECTORY_SIGNATURE,
                0,
                0,
                len(central),
                len(central),
                len(directory_bytes),
                offset,
                0,
            )
        )
    return path


class ZipDataLocation(NamedTuple):
    """Where one zip entry's stored bytes are, and what they decode to."""

    data_offset: int
    compress_size: int
    file_size: int
    compress_type: int
    crc32: int


def zip_data_locations(path: Path) -> dict[str, ZipDataLocation]:
    """Map each entry name of the zip at ``path`` to its data, found through its local header.

    For benchmarks that hand a bare decoder exactly the bytes a reader decodes.
    """
    locations = {}
    with zipfile.ZipFile(path) as archive, path.open("rb") as raw:
        for info in archive.infolist():
            raw.seek(info.header_offset)
            header = rec.LOCAL_FILE_HEADER.unpack(raw.read(rec.LOCAL_FILE_HEADER.size))
            if header[0] != rec.LOCAL_FILE_HEADER_SIGNATURE:
                msg = f"{path}: no local file header at 0x{info.header_offset:x}"
                raise ValueError(msg)
            name_length, extra_length = header[-2], header[-1]
            locations[info.filename] = ZipDataLocation(
                info.header_offset + rec.LOCAL_FILE_HEADER.size + name_length + extra_length,
                info.compress_size,
                info.file_size,
                info.compress_type,
                info.CRC,
            )
    return locations


def _zipfile_phases(path: Path, reader: Reader) -> Phases:
    archive: Any = reader
    locations = zip_data_locations(path)
    handle = path.open("rb")
    lock = TimedLock("bench.zipfile-position")

    def io(name: str) -> bytes:
        offset, length, *_ = locations[name]
        with lock:  # one file position, as zipfile has
            handle.seek(offset)
            return handle.read(length)

    def decode(name: str, raw: bytes) -> bytes:
        method = locations[name].compress_type
        return zlib.decompress(raw, -15) if method == zipfile.ZIP_DEFLATED else raw

    return Phases(archive.NameToInfo.__contains__, io, decode, zlib.crc32, handle.close)


def _zipreader_phases(path: Path, reader: Reader) -> Phases:
    archive: Any = reader
    locations = zip_data_locations(path)
    readat = MmapReadAt(path)

    def io(name: str) -> bytes:
        offset, length, *_ = locations[name]
        return readat.read_at(offset, length)

    def decode(name: str, raw: bytes) -> bytes:
        location = locations[name]
        return methods.get_method(location.compress_type).read_all(raw, location.file_size)

    return Phases(archive.__contains__, io, decode, crc32, readat.close)


@contextlib.contextmanager
def _zlib_only() -> Iterator[None]:
    with methods.forced_deflate_backend("zlib"):
        yield


# -- bundle ---------------------------------------------------------------------------


def _build_bundle(codec: str, dictionary: bool) -> Callable[[Corpus, Path], Path]:
    def build(corpus: Corpus, directory: Path) -> Path:
        path = directory / f"corpus-{codec}{'-dict' if dictionary else ''}.rrb"
        if not path.exists():
            with BundleWriter(
                path,
                codec=codec,  # type: ignore[arg-type]
                level=6 if codec == "zstd" else 0,
                dictionary="train" if dictionary else None,
                workers=2,
            ) as writer:
                for name, data in zip(corpus.names, corpus.contents, strict=True):
                    writer.add(name, data)
        return path

    return build


def _bundle_phases(path: Path, reader: Reader) -> Phases:
    bundle: Any = reader
    infos = {info.filename: info for info in bundle.infolist()}
    readat = MmapReadAt(path)
    context = DictionaryContext(bundle.dictionary)

    def io(name: str) -> bytes:
        info = infos[name]
        return readat.read_at(info.data_offset, info.compress_size)

    def decode(name: str, raw: bytes) -> bytes:
        info = infos[name]
        return codec_by_name(info.codec).decode(raw, info.file_size, context)

    return Phases(bundle.__contains__, io, decode, crc32, readat.close)


# -- others -----------------------------------------------------------------------------


class _SqliteReader:
    """SQLite blobs; one connection per thread, as SQLite wants."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()

    def read(self, name: str) -> bytes:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True)
            self._local.connection = connection
        row = connection.execute("SELECT data FROM files WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise KeyError(name)
        data: bytes = row[0]
        return data

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()


def _build_sqlite(corpus: Corpus, directory: Path) -> Path:
    path = directory / "corpus.sqlite"
    if not path.exists():
        with contextlib.closing(sqlite3.connect(path)) as connection, connection:
            connection.execute(
                "CREATE TABLE files (name TEXT PRIMARY KEY, data BLOB) WITHOUT ROWID"
            )
            connection.executemany(
                "INSERT INTO files VALUES (?, ?)", zip(corpus.names, corpus.contents, strict=True)
            )
    return path


def _lmdb() -> Any:  # noqa: ANN401 - an optional module
    try:
        return importlib.import_module("lmdb")
    except ImportError:
        return None


class _LmdbReader:
    def __init__(self, path: Path) -> None:
        self._environment = _lmdb().open(
            str(path), readonly=True, lock=False, subdir=False, max_readers=256
        )

    def read(self, name: str) -> bytes:
        with self._environment.begin(buffers=False) as transaction:
            data = transaction.get(name.encode("utf-8"))
        if data is None:
            raise KeyError(name)
        return bytes(data)

    def close(self) -> None:
        self._environment.close()


def _build_lmdb(corpus: Corpus, directory: Path) -> Path:
    path = directory / "corpus.lmdb"
    if not path.exists():
        size = 2 * corpus.total_size + (64 << 20)
        environment = _lmdb().open(str(path), map_size=size, subdir=False)
        with environment.begin(write=True) as transaction:
            for name, data in zip(corpus.names, corpus.contents, strict=True):
                transaction.put(name.encode("utf-8"), data)
        environment.close()
    return path


# -- record formats read by position: bagz, array_record ---------------------------------
#
# Both store a sequence of records, not named entries: the archive keeps the
# corpus order and a JSON list of the names beside it gives each name its
# position (a dict lookup at read time, as an application would keep one).
# zstd level 3 for both, one record per chunk for array_record (random access).


def _bagz() -> Any:  # noqa: ANN401 - an optional module
    try:
        return importlib.import_module("bagz")
    except ImportError:
        return None


def _array_record() -> Any:  # noqa: ANN401 - an optional module
    try:
        return importlib.import_module("array_record.python.array_record_module")
    except ImportError:
        return None


def _names_path(path: Path) -> Path:
    return path.with_name(path.name + ".names.json")


def _positions(path: Path) -> dict[str, int]:
    names = json.loads(_names_path(path).read_text("utf-8"))
    return {name: position for position, name in enumerate(names)}


def _build_bagz(corpus: Corpus, directory: Path) -> Path:
    path = directory / "corpus.bagz"
    if not path.exists():
        bagz = _bagz()
        options = bagz.Writer.Options(compression=bagz.CompressionZstd(level=3))
        with bagz.Writer(str(path), options) as writer:
            for data in corpus.contents:
                writer.write(data)
        _names_path(path).write_text(json.dumps(list(corpus.names)), "utf-8")
    return path


class _BagzReader:
    def __init__(self, path: Path) -> None:
        self._reader = _bagz().Reader(str(path))
        self._positions = _positions(path)

    def read(self, name: str) -> bytes:
        return bytes(self._reader[self._positions[name]])

    def read_many(self, names: list[str]) -> list[bytes]:
        positions = self._positions
        return [bytes(data) for data in self._reader.read_indices([positions[n] for n in names])]

    def close(self) -> None:
        pass


def _build_array_record(corpus: Corpus, directory: Path) -> Path:
    path = directory / "corpus.array_record"
    if not path.exists():
        writer = _array_record().ArrayRecordWriter(str(path), "group_size:1,zstd:3")
        try:
            for data in corpus.contents:
                writer.write(data)
        finally:
            writer.close()
        _names_path(path).write_text(json.dumps(list(corpus.names)), "utf-8")
    return path


class _ArrayRecordReader:
    def __init__(self, path: Path) -> None:
        # The options array_record documents for random access.
        self._reader = _array_record().ArrayRecordReader(
            str(path), "readahead_buffer_size:0,max_parallelism:0"
        )
        self._positions = _positions(path)

    def read(self, name: str) -> bytes:
        return bytes(self._reader.read([self._positions[name]])[0])

    def read_many(self, names: list[str]) -> list[bytes]:
        positions = self._positions
        return [bytes(data) for data in self._reader.read([positions[n] for n in names])]

    def close(self) -> None:
        self._reader.close()


class SharedZipFile(zipfile.ZipFile):
    """The baseline, ``zipfile.ZipFile``, which the thread measurement shares between threads.

    ZipFile counts the member files it has open (``_fileRefCnt``) with a plain
    ``+=`` outside its lock: threads sharing one ZipFile lose counts on a
    free-threaded build, and ``close()`` then fails an assertion. No member
    file is open once the threads have stopped, so the count is set right first.
    """

    def close(self) -> None:
        """Close the archive, whatever count of open member files threads left."""
        if self.fp is not None:
            self._fileRefCnt = 1  # only the archive's own
        super().close()


# -- the list ---------------------------------------------------------------------------


def subjects() -> list[Subject]:
    """Every format this machine can benchmark, zipfile first (the baseline)."""
    fast = methods.fast_deflate_backend()
    found = [
        Subject(
            "zipfile",
            "stdlib zipfile.ZipFile, deflate",
            _build_zip(zipfile.ZIP_DEFLATED),
            SharedZipFile,
            _zipfile_phases,
            # On a free-threaded build its unlocked open-file count breaks it.
            thread_safe=False,
        ),
        Subject(
            "zip-deflate-zlib",
            "randread ZipReader, deflate, zlib decoder",
            _build_zip(zipfile.ZIP_DEFLATED),
            ZipReader,
            _zipreader_phases,
            _zlib_only,
        ),
    ]
    if fast != "zlib":
        found.append(
            Subject(
                f"zip-deflate-{fast}",
                f"randread ZipReader, deflate, {fast} decoder",
                _build_zip(zipfile.ZIP_DEFLATED),
                ZipReader,
                _zipreader_phases,
            )
        )
    found += [
        Subject(
            "zip-zstd",
            "randread ZipReader, zstd (method 93)",
            _build_zip_zstd,
            ZipReader,
            _zipreader_phases,
        ),
        Subject(
            "zip-stored",
            "randread ZipReader, stored",
            _build_zip(zipfile.ZIP_STORED),
            ZipReader,
            _zipreader_phases,
        ),
        Subject(
            "bundle-none",
            "bundle, stored",
            _build_bundle("none", dictionary=False),
            BundleReader,
            _bundle_phases,
        ),
        Subject(
            "bundle-lz4",
            "bundle, lz4",
            _build_bundle("lz4", dictionary=False),
            BundleReader,
            _bundle_phases,
        ),
        Subject(
            "bundle-zstd",
            "bundle, zstd level 6",
            _build_bundle("zstd", dictionary=False),
            BundleReader,
            _bundle_phases,
        ),
        Subject(
            "bundle-zstd-dict",
            "bundle, zstd level 6 + trained dictionary",
            _build_bundle("zstd", dictionary=True),
            BundleReader,
            _bundle_phases,
        ),
        Subject("sqlite", "SQLite blobs (stdlib sqlite3)", _build_sqlite, _SqliteReader),
    ]
    if _lmdb() is not None:
        found.append(Subject("lmdb", "LMDB (the lmdb package)", _build_lmdb, _LmdbReader))
    if _bagz() is not None:
        found.append(
            Subject("bagz", "bagz, zstd level 3 (the bagz package)", _build_bagz, _BagzReader)
        )
    if _array_record() is not None:
        found.append(
            Subject(
                "array_record",
                "array_record, zstd level 3, group_size 1 (the array-record package)",
                _build_array_record,
                _ArrayRecordReader,
            )
        )
    return found
