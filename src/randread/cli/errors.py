"""How the commands fail: one line on stderr and exit status 1.

Errors about an archive end in ``randread: error: <archive>: <problem>``;
click reports usage errors itself, with exit status 2. ``--debug`` lets the
original exception through, traceback included.
"""

from __future__ import annotations

import contextlib
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from randread.bundle.format import HEADER_MAGIC
from randread.cli.options import debugging, storage_options
from randread.errors import RandreadError
from randread.readat import is_url

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "ARCHIVE_ERRORS",
    "ENTRY_ERRORS",
    "Failure",
    "Refusal",
    "message",
    "reporting",
    "starts_with",
]

#: what the errors of reading an archive are; anything else is a bug in randread
ARCHIVE_ERRORS = (
    RandreadError,
    zipfile.BadZipFile,
    OSError,
    KeyError,
    ValueError,
    EOFError,
    NotImplementedError,
    RuntimeError,
)
#: the errors ``verify`` records against one entry and then carries on; a
#: KeyError is a name a damaged bundle index no longer finds
ENTRY_ERRORS = (
    RandreadError,
    zipfile.BadZipFile,
    ValueError,
    EOFError,
    NotImplementedError,
    KeyError,
)
#: how a zip file starts: a local file header (APPNOTE 4.3.7)
_LOCAL_HEADER_SIGNATURE = b"PK\x03\x04"


class Failure(click.ClickException):
    """A command failed: one line on stderr, exit status 1."""

    exit_code = 1

    def show(self, file: Any | None = None) -> None:  # noqa: ANN401 - click's own signature
        """Print ``randread: error: <message>`` on stderr (or ``file``)."""
        click.echo(f"randread: error: {self.message}", file=file, err=file is None)


class Refusal(Exception):  # noqa: N818 - an outcome, not an "...Error" in the library's sense
    """A command declines to do something unsafe; the message says what and why."""


def message(exc: BaseException) -> str:
    """Return the message of ``exc``: a KeyError's without quotes, else its type's name."""
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        return exc.args[0]  # str() of a KeyError is the repr of its message
    return str(exc) or type(exc).__name__


def starts_with(path: str, magic: bytes) -> bool:
    """Whether the local file ``path`` starts with ``magic`` (False when it cannot be read)."""
    try:
        with Path(path).open("rb") as file:
            return file.read(len(magic)) == magic
    except OSError:
        return False


def _hint(exc: BaseException, path: str) -> str:
    """Return a clue to add to a zip error: what the file's first bytes say it is."""
    if "no end of central directory record" not in str(exc) or is_url(path):
        return ""
    if starts_with(path, HEADER_MAGIC):
        return "; this is a randread bundle, not a zip"
    if starts_with(path, _LOCAL_HEADER_SIGNATURE):
        return "; the file starts as a zip does: truncated, or still being written?"
    return ""


def _describe(exc: BaseException, path: str) -> str:
    """Say what went wrong in one line, without the exception's type where it is noise."""
    if isinstance(exc, OSError) and exc.strerror:
        filename = os.fsdecode(exc.filename) if exc.filename is not None else path
        return exc.strerror if filename == path else f"{filename}: {exc.strerror}"
    if isinstance(exc, (Refusal, *ARCHIVE_ERRORS)):
        # Some messages name the file already; the prefix names it once.
        return message(exc).removeprefix(f"{path}: ") + _hint(exc, path)
    return (
        f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback, "
        "and please report it)"
    )


@contextlib.contextmanager
def reporting(path: str) -> Iterator[None]:
    """Turn any error inside the block into ``randread: error: <path>: ...``, exit status 1.

    click's own exceptions (usage errors, exits) pass through, and so does a
    closed output pipe (``randread cat big.zip x | head``), which click ends
    quietly; with ``--debug`` everything does.
    """
    try:
        yield
    except (click.ClickException, click.exceptions.Exit, click.Abort, BrokenPipeError):
        raise
    except Exception as exc:
        if debugging():
            raise
        if isinstance(exc, TypeError) and storage_options() and "keyword argument" in str(exc):
            # fsspec filesystems take their options as keyword arguments.
            msg = f"the filesystem of {path} does not take it: {exc}"
            raise click.BadParameter(msg, param_hint="'--storage-option'") from None
        raise Failure(f"{path}: {_describe(exc, path)}") from None
