"""The file objects ``ZipReader.open()`` returns (zipfile.ZipExtFile's behaviour).

Decoding, size and CRC checks are the shared entry stream's
(:mod:`randread._core.stream`); here is what zip adds: traditional PKWARE
decryption (APPNOTE 6.1) and zipfile's ``ZipExtFile`` surface.
"""

from __future__ import annotations

import io
import sys
from typing import TYPE_CHECKING

from randread._core.stream import STREAM_BUFFER, EntryStream
from randread.errors import EncryptionError, ZipFormatError
from randread.readat import ReadAtRawIO
from randread.zip import records as rec
from randread.zip.crypto import ENCRYPTION_HEADER_LENGTH, ZipCryptoDecrypter, ZipCryptoStream
from randread.zip.methods import DecodeError, get_method, method_name

if TYPE_CHECKING:
    from randread._core.errors import EntryErrors
    from randread._core.source import Source
    from randread._core.stream import Decoding
    from randread.readat import ReadAt
    from randread.zip.directory import CentralDirectoryEntry
    from randread.zip.methods import Readable

__all__ = ["ZipExtFile", "open_member"]

#: ZipExtFile.mode: "rb" from Python 3.13 on, "r" before (as zipfile)
_MODE = "rb" if sys.version_info >= (3, 13) else "r"


class ZipExtFile(io.BufferedReader):
    """The file object :meth:`ZipReader.open` returns.

    A buffered, seekable, read-only binary file with :class:`zipfile.ZipExtFile`'s
    observable behaviour: ``name`` (the entry name), ``mode`` (``"rb"``; ``"r"``
    before Python 3.13, as zipfile), its
    repr, ``ValueError`` from every method once closed. It has its own position
    and stays readable after the reader is closed, until it is closed itself.
    """

    #: zipfile.ZipExtFile's attribute (code written for zipfile may set it);
    #: reads here are buffered by ``io.BufferedReader`` instead
    MIN_READ_SIZE = 4096

    def __repr__(self) -> str:
        if self.closed:
            return "<randread.ZipExtFile [closed]>"
        method = self.raw.compress_type  # type: ignore[attr-defined]
        kind = "" if method == rec.METHOD_STORED else f" compress_type={method_name(method)}"
        return f"<randread.ZipExtFile name={self.name!r} mode={self.mode!r}{kind}>"


def open_member(
    source: Source,
    readat: ReadAt,
    entry: CentralDirectoryEntry,
    errors: EntryErrors,
    *,
    data_offset: int,
    password: bytes | None,
) -> ZipExtFile:
    """Return a ZipExtFile over an entry whose checks have passed.

    ``readat`` is the source's, with a share of it taken for the stream
    (released when the stream is closed, or here if opening fails).
    """
    raw = ReadAtRawIO(readat, data_offset, entry.compressed_size)
    method = get_method(entry.method)

    def start() -> Decoding:
        raw.seek(0)
        compressed: Readable = raw
        if password is not None:
            compressed = _decrypting(raw, entry, password)
        return method.open(compressed)

    stored = entry.method == rec.METHOD_STORED and password is None
    stream = EntryStream(
        source,
        errors,
        size=entry.uncompressed_size,
        start=start,
        raw=raw if stored else None,
        decode_errors=(DecodeError,),
        mode=_MODE,
    )
    stream.compress_type = entry.method  # type: ignore[attr-defined]
    return ZipExtFile(stream, STREAM_BUFFER)


def _decrypting(raw: ReadAtRawIO, entry: CentralDirectoryEntry, password: bytes) -> Readable:
    decrypter = ZipCryptoDecrypter(password)
    header = decrypter.decrypt(raw.read(ENCRYPTION_HEADER_LENGTH))
    if len(header) < ENCRYPTION_HEADER_LENGTH:
        msg = f"entry {entry.name!r}: encryption header is truncated"
        raise ZipFormatError(msg)
    # 6.1.6: the last header byte is the CRC's high byte, or the DOS time's
    # high byte when sizes and CRC come in a data descriptor.
    check = (
        (entry.dos_time >> 8) & 0xFF
        if entry.flags & rec.FLAG_DATA_DESCRIPTOR
        else (entry.crc32 >> 24) & 0xFF
    )
    if header[-1] != check:
        msg = f"Bad password for file {entry.name!r}"
        raise EncryptionError(msg)
    return ZipCryptoStream(raw, decrypter)
