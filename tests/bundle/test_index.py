"""The name index of a bundle: a damaged hash table, hash order or index checksum.

verify_index() names what is wrong; lookups meanwhile give the right entry,
KeyError or a randread error, never a wrong entry.
"""

from __future__ import annotations

import struct

import pytest

import randread
from tests.bundle.samples import CONTENT, HEX, INDEX, bundle
from tests.bundlebuilder import Entry, build, footer_of, patch, refresh, with_footer


def _swap(data: bytes, offset: int, width: int, first: int, second: int) -> bytes:
    a = data[offset + first * width : offset + (first + 1) * width]
    b = data[offset + second * width : offset + (second + 1) * width]
    data = patch(data, offset + first * width, b)
    return patch(data, offset + second * width, a)


def _lookups(reader: randread.BundleReader) -> dict[str, str]:
    """What looking up every listed name gives: 'ok', 'KeyError' or the error class."""
    results = {}
    for name in reader.namelist():
        try:
            assert reader.read(name) == CONTENT[name]
            results[name] = "ok"
        except KeyError:
            results[name] = "KeyError"
        except randread.RandreadError as exc:
            results[name] = type(exc).__name__
    return results


def test_unsorted_hash_table() -> None:
    data = bundle()
    footer = footer_of(data)
    damaged = refresh(_swap(data, footer.hash_table_offset, 8, 0, 4))
    with randread.BundleReader(damaged) as reader:
        with pytest.raises(randread.BundleFormatError, match=rf"hash table at {HEX}: not sorted"):
            reader.verify_index()
        # A binary search over an unsorted table may miss names: KeyError, never worse.
        assert set(_lookups(reader).values()) <= {"ok", "KeyError"}
        assert "KeyError" in _lookups(reader).values()
        # Reading by position does not depend on the hash table.
        assert reader.testzip() is None
        assert [info.filename for info in reader.infolist()] == list(INDEX)


def test_hash_order_out_of_range() -> None:
    data = bundle()
    footer = footer_of(data)
    damaged = refresh(patch(data, footer.hash_order_offset, struct.pack("<I", 1000)))
    with randread.BundleReader(damaged) as reader:
        with pytest.raises(
            randread.BundleFormatError,
            match=rf"hash order at {HEX}: not a permutation of the entries",
        ):
            reader.verify_index()
        results = _lookups(reader)
        assert set(results.values()) == {"ok", "BundleFormatError"}
        (bad,) = [name for name, result in results.items() if result != "ok"]
        with pytest.raises(
            randread.BundleFormatError,
            match=rf"hash order at {HEX}: entry index 1000 is past the last entry \(4\)",
        ):
            reader.getinfo(bad)
        with pytest.raises(randread.BundleFormatError):
            _ = bad in reader
        assert reader.testzip() is None


def test_hash_order_repeats_an_entry() -> None:
    data = bundle()
    footer = footer_of(data)
    first = data[footer.hash_order_offset : footer.hash_order_offset + 4]
    damaged = refresh(patch(data, footer.hash_order_offset + 4, first))
    with randread.BundleReader(damaged) as reader:
        with pytest.raises(randread.BundleFormatError, match="not a permutation"):
            reader.verify_index()
        assert set(_lookups(reader).values()) == {"ok", "KeyError"}


def test_stored_hash_differs_from_the_name() -> None:
    data = bundle()
    footer = footer_of(data)
    last = footer.hash_table_offset + 8 * (footer.entry_count - 1)
    damaged = refresh(patch(data, last, b"\xff" * 8))  # still sorted
    with randread.BundleReader(damaged) as reader:
        with pytest.raises(
            randread.BundleFormatError,
            match=rf"hash table at {HEX}: position 4 does not hold the hash of '.*'",
        ):
            reader.verify_index()
        assert list(_lookups(reader).values()).count("KeyError") == 1


def test_index_checksum() -> None:
    damaged = with_footer(bundle(), index_checksum=footer_of(bundle()).index_checksum ^ 1)
    with randread.BundleReader(damaged) as reader:  # not checked at open
        assert reader.read("text.txt") == CONTENT["text.txt"]
        with pytest.raises(
            randread.BundleFormatError,
            match=rf"index at {HEX}: checksum {HEX} does not match its content \({HEX}\)",
        ):
            reader.verify_index()
    with pytest.raises(randread.BundleFormatError, match="index at"):
        randread.BundleReader(damaged, verify_index=True)


def test_repeated_names_and_overlapping_entries() -> None:
    repeated = build([Entry("same", b"1"), Entry("same", b"2")])
    with randread.BundleReader(repeated) as reader:
        assert reader.namelist() == ["same", "same"]
        with pytest.raises(randread.BundleFormatError, match=r"entry #\d: name 'same' repeats"):
            reader.verify_index()
    overlapping = build([Entry("a", b"x" * 100), Entry("b", b"x" * 92, data_offset=40)])
    with randread.BundleReader(overlapping) as reader:
        assert reader.read("a")[8:] == reader.read("b") == b"x" * 92
        with pytest.raises(
            randread.BundleFormatError,
            match=rf"entry data at {HEX} overlaps the entry data at {HEX}",
        ):
            reader.verify_index()
    dictionary = b"shared dictionary content " * 10
    in_dictionary = build([Entry("a", dictionary[:64], data_offset=32)], dictionary=dictionary)
    with randread.BundleReader(in_dictionary) as reader:
        with pytest.raises(
            randread.BundleFormatError, match=rf"entry data overlaps the dictionary at {HEX}"
        ):
            reader.verify_index()
    # Empty entries may sit anywhere in the data area, even on other entries.
    empty_on_top = build([Entry("a", b"x" * 100), Entry("", b"", data_offset=40)])
    with randread.BundleReader(empty_on_top, verify_index=True) as reader:
        assert reader.read("") == b""
