"""The ReadAt contract, run against every backend."""

from __future__ import annotations

import io
import pickle
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import randread
from tests.conftest import run_threads
from tests.readat.sources import DATA, write_source

Factory = Callable[[bytes, Path], randread.ReadAt]


def _section(data: bytes, _tmp: Path) -> randread.ReadAt:
    padded = b"\xaa" * 17 + data + b"\xbb" * 5
    return randread.SectionReadAt(randread.BytesReadAt(padded), 17, len(data))


def _nested_section(data: bytes, tmp: Path) -> randread.ReadAt:
    padded = b"\xaa" * 10 + data + b"\xbb" * 10
    outer = randread.SectionReadAt(
        randread.MmapReadAt(write_source(padded, tmp)), 3, len(data) + 14
    )
    return randread.SectionReadAt(outer, 7, len(data))


class _FileObjectBackend:
    """FileReadAt over a caller's open file object (closed by the test afterwards)."""

    def __init__(self) -> None:
        self.files: list[io.BufferedReader] = []

    def __call__(self, data: bytes, tmp: Path) -> randread.ReadAt:
        file = write_source(data, tmp).open("rb")
        self.files.append(file)
        return randread.FileReadAt(file)


BACKENDS: dict[str, Callable[[], Factory]] = {
    "bytes": lambda: lambda data, _tmp: randread.BytesReadAt(data),
    "bytearray": lambda: lambda data, _tmp: randread.BytesReadAt(bytearray(data)),
    "memoryview": lambda: lambda data, _tmp: randread.BytesReadAt(memoryview(data)),
    "mmap": lambda: lambda data, tmp: randread.MmapReadAt(write_source(data, tmp)),
    "pread": lambda: lambda data, tmp: randread.FileReadAt(write_source(data, tmp)),
    "pread-fileobj": _FileObjectBackend,
    "locked-bytesio": lambda: lambda data, _tmp: randread.FileReadAt(io.BytesIO(data)),
    "section": lambda: _section,
    "nested-section": lambda: _nested_section,
    "open_readat-path": lambda: lambda data, tmp: randread.open_readat(write_source(data, tmp)),
    "open_readat-pread": lambda: (
        lambda data, tmp: randread.open_readat(str(write_source(data, tmp)), backend="pread")
    ),
}


BACKENDS: dict[str, Callable[[], Factory]] = {
    "bytes": lambda: lambda data, _tmp: randread.BytesReadAt(data),
    "bytearray": lambda: lambda data, _tmp: randread.BytesReadAt(bytearray(data)),
    "memoryview": lambda: lambda data, _tmp: randread.BytesReadAt(memoryview(data)),
    "mmap": lambda: lambda data, tmp: randread.MmapReadAt(write_source(data, tmp)),
    "pread": lambda: lambda data, tmp: randread.FileReadAt(write_source(data, tmp)),
    "pread-fileobj": _FileObjectBackend,
    "locked-bytesio": lambda: lambda data, _tmp: randread.FileReadAt(io.BytesIO(data)),
    "section": lambda: _section,
    "nested-section": lambda: _nested_section,
    "open_readat-path": lambda: lambda data, tmp: randread.open_readat(write_source(data, tmp)),
    "open_readat-pread": lambda: (
        lambda data, tmp: randread.open_readat(str(write_source(data, tmp)), backend="pread")
    ),
}


@pytest.fixture(params=sorted(BACKENDS))
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    factory = BACKENDS[request.param]()
    count = 0

    def build(data: bytes) -> randread.ReadAt:
        nonlocal count
        count += 1
        folder = tmp_path / str(count)
        folder.mkdir()
        return factory(data, folder)

    yield build
    if isinstance(factory, _FileObjectBackend):
        for file in factory.files:
            file.close()


def test_is_a_readat(make: Factory) -> None:
    with make(DATA) as source:
        assert isinstance(source, randread.ReadAt)
        assert source.size == len(DATA)


@pytest.mark.parametrize(
    ("offset", "length"),
    [(0, 0), (0, 1), (0, len(DATA)), (len(DATA), 0), (len(DATA) - 1, 1), (4095, 4097), (5, 0)],
)
def test_read_at_returns_exactly_the_range(make: Factory, offset: int, length: int) -> None:
    with make(DATA) as source:
        data = source.read_at(offset, length)
        assert type(data) is bytes
        assert data == DATA[offset : offset + length]
        view = source.view_at(offset, length)
        assert isinstance(view, memoryview)
        assert view.readonly
        assert view.tobytes() == DATA[offset : offset + length]


def test_empty_source(make: Factory) -> None:
    with make(b"") as source:
        assert source.size == 0
        assert source.read_at(0, 0) == b""
        assert source.view_at(0, 0).tobytes() == b""
        with pytest.raises(randread.OutOfBoundsError):
            source.read_at(0, 1)


@pytest.mark.parametrize(("offset", "length"), [(-1, 1), (0, -1), (-5, -5)])
def test_negative_offset_or_length_is_a_value_error(
    make: Factory, offset: int, length: int
) -> None:
    with make(DATA) as source:
        for method in (source.read_at, source.view_at):
            with pytest.raises(ValueError, match="must be >= 0"):
                method(offset, length)


