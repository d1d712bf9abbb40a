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
    "ZipFormatError",
    "__version__",
    "open_readat",
    "readat_stream",
]
