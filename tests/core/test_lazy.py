"""Unpickled readers open on first use (randread._core.lazy).

A reader sent to a worker pickles as its source and options; ``pickle.loads``
reads nothing and makes no request, and the first use opens it once, however
many threads use it at the same moment.
"""

from __future__ import annotations

import pickle
import threading
import zipfile
from pathlib import Path

import pytest

import randread
from tests.conftest import run_threads
from tests.readat.remote_helpers import contents, make_bundle, make_zip
from tests.remote import S3


class CountingReadAt(randread.BytesReadAt):
    """Bytes that count the reads made of them (pickles with its count at zero)."""

    reads = 0
    lock = threading.Lock()

    def read_at(self, offset: int, length: int) -> bytes:
        with CountingReadAt.lock:
            CountingReadAt.reads += 1
        return super().read_at(offset, length)

    def view_at(self, offset: int, length: int) -> memoryview:
        with CountingReadAt.lock:
            CountingReadAt.reads += 1
        return super().view_at(offset, length)

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (CountingReadAt, (randread.BytesReadAt.read_at(self, 0, self.size),))


@pytest.fixture(params=["zip", "bundle"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> bytes:
    data = make_zip(40, size=500)
    return data if request.param == "zip" else make_bundle(tmp_path, data)


def _reader(data: bytes) -> randread.ZipReader | randread.BundleReader:
    readat = CountingReadAt(data)
    reader = randread.open_archive(readat)
    return (
        randread.ZipReader if isinstance(reader, randread.ZipReader) else randread.BundleReader
    )(readat, close_source=True)


def test_loads_reads_nothing_and_the_first_use_opens(archive: bytes) -> None:
    expected = contents(archive) if archive[:2] == b"PK" else None
    blob = pickle.dumps(_reader(archive))
    CountingReadAt.reads = 0
    copy = pickle.loads(blob)
    assert CountingReadAt.reads == 0
    assert "opens on first use" in repr(copy)
    names = copy.namelist()
    assert CountingReadAt.reads > 0
    assert len(names) == 40
    if expected is not None:
        assert copy.read(names[3]) == expected[names[3]]
    copy.close()
    with pytest.raises(randread.ClosedError):
        copy.read(names[3])


def test_a_copy_pickled_again_before_use_stays_unopened(archive: bytes) -> None:
    copy = pickle.loads(pickle.dumps(_reader(archive)))
    CountingReadAt.reads = 0
    again = pickle.loads(pickle.dumps(copy))
    assert CountingReadAt.reads == 0
    assert again.namelist() == copy.namelist()


def test_closing_an_unopened_copy_closes_its_source_without_reading(archive: bytes) -> None:
    copy = pickle.loads(pickle.dumps(_reader(archive)))
    CountingReadAt.reads = 0
    copy.close()
    assert CountingReadAt.reads == 0
    assert copy.closed if isinstance(copy, randread.BundleReader) else copy.fp is None
    with pytest.raises(randread.ClosedError):
        copy.read("x")


def test_threads_that_use_a_copy_at_once_open_it_once(
    archive: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = pickle.loads(pickle.dumps(_reader(archive)))
    reader_class = type(copy).__mro__[1]
    opened: list[int] = []
    original = reader_class.__init__

    def counting_init(self: object, *args: object, **kwargs: object) -> None:
        opened.append(1)
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(reader_class, "__init__", counting_init)
    names: list[list[str]] = []
    run_threads(8, lambda _: names.append(copy.namelist()), timeout=60)
    assert opened == [1]
    assert all(listed == names[0] for listed in names)
    assert type(copy) is reader_class  # opened: the reader's own class, its fast lookups


def test_zipfile_path_of_an_unopened_copy() -> None:
    data = make_zip(5, size=100)
    copy = pickle.loads(pickle.dumps(randread.ZipReader(data)))
    root = zipfile.Path(copy)
    assert sorted(child.name for child in root.iterdir()) == sorted(contents(data))


@pytest.mark.parametrize("kind", ["zip", "bundle"])
@pytest.mark.parametrize("count", [300, 3000], ids=["index in the tail", "index past it"])
def test_remote_readers_make_no_request_in_loads(
    s3: S3, tmp_path: Path, kind: str, count: int
) -> None:
    data = make_zip(count, size=300)
    expected = contents(data)
    if kind == "bundle":
        data = make_bundle(tmp_path, data, codec="zstd")
    url = s3.put(data)
    with randread.open_archive(url, storage_options=s3.options) as reader:
        blob = pickle.dumps(reader)
        name = reader.namelist()[count // 2]
    s3.server.reset()
    copy = pickle.loads(blob)
    assert s3.server.log() == []
    assert copy.read(name) == expected[name]
    requests = s3.requests(url)
    assert len(requests) <= 3, [request["range"] for request in requests]
    copy.close()
