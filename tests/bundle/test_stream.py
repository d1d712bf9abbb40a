"""BundleReader.open() on zstd entries: decoded as read, capped, checked at the end."""

from __future__ import annotations

import io
import random
import tracemalloc
import zlib
from typing import TYPE_CHECKING

import pytest
import zstandard

import randread
from randread.bundle import format as fmt
from randread.bundle.codecs import zstd_frame_length
from tests import bundlebuilder as bb

if TYPE_CHECKING:
    from pathlib import Path

CONTENT = b"".join(b"line %d of a stream test\n" % index for index in range(40_000))


@pytest.fixture(scope="module", params=["zstd", "zstd-dict"])
def bundle(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stream") / "b.rrb"
    dictionary = None
    if request.param == "zstd-dict":
        samples = [b"sample %d: line %d of a stream test\n" % (i, i * 7) * 40 for i in range(300)]
        dictionary = randread.train_dictionary(samples, size=4096)
        assert dictionary is not None
    with randread.BundleWriter(path, codec="zstd", dictionary=dictionary) as writer:
        for index in range(20):
            writer.add(f"small{index}", b"small entry %d " % index * 50)
        writer.add("big", CONTENT)
    with randread.BundleReader(path) as reader:
        assert reader.getinfo("big").codec == request.param
    return path


def test_reads_in_chunks_give_the_content(bundle: Path) -> None:
    with randread.BundleReader(bundle) as reader, reader.open("big") as stream:
        chunks = []
        rng = random.Random(1)
        while chunk := stream.read(rng.choice([1, 100, 4096, 70_000])):
            chunks.append(chunk)
        assert b"".join(chunks) == CONTENT
        assert stream.read() == b""


def test_seek_and_tell_work_both_ways(bundle: Path) -> None:
    with randread.BundleReader(bundle) as reader, reader.open("big") as stream:
        assert stream.seekable()
        stream.seek(500_000)
        assert stream.tell() == 500_000
        assert stream.read(10) == CONTENT[500_000:500_010]
        stream.seek(1000)
        assert stream.read(10) == CONTENT[1000:1010]
        stream.seek(-10, io.SEEK_END)
        assert stream.read() == CONTENT[-10:]
        stream.seek(5)
        stream.seek(5, io.SEEK_CUR)
        assert stream.read() == CONTENT[10:]
        assert stream.seek(len(CONTENT) + 100) == len(CONTENT)
        assert stream.seek(-1) == 0  # clamped, as a zip member's (zipfile)
        assert stream.read(10) == CONTENT[:10]


def test_a_stream_does_not_hold_the_whole_entry(bundle: Path) -> None:
    with randread.BundleReader(bundle) as reader:
        tracemalloc.start()
        try:
            with reader.open("big") as stream:
                assert stream.read(1000) == CONTENT[:1000]
                _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < len(CONTENT) // 2


def test_streams_and_reads_interleave_in_one_thread(bundle: Path) -> None:
    """A stream has its own decompressor: read() between its chunks does not disturb it."""
    with randread.BundleReader(bundle) as reader:
        streams = [reader.open("big") for _ in range(3)]
        outputs = [bytearray() for _ in streams]
        while True:
            progressed = False
            for index, stream in enumerate(streams):
                chunk = stream.read(30_000)
                outputs[index] += chunk
                progressed |= bool(chunk)
                assert reader.read("small3") == b"small entry 3 " * 50
            if not progressed:
                break
        assert all(bytes(output) == CONTENT for output in outputs)
        for stream in streams:
            stream.close()


def _bundle_with(entry: bb.Entry) -> randread.BundleReader:
    return randread.BundleReader(bb.build([entry]))


def test_a_wrong_checksum_is_found_at_the_end_of_the_stream() -> None:
    entry = bb.Entry("e", CONTENT, codec=fmt.CODEC_ZSTD, checksum=zlib.crc32(CONTENT) ^ 1)
    with _bundle_with(entry) as reader, reader.open("e") as stream:
        assert stream.read(100) == CONTENT[:100]
        with pytest.raises(randread.ChecksumError, match="'e'"):
            stream.read()


def test_without_verify_the_checksum_is_not_checked() -> None:
    entry = bb.Entry("e", CONTENT, codec=fmt.CODEC_ZSTD, checksum=zlib.crc32(CONTENT) ^ 1)
    with randread.BundleReader(bb.build([entry]), verify=False) as reader:
        assert reader.open("e").read() == CONTENT


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (len(CONTENT) + 1, "ends after"),
        (len(CONTENT) - 1, "larger than the declared size"),
    ],
)
def test_a_frame_that_decodes_to_another_size_is_refused(declared: int, message: str) -> None:
    frame = bb.zstd_frame(CONTENT, content_size=False)
    entry = bb.Entry("e", CONTENT, codec=fmt.CODEC_ZSTD, stored=frame, size=declared)
    with _bundle_with(entry) as reader, reader.open("e") as stream:
        with pytest.raises(randread.BundleFormatError, match=message) as caught:
            stream.read()
        assert "data at 0x" in str(caught.value)


