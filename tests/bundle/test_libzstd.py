"""Runs of zstd frames decoded by the system's libzstd (randread.bundle.libzstd).

The reader-level tests check that threaded batches use the runs when the
library is there and give exactly what a loop of ``read()`` gives, whatever
the frames are like (with or without a recorded size, damaged, large).
"""

from __future__ import annotations

import contextlib
import random
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import zstandard

import randread
from randread._core.batch import batch_modes
from randread.bundle import batch as bundle_batch
from randread.bundle import format as fmt
from randread.bundle import libzstd
from randread.bundle.codecs import CodecError
from tests.bundlebuilder import Entry, build, footer_of, zstd_frame

if TYPE_CHECKING:
    from collections.abc import Iterator

WATCHDOG = 60.0

needs_libzstd = pytest.mark.skipif(
    libzstd.frame_runs(None) is None, reason="the system has no libzstd 1.4 or later"
)


def _contents(count: int, seed: int = 1) -> list[bytes]:
    generator = random.Random(seed)
    words = [b"alpha", b"beta", b"gamma", b"delta", b"epsilon", b"\x00\x01\x02"]
    return [
        b" ".join(generator.choices(words, k=generator.randrange(1, 4000))) for _ in range(count)
    ]


@pytest.fixture
def library_reset() -> Iterator[None]:
    libzstd._library.cache_clear()
    yield
    libzstd._library.cache_clear()


@needs_libzstd
def test_a_run_of_frames_decodes_back_to_back_into_the_target() -> None:
    contents = _contents(20)
    runs = libzstd.frame_runs(None)
    assert runs is not None
    target = bytearray(sum(map(len, contents)) + 10)
    view = memoryview(target)[5:-5]
    runs.decode_into(b"".join(zstd_frame(content) for content in contents), view)
    assert bytes(view) == b"".join(contents)
    assert target[:5] == target[-5:] == bytes(5)  # nothing written outside the view


@needs_libzstd
def test_a_run_decodes_with_the_dictionary() -> None:
    contents = _contents(200, seed=2)
    dictionary = zstandard.train_dictionary(4096, contents).as_bytes()
    runs = libzstd.frame_runs(dictionary)
    assert runs is not None
    frames = b"".join(zstd_frame(content, dictionary=dictionary) for content in contents[:30])
    target = np.zeros(sum(map(len, contents[:30])), dtype=np.uint8)
    runs.decode_into(frames, memoryview(target))
    assert target.tobytes() == b"".join(contents[:30])
    # Without the dictionary the same frames do not decode.
    plain = libzstd.frame_runs(None)
    assert plain is not None
    with pytest.raises(CodecError, match="zstd: "):
        plain.decode_into(frames, memoryview(bytearray(target.nbytes)))


@needs_libzstd
@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ("damage", "zstd: "),
        ("short target", "zstd: "),
        ("long target", "decode to"),
        ("cut", "zstd: "),
    ],
)
def test_a_bad_run_raises_a_codec_error(change: str, problem: str) -> None:
    contents = _contents(5, seed=3)
    frames = bytearray(b"".join(zstd_frame(content) for content in contents))
    size = sum(map(len, contents))
    if change == "damage":
        frames[len(frames) // 2 : len(frames) // 2 + 8] = bytes(8)
    elif change == "short target":
        size -= 1
    elif change == "long target":
        size += 1
    else:
        del frames[-3:]
    runs = libzstd.frame_runs(None)
    assert runs is not None
    with pytest.raises(CodecError, match=problem):
        runs.decode_into(bytes(frames), memoryview(bytearray(size)))


@needs_libzstd
def test_threads_share_one_decoder_of_runs() -> None:
    contents = _contents(40, seed=4)
    frames = b"".join(zstd_frame(content) for content in contents)
    expected = b"".join(contents)
    runs = libzstd.frame_runs(None)
    assert runs is not None
    barrier = threading.Barrier(8, timeout=WATCHDOG)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(20):
                target = bytearray(len(expected))
                runs.decode_into(frames, memoryview(target))
                assert target == expected
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WATCHDOG)
        assert not thread.is_alive(), "a decoding thread hung"
    assert not failures, failures