@pytest.mark.parametrize(
    ("offset", "length"), [(len(DATA), 1), (len(DATA) - 1, 2), (0, len(DATA) + 1), (10**12, 1)]
)
def test_range_past_end_is_out_of_bounds(make: Factory, offset: int, length: int) -> None:
    with make(DATA) as source:
        for method in (source.read_at, source.view_at):
            with pytest.raises(randread.OutOfBoundsError) as info:
                method(offset, length)
            error = info.value
            assert isinstance(error, EOFError)
            assert isinstance(error, randread.RandreadError)
            assert (error.offset, error.length, error.size) == (offset, length, len(DATA))
            assert str(offset) in str(error)
            assert str(length) in str(error)
            assert str(len(DATA)) in str(error)


def test_read_at_result_is_independent_of_a_mutable_source() -> None:
    buffer = bytearray(DATA[:100])
    source = randread.BytesReadAt(buffer)
    copy = source.read_at(0, 10)
    view = source.view_at(0, 10)
    buffer[0] ^= 0xFF
    assert copy == DATA[:10]
    assert view[0] == buffer[0]  # views are zero-copy, reads are not


def test_close_twice_and_use_after_close(make: Factory) -> None:
    source = make(DATA)
    view = source.view_at(10, 100)
    source.close()
    source.close()
    with pytest.raises(ValueError, match="closed"):
        source.read_at(0, 1)
    with pytest.raises(randread.ClosedError):
        source.view_at(0, 1)
    # A view handed out before close stays valid.
    assert view.tobytes() == DATA[10:110]


def test_as_numpy_is_read_only(make: Factory) -> None:
    with make(DATA) as source:
        array = source.as_numpy(8, 800, np.uint32)  # type: ignore[attr-defined]
        assert array.dtype == np.uint32
        assert array.tobytes() == DATA[8:808]
        assert not array.flags.writeable
        with pytest.raises(ValueError, match="multiple"):
            source.as_numpy(0, 7, np.uint32)  # type: ignore[attr-defined]


def test_shared_instance_from_threads(make: Factory) -> None:
    """8 threads x 10 000 random reads on one instance, all compared with the source."""
    source = make(DATA)

    def reader(index: int) -> None:
        rng = random.Random(index)
        for _ in range(10_000):
            offset = rng.randrange(len(DATA))
            length = rng.randrange(min(len(DATA) - offset, 5000) + 1)
            if rng.random() < 0.5:
                got = source.read_at(offset, length)
            else:
                got = source.view_at(offset, length).tobytes()
            assert got == DATA[offset : offset + length], (offset, length)

    with source:
        run_threads(8, reader)


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=3000),
    ranges=st.lists(st.tuples(st.integers(-5, 3100), st.integers(-5, 3100)), max_size=10),
)
def test_property_read_matches_slicing(data: bytes, ranges: list[tuple[int, int]]) -> None:
    sources = [
        randread.BytesReadAt(data),
        randread.FileReadAt(io.BytesIO(data)),
        randread.SectionReadAt(randread.BytesReadAt(b"x" + data + b"y"), 1, len(data)),
    ]
    for source in sources:
        for offset, length in ranges:
            if offset < 0 or length < 0:
                with pytest.raises(ValueError, match="must be >= 0"):
                    source.read_at(offset, length)
            elif offset + length > len(data):
                with pytest.raises(randread.OutOfBoundsError):
                    source.read_at(offset, length)
            else:
                assert source.read_at(offset, length) == data[offset : offset + length]


@pytest.mark.parametrize("kind", ["mmap", "pread", "bytes", "section"])
def test_pickle_reopens(tmp_path: Path, kind: str) -> None:
    path = write_source(DATA, tmp_path)
    source: randread.ReadAt = {
        "mmap": lambda: randread.MmapReadAt(path),
        "pread": lambda: randread.FileReadAt(path),
        "bytes": lambda: randread.BytesReadAt(DATA),
        "section": lambda: randread.SectionReadAt(randread.MmapReadAt(path), 10, 20),
    }[kind]()
    clone = pickle.loads(pickle.dumps(source))
    assert type(clone) is type(source)
    assert clone.size == source.size
    assert clone.read_at(0, clone.size) == source.read_at(0, source.size)


def test_open_readat_dispatch(tmp_path: Path) -> None:
    path = write_source(DATA, tmp_path)
    assert isinstance(randread.open_readat(path), randread.MmapReadAt)
    assert isinstance(randread.open_readat(str(path), backend="pread"), randread.FileReadAt)
    assert isinstance(randread.open_readat(DATA), randread.BytesReadAt)
    existing = randread.BytesReadAt(DATA)
    assert randread.open_readat(existing) is existing
    assert isinstance(randread.open_readat(io.BytesIO(DATA)), randread.FileReadAt)
    with pytest.raises(TypeError, match="expected a path"):
        randread.open_readat(12)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="backend"):
        randread.open_readat(path, backend="seek")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        randread.open_readat(tmp_path / "missing")
