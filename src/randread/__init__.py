"""randread: fast, thread-safe random access into archives.

The public API is what this module exports in ``__all__``; every other module
is internal and may change.
"""

from __future__ import annotations

from randread._locks import LockStats, lock_stats, set_lock_timeout
from randread.archive import open_archive
from randread.bundle import BundleEntryInfo, BundleReader, BundleWriter, train_dictionary
from randread.cache import CachedReader, CacheStats
from randread.conversion import ConvertResult, convert
from randread.errors import (
    BundleFormatError,
    ChecksumError,
    ClosedError,
    EncryptionError,
    FormatError,
    LockTimeoutError,
    MissingDependencyError,
    NotASourceBundleError,
    OutOfBoundsError,
    RandreadError,
    ReadOnlyError,
    RemoteConnectionError,
    RemoteError,
    RemoteTimeoutError,
    SourceAccessError,
    SourceBundleError,
    SourceChangedError,
    SourceNotFoundError,
    UnsupportedFeatureError,
    ZipChecksumError,
    ZipFormatError,
    ZipNameDecodeError,
    ZipTruncatedError,
)
from randread.path import Path
from randread.protocol import ArchiveReader, EntryInfo
from randread.readat import (
    BytesReadAt,
    FileReadAt,
    MmapReadAt,
    ReadAt,
    RemoteReadAt,
    SectionReadAt,
    open_readat,
    readat_stream,
)
from randread.sentry import SourceBundle, SourceFile
from randread.zip.methods import fast_deflate_backend
from randread.zip.reader import ZipEntryInfo, ZipExtFile, ZipReader

__version__ = "0.1.0"

__all__ = [
    "ArchiveReader",
    "BundleEntryInfo",
    "BundleFormatError",
    "BundleReader",
    "BundleWriter",
    "BytesReadAt",
    "CacheStats",
    "CachedReader",
    "ChecksumError",
    "ClosedError",
    "ConvertResult",
    "EncryptionError",
    "EntryInfo",
    "FileReadAt",
    "FormatError",
    "LockStats",
    "LockTimeoutError",
    "MissingDependencyError",
    "MmapReadAt",
    "NotASourceBundleError",
    "OutOfBoundsError",
    "Path",
    "RandreadError",
    "ReadAt",
    "ReadOnlyError",
    "RemoteConnectionError",
    "RemoteError",
    "RemoteReadAt",
    "RemoteTimeoutError",
    "SectionReadAt",
    "SourceAccessError",
    "SourceBundle",
    "SourceBundleError",
    "SourceChangedError",
    "SourceFile",
    "SourceNotFoundError",
    "UnsupportedFeatureError",
    "ZipChecksumError",
    "ZipEntryInfo",
    "ZipExtFile",
    "ZipFormatError",
    "ZipNameDecodeError",
    "ZipReader",
    "ZipTruncatedError",
    "__version__",
    "convert",
    "fast_deflate_backend",
    "lock_stats",
    "open_archive",
    "open_readat",
    "readat_stream",
    "set_lock_timeout",
    "train_dictionary",
]
