"""Zip and bundle readers behave alike: one core (randread._core) under both.

The same behaviours run over every kind of archive: how an entry stream
seeks, what a read after ``close()`` does, how a bad checksum is reported, and
in which order a batch raises.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import randread
from randread._core.batch import batch_modes

CONTENT = {f"e{i:02d}": (b"line %d of the entry\n" % i) * (200 + 37 * i) for i in range(40)}
NAMES = list(CONTENT)
Reader = randread.ZipReader | randread.BundleReader


def _zip(tmp_path: Path, method: int) -> Path:
    path = tmp_path / f"a{method}.zip"
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, content in CONTENT.items():
            archive.writestr(name, content)
    return path


def _bundle(tmp_path: Path, codec: str) -> Path:
    path = tmp_path / f"a-{codec}.rrb"
    with randread.BundleWriter(path, codec=codec) as writer:  # type: ignore[arg-type]
        for name, content in CONTENT.items():
            writer.add(name, content)
    return path


KINDS: dict[str, Callable[[Path], Path]] = {
    "zip deflate": lambda tmp: _zip(tmp, zipfile.ZIP_DEFLATED),
    "zip stored": lambda tmp: _zip(tmp, zipfile.ZIP_STORED),
    "bundle zstd": lambda tmp: _bundle(tmp, "zstd"),
    "bundle lz4": lambda tmp: _bundle(tmp, "lz4"),
    "bundle stored": lambda tmp: _bundle(tmp, "none"),
}


@pytest.fixture(params=KINDS.values(), ids=KINDS.keys())
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    make: Callable[[Path], Path] = request.param
    return make(tmp_path)


def test_streams_seek_alike(archive: Path) -> None:
    content = CONTENT["e07"]
    size = len(content)
    with randread.open_archive(archive) as reader, reader.open("e07") as stream:
        assert stream.seekable()
        assert stream.read(10) == content[:10]
        assert stream.seek(-5) == 0  # clamped, as zipfile
        assert stream.read(10) == content[:10]
        assert stream.seek(size + 100) == size  # clamped to the end
        assert stream.read() == b""
        assert stream.seek(-10, io.SEEK_END) == size - 10
        assert stream.read() == content[-10:]
        stream.seek(100)
        assert stream.seek(50, io.SEEK_CUR) == 150
        assert stream.read(20) == content[150:170]
        assert stream.tell() == 170
        with pytest.raises(ValueError, match="whence"):
            stream.seek(0, 7)
        stream.seek(0)
        assert stream.read() == content


def test_after_close_reads_fail_and_open_streams_read_on(archive: Path) -> None:
    reader = randread.open_archive(archive)
    stream = reader.open("e03")
    reader.close()
    for call in (
        lambda: reader.read("e01"),
        lambda: reader.open("e01"),
        lambda: reader.read_many(NAMES[:20]),
    ):
        with pytest.raises(randread.ClosedError, match="already closed"):
            call()
    with stream:
        assert stream.read() == CONTENT["e03"]
    with pytest.raises(ValueError, match="closed"):
        stream.read()


def _damaged(path: Path, name: str) -> bytes:
    """The archive with one byte of ``name``'s stored data flipped."""
    data = bytearray(path.read_bytes())
    with randread.open_archive(path) as reader:
        info = reader.getinfo(name)
        offset = info.offset
        if isinstance(reader, randread.ZipReader):  # past the local header
            offset += 30 + len(info.filename.encode()) + len(info.extra)
    data[offset + info.compress_size // 2] ^= 0x01
    return bytes(data)


@pytest.mark.parametrize("kind", ["zip stored", "bundle stored"])
def test_a_bad_checksum_is_reported_alike(kind: str, tmp_path: Path) -> None:
    data = _damaged(KINDS[kind](tmp_path), "e05")
    message = r"Bad CRC-32 for file 'e05': expected 0x[0-9a-f]{8}, got 0x[0-9a-f]{8} \("
    with randread.open_archive(data) as reader:
        for call in (
            lambda: reader.read("e05"),
            lambda: reader.read_many(["e04", "e05"]),
            lambda: reader.open("e05").read(),
        ):
            with pytest.raises(randread.ChecksumError, match=message) as caught:
                call()
            assert (caught.value.name, caught.value.expected) == (
                "e05",
                reader.getinfo("e05").CRC,
            )
        assert reader.testzip() == "e05"


@pytest.mark.parametrize("threaded", [False, True], ids=["loop", "threads"])
def test_batches_raise_in_request_order(archive: Path, threaded: bool) -> None:
    with randread.open_archive(archive) as reader, batch_modes.forced(threaded=threaded):
        assert reader.read_many(NAMES, workers=2) == list(CONTENT.values())
        reversed_names = NAMES[::-1]
        assert reader.read_many(reversed_names, workers=2) == [CONTENT[n] for n in reversed_names]
        with pytest.raises(KeyError, match="missing"):
            reader.read_many([*NAMES[:30], "missing", *NAMES[30:]], workers=2)
        buffer = bytearray(sum(len(c) for c in CONTENT.values()))
        views = reader.read_many_into(NAMES, buffer, workers=2)
        assert [bytes(view) for view in views] == list(CONTENT.values())
        with pytest.raises(ValueError, match="too small"):
            reader.read_many_into(NAMES, bytearray(10))
        with pytest.raises(TypeError, match="writable"):
            reader.read_many_into(NAMES, bytes(len(buffer)))


@pytest.mark.parametrize("kind", ["zip stored", "bundle stored"])
def test_the_first_bad_entry_of_a_batch_is_raised_before_a_later_missing_name(
    kind: str, tmp_path: Path
) -> None:
    data = _damaged(KINDS[kind](tmp_path), "e10")
    with randread.open_archive(data) as reader:
        for threaded in (False, True):
            with batch_modes.forced(threaded=threaded), pytest.raises(randread.ChecksumError):
                reader.read_many([*NAMES[:20], "missing"], workers=2)
