"""No silent index corruption: every damaged byte reads identically or raises.

formats/bundle.md, "Integrity of the index": a reader opens in O(1) and
checks the index checksum lazily, the first time it answers from index fields
that no content checksum covers (names, sizes, times, metadata, a lookup that
misses). These tests flip every byte of the index area of small bundles, one
at a time, and a sample of bytes anywhere in a zstd bundle with a dictionary,
and check that each damaged bundle either reads exactly like the original
(names, sizes, lookups, contents) or raises a randread error: never a KeyError
for a name that is there, never a changed listing, size or content.
"""

from __future__ import annotations

import functools
import json
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import randread
from randread.bundle.index import BundleIndex
from tests.bundlebuilder import footer_of, patch, patch_record, record, with_footer
from tests.conftest import run_threads

#: A name no bundle here holds: its lookup must say KeyError or fail the index check.
ABSENT = "not/in/the/bundle.txt"


def _files(count: int) -> list[tuple[str, bytes, dict[str, object]]]:
    generator = random.Random(count)
    files: list[tuple[str, bytes, dict[str, object]]] = [
        ("", b"an empty name", {}),
        ("dir/", b"", {"mode": 0o40755}),
        ("dir/empty", b"", {"mtime": 1_600_000_000.5}),
        ("dir/räksmörgås.txt", "ünïcödé ".encode() * 9, {"metadata": {"comment": "u"}}),
        ("random.bin", generator.randbytes(200), {"mode": 0o100600}),
    ]
    for number in range(count - len(files)):
        record = {"id": number, "name": f"item {number}", "tags": ["a", "b"][: number % 3]}
        content = json.dumps(record).encode() * (1 + number % 4)
        options: dict[str, object] = {}
        if number % 3 == 0:
            options["mtime"] = 1_700_000_000 + number
        if number % 4 == 1:
            options["metadata"] = {"type": "application/json", "n": str(number)}
        files.append((f"records/{number:03d}.json", content, options))
    return files


def _write(files: list[tuple[str, bytes, dict[str, object]]], **options: object) -> bytes:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "b.rrb"
        with randread.BundleWriter(path, comment="the archive", **options) as writer:  # type: ignore[arg-type]
            for name, content, entry_options in files:
                writer.add(name, content, **entry_options)  # type: ignore[arg-type]
        return path.read_bytes()


@functools.cache
def small_bundle(codec: str) -> bytes:
    return _write(_files(20), codec=codec)


@functools.cache
def dictionary_bundle() -> bytes:
    return _write(_files(120), codec="zstd", dictionary="train", dictionary_size=2048)


def _info(info: randread.BundleEntryInfo) -> tuple[object, ...]:
    return (
        info.filename,
        info.file_size,
        info.compress_size,
        info.codec,
        info.CRC,
        info.mtime_ns,
        info.mode,
        info.metadata,
    )


@dataclass
class Expected:
    """What the undamaged bundle says."""

    names: list[str]
    contents: dict[str, bytes]
    infos: dict[str, tuple[object, ...]]
    metadata: dict[str, str]


def expected(data: bytes) -> Expected:
    with randread.BundleReader(data, verify_index=True) as reader:
        names = reader.namelist()
        return Expected(
            names,
            {name: reader.read(name) for name in names},
            {info.filename: _info(info) for info in reader.infolist()},
            dict(reader.metadata),
        )


@dataclass
class Tally:
    """How damaged bundles ended: caught (a randread error) or read identically."""

    caught: int = 0
    identical: int = 0
    changed: list[str] = field(default_factory=list)


def _reads_by_name(reader: randread.BundleReader, want: Expected) -> None:
    # Lookups that hit: no index checksum is computed, the content CRC-32 vouches.
    for name in want.names:
        assert reader.read(name) == want.contents[name], f"content of {name!r}"
        assert name in reader, f"{name!r} in reader"
        assert bytes(reader.view(name)) == want.contents[name], f"view of {name!r}"
    assert reader.read_many(want.names) == [want.contents[name] for name in want.names]
    # A miss: KeyError only if the index passes its checksum.
    assert ABSENT not in reader
    with pytest.raises(KeyError):
        reader.read(ABSENT)


def _infos_by_name(reader: randread.BundleReader, want: Expected) -> None:
    for name in want.names:
        assert _info(reader.getinfo(name)) == want.infos[name], f"getinfo({name!r})"


def _listings(reader: randread.BundleReader, want: Expected) -> None:
    assert reader.namelist() == want.names, "namelist()"
    assert list(reader) == want.names, "iteration"
    assert [_info(info) for info in reader.infolist()] == [want.infos[n] for n in want.names]
    assert reader.metadata == want.metadata, "archive metadata"
    if reader.testzip() is not None:
        raise Detected  # damage found and reported by name


class Detected(Exception):  # noqa: N818 - an outcome, not an error
    """A check found the damage without an exception (testzip() named an entry)."""


#: Each runs on a fresh reader, so no check one of them makes helps another.
CHECKS: list[Callable[[randread.BundleReader, Expected], None]] = [
    _reads_by_name,
    _infos_by_name,
    _listings,
]


def observe(data: bytes, want: Expected, tally: Tally, where: str) -> None:
    """Run every check on a fresh reader of ``data``; count how it ended."""
    caught = False
    for check in CHECKS:
        try:
            with randread.BundleReader(data) as reader:
                check(reader, want)
        except (randread.RandreadError, Detected):
            caught = True
        except (AssertionError, KeyError, pytest.fail.Exception) as exc:
            tally.changed.append(f"{where}: {check.__name__}: {type(exc).__name__} {exc}")
            return
    if caught:
        tally.caught += 1
    else:
        tally.identical += 1