@pytest.mark.usefixtures("library_reset")
@pytest.mark.parametrize("setting", ["none", "NONE", "/no/such/libzstd.so"])
def test_the_environment_variable_turns_the_library_off_or_names_it(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setenv(libzstd.ENVIRONMENT_VARIABLE, setting)
    assert libzstd.frame_runs(None) is None


@needs_libzstd
@pytest.mark.usefixtures("library_reset")
def test_the_environment_variable_may_name_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    library = libzstd._library()
    assert library is not None
    monkeypatch.setenv(libzstd.ENVIRONMENT_VARIABLE, library.path)
    libzstd._library.cache_clear()
    assert libzstd.frame_runs(None) is not None


# -- the reader's use of runs ----------------------------------------------------------


class _Spy:
    """Counts the frames libzstd is given, by wrapping FrameRuns.decode_into."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.runs: list[int] = []
        self.frames: list[bytes] = []
        original = libzstd.FrameRuns.decode_into

        def decode_into(runs: Any, frames: bytes, target: memoryview) -> None:
            self.runs.append(target.nbytes)
            self.frames.append(frames)
            original(runs, frames, target)

        monkeypatch.setattr(libzstd.FrameRuns, "decode_into", decode_into)


@needs_libzstd
@pytest.mark.parametrize("codec", ["zstd", "zstd-dict"])
def test_threaded_batches_decode_runs_and_match_a_loop(
    monkeypatch: pytest.MonkeyPatch, codec: str
) -> None:
    contents = _contents(120, seed=5)
    dictionary = None
    codec_id = fmt.CODEC_ZSTD
    if codec == "zstd-dict":
        dictionary = zstandard.train_dictionary(4096, contents).as_bytes()
        codec_id = fmt.CODEC_ZSTD_DICT
    data = build(
        [Entry(f"e{i}", content, codec_id) for i, content in enumerate(contents)],
        dictionary=dictionary,
    )
    spy = _Spy(monkeypatch)
    names = [f"e{i}" for i in random.Random(6).sample(range(120), 100)]
    expected = [contents[int(name[1:])] for name in names]
    with randread.BundleReader(data) as reader, batch_modes.forced(threaded=True):
        for name in names:  # the first read of each entry checks its frame
            reader.read(name)
        assert reader.read_many(names, workers=2) == expected
        assert spy.runs, "no run of frames went to libzstd"
        assert sum(spy.runs) == sum(map(len, expected))
        spy.runs.clear()
        target = np.zeros(sum(map(len, expected)) + 3, dtype=np.uint8)
        views = reader.read_many_into(names, target, workers=2)
        assert [bytes(view) for view in views] == expected
        assert target[-3:].tolist() == [0, 0, 0]
        assert sum(spy.runs) == sum(map(len, expected))


@needs_libzstd
def test_unchecked_unsized_empty_and_large_entries_decode_on_their_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    contents = _contents(60, seed=7)
    contents[10] = b""
    entries = [Entry(f"e{i}", content, fmt.CODEC_ZSTD) for i, content in enumerate(contents)]
    for index in (3, 4, 20):  # frames that do not record their size
        entries[index].stored = zstd_frame(contents[index], content_size=False)
    entries[30] = Entry("e30", contents[30], fmt.CODEC_LZ4)
    entries[31] = Entry("e31", contents[31], fmt.CODEC_NONE)
    monkeypatch.setattr(bundle_batch, "_RUN_BYTES", 3000)
    spy = _Spy(monkeypatch)
    names = [f"e{i}" for i in range(60)]
    with randread.BundleReader(build(entries)) as reader, batch_modes.forced(threaded=True):
        reader.read_many(names[:30], workers=2)  # checks the frames of the first 30 entries
        assert reader.read_many(names, workers=2) == contents
        runnable = [
            len(content)
            for index, content in enumerate(contents[:30])
            if index not in (3, 4, 10, 20) and len(content) <= 3000
        ]
        assert 0 < sum(spy.runs) <= sum(runnable)
        spy.runs.clear()
        # Into a caller's buffer, entries of any size run together.
        target = bytearray(sum(map(len, contents)))
        assert [bytes(v) for v in reader.read_many_into(names, target, workers=2)] == contents
        assert sum(spy.runs) > sum(runnable)


@needs_libzstd
@pytest.mark.parametrize("where", ["frame", "checksum"])
def test_a_damaged_entry_in_a_run_raises_its_own_error(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    contents = _contents(40, seed=8)
    entries = [Entry(f"e{i}", content, fmt.CODEC_ZSTD) for i, content in enumerate(contents)]
    data = bytearray(build(entries))
    names = [f"e{i}" for i in range(40)]
    with randread.BundleReader(bytes(data)) as reader:
        info = reader.getinfo("e17")
        record = footer_of(bytes(data)).entry_table_offset + info.index * fmt.ENTRY_RECORD.size
    if where == "frame":
        # A literal byte deep in the frame: the frame still parses at open
        # and first read checks, and decoding or the CRC-32 then fails.
        middle = info.data_offset + info.compress_size - 8
        data[middle] ^= 0xFF
    else:
        data[record + 56] ^= 0x01
    spy = _Spy(monkeypatch)
    with randread.BundleReader(bytes(data)) as reader, batch_modes.forced(threaded=True):
        reader.read_many(names[:17], workers=2)
        reader.read_many(names[18:], workers=2)
        # The first read checks the frame's header and blocks, which pass:
        # from then on the entry goes into runs with its neighbours.
        with pytest.raises(randread.RandreadError, match="'e17'"):
            reader.read("e17")
        stored = bytes(data[info.data_offset : info.data_offset + info.compress_size])
        for _ in range(3):
            spy.frames.clear()
            with pytest.raises(randread.RandreadError, match="'e17'"):
                reader.read_many(names, workers=2)
            with pytest.raises(randread.RandreadError, match="'e17'"):
                reader.read_many_into(names, bytearray(sum(map(len, contents))), workers=2)
            # The damaged entry went to libzstd in a run with others.
            assert any(stored in frames and len(frames) > len(stored) for frames in spy.frames)
        good = names[:17] + names[18:]
        assert reader.read_many(good, workers=2) == contents[:17] + contents[18:]


@pytest.mark.usefixtures("library_reset")
def test_without_the_library_batches_decode_frame_by_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(libzstd.ENVIRONMENT_VARIABLE, "none")
    contents = _contents(40, seed=9)
    data = build([Entry(f"e{i}", content, fmt.CODEC_ZSTD) for i, content in enumerate(contents)])
    names = [f"e{i}" for i in range(40)]
    with randread.BundleReader(data) as reader, batch_modes.forced(threaded=True):
        assert reader._run_decoders() == {}
        assert reader.read_many(names, workers=2) == contents


def test_flipped_bits_anywhere_read_as_in_a_loop_or_raise() -> None:
    """Batches on threads, in runs, never return other content than a loop of read().

    libzstd versions differ in which damage they detect: where the system's
    libzstd decodes a damaged frame that zstandard refuses, the CRC-32 decides,
    so a batch may return the true content where read() raises.
    """
    contents = _contents(40, seed=10)
    contents[5] = b""
    data = build([Entry(f"e{i}", content, fmt.CODEC_ZSTD) for i, content in enumerate(contents)])
    names = [f"e{i}" for i in range(40)]
    generator = random.Random(12)
    for _ in range(300):
        damaged = bytearray(data)
        damaged[generator.randrange(len(damaged))] ^= 1 << generator.randrange(8)
        try:
            loop_reader = randread.BundleReader(bytes(damaged))
            batch_reader = randread.BundleReader(bytes(damaged))
        except randread.RandreadError:
            continue
        with loop_reader, batch_reader, batch_modes.forced(threaded=True):
            batch = generator.choices(names, k=40)
            for name in batch[:30]:  # checked entries, which go into runs
                for reader in (loop_reader, batch_reader):
                    with contextlib.suppress(randread.RandreadError):
                        reader.read(name)
            try:
                looped: list[bytes] | None = [loop_reader.read(name) for name in batch]
            except randread.RandreadError:
                looped = None
            truth = [contents[int(name[1:])] for name in batch]
            assert looped in (None, truth)
            for result in _batch_results(batch_reader, batch, sum(map(len, truth))):
                assert result in (None, truth)


def _batch_results(
    reader: randread.BundleReader, names: list[str], size: int
) -> list[list[bytes] | None]:
    """read_many's and read_many_into's contents on 2 threads (None: a RandreadError)."""
    results: list[list[bytes] | None] = []
    try:
        results.append(reader.read_many(names, workers=2))
    except randread.RandreadError:
        results.append(None)
    try:
        views = reader.read_many_into(names, bytearray(size), workers=2)
        results.append([bytes(view) for view in views])
    except randread.RandreadError:
        results.append(None)
    return results
