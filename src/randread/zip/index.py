"""A persisted central directory: the parsed :class:`Directory` in an index file.

Re-parsing a big central directory costs seconds at every open; with
``ZipReader(source, index_cache=DIR)`` the parsed directory is stored once in
``DIR`` and loaded on later opens. The byte layout is specified in
``formats/zip-index.md``; this module follows it.

An index file is only ever a cache: a file that is missing, stale (the archive
changed), truncated, corrupt or of another format version is ignored and
rewritten from a fresh parse, never trusted. Files are written to a temporary
name in the same directory and renamed into place, so readers and concurrent
writers only ever see a complete file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import tempfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from randread._checksum import crc32
from randread.zip import records as rec
from randread.zip.directory import CentralDirectoryEntry, Directory, read_directory

if TYPE_CHECKING:
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
INDEX_VERSION = 1
#: file name suffix of index files inside the cache directory
INDEX_SUFFIX = ".rrzi"
#: magic, version, identity length, payload length, payload CRC-32, reserved
_HEADER = struct.Struct("<8sIIQII")
#: entry count, base offset, central directory offset and size, EOCD offset,
#: central directory bytes, comment length, flags, names length
_SUMMARY = struct.Struct("<QqQQQQIIQ")
_FLAG_ZIP64 = 1
#: the end records: the EOCD (22 bytes) and its comment (up to 64 KiB)
_TAIL_LENGTH = rec.END_OF_CENTRAL_DIRECTORY_LENGTH + rec.MAX_COMMENT_LENGTH
_CDH_LENGTH = rec.CENTRAL_DIRECTORY_HEADER_LENGTH
#: names are stored NUL-separated: a parsed name never holds a NUL (zipfile cuts there)
_NAME_SEPARATOR = "\x00"
_U64 = np.dtype("<u8")
_U32 = np.dtype("<u4")
_U16 = np.dtype("<u2")
#: the per-entry columns, in file order (widest first, so each stays aligned)
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
_COLUMN_BYTES_PER_ENTRY = sum(dtype.itemsize for _, dtype in _COLUMNS)

Status = Literal["hit", "built", "rebuilt"]


class _InvalidIndexError(Exception):
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


def encode_index(directory: Directory, identity: str) -> bytes:
    """Return the bytes of an index file holding ``directory`` (formats/zip-index.md)."""
    entries = directory.entries
    count = len(entries)
    fields = list(zip(*entries, strict=True)) if entries else [()] * 12
    names_blob = _NAME_SEPARATOR.join(fields[1]).encode("utf-8", "surrogatepass")
    columns = {
        "compressed_size": fields[6],
        "uncompressed_size": fields[7],
        "header_offset": fields[8],
        "directory_offset": fields[11],
        "data_limit": directory.data_limits,
        "crc32": fields[5],
        "method": fields[3],
        "flags": fields[4],
        "dos_time": fields[9],
        "dos_date": fields[10],
        "name_length": [len(raw) for raw in fields[2]],
    }
    central_directory = bytes(directory.central_directory)
    parts = [
        _SUMMARY.pack(
            count,
            directory.base_offset,
            directory.central_directory_offset,
            directory.central_directory_size,
            directory.end_of_central_directory_offset,
            len(central_directory),
            len(directory.comment),
            _FLAG_ZIP64 if directory.zip64 else 0,
            len(names_blob),
        )
    ]
    # OverflowError from a value that does not fit its column: not cached.
    parts.extend(np.array(columns[name], dtype=dtype).tobytes() for name, dtype in _COLUMNS)
    parts.extend((directory.comment, central_directory, names_blob))
    payload = b"".join(parts)
    identity_bytes = identity.encode("utf-8", "surrogatepass")
    header = _HEADER.pack(
        INDEX_MAGIC, INDEX_VERSION, len(identity_bytes), len(payload), crc32(payload), 0
    )
    return b"".join((header, identity_bytes, bytes(_pad8(len(identity_bytes))), payload))


def decode_index(data: bytes, identity: str) -> Directory:
    """Return the directory stored in index file bytes ``data``.

    Raises _InvalidIndexError when the file is not a complete, intact index
    of the archive with ``identity`` in this format version.
    """
    if len(data) < _HEADER.size:
        msg = f"truncated: {len(data)} bytes, the header alone is {_HEADER.size}"
        raise _InvalidIndexError(msg)
    magic, version, identity_length, payload_length, payload_crc, _ = _HEADER.unpack_from(data)
    if magic != INDEX_MAGIC:
        msg = f"magic {magic!r} (expected {INDEX_MAGIC!r})"
        raise _InvalidIndexError(msg)
    if version != INDEX_VERSION:
        msg = f"format version {version} (this reader writes {INDEX_VERSION})"
        raise _InvalidIndexError(msg)
    payload_start = _HEADER.size + identity_length + _pad8(identity_length)
    if payload_start + payload_length != len(data):
        msg = (
            f"file is {len(data)} bytes, the header says {payload_start + payload_length} "
            "(truncated or extended)"
        )
        raise _InvalidIndexError(msg)
    stored = data[_HEADER.size : _HEADER.size + identity_length]
    if stored != identity.encode("utf-8", "surrogatepass"):
        msg = f"stale: made for {stored!r}, the archive is {identity!r}"
        raise _InvalidIndexError(msg)
    payload = memoryview(data)[payload_start:]
    if crc32(payload) != payload_crc:
        msg = "payload CRC-32 does not match (corrupt)"
        raise _InvalidIndexError(msg)
    try:
        return _decode_payload(payload)
    except (ValueError, struct.error, UnicodeDecodeError, OverflowError) as exc:
        msg = f"payload does not decode: {exc}"
        raise _InvalidIndexError(msg) from None


def _decode_payload(payload: memoryview) -> Directory:
    if len(payload) < _SUMMARY.size:
        msg = "no summary record"
        raise ValueError(msg)
    (
        count,
        base_offset,
        directory_offset,
        directory_size,
        eocd_offset,
        directory_length,
        comment_length,
        flags,
        names_length,
    ) = _SUMMARY.unpack_from(payload)
    expected = (
        _SUMMARY.size
        + count * _COLUMN_BYTES_PER_ENTRY
        + comment_length
        + directory_length
        + names_length
    )
    if expected != len(payload):
        msg = f"payload is {len(payload)} bytes, its summary says {expected}"
        raise ValueError(msg)
    position = _SUMMARY.size
    columns: dict[str, np.ndarray] = {}
    for name, dtype in _COLUMNS:
        columns[name] = np.frombuffer(payload, dtype=dtype, count=count, offset=position)
        position += count * dtype.itemsize
    comment = bytes(payload[position : position + comment_length])
    position += comment_length
    central_directory = bytes(payload[position : position + directory_length])
    position += directory_length
    names_text = bytes(payload[position:]).decode("utf-8", "surrogatepass")
    names = names_text.split(_NAME_SEPARATOR) if count else []
    if len(names) != count:
        msg = f"{len(names)} names for {count} entries"
        raise ValueError(msg)
    header_offsets = columns["directory_offset"]
    if count and int(header_offsets.max()) > directory_length:  # before adding: no wrap-around
        msg = "a header offset lies past the end of the stored central directory"
        raise ValueError(msg)
    name_starts = header_offsets + np.uint64(_CDH_LENGTH)
    name_lengths = columns["name_length"]
    if count and int((name_starts + name_lengths).max()) > directory_length:
        msg = "a file name lies past the end of the stored central directory"
        raise ValueError(msg)
    raw_names = [
        central_directory[start : start + length]
        for start, length in zip(name_starts.tolist(), name_lengths.tolist(), strict=True)
    ]
    new_entry = partial(tuple.__new__, CentralDirectoryEntry)
    entries = tuple(
        map(
            new_entry,
            zip(
                range(count),
                names,
                raw_names,
                columns["method"].tolist(),
                columns["flags"].tolist(),
                columns["crc32"].tolist(),
                columns["compressed_size"].tolist(),
                columns["uncompressed_size"].tolist(),
                columns["header_offset"].tolist(),
                columns["dos_time"].tolist(),
                columns["dos_date"].tolist(),
                columns["directory_offset"].tolist(),
                strict=True,
            ),
        )
    )
    return Directory(
        entries=entries,
        data_limits=tuple(columns["data_limit"].tolist()),
        comment=comment,
        central_directory=central_directory,
        base_offset=base_offset,
        central_directory_offset=directory_offset,
        central_directory_size=directory_size,
        end_of_central_directory_offset=eocd_offset,
        zip64=bool(flags & _FLAG_ZIP64),
    )


def load_index(path: Path, identity: str) -> Directory:
    """Read and check the index file at ``path``; _InvalidIndexError or OSError if unusable."""
    return decode_index(path.read_bytes(), identity)


def write_index(path: Path, directory: Directory, identity: str) -> bool:
    """Store ``directory`` at ``path`` atomically; return False when it could not be.

    The file is written under a unique temporary name in the same directory
    and renamed over ``path``: concurrent writers of one archive's index each
    rename a complete file, and the last rename wins.
    """
    try:
        data = encode_index(directory, identity)
    except (OverflowError, ValueError):  # a value outside its column's range
        return False
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
        )
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        Path(temporary).replace(path)
        temporary = None
    except OSError:
        return False
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                Path(temporary).unlink()
    return True


def _same_central_directory(readat: ReadAt, directory: Directory) -> bool:
    """Tell whether the archive holds the stored central directory bytes where it was found.

    For sources without a modification time or version: the end records'
    digest covers only the last 64 KiB, and a bigger directory could differ
    before them. Comparing costs a read of the directory, a fraction of a parse.
    """
    start = directory.central_directory_offset
    length = len(directory.central_directory)
    if start < 0 or start + length > readat.size:
        return False
    return readat.read_at(start, length) == directory.central_directory


def load_directory(
    readat: ReadAt,
    cache_dir: str | os.PathLike[str],
    *,
    metadata_encoding: str | None = None,
) -> tuple[Directory, Status]:
    """Return the archive's directory from its index in ``cache_dir``, or parse and store it.

    The status says which happened: ``"hit"`` (the index was used),
    ``"built"`` (there was none) or ``"rebuilt"`` (there was one, but stale,
    truncated, corrupt or of another version). Failing to write the index
    (a read-only directory, a full disk) is not an error: the archive opens.
    """
    key, identity, located = archive_identity(readat, metadata_encoding)
    path = index_path(cache_dir, key)
    status: Status = "built"
    try:
        directory = load_index(path, identity)
        if located or _same_central_directory(readat, directory):
            return directory, "hit"
        status = "rebuilt"
    except (FileNotFoundError, NotADirectoryError):  # no index yet
        pass
    except (OSError, _InvalidIndexError):
        status = "rebuilt"
    directory = read_directory(readat, metadata_encoding=metadata_encoding)
    write_index(path, directory, identity)
    return directory, status
