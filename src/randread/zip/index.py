"""A persisted central directory: the parsed :class:`Directory` in an index file.

Re-parsing a big central directory costs seconds at every open; with
``ZipReader(source, index_cache=DIR)`` the parsed directory is stored once in
``DIR`` and mapped on later opens. The byte layout is specified in
``formats/zip-index.md``; this module follows it.

An index file is only ever a cache: a file that is missing, stale (the archive
changed), truncated, corrupt or of another format version is ignored and
rewritten from a fresh parse, never trusted. The header, the summary and the
section table are checked at open; the sections are checked when they are
used (one entry's record against its check value; the name sections before a
lookup is allowed to miss; every section before anything walks all entries),
so that opening a million-entry archive and reading one entry touches a few
pages of the file. A check that fails switches the reader to a fresh parse
and replaces the file. Files are written to a temporary name in the same
directory and renamed into place, so readers and concurrent writers only ever
see a complete file.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

import numpy as np

from randread._checksum import crc32
from randread.zip import records as rec
from randread.zip.central import Columns
from randread.zip.directory import (
    CentralDirectoryEntry,
    Directory,
    IndexMismatchError,
    read_directory,
)
from randread.zip.names import NameIndex, NameTable, fingerprint, fingerprints, random_prime

if TYPE_CHECKING:
    from collections.abc import Iterable

    from numpy.typing import NDArray

    from randread.readat import ReadAt

__all__ = [
    "INDEX_MAGIC",
    "INDEX_SUFFIX",
    "INDEX_VERSION",
    "archive_identity",
    "index_path",
    "load_directory",
    "load_index",
    "write_index",
]

#: the first eight bytes of an index file
INDEX_MAGIC = b"RRZIDX\r\n"
#: the format version this module reads and writes; any other is rebuilt
INDEX_VERSION = 2
#: file name suffix of index files inside the cache directory
INDEX_SUFFIX = ".rrzi"
#: magic, version, identity length, payload length, CRC-32 of summary and
#: section table, reserved
_HEADER = struct.Struct("<8sIIQII")
#: entry count, base offset, central directory offset and size, EOCD offset,
#: bucket count, fingerprint prime, flags, section count
_SUMMARY = struct.Struct("<QqQQQQQII")
#: per section: offset in the payload, length, CRC-32, reserved
_SECTION = struct.Struct("<QQII")
_FLAG_ZIP64 = 1
_FLAG_DUPLICATES = 2
#: the end records: the EOCD (22 bytes) and its comment (up to 64 KiB)
_TAIL_LENGTH = rec.END_OF_CENTRAL_DIRECTORY_LENGTH + rec.MAX_COMMENT_LENGTH
_CDH_LENGTH = rec.CENTRAL_DIRECTORY_HEADER_LENGTH
_U64 = np.dtype("<u8")
_U32 = np.dtype("<u4")
_U16 = np.dtype("<u2")
_U8 = np.dtype("u1")
#: the per-entry columns, in file order
_COLUMNS: tuple[tuple[str, np.dtype[np.unsignedinteger]], ...] = (
    ("compressed_size", _U64),
    ("uncompressed_size", _U64),
    ("header_offset", _U64),
    ("directory_offset", _U64),
    ("data_limit", _U64),
    ("crc32", _U32),
    ("method", _U16),
    ("flags", _U16),
    ("dos_time", _U16),
    ("dos_date", _U16),
    ("name_length", _U16),
)
#: every section, in file order: (name, element type, element count: "n" entries,
#: "n+1", "buckets+1", or "bytes" for byte areas)
_SECTIONS: tuple[tuple[str, np.dtype[np.unsignedinteger], str], ...] = (
    *((name, dtype, "n") for name, dtype in _COLUMNS),
    ("check", _U64, "n"),
    ("name_offsets", _U64, "n+1"),
    ("bucket_starts", _U64, "buckets+1"),
    ("order", _U64, "n"),
    ("names", _U8, "bytes"),
    ("central_directory", _U8, "bytes"),
    ("comment", _U8, "bytes"),
)
_NAME_SECTIONS = ("name_offsets", "bucket_starts", "order", "names")
#: odd multipliers of the fields of an entry's check value (any odd numbers
#: make a change of one field change the sum modulo 2**64)
_CHECK_MULTIPLIERS = (
    0x9E3779B97F4A7C15,
    0xBF58476D1CE4E5B9,
    0x94D049BB133111EB,
    0xD6E8FEB86659FD93,
    0xA0761D6478BD642F,
    0xE7037ED1A0B428DB,
    0x8EBC6AF09C88C6E3,
    0x589965CC75374CC3,
    0x1D8E4E27C47D124F,
    0xC2B2AE3D27D4EB4F,
    0x165667B19E3779F9,
    0x27D4EB2F165667C5,
    0x85EBCA77C2B2AE63,
    0xFF51AFD7ED558CCD,
    0xC4CEB9FE1A85EC53,
)
_MASK_64 = (1 << 64) - 1

Status = Literal["hit", "built", "rebuilt"]


class _InvalidIndexError(IndexMismatchError):
    """An index file that must not be used; the message says why (for tests and debugging)."""


def _pad8(length: int) -> int:
    return -length % 8


def archive_identity(readat: ReadAt, metadata_encoding: str | None) -> tuple[str, str, bool]:
    """Return ``(cache key, identity, located)`` for the archive in ``readat``.

    The identity is what must match for a stored index to be used: the size,
    a digest of the end records, the parse options, and the modification time
    of a local file or the version (ETag, last modified) of a remote object.
    The key names the index file: the archive's location when it has one (so
    a changed archive replaces its stale index), else its identity.
    ``located`` tells which: a source without a location (bytes, a file
    object) has no modification time or version to tell its versions apart.
    """
    size = readat.size
    tail_start = max(0, size - _TAIL_LENGTH)
    tail = readat.read_at(tail_start, size - tail_start)
    parts = [
        f"format={INDEX_VERSION}",
        f"size={size}",
        f"tail={hashlib.blake2b(tail, digest_size=16).hexdigest()}",
        f"encoding={metadata_encoding or ''}",
        f"sep={os.sep}",
    ]
    location: str | None = None
    path = getattr(readat, "path", None)
    version = getattr(readat, "version", None)
    if isinstance(path, str):
        location = "file:" + os.path.realpath(path)
        with contextlib.suppress(OSError):
            parts.append(f"mtime_ns={Path(path).stat().st_mtime_ns}")
    elif version is not None and isinstance(getattr(readat, "url", None), str):
        location = "url:" + readat.url  # type: ignore[attr-defined]
        parts.append(f"etag={getattr(version, 'etag', None) or ''}")
        parts.append(f"modified={getattr(version, 'modified', None) or ''}")
    identity = ";".join(parts)
    key_source = location if location is not None else identity
    key = hashlib.sha256(key_source.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return key, identity, location is not None


def index_path(cache_dir: str | os.PathLike[str], key: str) -> Path:
    """Return the index file for ``key`` inside ``cache_dir``."""
    return Path(cache_dir) / f"{key}{INDEX_SUFFIX}"


# -- check values ----------------------------------------------------------------


def _check_value(fields: Iterable[int]) -> int:
    return sum(m * f for m, f in zip(_CHECK_MULTIPLIERS, fields, strict=True)) & _MASK_64


def _check_column(
    columns: Columns,
    name_offsets: NDArray[np.uint64],
    name_keys: NDArray[np.uint64],
    raw_keys: NDArray[np.uint64],
) -> NDArray[np.uint64]:
    """Return every entry's check value: :func:`_check_value` of its fields, wrapping at 2**64."""
    values = (
        *columns.in_record_order(),
        name_offsets[:-1],
        name_offsets[1:],
        name_keys,
        raw_keys,
    )
    total = np.zeros(len(columns), dtype=np.uint64)
    for multiplier, value in zip(_CHECK_MULTIPLIERS, values, strict=True):
        total += np.uint64(multiplier) * value.astype(np.uint64)
    return total


