"""Compression methods (APPNOTE 4.4.5): the one place that maps a method id to code.

Each :class:`Method` decompresses in three ways: ``read_all`` for a whole
entry whose size is known, ``read_checked`` for the same with its CRC-32
checked too (what ``ZipReader.read`` calls, with the data as a memoryview;
for deflate, one Python frame around libdeflate and the CRC-32 when libdeflate
is installed), and ``open`` for a stream that yields bounded chunks
(``ZipReader.open``). All stop at the declared size plus one byte, so a lying
header can never make them allocate more than the archive says. Failures
raise :class:`DecodeError` (:class:`ChecksumMismatchError` for a wrong CRC-32),
which the reader turns into a :class:`~randread.ZipFormatError` naming the entry.

Adding a codec means adding one ``Method`` to ``_METHODS``.
"""

from __future__ import annotations

import bz2
import contextlib
import importlib
import io
import lzma
import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import zstandard

from randread._checksum import crc32
from randread._core.zstd import Decompressors
from randread._runtime import FREE_THREADED
from randread.errors import UnsupportedFeatureError
from randread.zip import records as rec

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from typing_extensions import Buffer

__all__ = [
    "ChecksumMismatchError",
    "DecodeError",
    "Method",
    "Readable",
    "crc32",
    "fast_deflate_backend",
    "forced_deflate_backend",
    "get_method",
    "method_name",
]

#: compressed bytes handed to a streaming decoder at a time
_CHUNK = 64 * 1024
#: decompressed bytes asked of a stream at a time by ``read_all``: some decoders
#: (zstandard's stream reader) allocate the whole request before decoding
_READ_ALL_CHUNK = 1 << 20
#: the most output one compressed byte can give: deflate's longest match (258
#: bytes) costs at least two bits, 1032:1; a zstd RLE block turns 4 bytes into
#: 128 KiB, 32768:1. A declared size beyond that cannot be right, so it must not
#: size an output buffer.
_DEFLATE_MAX_RATIO = 1032
#: Deflate data that could inflate to at most this many bytes is inflated in
#: one call; larger data goes through a decoder bounded by the declared size.
_ONE_CALL_INFLATE_LIMIT = 16 << 20
_ZSTD_MAX_RATIO = 32768


class DecodeError(ValueError):
    """Compressed data that does not decode to the declared size; no position."""


class ChecksumMismatchError(DecodeError):
    """Content that decodes to the declared size but not to the declared CRC-32."""

    def __init__(self, actual: int) -> None:
        super().__init__(f"CRC-32 of the content is 0x{actual:08x}")
        #: the CRC-32 of the decoded content
        self.actual = actual


class Readable(Protocol):
    """What a streaming decoder offers: ``read(n)`` returns at most ``n`` bytes."""

    def read(self, size: int, /) -> bytes:
        """Return up to ``size`` bytes; ``b""`` at the end of the stream."""
        ...


