"""Fuzz target for ``randread.ZipReader``: any bytes either read or raise a RandreadError.

The invariant (STYLE.md, practice 8): whatever bytes ``ZipReader`` is given,
opening them, listing, ``infolist()`` attribute access, ``read()``, ``open()``
with chunked reads and seeks, ``read_into()`` and ``testzip()`` either succeed
or raise a :class:`randread.RandreadError`. A finding is anything else: another
exception escaping (``struct.error``, ``zlib.error``, ``IndexError``,
``MemoryError``, ``RecursionError``, ...), an input that runs past the
per-input timeout, or two read paths that disagree about an entry.

This is a small mutation fuzzer with no dependencies beyond randread. It seeds
from the conformance corpora (``../shared/corpora`` next to the repository, and
any ``--corpus DIR``) and from archives built here, then mutates them with
byte-level operations and cheap zip-aware ones (fields of the records found by
their signatures, compression methods, flags, extra fields, zip64 fields). An
input whose outcome (which operations failed, with which error message shape)
has not been seen before joins the pool of inputs to mutate. Runs are
deterministic for a given ``--seed``; only how many inputs run depends on
``--seconds``.

    python fuzz/fuzz_zip.py --seconds 600 --seed 1 --out fuzz-findings
    python fuzz/fuzz_zip.py --replay fuzz-findings/*.zip

:func:`check_input` takes the bytes of one input, so it also serves as the body
of an atheris ``TestOneInput`` for coverage-guided fuzzing.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import hashlib
import io
import itertools
import os
import random
import re
import resource
import signal
import struct
import sys
import threading
import time
import traceback
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

import zstandard

import randread
from randread.zip import methods as zip_methods

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from types import FrameType

#: the conformance corpora live beside the repository: <parent>/shared/corpora
DEFAULT_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
#: corpus files that describe the corpus rather than being inputs
_CORPUS_SKIP_SUFFIXES = frozenset({".tsv", ".md"})
#: passwords of the encrypted archives in the corpora (from their manifests)
KNOWN_PASSWORDS = (b"12345678", b"a", b"password", b"helloworld", b"test_password_zipx")
#: the zipfile.ZipInfo attributes a caller of infolist() reads
INFO_ATTRIBUTES = (
    "filename",
    "orig_filename",
    "file_size",
    "compress_size",
    "compress_type",
    "CRC",
    "date_time",
    "comment",
    "extra",
    "external_attr",
    "internal_attr",
    "header_offset",
    "flag_bits",
    "create_system",
    "create_version",
    "extract_version",
    "volume",
)
#: chunk sizes cycled through when reading an ``open()`` stream
_CHUNK_SIZES = (1, 7, 100, 4096, 1 << 16, 3)
_FLAG_ENCRYPTED = 1

# -- the per-input check --------------------------------------------------------


class DisagreementError(AssertionError):
    """Two ways of reading the same entry gave different answers."""


@dataclass
class Outcome:
    """What one input did: whether it opened and read, and which randread errors it raised."""

    opened: bool = False
    entries: int = 0
    #: every checked entry read through read() and open() without an error
    read_fully: bool = False
    #: (operation, error class, message with numbers and names blanked)
    errors: list[tuple[str, str, str]] = field(default_factory=list)
    #: known, accepted differences between read paths (see ``_only_libdeflate_accepts``)
    notes: list[str] = field(default_factory=list)

    def record(self, operation: str, exc: randread.RandreadError) -> None:
        self.errors.append((operation, type(exc).__name__, _message_shape(str(exc))))

    def features(self) -> set[object]:
        """What this input did, coarsely; an input with a new feature joins the pool."""
        return {(self.opened, min(self.entries, 3), self.read_fully), *self.errors}


_MESSAGE_NOISE = re.compile(r"b?'(?:[^'\\]|\\.)*'|b?\"(?:[^\"\\]|\\.)*\"|0x[0-9a-fA-F]+|\d+")


def _message_shape(message: str) -> str:
    return _MESSAGE_NOISE.sub("#", message)[:120]


def _source(data: bytes, kind: str) -> bytes | io.BytesIO:
    return io.BytesIO(data) if kind == "file" else data


def check_input(data: bytes, *, source: str = "bytes", max_entries: int = 64) -> Outcome:
    """Run every read operation on ``data``; return what happened.

    RandreadErrors are recorded in the outcome. Any other exception propagates:
    that is a finding. ``source`` is ``"bytes"`` or ``"file"`` (an io.BytesIO);
    at most ``max_entries`` entries are read one by one (testzip reads them all).
    """
    outcome = Outcome()
    try:
        reader = randread.ZipReader(_source(data, source))
    except randread.RandreadError as exc:
        outcome.record("open", exc)
        return outcome
    outcome.opened = True
    with reader:
        infos = _check_listing(reader)
        outcome.entries = len(infos)
        clean = True
        stream_format_error = False
        for info in infos[:max_entries]:
            entry_clean, entry_format_error = _check_entry(reader, info, outcome)
            clean = clean and entry_clean
            stream_format_error = stream_format_error or entry_format_error
        try:
            bad = reader.testzip()
        except randread.RandreadError as exc:
            outcome.record("testzip", exc)
        else:
            if bad is None and stream_format_error:
                msg = "testzip() found no bad entry, but reading an open() stream failed"
                raise DisagreementError(msg)
        outcome.read_fully = clean and len(infos) <= max_entries
    return outcome


def _check_listing(reader: randread.ZipReader) -> list[zipfile.ZipInfo]:
    names = reader.namelist()
    infos = reader.infolist()
    if [info.filename for info in infos] != names or list(reader) != names:
        msg = "namelist(), infolist() and iteration list different names"
        raise DisagreementError(msg)
    if len(reader) != len(names):
        msg = f"len() is {len(reader)} but namelist() has {len(names)} names"
        raise DisagreementError(msg)
    _ = reader.comment, reader.base_offset, repr(reader)
    for info in infos:
        for attribute in INFO_ATTRIBUTES:
            getattr(info, attribute)
        info.is_dir()
        repr(info)
    for name in set(names):
        if name not in reader or reader.getinfo(name).filename != name:
            msg = f"getinfo({name!r}) does not find a listed name"
            raise DisagreementError(msg)
    return infos


def _check_entry(
    reader: randread.ZipReader, info: zipfile.ZipInfo, outcome: Outcome
) -> tuple[bool, bool]:
    """Read one entry every way; return (no error at all, open() stream had a format error)."""
    content: bytes | None = None
    try:
        content = reader.read(info)
    except randread.RandreadError as exc:
        outcome.record("read", exc)
    streamed: bytes | None = None
    stream_format_error = False
    try:
        streamed = _read_stream(reader, info, content)
    except randread.ZipFormatError as exc:
        outcome.record("open", exc)
        stream_format_error = True
    except randread.RandreadError as exc:
        outcome.record("open", exc)
    if content is not None and streamed is not None and content != streamed:
        msg = (
            f"entry {info.filename!r}: read() gave {len(content)} bytes, open() gave "
            f"{len(streamed)} different bytes"
        )
        raise DisagreementError(msg)
    if (content is None) != (streamed is None):
        if content is not None and _only_libdeflate_accepts(reader, info):
            outcome.notes.append("libdeflate accepts what zlib rejects")
        else:
            which = "read()" if content is not None else "open()"
            msg = f"entry {info.filename!r}: only {which} succeeds"
            raise DisagreementError(msg)
    if content is not None:
        buffer = bytearray(len(content) + 1)
        if reader.read_into(info, buffer) != len(content) or buffer[:-1] != content:
            msg = f"entry {info.filename!r}: read_into() differs from read()"
            raise DisagreementError(msg)
    if info.flag_bits & _FLAG_ENCRYPTED:
        for password in KNOWN_PASSWORDS:
            try:
                reader.read(info, pwd=password)
            except randread.RandreadError as exc:
                outcome.record("read-password", exc)
    return content is not None, stream_format_error


def _only_libdeflate_accepts(reader: randread.ZipReader, info: zipfile.ZipInfo) -> bool:
    """Tell whether read() succeeded only because libdeflate decoded the entry.

    libdeflate is more lenient than zlib (it decodes the invalid fixed-code
    length symbols 286 and 287, for one), and only read() uses it: open()
    streams through zlib or isal. The CRC-32 still guards what read() returns.
    """
    libdeflate = zip_methods.fast_deflate_backend() == "libdeflate"
    if info.compress_type != zipfile.ZIP_DEFLATED or not libdeflate:
        return False
    with mock.patch.object(zip_methods, "_libdeflate", None):
        try:
            reader.read(info)
        except randread.ZipFormatError:
            return True
    return False


def _read_stream(
    reader: randread.ZipReader, info: zipfile.ZipInfo, expected: bytes | None
) -> bytes:
    parts = []
    with reader.open(info) as stream:
        for index in itertools.count():
            chunk = stream.read(_CHUNK_SIZES[index % len(_CHUNK_SIZES)])
            if not chunk:
                break
            parts.append(chunk)
        content = b"".join(parts)
        if stream.read() != b"":
            msg = f"entry {info.filename!r}: open() stream returns data after its end"
            raise DisagreementError(msg)
        if expected is None or expected != content or not content:
            return content
        # Seeking back restarts decompression; the bytes must be the same again.
        middle = len(content) // 2
        for position in (0, middle, len(content) - 1):
            stream.seek(position)
            if stream.read(64) != content[position : position + 64]:
                msg = f"entry {info.filename!r}: read after seek({position}) differs"
                raise DisagreementError(msg)
    return content


# -- seeds ------------------------------------------------------------------------


@dataclass(frozen=True)
class Seed:
    """One starting input and where it came from."""

    name: str
    data: bytes


def corpus_seeds(directories: Sequence[Path], max_length: int) -> list[Seed]:
    """Every file under ``directories`` up to ``max_length`` bytes, in a stable order."""
    seeds = []
    for directory in directories:
        for path in sorted(directory.rglob("*")):
            if not path.is_file() or path.suffix in _CORPUS_SKIP_SUFFIXES:
                continue
            if path.stat().st_size > max_length:
                continue
            seeds.append(Seed(str(path.relative_to(directory)), path.read_bytes()))
    return seeds


class _Unseekable(io.RawIOBase):
    """A write-only sink with no tell(), so zipfile writes data descriptors."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = io.BytesIO()

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        return self.buffer.write(data)  # type: ignore[arg-type]


