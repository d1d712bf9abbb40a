"""Checks inside the decoders and batch reads into caller memory.

The CRC-32 of a deflated zip entry is checked by libdeflate in C when it is
installed (the raw stream wrapped as a gzip member); with zlib or isal it is
computed after decoding. Every backend must name the same entry, CRC values
and offset on a mismatch, and keep the precise messages for bad data.
``read_many_into`` decodes a batch into one caller buffer; ``ModeChooser``
decides between threads and a loop from timings.
"""

from __future__ import annotations

import io
import random
import re
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

import randread
import randread._core.batch
from randread._core.batch import ModeChooser, batch_modes
from randread.zip import methods
from tests.conftest import run_threads
from tests.zipbuilder import Archive, Entry

if TYPE_CHECKING:
    from collections.abc import Iterator

#: (deflate backend, whether libdeflate checks the CRC-32 inside a gzip wrap)
BACKENDS = [("libdeflate", True), ("libdeflate", False), ("isal", False), ("zlib", False)]
_INSTALLED = {
    "libdeflate": methods._libdeflate is not None,
    "isal": methods._isal_zlib is not None,
    "zlib": True,
}


@pytest.fixture(params=BACKENDS, ids=lambda case: f"{case[0]}{'-gzip' if case[1] else ''}")
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name, wrapping = request.param
    if not _INSTALLED[name]:
        pytest.skip(f"deflate backend {name} is not installed")
    monkeypatch.setattr(methods, "gzip_wrapping", wrapping)
    with methods.forced_deflate_backend(name):
        yield name


def _crc_message(name: str, expected: int, actual: int, header_offset: int) -> str:
    return re.escape(
        f"Bad CRC-32 for file {name!r}: expected 0x{expected:08x}, got 0x{actual:08x} "
        f"(local header at 0x{header_offset:x})"
    )


def test_a_crc_mismatch_names_entry_values_and_offset(backend: str) -> None:
    content = b"checked in the decoder " * 400
    wrong = zlib.crc32(content) ^ 0x0F0F0F0F
    data = Archive([Entry("ok", b"fine " * 50), Entry("bad", content, crc=wrong)]).build()
    with zipfile.ZipFile(io.BytesIO(data)) as plain:
        header_offset = plain.getinfo("bad").header_offset
    pattern = _crc_message("bad", wrong, zlib.crc32(content), header_offset)
    with randread.ZipReader(data) as reader:
        assert methods.fast_deflate_backend() == backend
        for _ in range(2):  # the first read checks the local header, the second takes the hot path
            with pytest.raises(randread.ZipChecksumError, match=pattern) as caught:
                reader.read("bad")
            assert caught.value.actual == zlib.crc32(content)
            assert caught.value.expected == wrong
            assert caught.value.name == "bad"
        with pytest.raises(randread.ZipChecksumError, match=pattern):
            reader.read_many(["ok", "bad", "ok"])
        with pytest.raises(randread.ZipChecksumError, match=pattern):
            reader.read_many_into(["ok", "bad"], bytearray(len(content) + 250))
        with pytest.raises(randread.ZipChecksumError, match=pattern):
            reader.read_into("bad", bytearray(len(content)))
        assert reader.read("ok") == b"fine " * 50


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (Entry("a", b"z" * 100_000, size_override=1000), "larger than the declared size 1000"),
        (Entry("a", b"z" * 1000, size_override=5000), "ends after 1000 of the declared 5000"),
        (Entry("a", b"z", compressed=b"\xff\xff\xff\xff" * 4), "invalid deflate data"),
    ],
    ids=["too long", "too short", "corrupt"],
)
def test_bad_data_keeps_its_message_with_every_backend(
    backend: str, entry: Entry, message: str
) -> None:
    del backend
    data = Archive([entry, Entry("ok", b"fine")]).build()
    with randread.ZipReader(data) as reader:
        for _ in range(2):
            with pytest.raises(randread.ZipFormatError, match=message) as caught:
                reader.read("a")
            assert not isinstance(caught.value, randread.ZipChecksumError)
            assert "entry 'a' (deflate, data at 0x" in str(caught.value)
        assert reader.read("ok") == b"fine"


