"""randread: fast, thread-safe random access into archives.

The public API is what this module exports in ``__all__``; every other module
is internal and may change.
"""

from __future__ import annotations

from randread.errors import (
    BundleFormatError,
    ChecksumError,
    ClosedError,
    EncryptionError,
    FormatError,
    LockTimeoutError,
    OutOfBoundsError,
    RandreadError,
    UnsupportedFeatureError,
    ZipChecksumError,
    ZipFormatError,
)
from randread.readat import (
    BytesReadAt,
    FileReadAt,
    MmapReadAt,
    ReadAt,
    SectionReadAt,
    open_readat,
    readat_stream,
)
from randread.zip.methods import fast_deflate_backend
from randread.zip.reader import ZipEntryInfo, ZipReader

__version__ = "0.1.0"

__all__ = [
    "BundleFormatError",
    "BytesReadAt",
    "ChecksumError",
    "ClosedError",
    "EncryptionError",
    "FileReadAt",
    "FormatError",
    "LockTimeoutError",
    "MmapReadAt",
    "OutOfBoundsError",
    "RandreadError",
    "ReadAt",
    "SectionReadAt",
    "UnsupportedFeatureError",
    "ZipChecksumError",
    "ZipEntryInfo",
    "ZipFormatError",
    "ZipReader",
    "__version__",
    "fast_deflate_backend",
    "open_readat",
    "readat_stream",
]
