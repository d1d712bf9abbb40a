"""Fuzz target for ``randread.BundleReader``: any bytes either read or raise a RandreadError.

The invariant (STYLE.md, practice 8): whatever bytes ``BundleReader`` is given,
opening them, ``namelist()``, ``infolist()`` attribute access, ``getinfo()``,
``read()``, ``open()`` with chunked reads and seeks, ``view()``,
``as_numpy()``, ``read_many()``, ``verify_index()`` and ``testzip()`` either
succeed or raise a :class:`randread.RandreadError`. A finding is anything
else: another exception escaping (``struct.error``, ``zstandard.ZstdError``,
``IndexError``, ``OverflowError``, ``MemoryError``, ...), an input that runs
past the per-input timeout, or two read paths that disagree about an entry.

Lookups of listed names: a name that ``namelist()`` returned may fail to look
up (``KeyError``) only when the index is damaged, and then
``verify_index()`` must say so. A corrupt hash table or hash order can hide
a name from the binary search; the format accepts that (formats/bundle.md:
"a damaged index can make ... its name unfindable") because lookups do not
check the whole table. So ``KeyError`` for a listed name is recorded as an
outcome when ``verify_index()`` fails, and is a finding when it passes.

The engine (outcome records, the per-input alarm, the hang watchdog, the
finding keys, the summary and the byte-level mutations) is shared with
``fuzz_zip.py``; this file adds the bundle seeds, bundle-aware mutations
(footer and entry fields with their checksums recomputed, so that mutations
get past the footer checksum and reach the deeper checks) and the check.

    python fuzz/fuzz_bundle.py --seconds 600 --seed 1 --out fuzz-findings
    python fuzz/fuzz_bundle.py --replay fuzz-findings/*.rrb

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
import random
import re
import sys
import tempfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import fuzz_zip
import numpy as np
from fuzz_zip import DisagreementError, Finding, Mutator, Outcome, Seed, Stats, print_summary

import randread
from randread.bundle import format as fmt

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

__all__ = ["BundleMutator", "built_seeds", "check_input", "fuzz", "main"]

#: chunk sizes cycled through when reading an ``open()`` stream
_CHUNK_SIZES = (1, 7, 100, 4096, 1 << 16, 3)
_FOOTER_SIZE = fmt.FOOTER.size
_RECORD_SIZE = fmt.ENTRY_RECORD.size

# -- the per-input check --------------------------------------------------------


def check_input(data: bytes, *, source: str = "bytes", max_entries: int = 64) -> Outcome:
    """Run every read operation on ``data``; return what happened.

    RandreadErrors are recorded in the outcome. Any other exception propagates:
    that is a finding. ``source`` is ``"bytes"`` or ``"file"`` (an io.BytesIO,
    read through positional reads); at most ``max_entries`` entries are read
    one by one (``testzip()`` reads them all).
    """
    outcome = Outcome()
    try:
        reader = randread.BundleReader(io.BytesIO(data) if source == "file" else data)
    except randread.RandreadError as exc:
        outcome.record("open", exc)
        return outcome
    outcome.opened = True
    with reader:
        _ = reader.alignment, reader.dictionary, repr(reader)
        try:
            # The first of these checks the index checksum.
            _ = reader.comment, reader.metadata
            reader.entries()
        except randread.RandreadError as exc:
            outcome.record("metadata", exc)
        try:
            names = reader.namelist()
        except randread.RandreadError as exc:
            outcome.record("namelist", exc)
            names = None
        infos = _check_infolist(reader, names, outcome)
        index_ok = _check_index(reader, outcome)
        clean = names is not None and infos is not None
        if names is not None:
            outcome.entries = len(names)
            missing: list[str] = []
            for name in names[:max_entries]:
                clean = _check_entry(reader, name, outcome, missing) and clean
            if missing and index_ok:
                msg = f"verify_index() passes, but listed names do not look up: {missing[:3]!r}"
                raise DisagreementError(msg)
            _check_read_many(reader, names[:max_entries], outcome)
        try:
            reader.testzip()
        except randread.RandreadError as exc:
            outcome.record("testzip", exc)
        outcome.read_fully = clean and names is not None and len(names) <= max_entries
    return outcome


def _check_infolist(
    reader: randread.BundleReader, names: list[str] | None, outcome: Outcome
) -> list[randread.BundleEntryInfo] | None:
    try:
        infos = reader.infolist()
    except randread.RandreadError as exc:
        outcome.record("infolist", exc)
        return None
    if names is not None and [info.filename for info in infos] != names:
        msg = "namelist() and infolist() list different names"
        raise DisagreementError(msg)
    if len(reader) != len(infos) or list(reader) != [info.filename for info in infos]:
        msg = "len() or iteration disagrees with infolist()"
        raise DisagreementError(msg)
    for info in infos:
        _ = (info.file_size, info.compress_size, info.codec, info.CRC, info.mode, info.metadata)
        _ = (info.mtime, info.date_time, info.comment, info.is_dir(), info.data_offset, info.index)
        repr(info)
    return infos


def _check_index(reader: randread.BundleReader, outcome: Outcome) -> bool:
    try:
        reader.verify_index()
    except randread.RandreadError as exc:
        outcome.record("verify_index", exc)
        return False
    return True


def _check_entry(
    reader: randread.BundleReader, name: str, outcome: Outcome, missing: list[str]
) -> bool:
    """Read one entry every way; return whether all of them succeeded."""
    try:
        info = reader.getinfo(name)
    except KeyError:
        # Allowed only when the index is damaged (see the module docstring).
        outcome.errors.append(("getinfo", "KeyError", "listed name not found"))
        missing.append(name)
        if name in reader:
            msg = f"getinfo({name!r}) raises KeyError but `in` finds it"
            raise DisagreementError(msg) from None
        return False
    except randread.RandreadError as exc:
        outcome.record("getinfo", exc)
        return False
    if info.filename != name:
        msg = f"getinfo({name!r}) returned the entry {info.filename!r}"
        raise DisagreementError(msg)
    content: bytes | None = None
    try:
        content = reader.read(name)
    except randread.RandreadError as exc:
        outcome.record("read", exc)
    if content is not None and len(content) != info.file_size:
        msg = f"entry {name!r}: read() gave {len(content)} bytes, getinfo() says {info.file_size}"
        raise DisagreementError(msg)
    for operation, reading in (
        ("open", lambda: _read_stream(reader, name, content)),
        ("view", lambda: bytes(reader.view(name))),
        ("as_numpy", lambda: reader.as_numpy(name).tobytes()),
        ("read-info", lambda: reader.read(info)),
    ):
        try:
            other = reading()
        except randread.RandreadError as exc:
            outcome.record(operation, exc)
            if content is not None:
                msg = f"entry {name!r}: read() succeeds but {operation} raises {exc!r}"
                raise DisagreementError(msg) from None
            continue
        if content is None:
            msg = f"entry {name!r}: {operation} succeeds but read() fails"
            raise DisagreementError(msg)
        if other != content:
            msg = f"entry {name!r}: {operation} gives different bytes from read()"
            raise DisagreementError(msg)
    if content is not None and info.codec == "none":
        array = reader.as_numpy(name)
        if array.flags.writeable:
            msg = f"entry {name!r}: as_numpy() is writable"
            raise DisagreementError(msg)
    return content is not None


def _read_stream(reader: randread.BundleReader, name: str, expected: bytes | None) -> bytes:
    parts = []
    with reader.open(name) as stream:
        for index in itertools.count():
            chunk = stream.read(_CHUNK_SIZES[index % len(_CHUNK_SIZES)])
            if not chunk:
                break
            parts.append(chunk)
        content = b"".join(parts)
        if expected is None or expected != content or not content:
            return content
        middle = len(content) // 2
        for position in (0, middle, len(content) - 1):
            stream.seek(position)
            if stream.read(64) != content[position : position + 64]:
                msg = f"entry {name!r}: read after seek({position}) differs"
                raise DisagreementError(msg)
    return content


def _check_read_many(reader: randread.BundleReader, names: list[str], outcome: Outcome) -> None:
    """read_many() must agree with read() name by name (one worker: no pool per input)."""
    try:
        many = reader.read_many(names, workers=1)
    except (randread.RandreadError, KeyError) as exc:
        if isinstance(exc, KeyError):
            outcome.errors.append(("read_many", "KeyError", "listed name not found"))
        else:
            outcome.record("read_many", exc)
        return
    for name, content in zip(names, many, strict=True):
        if reader.read(name) != content:
            msg = f"entry {name!r}: read_many() differs from read()"
            raise DisagreementError(msg)


# -- seeds ------------------------------------------------------------------------


def _text(rng: random.Random, size: int) -> bytes:
    words = (b"alpha", b"beta", b"gamma", b"delta", b"{", b"}", b"\n", b"return", b"0x1f")
    return b" ".join(rng.choice(words) for _ in range(size // 5 + 1))[:size]


def _write(
    directory: Path,
    name: str,
    entries: Sequence[tuple[str, bytes, dict[str, object]]],
    **options: object,
) -> Seed:
    path = directory / f"{name}.rrb"
    with randread.BundleWriter(path, **options) as writer:  # type: ignore[arg-type]
        for entry_name, content, extra in entries:
            writer.add(entry_name, content, **extra)  # type: ignore[arg-type]
    return Seed(f"built/{name}", path.read_bytes())


def built_seeds() -> list[Seed]:
    """Small bundles covering every codec, the dictionary, metadata, alignment and names."""
    rng = random.Random(1)
    common: list[tuple[str, bytes, dict[str, object]]] = [
        ("hello.txt", b"hello, world\n" * 40, {"mtime": 1_700_000_000.5, "mode": 0o100644}),
        ("dir/", b"", {"mode": 0o40755}),
        ("dir/empty", b"", {}),
        ("bytes.bin", bytes(range(256)) * 8, {"metadata": {"content-type": "application/x"}}),
        ("caf\u00e9/\u4e03.txt", b"unicode name", {"metadata": {"comment": "c"}}),
        ("", b"the empty name", {}),
        ("nul\x00name", rng.randbytes(300), {"mtime": -1.25}),
    ]
    samples = [(f"s/{i:03}.txt", _text(rng, rng.randint(100, 900)), {}) for i in range(60)]
    floats = np.arange(64, dtype="<f8").tobytes()
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        return [
            _write(directory, "empty", []),
            _write(directory, "empty-commented", [], comment="note", metadata={"k": "v"}),
            _write(directory, "stored", common, codec="none", alignment=8),
            _write(directory, "stored-align1", common, codec="none", alignment=1),
            _write(directory, "stored-align4096", common[:3], codec="none", alignment=4096),
            _write(directory, "zstd", common, codec="zstd", comment="zstd bundle"),
            _write(directory, "lz4", common, codec="lz4"),
            _write(directory, "lz4hc", common[:4], codec="lz4", level=9),
            _write(directory, "auto", [*common, ("floats", floats, {})], codec="auto"),
            _write(directory, "trained", samples[:40], codec="zstd", dictionary="train"),
            _write(
                directory, "raw-dictionary", common, codec="zstd", dictionary=b"hello, world\n" * 9
            ),
            _write(directory, "many", samples, codec="auto", workers=2),
        ]


# -- mutations ----------------------------------------------------------------------

_FOOTER_FIELDS = 17  # Footer's fields, in FOOTER order
_FOOTER_WIDTHS = (8,) * 13 + (4, 4, 2, 2)
#: (offset, width) of the entry record fields (formats/bundle.md, Entry table)
_RECORD_FIELDS = (
    (0, 8), (8, 8), (16, 8), (24, 8), (32, 8), (40, 8), (48, 4), (52, 4), (56, 4), (60, 2),
    (62, 1), (63, 1),
)  # fmt: skip
_RECORD_CODEC = 62
_HEADER_FIELDS = ((8, 2), (10, 2), (12, 4), (16, 4), (20, 4))
_INTERESTING = {
    1: (0, 1, 2, 3, 4, 0x7F, 0x80, 0xFF),
    2: (0, 1, 2, 0x7FFF, 0x8000, 0xFFFF),
    4: (0, 1, 3, 7, 8, 4096, 8192, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF),
    8: (0, 1, 32, 0xFFFFFFFF, 1 << 32, 1 << 40, (1 << 63) - 1, 1 << 63, (1 << 64) - 1),
}


def _footer(buffer: bytearray) -> fmt.Footer | None:
    """The footer's fields, whatever its checksum; ``None`` without a footer magic."""
    if len(buffer) < _FOOTER_SIZE:
        return None
    fields = fmt.FOOTER.unpack_from(buffer, len(buffer) - _FOOTER_SIZE)
    if fields[-1] != fmt.FOOTER_MAGIC:
        return None
    return fmt.Footer(*fields[:_FOOTER_FIELDS])