def test_truncated_stream_with_the_right_crc_reads_as_zipfile_does(backend: str) -> None:
    """A stream missing its final block but whose output is complete is accepted (zipfile too)."""
    del backend
    content = b"complete output, incomplete stream " * 50
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = compressor.compress(content) + compressor.flush(zlib.Z_SYNC_FLUSH)
    data = Archive([Entry("a", content, compressed=stream)]).build()
    with randread.ZipReader(data) as reader:
        assert reader.read("a") == content
    with zipfile.ZipFile(io.BytesIO(data)) as plain:
        assert plain.read("a") == content


def test_gzip_wrap_decodes_every_entry_when_switched_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switched on, the wrapped path is taken for every entry, and gives the content."""
    real = methods._libdeflate
    if real is None:
        pytest.skip("libdeflate (the deflate package) is not installed")
    calls: list[int] = []

    class Spy:
        DeflateError = real.DeflateError

        @staticmethod
        def gzip_decompress(data: bytes, size: int) -> bytearray:
            calls.append(size)
            return real.gzip_decompress(data, size)  # type: ignore[no-any-return]

        @staticmethod
        def deflate_decompress(data: bytes, size: int) -> bytearray:
            return real.deflate_decompress(data, size)  # type: ignore[no-any-return]

    monkeypatch.setattr(methods, "_libdeflate", Spy)
    monkeypatch.setattr(methods, "gzip_wrapping", True)
    contents = {f"e{i}": bytes(random.Random(i).randbytes(50)) * (i + 1) for i in range(20)}
    data = Archive([Entry(name, content) for name, content in contents.items()]).build()
    with randread.ZipReader(data) as reader:
        assert [reader.read(name) for name in contents] == list(contents.values())
    assert calls == [len(content) for content in contents.values()]


# -- read_many_into ----------------------------------------------------------------------


def _mixed_zip(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    generator = random.Random(5)
    files = {
        f"f{index:03d}": generator.randbytes(generator.randrange(0, 3000)) * 3
        for index in range(120)
    }
    path = tmp_path / "mixed.zip"
    with zipfile.ZipFile(path, "w") as writer:
        for number, (name, content) in enumerate(files.items()):
            method = zipfile.ZIP_STORED if number % 3 == 0 else zipfile.ZIP_DEFLATED
            writer.writestr(name, content, compress_type=method)
    return path, files


def _bundle(tmp_path: Path, codec: str, files: dict[str, bytes]) -> Path:
    path = tmp_path / f"{codec}.rrb"
    options: dict[str, object] = {"codec": codec}
    with randread.BundleWriter(path, **options) as writer:  # type: ignore[arg-type]
        for name, content in files.items():
            writer.add(name, content)
    return path


@pytest.fixture(params=["zip", "zstd", "lz4", "none"])
def reader_and_files(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[randread.ZipReader | randread.BundleReader, dict[str, bytes]]]:
    path, files = _mixed_zip(tmp_path)
    if request.param == "zip":
        reader: randread.ZipReader | randread.BundleReader = randread.ZipReader(path)
    else:
        reader = randread.BundleReader(_bundle(tmp_path, request.param, files))
    with reader:
        yield reader, files


@pytest.mark.parametrize("threaded", [True, False])
def test_read_many_into_fills_the_buffer_in_order(
    reader_and_files: tuple[randread.ZipReader | randread.BundleReader, dict[str, bytes]],
    *,
    threaded: bool,
) -> None:
    reader, files = reader_and_files
    names = random.Random(3).choices(list(files), k=100)
    expected = [files[name] for name in names]
    total = sum(map(len, expected))
    with batch_modes.forced(threaded=threaded):
        target = bytearray(total + 7)
        views = reader.read_many_into(names, target, workers=2)
        assert [bytes(view) for view in views] == expected
        assert bytes(target[:total]) == b"".join(expected)
        assert target[total:] == bytes(7)
        # The views are the caller's memory.
        first = next(index for index, content in enumerate(expected) if content)
        views[first][:1] = b"!"
        assert target[sum(map(len, expected[:first]))] == ord("!")
        array = np.zeros(total, dtype=np.uint8)
        reader.read_many_into(names, array, workers=2)
        assert array.tobytes() == b"".join(expected)
        assert reader.read_many_into([], bytearray()) == []


def test_read_many_into_refuses_a_small_or_read_only_buffer(
    reader_and_files: tuple[randread.ZipReader | randread.BundleReader, dict[str, bytes]],
) -> None:
    reader, files = reader_and_files
    names = list(files)[:20]
    total = sum(len(files[name]) for name in names)
    target = bytearray(b"\xaa" * (total - 1))
    with pytest.raises(ValueError, match=f"too small for {total} bytes"):
        reader.read_many_into(names, target)
    assert target == b"\xaa" * (total - 1)  # nothing was decoded into it
    with pytest.raises(TypeError, match="writable"):
        reader.read_many_into(names, bytes(total))
    with pytest.raises(TypeError, match="contiguous"):
        reader.read_many_into(names, np.zeros(2 * total, dtype=np.uint8)[::2])
    with pytest.raises(KeyError):
        reader.read_many_into([*names, "missing"], bytearray(total))


def test_read_many_into_from_threads(
    reader_and_files: tuple[randread.ZipReader | randread.BundleReader, dict[str, bytes]],
) -> None:
    reader, files = reader_and_files
    names = list(files)

    def work(seed: int) -> None:
        generator = random.Random(seed)
        for _ in range(5):
            batch = generator.sample(names, 40)
            target = bytearray(sum(len(files[name]) for name in batch))
            views = reader.read_many_into(batch, target, workers=2)
            assert [bytes(view) for view in views] == [files[name] for name in batch]

    run_threads(3, work, timeout=60)


# -- the chooser ------------------------------------------------------------------------------


def test_mode_chooser_tries_both_ways_then_keeps_the_faster() -> None:
    chooser = ModeChooser()
    work = 100_000
    assert chooser.threaded("k", work)  # nothing timed yet: threads first
    chooser.record("k", work, threaded=True, seconds=1.0)
    assert not chooser.threaded("k", work)  # then the loop
    chooser.record("k", work, threaded=False, seconds=2.0)
    choices = [chooser.threaded("k", work) for _ in range(640)]
    # Threads won clearly: they run, and the loop is timed again now and then.
    assert 0 < choices.count(False) <= 640 // 64 + 1
    # The loop gets faster (the other core got busy): the choice follows.
    for _ in range(10):
        chooser.record("k", work, threaded=True, seconds=3.0)
    choices = [chooser.threaded("k", work) for _ in range(640)]
    assert choices.count(False) > 600
    # A batch of another size, or another key, is judged apart.
    assert chooser.threaded("k", work * 16)
    assert chooser.threaded("other", work)


def test_mode_chooser_forced_and_forget() -> None:
    chooser = ModeChooser()
    chooser.record("k", 10, threaded=True, seconds=5.0)
    chooser.record("k", 10, threaded=False, seconds=1.0)
    with chooser.forced(threaded=True):
        assert all(chooser.threaded("k", 10) for _ in range(100))
    assert [chooser.threaded("k", 10) for _ in range(63)].count(True) == 0
    chooser.forget()
    assert chooser.threaded("k", 10)


def test_read_many_falls_back_to_a_loop_when_threads_lose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once threaded batches of a kind are timed slower than the loop, the loop runs."""
    files = {f"e{i:03d}": bytes(random.Random(i).randbytes(200)) * 60 for i in range(64)}
    chooser = ModeChooser()
    monkeypatch.setattr("randread._core.batch.batch_modes", chooser)
    zip_path = tmp_path / "z.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as writer:
        for name, content in files.items():
            writer.writestr(name, content)
    readers = [randread.ZipReader(zip_path), randread.BundleReader(_bundle(tmp_path, "lz4", files))]
    pool_of = randread._core.batch.shared_pool
    for reader in readers:
        with reader:
            names = list(files)
            submitted: list[int] = []

            def spy(size: int, submitted: list[int] = submitted) -> ThreadPoolExecutor:
                submitted.append(1)
                return pool_of(size)

            monkeypatch.setattr("randread._core.batch.shared_pool", spy)
            assert reader.read_many(names, workers=2) == list(files.values())
            assert len(submitted) == 1  # first batch of a kind: threads
            # Make the threaded way look slow: every later batch should loop.
            for key, size, threaded in list(chooser._costs):
                chooser._costs[key, size, threaded] = 1.0 if threaded else 1e-12
            for _ in range(5):
                assert reader.read_many(names, workers=2) == list(files.values())
            assert len(submitted) == 1