def _entry_fields(entry: CentralDirectoryEntry, offsets: memoryview, prime: int) -> tuple[int, ...]:
    """Return the values :func:`_check_column` combines, for one entry record."""
    key = entry.name.encode("utf-8", "surrogatepass")
    return (
        entry.method,
        entry.flags,
        entry.crc32,
        entry.compressed_size,
        entry.uncompressed_size,
        entry.header_offset,
        entry.dos_time,
        entry.dos_date,
        entry.directory_offset,
        entry.data_limit,
        len(entry.raw_name),
        offsets[entry.ordinal],
        offsets[entry.ordinal + 1],
        fingerprint(key, prime),
        fingerprint(entry.raw_name, prime),
    )


# -- writing ---------------------------------------------------------------------


def _sections(directory: Directory) -> tuple[dict[str, bytes | memoryview | np.ndarray], bool]:
    """Return the contents of every section, and whether two entries share a name."""
    columns = directory.columns
    names = directory.names
    central = directory.central_directory
    offsets = names.offsets.astype(np.uint64)
    built = directory.built_index
    prime = random_prime() if built is None else built.prime
    name_keys = names.fingerprints(prime)
    index = directory.name_index_from((name_keys, prime))
    raw_keys = fingerprints(
        np.frombuffer(central, dtype=np.uint8),
        columns.directory_offset.astype(np.int64) + _CDH_LENGTH,
        columns.name_length.astype(np.int64),
        index.prime,
    )
    sections: dict[str, bytes | memoryview | np.ndarray] = {
        name: getattr(columns, name).astype(dtype) for name, dtype in _COLUMNS
    }
    sections["check"] = _check_column(columns, offsets, name_keys, raw_keys)
    sections["name_offsets"] = offsets
    sections["bucket_starts"] = index.bucket_starts.astype(_U64)
    sections["order"] = index.order.astype(_U64)
    sections["names"] = names.buffer
    sections["central_directory"] = central
    sections["comment"] = directory.comment
    return sections, _has_duplicates(names, name_keys)


