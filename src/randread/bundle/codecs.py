"""Bundle codec registry: codec id -> encoder and decoder (formats/bundle.md, Codecs).

Adding a codec touches this module only: give it an unassigned id in
``format.py`` and the spec, and register it in ``_CODECS``.

Decoders never size a buffer from the stored data: the entry's declared size
is the only size used, and output of any other length is an error. A declared
size that the stored bytes cannot possibly decode to (see ``ZSTD_MAX_RATIO``
and ``LZ4_MAX_RATIO``) is refused before any buffer is sized from it, so a
damaged size field costs at most a bounded multiple of bytes really in the
file. zstd contexts are not thread-safe, so each thread has its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import lz4.block
import zstandard

from randread._core.zstd import Decompressors
from randread.bundle.format import (
    CODEC_LZ4,
    CODEC_NONE,
    CODEC_ZSTD,
    CODEC_ZSTD_DICT,
    ZSTD_MAX_WINDOW_SIZE,
)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Codec", "CodecError", "codec_by_id", "codec_by_name", "codec_names"]


#: A zstd block decodes to at most 128 KiB (Block_Maximum_Size) and takes at
#: least 4 bytes (a 3-byte block header and one RLE byte), so no frame decodes
#: to more than 32768 times its own length.
ZSTD_MAX_RATIO = 1 << 15
#: An LZ4 block spends at least one byte for every 255 bytes of match length
#: (and one per literal), so it decodes to less than 255 times its length.
LZ4_MAX_RATIO = 255
#: zstd block header (3 bytes: Last_Block, Block_Type, Block_Size) and its
#: block types (RFC 8878 3.1.1.2), and the frame's optional checksum.
_BLOCK_HEADER_SIZE = 3
_BLOCK_RLE = 1
_BLOCK_RESERVED = 3
_CHECKSUM_SIZE = 4
#: The most an LZ4 block can hold (LZ4_MAX_INPUT_SIZE in lz4.h).
LZ4_MAX_SIZE = 0x7E000000


class CodecError(ValueError):
    """Stored bytes that do not decode to the declared size; the caller adds context."""


Buffer = bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True)
class Codec:
    """One codec: ``encode(data, level, context)`` and ``decode(data, size, context)``.

    ``context`` is the bundle's :class:`DictionaryContext` (or ``None``).
    """

    id: int
    name: str
    encode: Callable[[Buffer, int, DictionaryContext | None], bytes]
    decode: Callable[[Buffer, int, DictionaryContext | None], bytes]
    #: ``check(data, size)``: checks of the stored bytes that ``decode`` and
    #: ``stream`` rely on; a reader runs it before an entry is first decoded
    #: (and need not repeat it, the bytes being immutable). ``None``: none needed.
    check: Callable[[Buffer, int], None] | None = None
    #: ``stream(data, size, context)``: an object whose ``read(n)`` returns at
    #: most ``n`` decoded bytes (``b""`` at the end), for codecs that can
    #: decode a little at a time; ``None`` for the others.
    stream: Callable[[Buffer, int, DictionaryContext | None], Decoding] | None = None


class Decoding(Protocol):
    """A codec's incremental decoder over one entry's stored bytes."""

    def read(self, size: int = -1, /) -> bytes:
        """Return up to ``size`` more decoded bytes; ``b""`` at the end."""
        ...


class DictionaryContext:
    """A zstd dictionary with per-thread compressors and decompressors for it.

    ``DictionaryContext(None)`` serves plain zstd. Shared by all threads of one
    reader or writer; the zstd objects themselves stay per thread.
    """

    def __init__(self, dictionary: bytes | None) -> None:
        self.raw = dictionary
        self._dictionary = (
            zstandard.ZstdCompressionDict(dictionary) if dictionary is not None else None
        )
        self._local = threading.local()
        decompressors = Decompressors(self._dictionary)
        #: Return a decompressor of its own (for a stream that outlives one call).
        self.new_decompressor: Callable[[], zstandard.ZstdDecompressor] = decompressors.new
        #: Return this thread's decompressor (bound once: it is on every zstd read's path).
        self.decompressor: Callable[[], zstandard.ZstdDecompressor] = decompressors.for_thread

    @property
    def dictionary_id(self) -> int:
        return self._dictionary.dict_id() if self._dictionary is not None else 0

    def compressor(self, level: int) -> zstandard.ZstdCompressor:
        compressors: dict[int, zstandard.ZstdCompressor] | None = getattr(
            self._local, "compressors", None
        )
        if compressors is None:
            compressors = self._local.compressors = {}
        compressor = compressors.get(level)
        if compressor is None:
            compressor = zstandard.ZstdCompressor(
                level=level,
                dict_data=self._dictionary,
                write_content_size=True,
                write_checksum=False,
                write_dict_id=False,
            )
            compressors[level] = compressor
        return compressor


_PLAIN_ZSTD = DictionaryContext(None)


def _none_encode(data: Buffer, _level: int, _context: DictionaryContext | None) -> bytes:
    return bytes(data)


def _none_decode(data: Buffer, size: int, _context: DictionaryContext | None) -> bytes:
    if len(data) != size:
        msg = f"stored size {len(data)} differs from size {size}"
        raise CodecError(msg)
    return bytes(data)


def _zstd_encode(data: Buffer, level: int, _context: DictionaryContext | None) -> bytes:
    # Codec 1 frames never use the bundle's dictionary (formats/bundle.md, Codecs).
    return _PLAIN_ZSTD.compressor(level).compress(data)


def _zstd_decode(data: Buffer, size: int, _context: DictionaryContext | None) -> bytes:
    return _zstd_frame_decode(data, size, _PLAIN_ZSTD)


def _zstd_stream(data: Buffer, size: int, _context: DictionaryContext | None) -> Decoding:
    return _zstd_frame_stream(data, size, _PLAIN_ZSTD)


def _zstd_frame_decode(data: Buffer, size: int, context: DictionaryContext) -> bytes:
    try:
        if size == 0:
            # decompress() returns b"" for a frame declaring no content without
            # looking at its blocks; decode them (one byte at most) as a stream does.
            result = context.new_decompressor().stream_reader(data).read(1)
        else:
            # With no size in the frame, max_output_size caps the output at the
            # entry's size; with one, check() has matched it to that size.
            result = context.decompressor().decompress(data, max_output_size=size)
    except zstandard.ZstdError as exc:
        msg = f"zstd: {exc}"
        raise CodecError(msg) from None
    if len(result) != size:
        msg = f"zstd frame decodes to {len(result)} bytes, the entry declares {size}"
        raise CodecError(msg)
    return result


def _zstd_frame_stream(data: Buffer, _size: int, context: DictionaryContext) -> Decoding:
    try:
        # A decompressor of its own: the thread's shared one may serve a
        # read() while this stream is still open.
        reader: Decoding = context.new_decompressor().stream_reader(data)
    except zstandard.ZstdError as exc:
        msg = f"zstd: {exc}"
        raise CodecError(msg) from None
    return reader


def _zstd_check(data: Buffer, size: int) -> None:
    """Check a zstd entry's stored bytes before they are first decoded (formats/bundle.md).

    They must be exactly one frame, able to hold ``size`` bytes, declaring
    that size (or none), with a window within the format's limit.
    """
    if size > len(data) * ZSTD_MAX_RATIO:
        msg = f"a zstd frame of {len(data)} bytes cannot decode to the entry's {size} bytes"
        raise CodecError(msg)
    try:
        parameters = zstandard.get_frame_parameters(data)
        declared = parameters.content_size
        if declared not in (zstandard.CONTENTSIZE_UNKNOWN, size):
            msg = f"zstd frame declares {declared} bytes, the entry {size}"
            raise CodecError(msg)
        if parameters.window_size > ZSTD_MAX_WINDOW_SIZE:
            msg = (
                f"zstd frame needs a window of {parameters.window_size} bytes, "
                f"more than the format's limit of {ZSTD_MAX_WINDOW_SIZE}"
            )
            raise CodecError(msg)
        length = zstd_frame_length(data, has_checksum=parameters.has_checksum)
    except zstandard.ZstdError as exc:
        msg = f"zstd: {exc}"
        raise CodecError(msg) from None
    if length != len(data):
        msg = f"{len(data) - length} bytes follow the zstd frame of {length} bytes"
        raise CodecError(msg)


def zstd_frame_length(data: Buffer, *, has_checksum: bool) -> int:
    """Return how many bytes the zstd frame at the start of ``data`` takes (RFC 8878 3.1.1).

    Walks the block headers; raises CodecError if the frame runs past ``data``
    (or zstandard.ZstdError if its header does not parse).
    """
    view = memoryview(data)
    position = zstandard.frame_header_size(data)
    while True:
        if position + _BLOCK_HEADER_SIZE > len(view):
            msg = f"zstd frame cut short: a block header at byte {position} of {len(view)}"
            raise CodecError(msg)
        header = int.from_bytes(view[position : position + _BLOCK_HEADER_SIZE], "little")
        position += _BLOCK_HEADER_SIZE
        block_type = (header >> 1) & 0b11
        if block_type == _BLOCK_RESERVED:
            msg = f"zstd block at byte {position - _BLOCK_HEADER_SIZE} has the reserved type"
            raise CodecError(msg)
        position += 1 if block_type == _BLOCK_RLE else header >> 3
        if header & 1:  # Last_Block
            break
    position += _CHECKSUM_SIZE if has_checksum else 0
    if position > len(view):
        msg = f"zstd frame cut short: it needs {position} bytes, the entry stores {len(view)}"
        raise CodecError(msg)
    return position


def _zstd_dict_encode(data: Buffer, level: int, context: DictionaryContext | None) -> bytes:
    if context is None or context.raw is None:
        msg = "the zstd-dict codec needs a dictionary"
        raise ValueError(msg)
    return context.compressor(level).compress(data)


def _zstd_dict_decode(data: Buffer, size: int, context: DictionaryContext | None) -> bytes:
    if context is None or context.raw is None:
        msg = "entry uses the zstd-dict codec but the bundle has no dictionary"
        raise CodecError(msg)
    return _zstd_frame_decode(data, size, context)


def _zstd_dict_stream(data: Buffer, size: int, context: DictionaryContext | None) -> Decoding:
    if context is None or context.raw is None:
        msg = "entry uses the zstd-dict codec but the bundle has no dictionary"
        raise CodecError(msg)
    return _zstd_frame_stream(data, size, context)


def _lz4_encode(data: Buffer, level: int, _context: DictionaryContext | None) -> bytes:
    # lz4 levels: 0 is the fast compressor; higher levels select LZ4-HC.
    if level > 0:
        compressed: bytes = lz4.block.compress(
            data, mode="high_compression", compression=level, store_size=False
        )
    else:
        compressed = lz4.block.compress(data, store_size=False)
    return compressed


def _lz4_decode(data: Buffer, size: int, _context: DictionaryContext | None) -> bytes:
    if size == 0:
        if len(data) > 1:
            msg = f"lz4 block of {len(data)} bytes for an empty entry"
            raise CodecError(msg)
        return b""
    if size > len(data) * LZ4_MAX_RATIO or size > LZ4_MAX_SIZE:
        msg = f"an LZ4 block of {len(data)} bytes cannot decode to the entry's {size} bytes"
        raise CodecError(msg)
    try:
        result: bytes = lz4.block.decompress(data, uncompressed_size=size)
    except lz4.block.LZ4BlockError as exc:
        msg = f"lz4: {exc}"
        raise CodecError(msg) from None
    if len(result) != size:
        msg = f"lz4 block decodes to {len(result)} bytes, the entry declares {size}"
        raise CodecError(msg)
    return result


_CODECS: dict[int, Codec] = {
    codec.id: codec
    for codec in (
        Codec(CODEC_NONE, "none", _none_encode, _none_decode),
        Codec(
            CODEC_ZSTD,
            "zstd",
            _zstd_encode,
            _zstd_decode,
            _zstd_check,
            _zstd_stream,
        ),
        Codec(
            CODEC_ZSTD_DICT,
            "zstd-dict",
            _zstd_dict_encode,
            _zstd_dict_decode,
            _zstd_check,
            _zstd_dict_stream,
        ),
        Codec(CODEC_LZ4, "lz4", _lz4_encode, _lz4_decode),
    )
}
_BY_NAME = {codec.name: codec for codec in _CODECS.values()}


def codec_by_id(codec_id: int) -> Codec | None:
    """Return the codec with ``codec_id``, or ``None`` for an unassigned id."""
    return _CODECS.get(codec_id)


def codec_by_name(name: str) -> Codec:
    """Return the codec called ``name``; ``ValueError`` naming the choices otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        msg = f"unknown codec {name!r}; choose one of {', '.join(_BY_NAME)}"
        raise ValueError(msg) from None


def codec_names() -> list[str]:
    """Names of all codecs, in id order."""
    return [codec.name for codec in _CODECS.values()]
