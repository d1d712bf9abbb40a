"""Hostile codec data in bundle entries (randread.bundle.codecs), built by hand.

Forged zstd frames and LZ4 blocks are refused without allocating what they
claim; frames the format allows still read.
"""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Callable

import pytest

import randread
from randread.bundle import format as fmt
from tests.bundlebuilder import Entry, build, patch, zstd_frame


def _peak_memory(function: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        function()
    except randread.RandreadError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def _forged_frame(content_size: int) -> bytes:
    """A zstd frame whose header declares ``content_size`` but holds 5 raw bytes."""
    descriptor = 0b11 << 6  # Frame_Content_Size_flag 3: an 8-byte content size
    window = 10 << 3  # Window_Descriptor: 2**20
    block = ((5 << 3) | 1).to_bytes(3, "little") + b"hello"  # last block, raw, 5 bytes
    return (
        b"\x28\xb5\x2f\xfd" + bytes([descriptor, window]) + struct.pack("<Q", content_size) + block
    )


def _window_frame(window_log: int, content: bytes) -> bytes:
    """A zstd frame with no content size and a window of 2**window_log bytes."""
    window = (window_log - 10) << 3
    block = ((len(content) << 3) | 1).to_bytes(3, "little") + content
    return b"\x28\xb5\x2f\xfd" + bytes([0, window]) + block


HOSTILE_FRAMES = {
    "frame declares more than the entry": (
        Entry("z", b"a" * 100_000, codec=fmt.CODEC_ZSTD, size=1000),
        "zstd frame declares 100000 bytes, the entry 1000",
    ),
    "frame declares 2**40 and so does the entry": (
        Entry("z", b"hello", codec=fmt.CODEC_ZSTD, stored=_forged_frame(1 << 40), size=1 << 40),
        "a zstd frame of 22 bytes cannot decode to the entry's 1099511627776 bytes",
    ),
    "frame declares a little more than it holds": (
        Entry("z", b"hello" * 3, codec=fmt.CODEC_ZSTD, stored=_forged_frame(15)),
        "zstd",
    ),
    "no content size, entry claims 2**40": (
        Entry(
            "z",
            b"hello",
            codec=fmt.CODEC_ZSTD,
            stored=zstd_frame(b"hello", content_size=False),
            size=1 << 40,
        ),
        "cannot decode to the entry's 1099511627776 bytes",
    ),
    "no content size, entry claims a little more": (
        Entry(
            "z",
            b"hello" * 100,
            codec=fmt.CODEC_ZSTD,
            stored=zstd_frame(b"hello" * 100, content_size=False),
            size=501,
        ),
        "zstd frame decodes to 500 bytes, the entry declares 501",
    ),
    "no content size, entry claims less": (
        Entry(
            "z",
            b"hello" * 100,
            codec=fmt.CODEC_ZSTD,
            stored=zstd_frame(b"hello" * 100, content_size=False),
            size=499,
        ),
        "zstd: ",
    ),
    "window above 128 MiB": (
        Entry("z", b"12345", codec=fmt.CODEC_ZSTD, stored=_window_frame(28, b"12345")),
        "zstd frame needs a window of 268435456 bytes, more than the format's limit of 134217728",
    ),
    "not a zstd frame": (
        Entry("z", b"12345", codec=fmt.CODEC_ZSTD, stored=b"PK\x03\x04 not zstd at all"),
        "zstd: ",
    ),
    "lz4 garbage": (
        Entry("z", b"x" * 1000, codec=fmt.CODEC_LZ4, stored=b"\xff" * 20),
        "lz4: ",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_FRAMES), ids=str)
def test_hostile_codec_data_is_refused_without_large_allocations(case: str) -> None:
    entry, message = HOSTILE_FRAMES[case]
    data = build([entry, Entry("ok", b"fine")])
    with randread.BundleReader(data, verify_index=True) as reader:
        with pytest.raises(randread.BundleFormatError, match=message):
            reader.read("z")
        assert _peak_memory(lambda: reader.read("z")) < 1 << 20
        assert reader.read("ok") == b"fine"


def test_frames_the_format_allows() -> None:
    """No content size in the frame, and a window of exactly 128 MiB, both read."""
    data = build(
        [
            Entry(
                "a", b"hello" * 100, codec=1, stored=zstd_frame(b"hello" * 100, content_size=False)
            ),
            Entry("b", b"12345", codec=1, stored=_window_frame(27, b"12345")),
            Entry("c", b"", codec=fmt.CODEC_LZ4, stored=b"\x00"),
            Entry("d", b"", codec=fmt.CODEC_LZ4, stored=b""),
        ]
    )
    with randread.BundleReader(data, verify_index=True) as reader:
        assert reader.read("a") == b"hello" * 100
        assert reader.read("b") == b"12345"
        assert reader.read("c") == reader.read("d") == b""


def test_plain_zstd_entries_do_not_use_the_dictionary() -> None:
    """Codec 1 frames have no dictionary (formats/bundle.md, Codecs), even when the bundle has one.

    A damaged dictionary then breaks only the zstd-dict entries.
    """
    samples = [b"key=%d value=%d\n" % (i, i * i) * 5 for i in range(200)]
    trained = randread.train_dictionary(samples, size=2048)
    assert trained is not None
    content = b"key=7 value=49\n" * 40
    entries = [
        Entry("plain", content, codec=fmt.CODEC_ZSTD),
        Entry("with-dictionary", content, codec=fmt.CODEC_ZSTD_DICT),
        Entry("stored", b"stored"),
    ]
    data = build(entries, dictionary=trained)
    with randread.BundleReader(data, verify_index=True) as reader:
        assert reader.read("plain") == reader.read("with-dictionary") == content
    # Keep the dictionary's magic and id; zero its tables and content.
    damaged = patch(data, 32 + 8, bytes(len(trained) - 8))
    with randread.BundleReader(damaged) as reader:
        assert reader.read("plain") == content
        assert reader.read("stored") == b"stored"
        with pytest.raises(randread.BundleFormatError, match=r"entry 'with-dictionary' .*: zstd"):
            reader.read("with-dictionary")
        assert reader.testzip() == "with-dictionary"


def test_data_stored_in_any_order_with_gaps() -> None:
    """Entries need not be in table order in the data area, and padding is not read."""
    entries = [
        Entry(f"e{i}", bytes([i]) * (i * 10), codec=i % 4 if i % 4 != 2 else 0) for i in range(8)
    ]
    data = build(entries, alignment=64, entry_order=[7, 3, 5, 0, 1, 6, 2, 4])
    with randread.BundleReader(data, verify_index=True) as reader:
        assert [reader.read(f"e{i}") for i in range(8)] == [bytes([i]) * (i * 10) for i in range(8)]
        assert [info.index for info in reader.infolist()] == list(range(8))