def _has_duplicates(names: NameTable, keys: NDArray[np.uint64]) -> bool:
    """Tell whether two entries share a name (then lookups check the name sections first).

    ``keys`` are the names' fingerprints: only names with equal fingerprints
    (few) are compared.
    """
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    equal = np.flatnonzero(ordered[1:] == ordered[:-1])
    groups: dict[int, set[bytes]] = {}
    members = 0
    for position in np.union1d(equal, equal + 1).tolist():
        ordinal = int(order[position])
        groups.setdefault(int(ordered[position]), set()).add(names.key(ordinal))
        members += 1
    return sum(len(group) for group in groups.values()) != members


def _write_file(file: BinaryIO, directory: Directory, identity: str) -> None:
    """Write an index file holding ``directory`` (formats/zip-index.md)."""
    sections, duplicates = _sections(directory)
    table: list[bytes] = []
    bodies: list[bytes | memoryview] = []
    position = _SUMMARY.size + len(_SECTIONS) * _SECTION.size
    position += _pad8(position)
    for name, dtype, _ in _SECTIONS:
        body = sections[name]
        if isinstance(body, np.ndarray):
            body = np.ascontiguousarray(body, dtype=dtype).data.cast("B")
        else:
            body = memoryview(body).cast("B")
        table.append(_SECTION.pack(position, len(body), crc32(body), 0))
        bodies.append(body)
        position += len(body) + _pad8(len(body))
    index = directory.name_index
    flags = (_FLAG_ZIP64 if directory.zip64 else 0) | (_FLAG_DUPLICATES if duplicates else 0)
    summary = _SUMMARY.pack(
        len(directory),
        directory.base_offset,
        directory.central_directory_offset,
        directory.central_directory_size,
        directory.end_of_central_directory_offset,
        index.bucket_count,
        index.prime,
        flags,
        len(_SECTIONS),
    ) + b"".join(table)
    summary += bytes(_pad8(len(summary)))
    identity_bytes = identity.encode("utf-8", "surrogatepass")
    file.write(
        _HEADER.pack(INDEX_MAGIC, INDEX_VERSION, len(identity_bytes), position, crc32(summary), 0)
    )
    file.write(identity_bytes + bytes(_pad8(len(identity_bytes))))
    file.write(summary)
    for body in bodies:
        file.write(body)
        file.write(bytes(_pad8(len(body))))


def encode_index(directory: Directory, identity: str) -> bytes:
    """Return the bytes of an index file holding ``directory``."""
    import io  # noqa: PLC0415 - only for tests and tools

    buffer = io.BytesIO()
    _write_file(buffer, directory, identity)
    return buffer.getvalue()


def write_index(path: Path, directory: Directory, identity: str) -> bool:
    """Store ``directory`` at ``path`` atomically; return False when it could not be.

    The file is written under a unique temporary name in the same directory
    and renamed over ``path``: concurrent writers of one archive's index each
    rename a complete file, and the last rename wins.
    """
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
        )
        with os.fdopen(descriptor, "wb") as file:
            _write_file(file, directory, identity)
        Path(temporary).replace(path)
        temporary = None
    except OSError:
        return False
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                Path(temporary).unlink()
    return True


# -- reading ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Section:
    offset: int
    length: int
    crc: int


