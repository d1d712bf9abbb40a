"""The whole randread exception hierarchy, in one place.

Every error randread raises derives from :class:`RandreadError`, which is never
raised itself. Each concrete error also derives from the builtin or stdlib
exception that code written for :mod:`zipfile` or for files already catches, so
replacing ``zipfile.ZipFile`` with :class:`randread.ZipReader` keeps existing
``except`` clauses working:

==========================  =============================================
randread error              also a
==========================  =============================================
``OutOfBoundsError``        ``EOFError``
``ClosedError``             ``ValueError`` (like I/O on a closed file)
``FormatError``             ``ValueError``
``ZipFormatError``          ``zipfile.BadZipFile``
``ZipTruncatedError``       ``zipfile.BadZipFile`` and ``EOFError``
``ZipNameDecodeError``      ``zipfile.BadZipFile`` and ``UnicodeDecodeError``
``BundleFormatError``       ``ValueError`` (through ``FormatError``)
``SourceBundleError``       ``ValueError`` (through ``FormatError``)
``NotASourceBundleError``   ``ValueError`` (through ``SourceBundleError``)
``ChecksumError``           ``ValueError`` (through ``FormatError``)
``ZipChecksumError``        ``zipfile.BadZipFile`` (zipfile's "Bad CRC-32")
``UnsupportedFeatureError`` ``NotImplementedError``
``EncryptionError``         ``RuntimeError`` (zipfile's password errors)
``LockTimeoutError``        ``TimeoutError``
``MissingDependencyError``  ``ImportError`` (an optional extra is missing)
``ReadOnlyError``           ``PermissionError`` (a write to an archive)
``RemoteError``             ``OSError`` (a remote source failed)
``SourceNotFoundError``     ``FileNotFoundError``
``SourceAccessError``       ``PermissionError``
``SourceChangedError``      ``OSError`` (through ``RemoteError``)
``RemoteTimeoutError``      ``TimeoutError``
``RemoteConnectionError``   ``ConnectionError``
==========================  =============================================

Messages name the record, the field, the value and the hex offset, for example
``central directory entry 17 at 0x1a2f: compressed size 4294967295 runs past end
of file (size 0x9000)``.
"""

from __future__ import annotations

import zipfile

__all__ = [
    "BundleFormatError",
    "ChecksumError",
    "ClosedError",
    "EncryptionError",
    "FormatError",
    "LockTimeoutError",
    "MissingDependencyError",
    "NotASourceBundleError",
    "OutOfBoundsError",
    "RandreadError",
    "ReadOnlyError",
    "RemoteConnectionError",
    "RemoteError",
    "RemoteTimeoutError",
    "SourceAccessError",
    "SourceBundleError",
    "SourceChangedError",
    "SourceNotFoundError",
    "UnsupportedFeatureError",
    "ZipChecksumError",
    "ZipFormatError",
    "ZipNameDecodeError",
    "ZipTruncatedError",
]


class RandreadError(Exception):
    """Base class of every randread error; never raised directly."""

    def __init__(self, *args: object) -> None:
        if type(self) is RandreadError:
            msg = "RandreadError is a base class; raise one of its subclasses"
            raise TypeError(msg)
        super().__init__(*args)


class OutOfBoundsError(RandreadError, EOFError):
    """A positional read asked for bytes past the end of its source."""

    def __init__(self, offset: int, length: int, size: int, *, what: str = "read") -> None:
        self.offset = offset
        self.length = length
        self.size = size
        super().__init__(
            f"{what} of {length} bytes at offset {offset} (0x{offset:x}) runs past the end "
            f"(size {size}, 0x{size:x})"
        )


class ClosedError(RandreadError, ValueError):
    """An operation on a reader or source that has been closed."""


class FormatError(RandreadError, ValueError):
    """Malformed archive data; base of the per-format errors."""


class ZipFormatError(FormatError, zipfile.BadZipFile):
    """A zip archive is malformed (also a :class:`zipfile.BadZipFile`)."""


class ZipTruncatedError(ZipFormatError, EOFError):
    """A zip entry's data ends early: the source is shorter than the archive says.

    For example a file truncated while an entry is read. zipfile raises
    ``EOFError`` there, so this is one too.
    """


