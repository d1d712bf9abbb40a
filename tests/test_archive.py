"""open_archive: a zip or a bundle, told apart without a request of its own (randread.archive)."""

from __future__ import annotations

from pathlib import Path

import pytest

import randread
from tests.readat.remote_helpers import contents, make_bundle, make_zip
from tests.remote import S3


@pytest.mark.parametrize("count", [300, 3000], ids=["index in the tail", "index past it"])
def test_a_remote_bundle_opens_and_reads_in_three_requests(
    s3: S3, tmp_path: Path, count: int
) -> None:
    data = make_zip(count, size=300)
    expected = contents(data)
    url = s3.put(make_bundle(tmp_path, data, codec="zstd"))  # trained dictionary
    s3.server.reset()
    with randread.open_archive(url, storage_options=s3.options) as reader:
        assert isinstance(reader, randread.BundleReader)
        name = f"{count // 2:010d}.txt"
        assert reader.read(name) == expected[name]
        requests = s3.requests(url)
        assert len(requests) <= 3, [request["range"] for request in requests]
        assert reader.filename == url


def test_a_remote_zip_opens_in_one_request(s3: S3) -> None:
    url = s3.put(make_zip(50, size=300))
    s3.server.reset()
    with randread.open_archive(url, storage_options=s3.options) as reader:
        assert isinstance(reader, randread.ZipReader)
        assert len(s3.requests(url)) == 1


def test_a_bundle_cut_short_says_so(s3: S3, tmp_path: Path) -> None:
    data = make_bundle(tmp_path, make_zip(20, size=300))
    url = s3.put(data[:-40])
    with pytest.raises(randread.BundleFormatError, match="truncated"):
        randread.open_archive(url, storage_options=s3.options)
    with pytest.raises(randread.BundleFormatError, match="truncated"):
        randread.open_archive(randread.BytesReadAt(data[:-40]))
