"""How both readers word the errors of one entry.

A decoder fails without context (h11's rule: the caller adds it); the
reader wraps the failure here with the entry's name and where it lies, so
that a zip and a bundle say the same thing the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from randread.errors import ChecksumError, ClosedError, FormatError

__all__ = ["EntryErrors", "closed_error"]


@dataclass(frozen=True, slots=True)
class EntryErrors:
    """The errors of one entry, in one format's classes.

    ``detail`` says what and where the entry's data is ("deflate, data at
    0x1f" for zip, "#3, data at 0x40" for a bundle); ``crc_where`` where a
    checksum error points to (zipfile names the local header).
    """

    name: str
    detail: str
    crc_where: str
    expected_crc: int
    format_error: type[FormatError]
    checksum_error: type[ChecksumError]
    #: the class of "the data ends early" (ZipTruncatedError for zip)
    truncated_error: type[FormatError]

    def problem(self, problem: object) -> FormatError:
        """Return "the data is bad": ``entry 'a' (deflate, data at 0x1f): <problem>``."""
        return self.format_error(f"entry {self.name!r} ({self.detail}): {problem}")

    def truncated(self, problem: object) -> FormatError:
        """Return "the data ends before the entry does"."""
        return self.truncated_error(f"entry {self.name!r} ({self.detail}): {problem}")

    def checksum(self, actual: int) -> ChecksumError:
        """Return "the content's CRC-32 is not the recorded one" (zipfile's wording)."""
        expected = self.expected_crc
        return self.checksum_error(
            f"Bad CRC-32 for file {self.name!r}: expected 0x{expected:08x}, "
            f"got 0x{actual:08x} ({self.crc_where})",
            name=self.name,
            expected=expected,
            actual=actual,
        )


def closed_error(kind: str) -> ClosedError:
    """Return the error of a read after ``close()``."""
    return ClosedError(f"Attempt to use {kind} that was already closed")