class ZipNameDecodeError(ZipFormatError, UnicodeDecodeError):
    """An entry name that ``metadata_encoding`` cannot decode.

    zipfile lets the ``UnicodeDecodeError`` through, so this is one too (with
    its ``encoding``, ``object``, ``start``, ``end`` and ``reason``), and its
    message names the entry and the offset.
    """

    def __init__(self, message: str, error: UnicodeDecodeError) -> None:
        super().__init__(error.encoding, error.object, error.start, error.end, error.reason)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BundleFormatError(FormatError):
    """A bundle archive is malformed."""


class SourceBundleError(FormatError):
    """A Sentry source bundle or artifact bundle is malformed.

    An unknown ``SYSB`` header version, a missing or malformed
    ``manifest.json``, a manifest field of the wrong type, or a read of a
    file the manifest lists but the archive does not hold.
    """


class NotASourceBundleError(SourceBundleError):
    """Nothing marks the archive as a Sentry bundle.

    A zip with no ``SYSB`` header whose ``manifest.json`` is missing, is not
    JSON, or has no ``files`` object; or a randread bundle that was not
    converted from a Sentry bundle.
    """


class ChecksumError(FormatError):
    """Content read back does not match its stored checksum."""

    def __init__(
        self, message: str, *, name: str | None = None, expected: int = 0, actual: int = 0
    ) -> None:
        self.name = name
        self.expected = expected
        self.actual = actual
        super().__init__(message)


class ZipChecksumError(ChecksumError, ZipFormatError):
    """A zip entry's CRC-32 does not match (zipfile raises BadZipFile here too)."""


class UnsupportedFeatureError(RandreadError, NotImplementedError):
    """Valid input that uses a feature randread does not implement.

    ``method`` holds the compression method id when the feature is a method.
    """

    def __init__(self, message: str, *, method: int | None = None) -> None:
        self.method = method
        super().__init__(message)


class EncryptionError(RandreadError, RuntimeError):
    """An encrypted entry was read with no password or a wrong one."""


class LockTimeoutError(RandreadError, TimeoutError):
    """A lock, or a wait for another thread's result, did not finish within its timeout.

    ``lock`` names the lock (or what was waited for), ``holder`` describes the
    thread that held it and ``held_for`` says for how many seconds, where known.
    """

    def __init__(
        self,
        message: str,
        *,
        lock: str | None = None,
        holder: str | None = None,
        held_for: float | None = None,
    ) -> None:
        self.lock = lock
        self.holder = holder
        self.held_for = held_for
        super().__init__(message)


class MissingDependencyError(RandreadError, ImportError):
    """A feature needs an optional extra that is not installed; the message names it."""


class ReadOnlyError(RandreadError, PermissionError):
    """A write to an archive opened for reading (the fsspec filesystem is read-only)."""


class RemoteError(RandreadError, OSError):
    """A read from a remote source (object storage, HTTP) failed.

    ``url`` is the source's URL with any credentials removed; ``offset`` and
    ``length`` give the byte range asked for (None for the requests made at
    open); ``status`` is the HTTP status of the last answer, where there was
    one. Messages never contain credentials.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str = "",
        offset: int | None = None,
        length: int | None = None,
        status: int | None = None,
    ) -> None:
        self.url = url
        self.offset = offset
        self.length = length
        self.status = status
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[type[RemoteError], tuple[str], dict[str, object]]:
        # Errors cross process boundaries (Dask, multiprocessing) by pickling.
        return (type(self), (str(self),), dict(self.__dict__))


class SourceNotFoundError(RemoteError, FileNotFoundError):
    """The remote object (or its bucket) does not exist."""


class SourceAccessError(RemoteError, PermissionError):
    """The remote object exists but may not be read with the credentials given."""


class SourceChangedError(RemoteError):
    """The remote object was replaced after the reader pinned its version at open.

    Raised instead of returning bytes that could mix two versions of the object.
    """


class RemoteTimeoutError(RemoteError, TimeoutError):
    """A remote request did not finish within its timeout (after any retries)."""


class RemoteConnectionError(RemoteError, ConnectionError):
    """The remote endpoint could not be reached, or dropped the connection (after retries)."""