_SAMPLE_FILES = {
    "hello.txt": b"hello, world\n" * 40,
    "dir/": b"",
    "dir/empty": b"",
    "bytes.bin": bytes(range(256)) * 16,
    "caf\u00e9/\u4e03.txt": b"unicode name",
}


def _zipfile_archive(
    method: int,
    *,
    comment: bytes = b"",
    force_zip64: bool = False,
    stream: bool = False,
    entry_comment: bytes = b"",
    extra: bytes = b"",
) -> bytes:
    sink: io.BytesIO | _Unseekable = _Unseekable() if stream else io.BytesIO()
    with zipfile.ZipFile(sink, "w", method) as archive:
        archive.comment = comment
        for name, data in _SAMPLE_FILES.items():
            info = zipfile.ZipInfo(name, (2024, 2, 29, 23, 59, 58))
            info.compress_type = method
            info.comment = entry_comment
            info.extra = extra
            if name.endswith("/"):
                info.external_attr = 0o40755 << 16 | 0x10
                archive.writestr(info, b"")
                continue
            with archive.open(info, "w", force_zip64=force_zip64) as out:
                out.write(data)
    return (sink.buffer if isinstance(sink, _Unseekable) else sink).getvalue()


def _empty_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.comment = b"no entries"
    return buffer.getvalue()