def refresh_checksums(buffer: bytearray) -> bytearray:
    """Recompute the index checksum and the footer checksum, as a writer would."""
    footer = _footer(buffer)
    if footer is None:
        return buffer
    footer_offset = len(buffer) - _FOOTER_SIZE
    fields = [getattr(footer, name) for name in footer.__dataclass_fields__]
    if 0 <= footer.index_offset <= footer_offset:
        fields[14] = zlib.crc32(buffer[footer.index_offset : footer_offset])
    buffer[footer_offset:] = fmt.Footer(*fields).encode()
    return buffer


class BundleMutator(Mutator):
    """fuzz_zip's byte-level mutations plus footer, record, header and index ones."""

    def __init__(self, rng: random.Random, pool: list[bytes], max_length: int) -> None:
        super().__init__(rng, pool, max_length)
        #: the pool starts as the seeds, which are valid bundles
        self.seed_count = len(pool)
        bundle_aware = (
            self.set_footer_field,
            self.set_footer_field,
            self.set_record_field,
            self.set_record_field,
            self.set_record_field,
            self.set_codec,
            self.set_header_field,
            self.shuffle_hash_index,
            self.flip_in_block,
            self.flip_in_block,
        )
        byte_level = (
            self.flip_bits,
            self.set_interesting,
            self.add_small,
            self.truncate,
            self.delete_range,
            self.insert_bytes,
            self.duplicate_range,
            self.copy_range,
            self.splice,
        )
        self.operations: tuple[Callable[[bytearray], bytearray], ...] = bundle_aware + byte_level

    def mutate(self, data: bytes) -> bytes:
        # Most pool entries soon stop at the footer; restarting from a valid
        # bundle now and then keeps mutations reaching the entries.
        if self.seed_count and self.rng.random() < 0.3:
            data = self.pool[self.rng.randrange(self.seed_count)]
        buffer = bytearray(data)
        for _ in range(self.rng.choice((1, 1, 1, 2, 2, 3, 4))):
            buffer = self.rng.choice(self.operations)(buffer)
        # Most mutations would stop at the footer checksum: recompute it (and the
        # index checksum) most of the time so the deeper checks are reached.
        if self.rng.random() < 0.8:
            buffer = refresh_checksums(buffer)
        return bytes(buffer[: self.max_length])

    def _value(self, buffer: bytearray, width: int, current: int) -> int:
        rng = self.rng
        kind = rng.randrange(6)
        if kind == 0:
            return current + rng.choice((-1, 1)) * rng.randint(1, 64)
        if kind == 1:
            return len(buffer) - rng.randrange(200)
        if kind == 2:
            footer = _footer(buffer)
            if footer is not None:
                return int(rng.choice([getattr(footer, n) for n in footer.__dataclass_fields__]))
        if kind == 3:
            return rng.getrandbits(8 * width)
        return rng.choice(_INTERESTING[width])

    def set_footer_field(self, buffer: bytearray) -> bytearray:
        footer = _footer(buffer)
        if footer is None:
            return self.set_interesting(buffer)
        fields = [getattr(footer, name) for name in footer.__dataclass_fields__]
        which = self.rng.randrange(_FOOTER_FIELDS)
        width = _FOOTER_WIDTHS[which]
        fields[which] = self._value(buffer, width, fields[which]) % (1 << (8 * width))
        buffer[len(buffer) - _FOOTER_SIZE :] = fmt.Footer(*fields).encode()
        return buffer

    def _record_offset(self, buffer: bytearray) -> int | None:
        footer = _footer(buffer)
        if footer is None or not footer.entry_count:
            return None
        index = self.rng.randrange(min(footer.entry_count, 1 << 16))
        offset = footer.entry_table_offset + index * _RECORD_SIZE
        return offset if offset + _RECORD_SIZE <= len(buffer) else None

    def set_record_field(self, buffer: bytearray) -> bytearray:
        offset = self._record_offset(buffer)
        if offset is None:
            return self.set_interesting(buffer)
        field_offset, width = self.rng.choice(_RECORD_FIELDS)
        at = offset + field_offset
        current = int.from_bytes(buffer[at : at + width], "little")
        value = self._value(buffer, width, current) % (1 << (8 * width))
        buffer[at : at + width] = value.to_bytes(width, "little")
        return buffer

    def set_codec(self, buffer: bytearray) -> bytearray:
        offset = self._record_offset(buffer)
        if offset is not None:
            buffer[offset + _RECORD_CODEC] = self.rng.choice((0, 1, 2, 3, 4, 200, 255))
        return buffer

    def set_header_field(self, buffer: bytearray) -> bytearray:
        if len(buffer) >= fmt.HEADER.size:
            at, width = self.rng.choice(_HEADER_FIELDS)
            value = self.rng.choice(_INTERESTING[width] + (1 << self.rng.randrange(8 * width),))
            buffer[at : at + width] = value.to_bytes(width, "little")
        return buffer

    def shuffle_hash_index(self, buffer: bytearray) -> bytearray:
        """Swap two hash table items, or two hash order items, or set one out of range."""
        footer = _footer(buffer)
        if footer is None or footer.entry_count < 1:
            return buffer
        count = min(footer.entry_count, 1 << 16)
        rng = self.rng
        start, width = rng.choice(((footer.hash_table_offset, 8), (footer.hash_order_offset, 4)))
        first = start + rng.randrange(count) * width
        second = start + rng.randrange(count) * width
        if max(first, second) + width > len(buffer) or first < 0:
            return buffer
        if rng.random() < 0.3:
            value = rng.choice((count, count + 1, (1 << (8 * width)) - 1))
            buffer[first : first + width] = value.to_bytes(width, "little")
        else:
            a, b = bytes(buffer[first : first + width]), bytes(buffer[second : second + width])
            buffer[first : first + width], buffer[second : second + width] = b, a
        return buffer

    def flip_in_block(self, buffer: bytearray) -> bytearray:
        """Flip a byte inside one of the blocks the footer names (or the data area)."""
        footer = _footer(buffer)
        if footer is None:
            return self.flip_bits(buffer)
        rng = self.rng
        start, length = rng.choice(
            (
                (footer.names_offset, footer.names_length),
                (footer.metadata_offset, footer.metadata_length),
                (footer.archive_metadata_offset, footer.archive_metadata_length),
                (footer.dictionary_offset, footer.dictionary_length),
                (fmt.HEADER.size, max(0, footer.index_offset - fmt.HEADER.size)),
            )
        )
        if length and start >= 0 and start + length <= len(buffer):
            at = start + rng.randrange(length)
            buffer[at] ^= 1 << rng.randrange(8)
        return buffer