class _StoredChecks:
    """The :class:`~randread.zip.directory.DirectoryHooks` of a directory mapped from a file."""

    def __init__(  # noqa: PLR0917 - private, one call site
        self,
        payload: NDArray[np.uint8],
        sections: dict[str, _Section],
        check: NDArray[np.uint64],
        name_offsets: NDArray[np.uint64],
        prime: int,
        rebuild: _Rebuild,
    ) -> None:
        self._payload = payload
        self._sections = sections
        self._check = check.data
        self._offsets = name_offsets.data
        self._prime = prime
        self._rebuild = rebuild
        self._verified: set[str] = set()

    def verify(self, names: Iterable[str]) -> None:
        """Check the named sections against their CRC-32s (each once)."""
        for name in names:
            if name in self._verified:
                continue
            section = self._sections[name]
            body = self._payload[section.offset : section.offset + section.length]
            if crc32(body) != section.crc:
                msg = f"section {name}: CRC-32 does not match (corrupt)"
                raise _InvalidIndexError(msg)
            self._verified.add(name)  # one set operation: atomic

    def check_entry(self, entry: CentralDirectoryEntry) -> None:
        fields = _entry_fields(entry, self._offsets, self._prime)
        if _check_value(fields) != self._check[entry.ordinal]:
            msg = f"entry {entry.ordinal}: the record does not match its check value"
            raise _InvalidIndexError(msg)

    def check_names(self) -> None:
        self.verify(_NAME_SECTIONS)

    def check_all(self) -> None:
        self.verify(name for name, _, _ in _SECTIONS)

    def rebuild(self) -> Directory:
        return self._rebuild()


class _Rebuild:
    """Parse the archive again and replace its index file (a damaged index found late)."""

    def __init__(self, readat: ReadAt, path: Path, identity: str, encoding: str | None) -> None:
        self._readat = readat
        self._path = path
        self._identity = identity
        self._encoding = encoding

    def __call__(self) -> Directory:
        directory = read_directory(self._readat, metadata_encoding=self._encoding)
        write_index(self._path, directory, self._identity)
        return directory


def decode_index(
    data: bytes | memoryview | mmap.mmap, identity: str, rebuild: _Rebuild
) -> Directory:
    """Return the directory stored in index file bytes ``data`` (checked lazily).

    Raises _InvalidIndexError when the header, summary or section table show
    that the file is not a complete index of the archive with ``identity``
    in this format version.
    """
    view = memoryview(data)
    if len(view) < _HEADER.size:
        msg = f"truncated: {len(view)} bytes, the header alone is {_HEADER.size}"
        raise _InvalidIndexError(msg)
    magic, version, identity_length, payload_length, summary_crc, _ = _HEADER.unpack_from(view)
    if magic != INDEX_MAGIC:
        msg = f"magic {magic!r} (expected {INDEX_MAGIC!r})"
        raise _InvalidIndexError(msg)
    if version != INDEX_VERSION:
        msg = f"format version {version} (this reader writes {INDEX_VERSION})"
        raise _InvalidIndexError(msg)
    payload_start = _HEADER.size + identity_length + _pad8(identity_length)
    if payload_start + payload_length != len(view):
        msg = (
            f"file is {len(view)} bytes, the header says {payload_start + payload_length} "
            "(truncated or extended)"
        )
        raise _InvalidIndexError(msg)
    stored = bytes(view[_HEADER.size : _HEADER.size + identity_length])
    if stored != identity.encode("utf-8", "surrogatepass"):
        msg = f"stale: made for {stored!r}, the archive is {identity!r}"
        raise _InvalidIndexError(msg)
    payload = view[payload_start:]
    table_end = _SUMMARY.size + len(_SECTIONS) * _SECTION.size
    if len(payload) < table_end or crc32(payload[: table_end + _pad8(table_end)]) != summary_crc:
        msg = "summary or section table CRC-32 does not match (corrupt)"
        raise _InvalidIndexError(msg)
    try:
        return _decode_payload(payload, rebuild)
    except (ValueError, struct.error, OverflowError) as exc:
        msg = f"payload does not decode: {exc}"
        raise _InvalidIndexError(msg) from None