def _raw_archive(entries: Sequence[tuple[bytes, int, bytes, bytes]]) -> bytes:
    """Lay out ``(name, method, compressed data, content)`` entries by hand (APPNOTE 4.3)."""
    local = bytearray()
    central = bytearray()
    for name, method, compressed, content in entries:
        crc = zlib.crc32(content)
        fields = (method, 0, 0x5021, crc, len(compressed), len(content), len(name))
        central += struct.pack("<IHHH", 0x02014B50, 63, 63, 0)
        central += struct.pack("<HHHIIIHHHHHII", *fields, 0, 0, 0, 0, 0, len(local)) + name
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 63, 0, *fields, 0) + name + compressed
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central),
                      len(local), 0)  # fmt: skip
    return bytes(local + central) + end


def _with_zip64_end(data: bytes) -> bytes:
    """Add a zip64 end of central directory record and locator, and saturate the EOCD."""
    eocd = data.rindex(b"PK\x05\x06")
    _, _, _, _, count, cd_size, cd_offset, _ = struct.unpack_from("<IHHHHIIH", data, eocd)
    record = struct.pack(
        "<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, cd_size, cd_offset
    )
    locator = struct.pack("<IIQI", 0x07064B50, 0, eocd, 1)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return data[:eocd] + record + locator + end


def _zip64_everywhere(data: bytes) -> bytes:
    """Move every central directory entry's sizes and offset into a zip64 extra field."""
    buffer = bytearray(data)
    position = buffer.find(b"PK\x01\x02")
    while position >= 0:
        grown = _zip64ify(buffer, position, (True, True, True, False), None)
        position = buffer.find(b"PK\x01\x02", position + 4 + grown)
    return bytes(buffer)


def built_seeds() -> list[Seed]:
    """Archives built here: every zipfile method, zip64, comments, descriptors, zstd."""
    methods = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
    seeds = [Seed(f"built/method-{method}", _zipfile_archive(method)) for method in methods]
    deflated = zipfile.ZIP_DEFLATED
    seeds += [
        Seed("built/zip64-local", _zipfile_archive(deflated, force_zip64=True)),
        Seed("built/descriptors", _zipfile_archive(deflated, stream=True)),
        Seed("built/descriptors-stored", _zipfile_archive(zipfile.ZIP_STORED, stream=True)),
        Seed("built/descriptors-zip64", _zipfile_archive(deflated, stream=True, force_zip64=True)),
        Seed(
            "built/comments",
            _zipfile_archive(deflated, comment=b"archive PK\x05\x06 comment", entry_comment=b"c"),
        ),
        Seed(
            "built/extra-fields",
            _zipfile_archive(
                deflated,
                # extended timestamp (0x5455) and an Info-ZIP Unicode Path (0x7075) field
                extra=struct.pack("<HHBI", 0x5455, 5, 1, 1700000000)
                + struct.pack("<HHBI", 0x7075, 5 + 3, 1, 0)
                + b"abc",
            ),
        ),
        Seed("built/empty", _empty_archive()),
        Seed("built/prepended", b"#!/bin/sh\nexit 0\n" + _zipfile_archive(deflated)),
    ]
    plain = _zipfile_archive(deflated)
    seeds += [
        Seed("built/zip64-end", _with_zip64_end(plain)),
        Seed("built/zip64-full", _with_zip64_end(_zip64_everywhere(plain))),
    ]
    content = b"zstandard content " * 50
    seeds.append(
        Seed(
            "built/zstd",
            _raw_archive(
                [
                    (b"z.txt", 93, zstandard.ZstdCompressor().compress(content), content),
                    (b"s.txt", 0, content, content),
                ]
            ),
        )
    )
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(200):
            archive.writestr(f"f{index:03}", str(index) * (index % 7))
    seeds.append(Seed("built/many-entries", many.getvalue()))
    return seeds