def test_corrupt_frame_data_is_a_format_error() -> None:
    frame = bytearray(bb.zstd_frame(CONTENT))
    frame[len(frame) // 2] ^= 0xFF
    entry = bb.Entry("e", CONTENT, codec=fmt.CODEC_ZSTD, stored=bytes(frame))
    with _bundle_with(entry) as reader:
        with pytest.raises((randread.BundleFormatError, randread.ChecksumError)):
            reader.open("e").read()


def test_a_frame_declaring_another_size_is_refused_at_open() -> None:
    entry = bb.Entry("e", CONTENT, codec=fmt.CODEC_ZSTD, size=len(CONTENT) - 5)
    with _bundle_with(entry) as reader, pytest.raises(randread.BundleFormatError, match="declares"):
        reader.open("e")


def test_lz4_entries_are_decoded_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "b.rrb"
    with randread.BundleWriter(path, codec="lz4") as writer:
        writer.add("e", CONTENT)
    with randread.BundleReader(path) as reader, reader.open("e") as stream:
        stream.seek(100)
        assert stream.read(5) == CONTENT[100:105]


def test_an_empty_entry_is_checked_too() -> None:
    entry = bb.Entry("e", b"", codec=fmt.CODEC_ZSTD, checksum=1)
    with _bundle_with(entry) as reader, reader.open("e") as stream:
        with pytest.raises(randread.ChecksumError):
            stream.read()
    frame = bb.zstd_frame(b"not empty", content_size=False)
    entry = bb.Entry("e", b"", codec=fmt.CODEC_ZSTD, stored=frame, size=0)
    with _bundle_with(entry) as reader, reader.open("e") as stream:
        with pytest.raises(randread.BundleFormatError, match="larger than the declared size 0"):
            stream.read()


@pytest.mark.parametrize(
    "tail", [b"junk", bb.zstd_frame(b"a second frame")], ids=["junk", "second frame"]
)
def test_stored_bytes_must_be_exactly_one_frame(tail: bytes) -> None:
    """read() and open() refuse the same entries (formats/bundle.md: exactly one frame)."""
    entry = bb.Entry("e", CONTENT, codec=fmt.CODEC_ZSTD, stored=bb.zstd_frame(CONTENT) + tail)
    with _bundle_with(entry) as reader:
        for call in (reader.read, lambda name: reader.open(name).read()):
            with pytest.raises(randread.BundleFormatError, match="bytes follow the zstd frame"):
                call("e")


def test_zstd_frame_length_matches_the_encoder() -> None:
    rng = random.Random(7)
    for size in (0, 1, 100, 131_072, 131_073, 400_000):
        content = bytes(rng.getrandbits(8) for _ in range(size // 4)) + b"z" * (size - size // 4)
        for checksum in (False, True):
            frame = zstandard_frame(content, checksum=checksum)
            assert zstd_frame_length(frame + b"tail", has_checksum=checksum) == len(frame)


def zstandard_frame(content: bytes, *, checksum: bool) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=checksum).compress(content)
