"""Runs of zstd frames decoded in one call by the system's libzstd, through ctypes.

zstandard decodes one frame per call, and each call gives up the GIL and
takes it back. When a batch of small entries is split over threads, those
hand-offs cost more than the second core gives (docs/performance.md, Batch
reads). libzstd's one-shot decoder takes whole frames laid back to back
(RFC 8878 3.1: compressed data is one or more frames, appended) and writes
their contents back to back. So a thread decodes a whole run of entries,
straight into the caller's buffer, giving up the GIL once: ctypes releases
it around every call.

Only the stable part of libzstd's API is used, from version 1.4 on. The
library is the system's: ``libzstd.so.1``, ``libzstd.1.dylib`` or
``zstd.dll``, found where the platform's loader looks. The environment
variable ``RANDREAD_LIBZSTD`` names another file, or ``none`` to use none.
Without the library, :func:`frame_runs` returns ``None`` and readers decode
frame by frame with zstandard.

libzstd versions differ in which damage they detect: a system libzstd older
than zstandard's own may decode a damaged frame that zstandard refuses. The
entry's CRC-32 decides then, so a batch may return an entry's true content
where ``read()`` raises, and never other content (with ``verify=False`` there
is no CRC-32 to decide).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import threading
from typing import TYPE_CHECKING

from randread.bundle.codecs import CodecError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["ENVIRONMENT_VARIABLE", "FrameRuns", "frame_runs"]

#: names the library goes by, tried in turn before ``ctypes.util.find_library``
_LIBRARY_NAMES = ("libzstd.so.1", "libzstd.1.dylib", "libzstd.dylib", "zstd.dll", "libzstd.dll")
#: the oldest libzstd used: 1.4.0 (2019), as ZSTD_versionNumber() gives it
_MIN_VERSION = 1_04_00
#: names another library file, or ``none``
ENVIRONMENT_VARIABLE = "RANDREAD_LIBZSTD"

_size_t = ctypes.c_size_t
_pointer = ctypes.c_void_p


class _Library:
    """The few libzstd functions used, typed for ctypes."""

    def __init__(self, path: str) -> None:
        library = ctypes.CDLL(path)
        self.path = path
        self.version = int(library.ZSTD_versionNumber())
        functions = {
            "ZSTD_createDCtx": (_pointer, []),
            "ZSTD_freeDCtx": (_size_t, [_pointer]),
            "ZSTD_createDDict": (_pointer, [ctypes.c_char_p, _size_t]),
            "ZSTD_freeDDict": (_size_t, [_pointer]),
            "ZSTD_decompressDCtx": (
                _size_t,
                [_pointer, _pointer, _size_t, ctypes.c_char_p, _size_t],
            ),
            "ZSTD_decompress_usingDDict": (
                _size_t,
                [_pointer, _pointer, _size_t, ctypes.c_char_p, _size_t, _pointer],
            ),
            "ZSTD_isError": (ctypes.c_uint, [_size_t]),
            "ZSTD_getErrorName": (ctypes.c_char_p, [_size_t]),
        }
        for name, (result, arguments) in functions.items():
            function = getattr(library, name)  # AttributeError: not a usable libzstd
            function.restype = result
            function.argtypes = arguments
        self.create_context = library.ZSTD_createDCtx
        self.free_context = library.ZSTD_freeDCtx
        self.create_dictionary = library.ZSTD_createDDict
        self.free_dictionary = library.ZSTD_freeDDict
        self.decompress = library.ZSTD_decompressDCtx
        self.decompress_with_dictionary = library.ZSTD_decompress_usingDDict
        self.is_error = library.ZSTD_isError
        self.error_name = library.ZSTD_getErrorName


def _candidates() -> Iterator[str]:
    chosen = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if chosen:
        if chosen.lower() != "none":
            yield chosen
        return
    yield from _LIBRARY_NAMES
    found = ctypes.util.find_library("zstd")
    if found:
        yield found


@functools.lru_cache(maxsize=1)
def _library() -> _Library | None:
    for name in _candidates():
        try:
            library = _Library(name)
        except (OSError, AttributeError):
            continue
        if library.version >= _MIN_VERSION:
            return library
    return None


class _Context:
    """One thread's ZSTD_DCtx (a context serves one call at a time), freed with it."""

    __slots__ = ("_free", "pointer")

    def __init__(self, library: _Library) -> None:
        pointer = library.create_context()
        if not pointer:
            raise MemoryError("libzstd could not allocate a decompression context")
        self.pointer: int = pointer
        self._free = library.free_context

    def __del__(self) -> None:
        self._free(self.pointer)


class FrameRuns:
    """Decodes runs of whole zstd frames, with one dictionary or none; shared by threads."""

    def __init__(self, library: _Library, dictionary: bytes | None) -> None:
        self.library = library
        self._local = threading.local()
        self._dictionary: int | None = None
        if dictionary is not None:
            # ZSTD_createDDict copies the dictionary (raw content or a
            # formatted dictionary, told apart by its magic number, as
            # zstandard does).
            pointer = library.create_dictionary(dictionary, len(dictionary))
            if not pointer:
                raise CodecError("libzstd refused the bundle's zstd dictionary")
            self._dictionary = pointer

    def __del__(self) -> None:
        if self._dictionary is not None:
            self.library.free_dictionary(self._dictionary)

    def decode_into(self, frames: bytes, target: memoryview) -> None:
        """Decode ``frames``, whole frames back to back, into ``target``, which they must fill.

        ``target`` is a writable, contiguous byte view. Raises
        :class:`CodecError` when libzstd reports an error (a damaged frame,
        output that would overrun ``target``) or the output falls short.
        """
        library = self.library
        context: _Context | None = getattr(self._local, "context", None)
        if context is None:
            context = self._local.context = _Context(library)
        size = target.nbytes
        destination = (ctypes.c_char * size).from_buffer(target)
        if self._dictionary is None:
            result = library.decompress(context.pointer, destination, size, frames, len(frames))
        else:
            result = library.decompress_with_dictionary(
                context.pointer, destination, size, frames, len(frames), self._dictionary
            )
        del destination  # releases the export of ``target``
        if library.is_error(result):
            reason = library.error_name(result).decode("ascii", "replace")
            msg = f"zstd: {reason}"
            raise CodecError(msg)
        if result != size:
            msg = f"zstd frames decode to {result} bytes, their entries declare {size}"
            raise CodecError(msg)


def frame_runs(dictionary: bytes | None) -> FrameRuns | None:
    """Return a decoder of frame runs (made with ``dictionary``), or ``None`` without libzstd."""
    library = _library()
    if library is None:
        return None
    return FrameRuns(library, dictionary)
