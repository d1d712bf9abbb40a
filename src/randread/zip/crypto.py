"""Traditional PKWARE encryption ("ZipCrypto", APPNOTE 6.1), decryption only.

It is a weak cipher kept for old archives; each byte costs a few Python
operations, so encrypted entries read at a few MB/s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from randread.zip.methods import Readable

__all__ = ["ENCRYPTION_HEADER_LENGTH", "ZipCryptoDecrypter", "ZipCryptoStream"]

#: 6.1.6: every encrypted entry starts with a 12-byte encryption header.
ENCRYPTION_HEADER_LENGTH = 12

_POLYNOMIAL = 0xEDB88320


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        value = byte
        for _ in range(8):
            value = (value >> 1) ^ _POLYNOMIAL if value & 1 else value >> 1
        table.append(value)
    return tuple(table)


_CRC_TABLE = _crc_table()


class ZipCryptoDecrypter:
    """The three-key state of 6.1.5, initialised from a password."""

    __slots__ = ("_key0", "_key1", "_key2")

    def __init__(self, password: bytes) -> None:
        self._key0 = 0x12345678
        self._key1 = 0x23456789
        self._key2 = 0x34567890
        for byte in password:
            self._update(byte)

    def _update(self, byte: int) -> None:
        table = _CRC_TABLE
        key0 = table[(self._key0 ^ byte) & 0xFF] ^ (self._key0 >> 8)
        key1 = ((self._key1 + (key0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        self._key2 = table[(self._key2 ^ (key1 >> 24)) & 0xFF] ^ (self._key2 >> 8)
        self._key0 = key0
        self._key1 = key1

    def decrypt(self, data: bytes) -> bytes:
        """Decrypt ``data``, advancing the key state."""
        table = _CRC_TABLE
        key0, key1, key2 = self._key0, self._key1, self._key2
        out = bytearray(len(data))
        for index, byte in enumerate(data):
            temp = (key2 | 2) & 0xFFFF
            plain = byte ^ (((temp * (temp ^ 1)) >> 8) & 0xFF)
            out[index] = plain
            key0 = table[(key0 ^ plain) & 0xFF] ^ (key0 >> 8)
            key1 = ((key1 + (key0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
            key2 = table[(key2 ^ (key1 >> 24)) & 0xFF] ^ (key2 >> 8)
        self._key0, self._key1, self._key2 = key0, key1, key2
        return bytes(out)


class ZipCryptoStream:
    """A Readable that decrypts another Readable (the 12-byte header already read)."""

    __slots__ = ("_decrypter", "_raw")

    def __init__(self, raw: Readable, decrypter: ZipCryptoDecrypter) -> None:
        self._raw = raw
        self._decrypter = decrypter

    def read(self, size: int, /) -> bytes:
        """Return up to ``size`` decrypted bytes."""
        return self._decrypter.decrypt(self._raw.read(size))