# -- mutations ----------------------------------------------------------------------

#: field (offset, width) within each record, keyed by the record's signature (APPNOTE 4.3)
RECORD_FIELDS: dict[bytes, tuple[tuple[int, int], ...]] = {
    # 4.3.7 local file header: version, flags, method, time, date, crc, sizes, lengths
    b"PK\x03\x04": (
        (4, 2), (6, 2), (8, 2), (10, 2), (12, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2),
    ),
    # 4.3.12 central directory header: ... lengths, disk, attributes, local header offset
    b"PK\x01\x02": (
        (4, 2), (6, 2), (8, 2), (10, 2), (12, 2), (14, 2), (16, 4), (20, 4), (24, 4), (28, 2),
        (30, 2), (32, 2), (34, 2), (36, 2), (38, 4), (42, 4),
    ),
    # 4.3.16 end of central directory: disks, counts, directory size and offset, comment
    b"PK\x05\x06": ((4, 2), (6, 2), (8, 2), (10, 2), (12, 4), (16, 4), (20, 2)),
    # 4.3.14 zip64 end of central directory record
    b"PK\x06\x06": ((4, 8), (12, 2), (14, 2), (16, 4), (20, 4), (24, 8), (32, 8), (40, 8), (48, 8)),
    # 4.3.15 zip64 end of central directory locator
    b"PK\x06\x07": ((4, 4), (8, 8), (16, 4)),
    # 4.3.9 data descriptor, 32-bit and zip64 sizes
    b"PK\x07\x08": ((4, 4), (8, 4), (12, 4), (8, 8), (16, 8)),
}  # fmt: skip
#: where the method and flags fields are in local and central headers
_METHOD_OFFSET = {b"PK\x03\x04": 8, b"PK\x01\x02": 10}
_FLAGS_OFFSET = {b"PK\x03\x04": 6, b"PK\x01\x02": 8}
_CDH_LENGTH = 46
_SIGNATURES = re.compile(rb"PK(?:\x03\x04|\x01\x02|\x05\x06|\x06\x06|\x06\x07|\x07\x08)")
_INTERESTING = {
    1: (0, 1, 0x7F, 0x80, 0xFF, 0xFE),
    2: (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF),
    4: (0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF),
    8: (0, 1, 0xFFFFFFFF, 1 << 32, (1 << 63) - 1, 1 << 63, (1 << 64) - 1, 1 << 40),
}
_METHODS = (0, 1, 6, 8, 9, 12, 14, 20, 93, 95, 98, 99, 0xFFFF)
_FLAG_BITS = (0, 3, 5, 6, 11, 13)
_EXTRA_IDS = (0x0001, 0x7075, 0x9901, 0x5455, 0x000A, 0xFFFF)
_INSERTIONS = (b"PK\x01\x02", b"PK\x03\x04", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07", b"\x00")


def _records(buffer: bytearray) -> list[tuple[int, bytes]]:
    return [(match.start(), match.group()) for match in _SIGNATURES.finditer(buffer)]


def _put(buffer: bytearray, offset: int, width: int, value: int) -> None:
    if offset >= 0 and offset + width <= len(buffer):
        buffer[offset : offset + width] = (value % (1 << (8 * width))).to_bytes(width, "little")


def _get(buffer: bytearray, offset: int, width: int) -> int:
    return int.from_bytes(buffer[offset : offset + width], "little")


def _grow_central_directory(buffer: bytearray, position: int, grown: int) -> None:
    """Fix the end records after ``grown`` bytes were inserted at ``position`` in the directory."""
    for offset, signature in _records(buffer):
        if offset <= position:
            continue
        if signature == b"PK\x05\x06" and _get(buffer, offset + 12, 4) != 0xFFFFFFFF:
            _put(buffer, offset + 12, 4, _get(buffer, offset + 12, 4) + grown)
        elif signature == b"PK\x06\x06":
            _put(buffer, offset + 40, 8, _get(buffer, offset + 40, 8) + grown)
        elif signature == b"PK\x06\x07":
            _put(buffer, offset + 8, 8, _get(buffer, offset + 8, 8) + grown)


def _zip64ify(
    buffer: bytearray,
    header: int,
    which: tuple[bool, bool, bool, bool],
    perturb: Callable[[int], int] | None,
) -> int:
    """Saturate fields of the central directory header at ``header``; add a zip64 extra.

    ``which`` picks uncompressed size, compressed size, local header offset and
    disk (APPNOTE 4.5.3 order); ``perturb`` may change the 64-bit values.
    Returns how many bytes were inserted.
    """
    if header + _CDH_LENGTH > len(buffer):
        return 0
    fields = ((24, 4, 8), (20, 4, 8), (42, 4, 8), (34, 2, 4))
    payload = b""
    for wanted, (offset, width, wide) in zip(which, fields, strict=True):
        if not wanted:
            continue
        value = _get(buffer, header + offset, width)
        if perturb is not None:
            value = perturb(value)
        payload += (value % (1 << (8 * wide))).to_bytes(wide, "little")
        _put(buffer, header + offset, width, (1 << (8 * width)) - 1)
    blob = struct.pack("<HH", 0x0001, len(payload)) + payload
    return _insert_extra(buffer, header, blob)


def _insert_extra(buffer: bytearray, header: int, blob: bytes) -> int:
    """Put ``blob`` first in the extra field of the central directory header at ``header``."""
    name_length = _get(buffer, header + 28, 2)
    extra_length = _get(buffer, header + 30, 2)
    if extra_length + len(blob) > 0xFFFF:
        return 0
    at = min(header + _CDH_LENGTH + name_length, len(buffer))
    buffer[at:at] = blob
    _put(buffer, header + 30, 2, extra_length + len(blob))
    _grow_central_directory(buffer, at, len(blob))
    return len(blob)


class Mutator:
    """Deterministic havoc-style mutations; everything random comes from ``rng``."""

    def __init__(self, rng: random.Random, pool: list[bytes], max_length: int) -> None:
        self.rng = rng
        self.pool = pool
        self.max_length = max_length
        # Structure-aware operations are listed twice: they reach deeper code.
        self.operations: tuple[Callable[[bytearray], bytearray], ...] = (
            self.flip_bits,
            self.set_interesting,
            self.add_small,
            self.set_field,
            self.set_field,
            self.set_field,
            self.set_method,
            self.set_flags,
            self.insert_extra,
            self.zip64ify,
            self.truncate,
            self.delete_range,
            self.insert_bytes,
            self.duplicate_range,
            self.copy_range,
            self.splice,
        )

    def mutate(self, data: bytes) -> bytes:
        buffer = bytearray(data)
        for _ in range(self.rng.choice((1, 1, 1, 2, 2, 3, 4, 6))):
            buffer = self.rng.choice(self.operations)(buffer)
        return bytes(buffer[: self.max_length])

    def _offset(self, buffer: bytearray, width: int = 1) -> int:
        return self.rng.randrange(max(1, len(buffer) - width + 1))

    def _value(self, buffer: bytearray, width: int, current: int) -> int:
        rng = self.rng
        kind = rng.randrange(6)
        if kind == 0:
            return current + rng.choice((-1, 1)) * rng.randint(1, 64)
        if kind == 1:
            return len(buffer) - rng.randrange(64)
        if kind == 2:
            records = _records(buffer)
            return rng.choice(records)[0] if records else 0
        if kind == 3:
            return rng.getrandbits(8 * width)
        return rng.choice(_INTERESTING[width])

    def flip_bits(self, buffer: bytearray) -> bytearray:
        if buffer:
            for _ in range(self.rng.randint(1, 8)):
                buffer[self._offset(buffer)] ^= 1 << self.rng.randrange(8)
        return buffer

    def set_interesting(self, buffer: bytearray) -> bytearray:
        width = self.rng.choice((1, 2, 4, 8))
        _put(buffer, self._offset(buffer, width), width, self.rng.choice(_INTERESTING[width]))
        return buffer

    def add_small(self, buffer: bytearray) -> bytearray:
        width = self.rng.choice((1, 2, 4))
        offset = self._offset(buffer, width)
        delta = self.rng.choice((-1, 1)) * self.rng.randint(1, 35)
        _put(buffer, offset, width, _get(buffer, offset, width) + delta)
        return buffer

    def _pick_record(self, buffer: bytearray, signatures: Sequence[bytes]) -> int | None:
        records = [offset for offset, signature in _records(buffer) if signature in signatures]
        return self.rng.choice(records) if records else None

    def set_field(self, buffer: bytearray) -> bytearray:
        records = _records(buffer)
        if not records:
            return self.set_interesting(buffer)
        offset, signature = self.rng.choice(records)
        field_offset, width = self.rng.choice(RECORD_FIELDS[signature])
        at = offset + field_offset
        _put(buffer, at, width, self._value(buffer, width, _get(buffer, at, width)))
        return buffer

    def set_method(self, buffer: bytearray) -> bytearray:
        header = self._pick_record(buffer, tuple(_METHOD_OFFSET))
        if header is not None:
            signature = bytes(buffer[header : header + 4])
            _put(buffer, header + _METHOD_OFFSET[signature], 2, self.rng.choice(_METHODS))
        return buffer

    def set_flags(self, buffer: bytearray) -> bytearray:
        header = self._pick_record(buffer, tuple(_FLAGS_OFFSET))
        if header is not None:
            at = header + _FLAGS_OFFSET[bytes(buffer[header : header + 4])]
            _put(buffer, at, 2, _get(buffer, at, 2) ^ (1 << self.rng.choice(_FLAG_BITS)))
        return buffer

    def insert_extra(self, buffer: bytearray) -> bytearray:
        header = self._pick_record(buffer, (b"PK\x01\x02",))
        if header is None:
            return buffer
        rng = self.rng
        payload = rng.randbytes(rng.choice((0, 1, 4, 8, 9, 16, 24, 28)))
        if rng.random() < 0.3:  # a field whose size runs past the end
            payload = payload[: len(payload) // 2]
            blob = struct.pack("<HH", rng.choice(_EXTRA_IDS), len(payload) * 2) + payload
        else:
            blob = struct.pack("<HH", rng.choice(_EXTRA_IDS), len(payload)) + payload
        _insert_extra(buffer, header, blob)
        return buffer

    def zip64ify(self, buffer: bytearray) -> bytearray:
        header = self._pick_record(buffer, (b"PK\x01\x02",))
        if header is None:
            return buffer
        rng = self.rng
        which = (rng.random() < 0.7, rng.random() < 0.7, rng.random() < 0.5, rng.random() < 0.1)

        def perturb(value: int) -> int:
            return self._value(buffer, 8, value) if rng.random() < 0.2 else value

        _zip64ify(buffer, header, which, perturb)
        return buffer

    def truncate(self, buffer: bytearray) -> bytearray:
        cut = self._offset(buffer)
        return buffer[cut:] if self.rng.random() < 0.2 else buffer[:cut]

    def delete_range(self, buffer: bytearray) -> bytearray:
        start = self._offset(buffer)
        del buffer[start : start + self.rng.randint(1, 64)]
        return buffer

    def insert_bytes(self, buffer: bytearray) -> bytearray:
        rng = self.rng
        kind = rng.randrange(3)
        if kind == 0:
            blob = rng.choice(_INSERTIONS)
        elif kind == 1:
            blob = bytes([rng.choice((0, 0xFF, rng.randrange(256)))]) * rng.randint(1, 256)
        else:
            blob = rng.randbytes(rng.randint(1, 32))
        at = self._offset(buffer)
        buffer[at:at] = blob
        return buffer

    def duplicate_range(self, buffer: bytearray) -> bytearray:
        start = self._offset(buffer)
        chunk = buffer[start : start + self.rng.randint(1, 512)]
        at = self._offset(buffer)
        buffer[at:at] = chunk
        return buffer

    def copy_range(self, buffer: bytearray) -> bytearray:
        start = self._offset(buffer)
        chunk = buffer[start : start + self.rng.randint(1, 128)]
        at = self._offset(buffer)
        buffer[at : at + len(chunk)] = chunk
        return buffer

    def splice(self, buffer: bytearray) -> bytearray:
        other = self.rng.choice(self.pool)
        cut = self._offset(buffer)
        return buffer[:cut] + other[self.rng.randrange(len(other) + 1) :]


# -- the loop ---------------------------------------------------------------------


class InputTimeoutError(BaseException):
    """One input ran past the per-input timeout (a BaseException: nothing may swallow it)."""


class StderrOutputError(Exception):
    """Something was printed while reading an input: an unraisable or ignored error."""


@dataclass
class Finding:
    """One input that broke the invariant."""

    key: str
    error: str
    traceback: str
    data: bytes
    index: int
    source: str


@dataclass
class Stats:
    """Counts for the summary."""

    inputs: int = 0
    opened: int = 0
    read_fully: int = 0
    seconds: float = 0.0
    seeds: int = 0
    pool: int = 0
    #: seconds taken by the slowest input
    slowest: float = 0.0
    #: randread errors per class, counting every operation that raised one
    errors: Counter[str] = field(default_factory=Counter)
    #: the error that stopped an input at open, per class
    open_errors: Counter[str] = field(default_factory=Counter)
    #: known, accepted differences between read paths
    notes: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    finding_counts: Counter[str] = field(default_factory=Counter)

    def add(self, outcome: Outcome) -> None:
        self.opened += outcome.opened
        self.read_fully += outcome.read_fully
        self.errors.update(error for _, error, _ in outcome.errors)
        self.notes.update(outcome.notes)
        if not outcome.opened:
            self.open_errors.update(error for _, error, _ in outcome.errors)


class _Alarm:
    """A per-input timeout on the main thread: SIGALRM raises InputTimeoutError."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = False
        self.previous = signal.signal(signal.SIGALRM, self._fire)

    def _fire(self, _signum: int, _frame: FrameType | None) -> None:
        if self.armed:
            self.armed = False
            msg = f"input ran longer than {self.seconds} s"
            raise InputTimeoutError(msg)

    @contextlib.contextmanager
    def deadline(self) -> Iterator[None]:
        self.armed = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        try:
            yield
        finally:
            self.armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)

    def close(self) -> None:
        signal.signal(signal.SIGALRM, self.previous)


class _Watchdog(threading.Thread):
    """Backstop for a hang the alarm cannot break: save the input, dump stacks, exit."""

    def __init__(self, limit: float, out: Path | None) -> None:
        super().__init__(name="fuzz-watchdog", daemon=True)
        self.limit = limit
        self.out = out
        self.current: tuple[bytes, int, float] | None = None

    def run(self) -> None:
        while True:
            time.sleep(0.5)
            current = self.current
            if current is None or time.monotonic() - current[2] < self.limit:
                continue
            data, index, _ = current
            print(f"\ninput {index} still running after {self.limit} s; stacks:", file=sys.stderr)
            faulthandler.dump_traceback(sys.stderr, all_threads=True)
            if self.out is not None:
                self.out.mkdir(parents=True, exist_ok=True)
                name = f"hard-hang-{hashlib.sha1(data).hexdigest()[:12]}.zip"  # noqa: S324
                (self.out / name).write_bytes(data)
                print(f"saved the input as {self.out / name}", file=sys.stderr)
            sys.stderr.flush()
            os._exit(3)


@contextlib.contextmanager
def _capture_stderr() -> Iterator[io.StringIO]:
    """Collect what is printed to sys.stderr, and errors Python could not raise."""
    printed = io.StringIO()
    stderr, hook = sys.stderr, sys.unraisablehook

    def unraisable(report: sys.UnraisableHookArgs) -> None:
        printed.write(f"unraisable {report.exc_type.__name__}: {report.exc_value} ")
        printed.write(f"({report.err_msg or 'Exception ignored in'} {report.object!r})\n")

    sys.stderr, sys.unraisablehook = printed, unraisable
    try:
        yield printed
    finally:
        sys.stderr, sys.unraisablehook = stderr, hook


def _finding_key(exc: BaseException) -> str:
    """Group findings by exception type and the innermost randread or library frame."""
    if isinstance(exc, StderrOutputError):
        return f"StderrOutput:{_message_shape(str(exc).splitlines()[0])[:60]}"
    frames = traceback.extract_tb(exc.__traceback__)
    own = Path(__file__).name
    inner = [frame for frame in frames if Path(frame.filename).name != own] or frames
    where = f"{Path(inner[-1].filename).name}:{inner[-1].lineno}" if inner else "?"
    return f"{type(exc).__name__}@{where}"


def _save(out: Path, finding: Finding) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.@-]", "_", finding.key)
    digest = hashlib.sha1(finding.data).hexdigest()[:12]  # noqa: S324 - a file name, not security
    (out / f"{stem}-{digest}.zip").write_bytes(finding.data)
    (out / f"{stem}-{digest}.txt").write_text(
        f"input {finding.index} (source={finding.source}, {len(finding.data)} bytes)\n"
        f"{finding.traceback}",
        encoding="utf-8",
    )


def fuzz(
    seeds: Sequence[Seed],
    *,
    seed: int,
    seconds: float | None = None,
    runs: int | None = None,
    timeout: float | None = None,
    max_length: int = 1 << 20,
    max_entries: int = 64,
    out: Path | None = None,
    progress: float | None = None,
) -> Stats:
    """Run the seeds, then mutations of the pool, until ``seconds`` or ``runs`` is reached.

    ``timeout`` arms a SIGALRM per input (main thread only); ``out`` is where
    findings are saved (at most five per key).
    """
    rng = random.Random(seed)
    pool = [s.data for s in seeds]
    seed_count = len(pool)
    mutator = Mutator(rng, pool, max_length)
    stats = Stats(seeds=seed_count)
    features: set[object] = set()
    alarm = _Alarm(timeout) if timeout else None
    watchdog = None
    if timeout:
        watchdog = _Watchdog(timeout * 3 + 5, out)
        watchdog.start()
    started = time.monotonic()
    end = started + seconds if seconds is not None else None
    next_report = started + progress if progress else None
    try:
        while (runs is None or stats.inputs < runs) and (end is None or time.monotonic() < end):
            index = stats.inputs
            data = pool[index] if index < seed_count else mutator.mutate(rng.choice(pool))
            source = "file" if rng.random() < 0.15 else "bytes"
            input_started = time.monotonic()
            if watchdog is not None:
                watchdog.current = (data, index, input_started)
            try:
                outcome = _run_one(data, source, max_entries, alarm)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # every other escape is what the fuzzer looks for
                finding = Finding(
                    _finding_key(exc),
                    f"{type(exc).__name__}: {exc}",
                    "".join(traceback.format_exception(exc)),
                    data,
                    index,
                    source,
                )
                _record_finding(stats, finding, out)
                continue
            finally:
                stats.inputs += 1
                stats.slowest = max(stats.slowest, time.monotonic() - input_started)
                if watchdog is not None:
                    watchdog.current = None
            stats.add(outcome)
            new = outcome.features() - features
            if new:
                features.update(new)
                if index >= seed_count and len(pool) < seed_count + 5000:
                    pool.append(data)
            if next_report is not None and progress and time.monotonic() >= next_report:
                next_report += progress
                _report_progress(stats, time.monotonic() - started)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        if alarm is not None:
            alarm.close()
    stats.seconds = time.monotonic() - started
    stats.pool = len(pool)
    return stats


def _run_one(data: bytes, source: str, max_entries: int, alarm: _Alarm | None) -> Outcome:
    """check_input() under the per-input timeout; printing anything is a finding too."""
    with _capture_stderr() as printed, alarm.deadline() if alarm else contextlib.nullcontext():
        outcome = check_input(data, source=source, max_entries=max_entries)
    if printed.getvalue():
        raise StderrOutputError(printed.getvalue())
    return outcome


def _record_finding(stats: Stats, finding: Finding, out: Path | None) -> None:
    key = finding.key
    stats.finding_counts[key] += 1
    if stats.finding_counts[key] <= 5:
        stats.findings.append(finding)
        if out is not None:
            _save(out, finding)


def _report_progress(stats: Stats, elapsed: float) -> None:
    print(
        f"[{elapsed:7.0f} s] {stats.inputs} inputs ({stats.inputs / elapsed:.0f}/s), "
        f"{stats.opened} opened, {stats.read_fully} read fully, "
        f"{sum(stats.finding_counts.values())} findings",
        file=sys.stderr,
        flush=True,
    )


def print_summary(stats: Stats, *, shown: int = 3) -> None:
    rate = stats.inputs / stats.seconds if stats.seconds else 0.0
    print(
        f"inputs run: {stats.inputs} in {stats.seconds:.1f} s ({rate:.0f} inputs/s); "
        f"seeds: {stats.seeds}; pool at the end: {stats.pool}"
    )
    print(f"opened: {stats.opened}; read fully: {stats.read_fully}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux
    print(f"slowest input: {stats.slowest * 1000:.0f} ms; peak resident memory: {peak} MiB")
    print("randread errors raised, per class (every operation that raised one):")
    for name, count in stats.errors.most_common():
        print(f"  {name:28} {count}")
    print("errors that stopped an input at open, per class:")
    for name, count in stats.open_errors.most_common():
        print(f"  {name:28} {count}")
    if stats.notes:
        print("known differences between read paths (not findings):")
        for note, count in stats.notes.most_common():
            print(f"  {note}: {count}")
    total = sum(stats.finding_counts.values())
    print(f"findings: {total} ({len(stats.finding_counts)} distinct)")
    for key, count in stats.finding_counts.most_common():
        print(f"  {key}: {count}")
    for finding in stats.findings[:shown]:
        print(f"--- input {finding.index} ({finding.source}, {len(finding.data)} bytes)")
        print(finding.traceback.rstrip())


# -- command line -----------------------------------------------------------------


def _limit_memory(megabytes: int) -> None:
    """Cap the address space at what is mapped now plus ``megabytes``."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return
    match = re.search(r"^VmSize:\s+(\d+) kB", status, re.MULTILINE)
    if match is None:
        return
    limit = int(match.group(1)) * 1024 + megabytes * (1 << 20)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _replay(paths: Sequence[Path], timeout: float, max_entries: int) -> int:
    failures = 0
    alarm = _Alarm(timeout)
    try:
        for path in paths:
            for source in ("bytes", "file"):
                try:
                    with alarm.deadline():
                        outcome = check_input(
                            path.read_bytes(), source=source, max_entries=max_entries
                        )
                except BaseException as exc:  # a finding, shown in full
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    failures += 1
                    print(f"{path} ({source}): FINDING")
                    traceback.print_exception(exc, file=sys.stdout)
                    continue
                print(
                    f"{path} ({source}): ok: opened={outcome.opened} entries={outcome.entries} "
                    f"read_fully={outcome.read_fully} errors={outcome.errors}"
                )
    finally:
        alarm.close()
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to run")
    parser.add_argument("--runs", type=int, help="stop after this many inputs")
    parser.add_argument("--seed", type=int, default=0, help="random seed (runs are repeatable)")
    parser.add_argument("--out", type=Path, help="save inputs that break the invariant here")
    parser.add_argument(
        "--corpus", type=Path, action="append", default=[], help="more seed files (repeatable)"
    )
    parser.add_argument(
        "--no-default-corpus", action="store_true", help=f"do not read {DEFAULT_CORPORA}"
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per input")
    parser.add_argument(
        "--memory-mb", type=int, default=2048, help="address space cap above start-up (0: none)"
    )
    parser.add_argument("--max-length", type=int, default=1 << 20, help="largest input, bytes")
    parser.add_argument("--max-entries", type=int, default=64, help="entries read per input")
    parser.add_argument("--progress", type=float, default=30.0, help="seconds between reports")
    parser.add_argument("--replay", type=Path, nargs="+", help="check these files and exit")
    args = parser.parse_args(argv)

    faulthandler.enable()
    if args.memory_mb:
        _limit_memory(args.memory_mb)
    if args.replay:
        return _replay(args.replay, args.timeout, args.max_entries)
    directories = list(args.corpus)
    if not args.no_default_corpus and DEFAULT_CORPORA.is_dir():
        directories.insert(0, DEFAULT_CORPORA)
    seeds = built_seeds() + corpus_seeds(directories, args.max_length)
    print(
        f"seed {args.seed}: {len(seeds)} seeds ({', '.join(map(str, directories)) or 'built only'})"
    )
    stats = fuzz(
        seeds,
        seed=args.seed,
        seconds=args.seconds,
        runs=args.runs,
        timeout=args.timeout,
        max_length=args.max_length,
        max_entries=args.max_entries,
        out=args.out,
        progress=args.progress,
    )
    print_summary(stats)
    return 1 if stats.finding_counts else 0


if __name__ == "__main__":
    sys.exit(main())
