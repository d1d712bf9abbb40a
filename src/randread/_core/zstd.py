"""zstd decompressors for both formats: the window limit, and one decompressor per thread.

A ``zstandard.ZstdDecompressor`` must not be used by two threads at once, and
making one per call costs more than most small entries take to decode.
"""

from __future__ import annotations

import threading

import zstandard

__all__ = ["MAX_WINDOW_SIZE", "Decompressors"]

#: zstd frames may ask for a window up to this size (the zstd library's
#: default limit; formats/bundle.md makes it the bundle format's too)
MAX_WINDOW_SIZE = 1 << 27


class Decompressors:
    """Decompressors for one dictionary (or none): each thread's own, or a new one."""

    __slots__ = ("_dictionary", "_local")

    def __init__(self, dictionary: zstandard.ZstdCompressionDict | None = None) -> None:
        self._dictionary = dictionary
        self._local = threading.local()

    def new(self) -> zstandard.ZstdDecompressor:
        """Return a decompressor of its own (for a stream that outlives one call)."""
        return zstandard.ZstdDecompressor(
            dict_data=self._dictionary, max_window_size=MAX_WINDOW_SIZE
        )

    def for_thread(self) -> zstandard.ZstdDecompressor:
        """Return this thread's decompressor (made on its first use)."""
        decompressor: zstandard.ZstdDecompressor | None = getattr(self._local, "value", None)
        if decompressor is None:
            decompressor = self._local.value = self.new()
        return decompressor
