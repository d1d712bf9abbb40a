"""CRC-32 (the zip, gzip and zlib checksum) from the fastest library installed."""

from __future__ import annotations

import importlib
import zlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["crc32"]


def _crc32_function() -> Callable[..., int]:
    # libdeflate and isal compute the same CRC-32 as zlib, four to five times
    # faster (libdeflate by a little more).
    for module_name in ("deflate", "isal.isal_zlib"):
        try:
            module: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        function = getattr(module, "crc32", None)
        if callable(function):
            return function  # type: ignore[no-any-return]
    return zlib.crc32


#: ``crc32(data, value=0)``: the CRC-32 of ``data`` continued from ``value``.
crc32: Callable[..., int] = _crc32_function()
