"""Transport failures become randread's errors: classified, retried when transient, bounded.

Faults are injected at the loopback S3 server (tests/remote.py).
"""

from __future__ import annotations

import socket

import pytest

from randread import RemoteReadAt, ZipReader, open_readat
from randread.errors import (
    RemoteConnectionError,
    RemoteError,
    RemoteTimeoutError,
    SourceAccessError,
    SourceNotFoundError,
)
from randread.readat.remote import redact_url
from tests.readat.remote_helpers import SECRET, contents, make_zip
from tests.remote import S3


def test_missing_object_and_bucket(s3: S3) -> None:
    with pytest.raises(SourceNotFoundError) as caught:
        ZipReader("s3://randread-test/no-such-key.zip", storage_options=s3.options)
    assert isinstance(caught.value, FileNotFoundError)
    assert "s3://randread-test/no-such-key.zip" in str(caught.value)
    with pytest.raises(SourceNotFoundError):
        open_readat("s3://no-such-bucket/a.zip", storage_options=s3.options)


def test_access_denied(s3: S3) -> None:
    url = s3.put(make_zip(3))
    s3.server.configure(faults=[{"status": 403}])
    with pytest.raises(SourceAccessError) as caught:
        open_readat(url, storage_options=s3.options)
    assert isinstance(caught.value, PermissionError)
    assert len(s3.gets(url)) == 1  # not retried


def test_transient_errors_are_retried_with_backoff(s3: S3) -> None:
    data = make_zip(150, size=3000)
    url = s3.put(data)
    reader = ZipReader(RemoteReadAt(url, storage_options=s3.options, backoff=0.01))
    s3.server.reset()
    s3.server.configure(faults=[{"status": 503, "times": 2}])
    assert reader.read("0000000009.txt") == contents(data)["0000000009.txt"]
    statuses = [record["status"] for record in s3.gets(url)]
    assert statuses == [503, 503, 206]
    reader.close()


def test_retries_are_bounded(s3: S3) -> None:
    data = make_zip(150, size=3000)
    url = s3.put(data)
    readat = RemoteReadAt(url, storage_options=s3.options, retries=2, backoff=0.01)
    s3.server.reset()
    s3.server.configure(faults=[{"status": 500, "times": 100}])
    with pytest.raises(RemoteError) as caught:
        readat.read_at(1000, 100)
    message = str(caught.value)
    assert "after 3 attempts" in message
    assert "bytes 1000-1099 (0x3e8-0x44b)" in message
    assert url in message
    assert (caught.value.offset, caught.value.length) == (1000, 100)
    assert caught.value.status == 500
    assert len(s3.gets(url)) == 3
    s3.server.reset()


def test_short_response_is_an_error_naming_the_range(s3: S3) -> None:
    data = make_zip(150, size=3000)
    url = s3.put(data)
    readat = RemoteReadAt(url, storage_options=s3.options, retries=1, backoff=0.01)
    s3.server.configure(faults=[{"short": 10, "times": 5}])
    with pytest.raises(RemoteError, match=r"bytes 1000-5999 .*4990 bytes, not 5000"):
        readat.read_at(1000, 5000)
    s3.server.reset()
    # A single short answer is retried and then read whole.
    s3.server.configure(faults=[{"short": 10}])
    assert readat.read_at(7000, 5000) == data[7000:12000]
    readat.close()


def test_connection_reset_is_retried(s3: S3) -> None:
    data = make_zip(150, size=3000)
    url = s3.put(data)
    readat = RemoteReadAt(url, storage_options=s3.options, backoff=0.01)
    s3.server.configure(faults=[{"reset": True}])
    assert readat.read_at(5000, 300) == data[5000:5300]
    readat.close()


def test_hung_request_times_out(s3: S3) -> None:
    data = make_zip(150, size=3000)
    url = s3.put(data)
    readat = RemoteReadAt(url, storage_options=s3.options, timeout=0.5, retries=0)
    s3.server.configure(faults=[{"hang": 3}])
    with pytest.raises(RemoteTimeoutError) as caught:
        readat.read_at(0, 100)
    assert isinstance(caught.value, TimeoutError)
    assert "no answer within 0.5 s" in str(caught.value)
    readat.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable_endpoint(s3: S3) -> None:
    options = dict(s3.options)
    options["client_kwargs"] = {
        "endpoint_url": f"http://127.0.0.1:{free_port()}",
        "region_name": "us-east-1",
    }
    with pytest.raises(RemoteConnectionError) as caught:
        RemoteReadAt("s3://randread-test/a.zip", storage_options=options, backoff=0.01)
    assert isinstance(caught.value, ConnectionError)
    assert "after 4 attempts" in str(caught.value)


def test_no_credential_in_messages_or_reprs(s3: S3) -> None:
    url = s3.put(make_zip(150, size=3000))
    readat = RemoteReadAt(url, storage_options=s3.options, retries=0)
    reader = ZipReader(readat)
    texts = [repr(readat), repr(reader)]
    s3.server.configure(faults=[{"status": 403}])
    with pytest.raises(SourceAccessError) as caught:
        reader.read("0000000100.txt")
    texts.append(str(caught.value))
    for text in texts:
        assert SECRET not in text
        assert "testing-key" not in text
    reader.close()
    assert redact_url("https://user:pw@example.test/a.zip?X-Amz-Signature=abc") == (
        "https://***@example.test/a.zip?***"
    )