# -- the loop ---------------------------------------------------------------------


def _save(out: Path, finding: Finding) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.@-]", "_", finding.key)
    digest = hashlib.sha1(finding.data).hexdigest()[:12]  # noqa: S324 - a file name, not security
    (out / f"{stem}-{digest}.rrb").write_bytes(finding.data)
    (out / f"{stem}-{digest}.txt").write_text(
        f"input {finding.index} (source={finding.source}, {len(finding.data)} bytes)\n"
        f"{finding.traceback}",
        encoding="utf-8",
    )


@contextlib.contextmanager
def _bundle_engine() -> Iterator[None]:
    """Run fuzz_zip's loop and replay with the bundle check, mutator and file names.

    fuzz_zip's loop looks up ``check_input``, ``Mutator`` and ``_save`` in its
    module when it runs; swapping them shares the whole engine (pool, features,
    alarm, watchdog, stderr capture, finding keys) instead of copying it.
    """
    with mock.patch.multiple(fuzz_zip, check_input=check_input, Mutator=BundleMutator, _save=_save):
        yield


def fuzz(seeds: Sequence[Seed], **options: Any) -> Stats:
    """Run the seeds, then mutations of the pool (``fuzz_zip.fuzz``'s options)."""
    with _bundle_engine():
        return fuzz_zip.fuzz(seeds, **options)