def test_observe_sees_a_changed_listing() -> None:
    """The harness itself: an index changed consistently (checksum rebuilt) is seen."""
    data = small_bundle("auto")
    want = expected(data)
    footer = footer_of(data)
    names = data[footer.names_offset : footer.names_offset + footer.names_length]
    position = footer.names_offset + names.index(want.names[-1].encode())
    damaged = with_footer(patch(data, position, b"R"))  # records/... -> Records/...
    tally = Tally()
    observe(damaged, want, tally, "rebuilt")
    assert tally.changed


@pytest.mark.parametrize("codec", ["auto", "lz4"])
def test_every_byte_of_the_index_area_flipped(codec: str) -> None:
    data = small_bundle(codec)
    want = expected(data)
    footer = footer_of(data)
    index_end = len(data) - 128
    tally = Tally()
    generator = random.Random(14)
    for position in range(footer.index_offset, index_end):
        mask = generator.randrange(1, 256)
        damaged = patch(data, position, bytes([data[position] ^ mask]))
        observe(damaged, want, tally, f"byte 0x{position:x} ^ 0x{mask:02x}")
    assert not tally.changed, "\n".join(tally.changed[:20])
    assert tally.caught + tally.identical == index_end - footer.index_offset
    # Every byte of the index area is covered by the index checksum.
    assert tally.identical == 0


def test_single_byte_flips_anywhere_in_a_dictionary_bundle() -> None:
    data = dictionary_bundle()
    want = expected(data)
    with randread.BundleReader(data) as reader:
        assert reader.dictionary is not None
        assert {info.codec for info in reader.infolist()} == {"zstd-dict"}
    tally = Tally()
    generator = random.Random(300)
    for _ in range(300):
        position = generator.randrange(len(data))
        mask = generator.randrange(1, 256)
        damaged = patch(data, position, bytes([data[position] ^ mask]))
        observe(damaged, want, tally, f"byte 0x{position:x} ^ 0x{mask:02x}")
    assert not tally.changed, "\n".join(tally.changed[:20])
    assert tally.caught + tally.identical == 300


def test_a_bad_index_checksum_fails_whatever_trusts_the_index() -> None:
    data = small_bundle("auto")
    want = expected(data)
    damaged = with_footer(
        data, refresh_index=False, index_checksum=footer_of(data).index_checksum ^ 1
    )
    message = r"index at 0x[0-9a-f]+: checksum 0x[0-9a-f]+ does not match its content"
    with randread.BundleReader(damaged) as reader:  # open stays O(1): no check yet
        name = want.names[-1]
        assert reader.read(name) == want.contents[name]  # a hit: the content CRC vouches
        assert name in reader
        calls: list[Callable[[], object]] = [
            reader.namelist,
            reader.infolist,
            lambda: reader.getinfo(name),
            lambda: list(reader),
            lambda: reader.metadata,
            lambda: reader.comment,
            reader.entries,
            reader.testzip,
            reader.verify_index,
            lambda: reader.read(ABSENT),
            lambda: ABSENT in reader,
        ]
        for call in calls:
            with pytest.raises(randread.BundleFormatError, match=message):
                call()


def test_a_damaged_size_is_the_index_fault_not_the_buffer() -> None:
    """read_many_into sizes the caller's buffer from the index before any CRC-32 vouches."""
    data = small_bundle("zstd")
    want = expected(data)
    names = [name for name in want.names if want.contents[name]][:10]
    target = bytearray(sum(len(want.contents[name]) for name in names))
    with randread.BundleReader(data) as reader:
        index = reader.getinfo(names[3]).index
    damaged = patch_record(data, index, refresh_index=False, size=1 << 40)
    with randread.BundleReader(damaged) as reader:
        with pytest.raises(randread.BundleFormatError, match="does not match its content"):
            reader.read_many_into(names, target)
    # With a sound index, a buffer too small is the caller's: ValueError.
    with randread.BundleReader(data) as reader, pytest.raises(ValueError, match="too small"):
        reader.read_many_into(names, target[:-1])


def test_the_index_checksum_is_computed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    computed: list[int] = []
    original = BundleIndex._checksum_problem

    def counting(self: BundleIndex) -> str:
        computed.append(1)
        return original(self)

    monkeypatch.setattr(BundleIndex, "_checksum_problem", counting)
    data = small_bundle("auto")
    with randread.BundleReader(data) as reader:
        for name in reader.namelist():
            reader.read(name)
        assert computed == [1]

        def work(_index: int) -> None:
            for _ in range(20):
                reader.infolist()
                assert ABSENT not in reader

        run_threads(4, work)
        assert computed == [1]
    names = expected(data).names
    computed.clear()
    with randread.BundleReader(data) as reader:
        for name in names:  # lookups that hit, reads the content CRC-32 vouches for
            assert name in reader
            reader.read(name)
        reader.read_many(names)
        assert computed == []


def test_fields_that_a_flag_does_not_mark_valid_are_zero() -> None:
    data = small_bundle("auto")
    want = expected(data)
    index = want.names.index("random.bin")  # a mode, no mtime
    assert record(data, index)["mtime_ns"] == 0
    for fields, problem in (
        ({"mtime_ns": 5}, r"mtime_ns 5 is not zero but flag HAS_MTIME is clear"),
        ({"flags": 0}, r"mode 0o100600 is not zero but flag HAS_MODE is clear"),
    ):
        damaged = patch_record(data, index, **fields)
        with randread.BundleReader(damaged) as reader:
            with pytest.raises(
                randread.BundleFormatError, match=rf"entry #{index} at 0x.*{problem}"
            ):
                reader.getinfo("random.bin")
            with pytest.raises(randread.BundleFormatError, match=problem):
                reader.read("random.bin")
