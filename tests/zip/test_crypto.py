"""PKWARE traditional encryption (randread.zip.crypto) through ZipReader; WinZip AES declined."""

from __future__ import annotations

import zipfile

import pytest

import randread
from tests.conftest import CORPORA
from tests.zipbuilder import Archive, Entry


@pytest.mark.parametrize("descriptor", [None, "32"])
@pytest.mark.parametrize("method", [0, 8])
def test_zipcrypto(descriptor: str | None, method: int) -> None:
    payload = b"secret payload " * 300
    data = Archive(
        [Entry("s", payload, method=method, password=b"pw", descriptor=descriptor)]
    ).build()
    with randread.ZipReader(data) as reader:
        with pytest.raises(randread.EncryptionError, match="password required"):
            reader.read("s")
        with pytest.raises(RuntimeError):  # zipfile's exception type
            reader.open("s")
        with pytest.raises(randread.EncryptionError, match="Bad password"):
            reader.read("s", pwd=b"wrong password")
        assert reader.read("s", pwd=b"pw") == payload
        with reader.open("s", pwd=b"pw") as stream:
            assert stream.read() == payload
        reader.setpassword(b"pw")
        assert reader.read("s") == payload
        with pytest.raises(TypeError, match="bytes"):
            reader.read("s", pwd="pw")  # type: ignore[arg-type]


def test_a_successful_read_never_lifts_the_password_check() -> None:
    """Reads of an entry skip the checks that passed before; the password is never one."""
    payload = b"secret payload " * 300
    data = Archive([Entry("s", payload, password=b"pw"), Entry("plain", payload)]).build()
    with randread.ZipReader(data) as reader:
        for _ in range(2):
            assert reader.read("s", pwd=b"pw") == payload
            assert reader.read("plain") == payload
            with pytest.raises(randread.EncryptionError, match="password required"):
                reader.read("s")
            with pytest.raises(randread.EncryptionError, match="Bad password"):
                reader.read("s", pwd=b"wrong password")


def test_zipcrypto_corpus_archive() -> None:
    path = CORPORA / "libarchive" / "test_read_format_zip_traditional_encryption_data.zip"
    if not path.exists():
        pytest.skip("corpora not present")
    with randread.ZipReader(path, pwd=b"12345678") as reader, zipfile.ZipFile(path) as reference:
        reference.setpassword(b"12345678")
        for name in reader.namelist():
            assert reader.read(name) == reference.read(name)


def test_winzip_aes_is_declined_clearly() -> None:
    aes_extra = b"\x01\x99\x07\x00\x02\x00AE\x03\x08\x00"
    data = Archive(
        [Entry("a", b"x", method=99, flags=1, compressed=b"\x00" * 30, extra=aes_extra)]
    ).build()
    with randread.ZipReader(data) as reader:
        with pytest.raises(randread.UnsupportedFeatureError, match="AES") as info:
            reader.read("a", pwd=b"pw")
        assert info.value.method == 99