def _replay(paths: Sequence[Path], timeout: float, max_entries: int) -> int:
    with _bundle_engine():
        return fuzz_zip._replay(paths, timeout, max_entries)  # noqa: SLF001


# -- command line -----------------------------------------------------------------


def corpus_seeds(directories: Sequence[Path], max_length: int) -> list[Seed]:
    """Every bundle (by its magic) under ``directories`` up to ``max_length`` bytes."""
    seeds = []
    for directory in directories:
        for path in sorted(directory.rglob("*")):
            if not path.is_file() or path.stat().st_size > max_length:
                continue
            data = path.read_bytes()
            if data.startswith(fmt.HEADER_MAGIC):
                seeds.append(Seed(str(path.relative_to(directory)), data))
    return seeds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to run")
    parser.add_argument("--runs", type=int, help="stop after this many inputs")
    parser.add_argument("--seed", type=int, default=0, help="random seed (runs are repeatable)")
    parser.add_argument("--out", type=Path, help="save inputs that break the invariant here")
    parser.add_argument(
        "--corpus", type=Path, action="append", default=[], help="more seed bundles (repeatable)"
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
        fuzz_zip._limit_memory(args.memory_mb)  # noqa: SLF001
    if args.replay:
        return _replay(args.replay, args.timeout, args.max_entries)
    seeds = built_seeds() + corpus_seeds(args.corpus, args.max_length)
    print(f"seed {args.seed}: {len(seeds)} seeds")
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