def _decode_payload(payload: memoryview, rebuild: _Rebuild) -> Directory:
    (
        count,
        base_offset,
        directory_offset,
        directory_size,
        eocd_offset,
        buckets,
        prime,
        flags,
        section_count,
    ) = _SUMMARY.unpack_from(payload)
    if section_count != len(_SECTIONS) or buckets & (buckets - 1) or not buckets or prime < 2:
        msg = f"{section_count} sections, {buckets} buckets, prime {prime}"
        raise ValueError(msg)
    expected_counts = {"n": count, "n+1": count + 1, "buckets+1": buckets + 1}
    sections: dict[str, _Section] = {}
    arrays: dict[str, np.ndarray] = {}
    for number, (name, dtype, size_rule) in enumerate(_SECTIONS):
        offset, length, crc, _ = _SECTION.unpack_from(
            payload, _SUMMARY.size + number * _SECTION.size
        )
        if offset % 8 or offset + length > len(payload):
            msg = f"section {name} at {offset} ({length} bytes) lies outside the payload"
            raise ValueError(msg)
        if size_rule != "bytes" and length != expected_counts[size_rule] * dtype.itemsize:
            msg = f"section {name} is {length} bytes for {expected_counts[size_rule]} elements"
            raise ValueError(msg)
        sections[name] = _Section(offset, length, crc)
        arrays[name] = np.frombuffer(
            payload, dtype=dtype, count=length // dtype.itemsize, offset=offset
        )
    columns = Columns(**{name: arrays[name] for name, _ in _COLUMNS})
    # Byte arrays, not memoryviews: the directory slices these from any
    # thread, and numpy arrays keep no export count to race on.
    shared: NDArray[np.uint8] = np.frombuffer(payload, np.uint8)
    section_bytes = {name: shared[s.offset : s.offset + s.length] for name, s in sections.items()}
    name_offsets = arrays["name_offsets"]
    if count and (int(name_offsets[-1]) != len(section_bytes["names"]) or int(name_offsets[0])):
        msg = "the name offsets do not span the names"
        raise ValueError(msg)
    index = NameIndex(prime, arrays["bucket_starts"], arrays["order"])
    checks = _StoredChecks(shared, sections, arrays["check"], name_offsets, prime, rebuild)
    if flags & _FLAG_DUPLICATES:
        checks.check_names()  # "the last entry wins" needs every entry of a bucket
    comment = bytes(section_bytes["comment"])
    checks.verify(["comment"])  # small, and not covered by entry checks
    return Directory(
        columns,
        NameTable(section_bytes["names"], name_offsets),
        comment=comment,
        central_directory=section_bytes["central_directory"],
        base_offset=base_offset,
        central_directory_offset=directory_offset,
        central_directory_size=directory_size,
        end_of_central_directory_offset=eocd_offset,
        zip64=bool(flags & _FLAG_ZIP64),
        index=index,
        hooks=checks,
    )


def load_index(path: Path, identity: str, rebuild: _Rebuild) -> Directory:
    """Map and check the index file at ``path``; _InvalidIndexError or OSError if unusable."""
    with path.open("rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size == 0:
            msg = "empty file"
            raise _InvalidIndexError(msg)
        mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    return decode_index(mapped, identity, rebuild)


def _same_central_directory(readat: ReadAt, directory: Directory) -> bool:
    """Tell whether the archive holds the stored central directory bytes where it was found.

    For sources without a modification time or version: the end records'
    digest covers only the last 64 KiB, and a bigger directory could differ
    before them. Comparing costs a read of the directory, a fraction of a parse.
    """
    start = directory.central_directory_offset
    stored = directory.unchecked_central_directory  # compared with the file, so checked here
    length = len(stored)
    if start < 0 or start + length > readat.size:
        return False
    return readat.read_at(start, length) == bytes(stored)


def load_directory(
    readat: ReadAt,
    cache_dir: str | os.PathLike[str],
    *,
    metadata_encoding: str | None = None,
) -> Directory:
    """Return the archive's directory from its index in ``cache_dir``, or parse and store it.

    The directory's ``index_status`` says which happened: ``"hit"`` (the index
    was used), ``"built"`` (there was none) or ``"rebuilt"`` (there was one,
    but stale, truncated, corrupt or of another version; also set later when
    a check made on use finds a damaged section). Failing to write the index
    (a read-only directory, a full disk) is not an error: the archive opens.
    """
    key, identity, located = archive_identity(readat, metadata_encoding)
    path = index_path(cache_dir, key)
    rebuild = _Rebuild(readat, path, identity, metadata_encoding)
    status: Status = "built"
    try:
        directory = load_index(path, identity, rebuild)
        if located or _same_central_directory(readat, directory):
            directory.index_status = "hit"
            return directory
        status = "rebuilt"
    except (FileNotFoundError, NotADirectoryError):  # no index yet
        pass
    except (OSError, ValueError, IndexMismatchError):
        status = "rebuilt"
    directory = rebuild()
    directory.index_status = status
    return directory