class _PushDecoder(Protocol):
    """The ``bz2``/``lzma`` decompressor interface that every push codec is fitted to."""

    @property
    def eof(self) -> bool: ...

    @property
    def needs_input(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: Buffer, max_length: int = -1, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Method:
    """A compression method: its id, name and the two ways to decompress it."""

    method_id: int
    name: str
    #: ``read_all(compressed, size)`` -> exactly ``size`` bytes, or DecodeError
    read_all: Callable[[Buffer, int], bytes]
    #: ``open(raw)`` -> a Readable of the decompressed bytes
    open: Callable[[Readable], Readable]
    #: ``read_checked(compressed, size, crc)`` -> exactly ``size`` bytes whose
    #: CRC-32 is ``crc``, or DecodeError (ChecksumMismatchError for the CRC-32);
    #: ``compressed`` is a byte memoryview, as ``ReadAt.view_at`` returns
    read_checked: Callable[[memoryview, int, int], bytes]
    #: the same, but the result may be a bytearray: for callers that copy it
    #: elsewhere anyway (``read_many_into``), which saves a copy
    decode_checked: Callable[[memoryview, int, int], bytes | bytearray]


# -- optional fast backends --------------------------------------------------


def _optional(module: str, *, free_threaded: bool = True) -> Any:  # noqa: ANN401 - any shape
    """Import ``module``, or return None when it is missing.

    ``free_threaded=False`` marks a module that has not declared that it runs
    without the GIL: on a free-threaded build, importing it would turn the
    GIL back on for the whole process, so it is not imported there.
    """
    if FREE_THREADED and not free_threaded:
        return None
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


_libdeflate = _optional("deflate")
_isal_zlib = _optional("isal.isal_zlib", free_threaded=False)
#: inflate64, imported by the first Deflate64 entry read (see _deflate64_open):
#: it has not declared that it runs without the GIL, so importing it turns the
#: GIL back on in a free-threaded build, and only archives that need it pay that.
_inflate64: Any = None


def fast_deflate_backend() -> str:
    """Name the deflate decoder in use: ``libdeflate``, ``isal`` or ``zlib``."""
    if _libdeflate is not None:
        return "libdeflate"
    if _isal_zlib is not None:
        return "isal"
    return "zlib"


@contextlib.contextmanager
def forced_deflate_backend(name: str) -> Iterator[None]:
    """Decode deflate with only ``name`` ("zlib", "isal", "libdeflate") inside the block.

    For benchmarks that compare decoders side by side in one process; it
    changes module state, so no other thread may read deflate meanwhile.
    """
    global _libdeflate, _isal_zlib  # noqa: PLW0603 - the switch is the point
    saved = _libdeflate, _isal_zlib
    if name == "zlib":
        _libdeflate = _isal_zlib = None
    elif name == "isal":
        _libdeflate = None
    elif name != "libdeflate":
        msg = f"unknown deflate backend {name!r}"
        raise ValueError(msg)
    if name != fast_deflate_backend():
        _libdeflate, _isal_zlib = saved
        msg = f"deflate backend {name!r} is not installed"
        raise ValueError(msg)
    try:
        yield
    finally:
        _libdeflate, _isal_zlib = saved


def _check_size(produced: int, size: int) -> None:
    if produced > size:
        msg = f"decompressed data is larger than the declared size {size}"
        raise DecodeError(msg)
    if produced < size:
        msg = f"decompressed data ends after {produced} of the declared {size} bytes"
        raise DecodeError(msg)


def _checked_after(read_all: Callable[[Buffer, int], bytes]) -> Callable[[Buffer, int, int], bytes]:
    """Build a ``read_checked`` that decodes with ``read_all``, then computes the CRC-32."""

    def read_checked(data: Buffer, size: int, expected: int) -> bytes:
        out = read_all(data, size)
        actual = crc32(out)
        if actual != expected:
            raise ChecksumMismatchError(actual)
        return out

    return read_checked


# -- push decoders fitted to one interface ------------------------------------


class _ZlibDecoder:
    """zlib's (or isal's) raw-deflate ``decompressobj`` with the bz2 interface."""

    __slots__ = ("_done", "_object", "_tail")

    def __init__(self, module: Any) -> None:  # noqa: ANN401 - zlib or isal_zlib
        self._object = module.decompressobj(-15)
        self._tail = b""
        self._done = True  # the last call emptied the decoder's output

    @property
    def eof(self) -> bool:
        return bool(self._object.eof)

    @property
    def needs_input(self) -> bool:
        return not self._tail and self._done

    @property
    def unused_data(self) -> bytes:
        return bytes(self._object.unused_data)

    def decompress(self, data: Buffer, max_length: int = -1) -> bytes:
        if self._tail:
            data = self._tail + bytes(data)
        try:
            out: bytes = self._object.decompress(data, max(max_length, 0))
        except zlib.error as exc:
            raise DecodeError(f"invalid deflate data: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - isal raises its own error type
            raise DecodeError(f"invalid deflate data: {exc}") from None
        self._tail = self._object.unconsumed_tail
        self._done = max_length <= 0 or len(out) < max_length
        return out


class _Inflate64Decoder:
    """inflate64's Deflate64 inflater with the bz2 interface (input fed in chunks)."""

    __slots__ = ("_inflater",)

    def __init__(self) -> None:
        self._inflater = _inflate64.Inflater()

    @property
    def eof(self) -> bool:
        return bool(self._inflater.eof)

    @property
    def needs_input(self) -> bool:
        return True

    @property
    def unused_data(self) -> bytes:
        return b""

    def decompress(self, data: Buffer, max_length: int = -1) -> bytes:  # noqa: ARG002
        try:
            out: bytes = self._inflater.inflate(bytes(data))
        except Exception as exc:  # noqa: BLE001 - inflate64's error types are undocumented
            raise DecodeError(f"invalid deflate64 data: {exc}") from None
        return out


class _PushStream:
    """A Readable that feeds compressed chunks from ``raw`` into a push decoder."""

    __slots__ = ("_decoder", "_factory", "_multistream", "_pending", "_raw", "_raw_done")

    def __init__(
        self, raw: Readable, factory: Callable[[], _PushDecoder], *, multistream: bool = False
    ) -> None:
        self._raw = raw
        self._factory = factory
        self._decoder = factory()
        self._multistream = multistream
        self._raw_done = False
        # Output beyond what was asked for, from decoders without max_length.
        self._pending = b""

    def read(self, size: int, /) -> bytes:
        pending = self._pending
        if pending:
            self._pending = pending[size:]
            return pending[:size]
        decoder = self._decoder
        while True:
            if decoder.eof:
                leftover = decoder.unused_data
                if not self._multistream or not (leftover or self._more_input()):
                    return b""
                decoder = self._decoder = self._factory()
                data: Buffer = leftover or self._next_chunk()
            elif decoder.needs_input:
                data = self._next_chunk()
                if not data:
                    return b""  # input ended; the caller checks the size
            else:
                data = b""
            try:
                out = decoder.decompress(data, size)
            except DecodeError:
                raise
            except (OSError, EOFError, ValueError, lzma.LZMAError) as exc:
                raise DecodeError(f"invalid compressed data: {exc}") from None
            if out:
                if len(out) > size:
                    self._pending = out[size:]
                    return out[:size]
                return out

    def _next_chunk(self) -> bytes:
        if self._raw_done:
            return b""
        chunk = self._raw.read(_CHUNK)
        if not chunk:
            self._raw_done = True
        return chunk

    def _more_input(self) -> bool:
        return not self._raw_done


def _read_all_by_stream(
    open_stream: Callable[[Readable], Readable],
) -> Callable[[Buffer, int], bytes]:
    """Build a ``read_all`` on ``open`` that stops one byte past the declared size."""

    def read_all(data: Buffer, size: int) -> bytes:
        stream = open_stream(io.BytesIO(data))
        parts: list[bytes] = []
        produced = 0
        while produced <= size:
            chunk = stream.read(min(size + 1 - produced, _READ_ALL_CHUNK))
            if not chunk:
                break
            parts.append(chunk)
            produced += len(chunk)
        _check_size(produced, size)
        return b"".join(parts)

    return read_all


# -- stored (0) --------------------------------------------------------------


def _stored_read_all(data: Buffer, size: int) -> bytes:
    out = bytes(data)
    _check_size(len(out), size)
    return out


def _stored_read_checked(data: memoryview, size: int, expected: int) -> bytes:
    _check_size(data.nbytes, size)
    out = bytes(data)
    actual = crc32(out)
    if actual != expected:
        raise ChecksumMismatchError(actual)
    return out


def _stored_open(raw: Readable) -> Readable:
    return raw


# -- deflate (8) -------------------------------------------------------------


def _zlib_inflate(module: Any, data: Buffer, size: int) -> bytes:  # noqa: ANN401
    possible = memoryview(data).nbytes * _DEFLATE_MAX_RATIO
    if possible <= _ONE_CALL_INFLATE_LIMIT:
        # One call with the exact output size: about 3 us faster per 17 KB
        # entry than the bounded decoder below, and a lying size can cost at
        # most _ONE_CALL_INFLATE_LIMIT bytes. Any error is decoded again below,
        # for the bounded decoder's exact message and its tolerance.
        try:
            out: bytes = module.decompress(data, -15, min(size, possible) or 1)
        except Exception:  # noqa: BLE001, S110 - zlib.error, or isal's own type
            pass
        else:
            _check_size(len(out), size)
            return out
    # One byte past what the data can hold, at most: zlib refuses a limit past
    # the largest ssize_t, which a zip64 size can be.
    limit = min(size, possible) + 1
    try:
        out = module.decompressobj(-15).decompress(data, limit)
    except Exception as exc:  # noqa: BLE001 - zlib.error, or isal's own error type
        raise DecodeError(f"invalid deflate data: {exc}") from None
    # A stream whose final block is missing but whose output is complete is
    # accepted, as zipfile does; the CRC check still guards the content.
    _check_size(len(out), size)
    return out


def _deflate_read_all(data: Buffer, size: int) -> bytes:
    # libdeflate allocates ``size`` bytes up front: only for a size the data can
    # hold. The deflate package returns an empty result for size 0 without
    # decoding anything, so an empty entry's data is checked by zlib.
    if _libdeflate is not None and 0 < size <= memoryview(data).nbytes * _DEFLATE_MAX_RATIO:
        try:
            out = _libdeflate.deflate_decompress(data, size)
        except _libdeflate.DeflateError:
            pass  # decode again below for a precise message (or a truncated stream)
        else:
            if len(out) == size:
                # libdeflate returns a bytearray; read() promises immutable bytes.
                return bytes(out)
    return _zlib_inflate(_isal_zlib or zlib, data, size)


#: A gzip member header (RFC 1952 2.3): magic, method 8 (deflate), no flags, no
#: modification time, no extra flags, OS 255 (unknown).
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
#: the gzip trailer: CRC-32 and ISIZE (the size modulo 2**32)
_GZIP_TRAILER = struct.Struct("<II")
#: libdeflate's wrapper takes the output size as a C unsigned int
_GZIP_MAX_SIZE = 0xFFFFFFFF
#: Whether ``read_checked`` lets libdeflate check the CRC-32 of a gzip member
#: wrapped around the entry's raw stream, rather than decode and then compute
#: the CRC-32. Off: on the stdlib corpus the wrap (a copy of the compressed
#: bytes, libdeflate's gzip path) cost 1.4-1.6 µs a read more than the 0.3-0.5
#: µs CRC-32 it saves (docs/performance.md, Batch reads); benchmarks/batch.py
#: measures both.
gzip_wrapping = False


def _deflate_decode_checked(data: memoryview, size: int, expected: int) -> bytes | bytearray:
    # Wrapped as a gzip member whose trailer holds the central directory's
    # CRC-32 and size, the stream is decoded and its CRC-32 and size checked by
    # libdeflate in C, with the GIL released; the wrap costs a copy of the
    # compressed bytes. Any failure (bad data, or a CRC-32 that differs) is
    # decoded again by the path without the wrap, which names the problem.
    if (
        gzip_wrapping
        and _libdeflate is not None
        and 0 < size <= min(data.nbytes * _DEFLATE_MAX_RATIO, _GZIP_MAX_SIZE)
    ):
        member = b"".join((_GZIP_HEADER, data, _GZIP_TRAILER.pack(expected, size)))
        try:
            out = _libdeflate.gzip_decompress(member, size)
        except (_libdeflate.DeflateError, ValueError):
            pass
        else:
            if len(out) == size:
                return out  # type: ignore[no-any-return]  # a bytearray
    return _deflate_checked_after(data, size, expected)


def _deflate_read_checked(data: memoryview, size: int, expected: int) -> bytes:
    # ZipReader.read of an entry read before calls this straight, so it does
    # the work of _deflate_read_all and the CRC-32 check in this one frame:
    # each Python call it saves is ~0.1 µs of a read's overhead.
    if gzip_wrapping:
        checked = _deflate_decode_checked(data, size, expected)
        return checked if type(checked) is bytes else bytes(checked)
    libdeflate = _libdeflate
    decoded = None
    if libdeflate is not None and 0 < size <= data.nbytes * _DEFLATE_MAX_RATIO:
        # As in _deflate_read_all: libdeflate sizes its output from ``size``.
        try:
            decoded = libdeflate.deflate_decompress(data, size)
        except libdeflate.DeflateError:
            decoded = None
    if decoded is not None and len(decoded) == size:
        # libdeflate returns a bytearray; read() promises immutable bytes.
        out = bytes(decoded)
    else:  # no libdeflate, or decode again for a precise message (or a truncated stream)
        out = _zlib_inflate(_isal_zlib or zlib, data, size)
    actual = crc32(out)
    if actual != expected:
        raise ChecksumMismatchError(actual)
    return out


_deflate_checked_after = _checked_after(_deflate_read_all)


def _deflate_open(raw: Readable) -> Readable:
    module = _isal_zlib or zlib
    return _PushStream(raw, lambda: _ZlibDecoder(module))


# -- deflate64 (9) -----------------------------------------------------------


def _deflate64_open(raw: Readable) -> Readable:
    global _inflate64  # noqa: PLW0603 - imported once, on first use
    if _inflate64 is None:
        _inflate64 = _optional("inflate64")
    if _inflate64 is None:
        msg = (
            "compression method 9 (deflate64) needs the optional 'inflate64' package: "
            "pip install 'randread[deflate64]'"
        )
        raise UnsupportedFeatureError(msg, method=rec.METHOD_DEFLATE64)
    return _PushStream(raw, _Inflate64Decoder)


# -- bzip2 (12) --------------------------------------------------------------


def _bzip2_open(raw: Readable) -> Readable:
    return _PushStream(raw, bz2.BZ2Decompressor, multistream=True)


# -- lzma (14) ---------------------------------------------------------------

_LZMA_HEADER = struct.Struct("<BBHBI")  # version, properties size, then the 5-byte properties
_LZMA_PROPERTIES_SIZE = 5


class _LzmaStream:
    """Zip's LZMA (APPNOTE 5.8.8): a 4-byte header, the LZMA1 properties, raw data."""

    __slots__ = ("_inner", "_raw")

    def __init__(self, raw: Readable) -> None:
        self._raw = raw
        self._inner: _PushStream | None = None

    def read(self, size: int, /) -> bytes:
        if self._inner is None:
            self._inner = self._start()
        return self._inner.read(size)

    def _start(self) -> _PushStream:
        header = self._raw.read(_LZMA_HEADER.size)
        if len(header) < _LZMA_HEADER.size:
            msg = f"LZMA header is {len(header)} bytes, expected {_LZMA_HEADER.size}"
            raise DecodeError(msg)
        _major, _minor, properties_size, packed, dictionary_size = _LZMA_HEADER.unpack(header)
        if properties_size != _LZMA_PROPERTIES_SIZE:
            msg = f"LZMA properties size is {properties_size}, expected {_LZMA_PROPERTIES_SIZE}"
            raise DecodeError(msg)
        if packed >= 9 * 5 * 5:
            msg = f"invalid LZMA properties byte 0x{packed:02x}"
            raise DecodeError(msg)
        lc = packed % 9
        lp = (packed // 9) % 5
        pb = packed // 45
        filters = [
            {
                "id": lzma.FILTER_LZMA1,
                "dict_size": dictionary_size,
                "lc": lc,
                "lp": lp,
                "pb": pb,
            }
        ]

        def factory() -> _PushDecoder:
            try:
                return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters)
            except lzma.LZMAError as exc:
                raise DecodeError(f"invalid LZMA properties: {exc}") from None
            except MemoryError:
                # liblzma allocates the dictionary the header asks for (up to 4 GiB).
                msg = f"LZMA dictionary size {dictionary_size} cannot be allocated"
                raise DecodeError(msg) from None

        return _PushStream(self._raw, factory)


# -- zstandard (93, and the deprecated 20) ------------------------------------

_zstd = Decompressors()


class _ZstdStream:
    """A bounded zstd stream reader across concatenated frames."""

    __slots__ = ("_reader",)

    def __init__(self, raw: Readable) -> None:
        self._reader = _zstd.new().stream_reader(
            raw,  # type: ignore[arg-type]  # any object with read() works
            read_size=_CHUNK,
            read_across_frames=True,
            closefd=False,
        )

    def read(self, size: int, /) -> bytes:
        try:
            out: bytes = self._reader.read(size)
        except zstandard.ZstdError as exc:
            raise DecodeError(f"invalid zstd data: {exc}") from None
        return out


_zstd_read_all_by_stream = _read_all_by_stream(_ZstdStream)


def _zstd_read_all(data: Buffer, size: int) -> bytes:
    try:
        parameters = zstandard.get_frame_parameters(data)  # type: ignore[arg-type]
    except zstandard.ZstdError:
        # No whole frame header (no data at all, say): the stream decides, so
        # that read() and open() agree.
        return _zstd_read_all_by_stream(data, size)
    # Only a single frame that declares exactly the expected size (and a size
    # the data can hold: the call allocates it first) is decoded in one call;
    # anything else goes through the bounded stream.
    if parameters.content_size == size and size <= memoryview(data).nbytes * _ZSTD_MAX_RATIO:
        try:
            out: bytes = _zstd.for_thread().decompress(data)  # type: ignore[arg-type]
        except zstandard.ZstdError:
            pass
        else:
            if len(out) == size:
                return out
    return _zstd_read_all_by_stream(data, size)


# -- the registry --------------------------------------------------------------


def _method(
    method_id: int,
    name: str,
    open_stream: Callable[[Readable], Readable],
    read_all: Callable[[Buffer, int], bytes] | None = None,
    *,
    read_checked: Callable[[memoryview, int, int], bytes] | None = None,
    decode_checked: Callable[[memoryview, int, int], bytes | bytearray] | None = None,
) -> Method:
    read_all = read_all or _read_all_by_stream(open_stream)
    read_checked = read_checked or _checked_after(read_all)
    return Method(
        method_id, name, read_all, open_stream, read_checked, decode_checked or read_checked
    )


_METHODS: dict[int, Method] = {
    method.method_id: method
    for method in (
        _method(
            rec.METHOD_STORED,
            "stored",
            _stored_open,
            _stored_read_all,
            read_checked=_stored_read_checked,
        ),
        _method(
            rec.METHOD_DEFLATED,
            "deflate",
            _deflate_open,
            _deflate_read_all,
            read_checked=_deflate_read_checked,
            decode_checked=_deflate_decode_checked,
        ),
        _method(rec.METHOD_DEFLATE64, "deflate64", _deflate64_open),
        _method(rec.METHOD_BZIP2, "bzip2", _bzip2_open),
        _method(rec.METHOD_LZMA, "lzma", _LzmaStream),
        _method(rec.METHOD_ZSTANDARD, "zstandard", _ZstdStream, _zstd_read_all),
        _method(rec.METHOD_ZSTANDARD_DEPRECATED, "zstandard", _ZstdStream, _zstd_read_all),
    )
}


def method_name(method_id: int) -> str:
    """Return a readable name for a compression method id."""
    method = _METHODS.get(method_id)
    if method is not None:
        return method.name
    return rec.UNDECODED_METHOD_NAMES.get(method_id, "unknown")


def get_method(method_id: int) -> Method:
    """Return the :class:`Method` for ``method_id`` or raise UnsupportedFeatureError."""
    method = _METHODS.get(method_id)
    if method is None:
        msg = f"compression method {method_id} ({method_name(method_id)}) is not supported"
        raise UnsupportedFeatureError(msg, method=method_id)
    return method
