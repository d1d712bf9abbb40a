"""The ``randread`` command line: list, read, check, extract, convert and benchmark archives.

click parses the command line; rich styles the output on a terminal and draws
progress bars there, and stays out of the way when the output is piped.

Every command opens its archive through :func:`_open_archive`, so zip files
and bundles go through the same code. Errors about an archive end in one line
on stderr, ``randread: error: <archive>: <problem>``, and exit status 1; click
reports usage errors with exit status 2. ``randread --debug`` lets the original
exception through, traceback included.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import json
import os
import shutil
import sys
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol, cast

import click
from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

import randread
from randread import __version__
from randread.bundle.format import HEADER_MAGIC
from randread.errors import NotASourceBundleError, RandreadError
from randread.readat import is_url
from randread.sentry import SourceBundle, SourceFile
from randread.zip.methods import method_name

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from types import TracebackType

    from typing_extensions import Self

__all__ = ["main"]

#: chunk size for streaming entry content (``cat``, ``verify``)
_CHUNK = 1 << 20
#: ``verify`` shows a progress bar on a terminal from this much content on
_VERIFY_PROGRESS_MIN_BYTES = 64 << 20
#: ``verify`` lists at most this many problems unless told otherwise
_DEFAULT_MAX_PROBLEMS = 10
#: lines written per ``write`` call when listing
_LINES_PER_WRITE = 4096
#: the largest alignment the bundle format allows (formats/bundle.md, File header)
_MAX_ALIGNMENT = 4096
#: what the errors of reading an archive are; anything else is a bug in randread
_ARCHIVE_ERRORS = (
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
_ENTRY_ERRORS = (
    RandreadError,
    zipfile.BadZipFile,
    ValueError,
    EOFError,
    NotImplementedError,
    KeyError,
)
#: width of the ``bench`` tables when the output is piped
_REPORT_WIDTH = 150
#: ``randread.convert``'s defaults, shown in ``convert --help``
_CONVERT_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(randread.convert).parameters.items()
}
#: ``--codec`` choices of ``convert``
_CODECS = ("auto", "zstd", "lz4", "none")
#: the levels each codec takes: zstd's fast (negative) levels to its highest,
#: LZ4 (0) and the LZ4-HC levels (lz4's LZ4HC_CLEVEL_MAX is 12)
_LEVELS = {"zstd": (-(1 << 17), 22), "lz4": (0, 12)}
#: how a zip file starts: a local file header (APPNOTE 4.3.7)
_LOCAL_HEADER_SIGNATURE = b"PK\x03\x04"


class _Archive(Protocol):
    """The part of the reader API the commands use; ZipReader and BundleReader have it."""

    def __len__(self) -> int: ...

    @property
    def source_size(self) -> int: ...

    def namelist(self) -> list[str]: ...

    def infolist(self) -> Sequence[Any]: ...

    def open(self, name: Any) -> IO[bytes]: ...  # noqa: ANN401 - a name or the reader's info

    def extractall(
        self, path: str | os.PathLike[str] | None = None, members: list[str] | None = None
    ) -> None: ...

    def close(self) -> None: ...


def _open_archive(path: str) -> _Archive:
    """Open a zip file or a bundle for reading (``randread.open_archive`` tells them apart).

    ``path`` may be a URL; the ``--storage-option`` values go to its filesystem.
    """
    context = click.get_current_context(silent=True)
    index_cache = context.find_root().meta.get(_INDEX_CACHE) if context is not None else None
    _check_source(path)
    return randread.open_archive(path, storage_options=_storage_options(), index_cache=index_cache)


_STORAGE_OPTIONS = "randread.storage_options"
_INDEX_CACHE = "randread.index_cache"
_DEBUG = "randread.debug"


def _check_source(path: str) -> None:
    """Refuse, before any work, what cannot work: options for a local file, a URL without fsspec.

    ``--storage-option`` with a local path is a usage error (exit status 2);
    a URL without the ``remote`` extra installed is an error naming the extra.
    """
    if not is_url(path):
        if _storage_options():
            msg = f"applies only to URL archives (s3://, https://, ...), not to the file {path}"
            raise click.BadParameter(msg, param_hint="'--storage-option'")
        return
    if importlib.util.find_spec("fsspec") is None:
        msg = f"{path}: reading URLs needs the remote extra: pip install 'randread[remote]'"
        raise _Failure(msg)


def _storage_options() -> dict[str, Any] | None:
    context = click.get_current_context(silent=True)
    options = context.find_root().meta.get(_STORAGE_OPTIONS) if context is not None else None
    return options or None


def _collect_storage_options(
    context: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> None:
    """Parse ``KEY=VALUE`` options (VALUE as JSON when it parses, a dotted KEY nests)."""
    options: dict[str, Any] = context.find_root().meta.setdefault(_STORAGE_OPTIONS, {})
    for item in values:
        key, separator, raw = item.partition("=")
        if not separator or not key:
            msg = f"{item!r} is not KEY=VALUE"
            raise click.BadParameter(msg, param_hint="'--storage-option'")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        target = options
        *parents, last = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                msg = f"{key!r}: {part!r} is already set to a value"
                raise click.BadParameter(msg, param_hint="'--storage-option'")
        target[last] = value


_storage_option = click.option(
    "--storage-option",
    multiple=True,
    metavar="KEY=VALUE",
    expose_value=False,
    callback=_collect_storage_options,
    help="An option for the filesystem of a URL archive (s3://, gs://, https://, ...), "
    "repeatable; VALUE is read as JSON when it parses, a dotted KEY nests "
    "(client_kwargs.region_name=eu-west-1). Credentials also come from the usual "
    "environment and config files.",
)


def _collect_index_cache(
    context: click.Context, _param: click.Parameter, value: str | None
) -> None:
    if value is not None:
        context.find_root().meta[_INDEX_CACHE] = value


_index_cache_option = click.option(
    "--index-cache",
    metavar="DIR",
    expose_value=False,
    callback=_collect_index_cache,
    type=click.Path(file_okay=False),
    help="Keep the parsed central directory of a zip file in DIR, so that the next "
    "open of the same (unchanged) archive skips parsing it; a stale or damaged "
    "index there is rebuilt. Bundles ignore it.",
)


# -- errors --------------------------------------------------------------------


class _Failure(click.ClickException):
    """A command failed: one line on stderr, exit status 1."""

    exit_code = 1

    def show(self, file: Any | None = None) -> None:  # noqa: ANN401 - click's own signature
        """Print ``randread: error: <message>`` on stderr (or ``file``)."""
        click.echo(f"randread: error: {self.message}", file=file, err=file is None)


class _Refusal(Exception):  # noqa: N818 - an outcome, not an "...Error" in the library's sense
    """A command declines to do something unsafe; the message says what and why."""


def _debugging() -> bool:
    context = click.get_current_context(silent=True)
    return context is not None and bool(context.find_root().meta.get(_DEBUG))


def _collect_debug(context: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        context.find_root().meta[_DEBUG] = True


#: ``--debug`` is taken before the command name and after it alike
_debug_option = click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    callback=_collect_debug,
    help="Show the full traceback of an error instead of one line.",
)


def _hint(exc: BaseException, path: str) -> str:
    """Return a clue to add to a zip error: what the file's first bytes say it is."""
    if "no end of central directory record" not in str(exc) or is_url(path):
        return ""
    if _starts_with(path, HEADER_MAGIC):
        return "; this is a randread bundle, not a zip"
    if _starts_with(path, _LOCAL_HEADER_SIGNATURE):
        return "; the file starts as a zip does: truncated, or still being written?"
    return ""


def _describe(exc: BaseException, path: str) -> str:
    """Say what went wrong in one line, without the exception's type where it is noise."""
    if isinstance(exc, OSError) and exc.strerror:
        filename = os.fsdecode(exc.filename) if exc.filename is not None else path
        return exc.strerror if filename == path else f"{filename}: {exc.strerror}"
    if isinstance(exc, (_Refusal, *_ARCHIVE_ERRORS)):
        # Some messages name the file already; the prefix names it once.
        return _message(exc).removeprefix(f"{path}: ") + _hint(exc, path)
    return (
        f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback, "
        "and please report it)"
    )


@contextlib.contextmanager
def _reporting(path: str) -> Iterator[None]:
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
        if _debugging():
            raise
        if isinstance(exc, TypeError) and _storage_options() and "keyword argument" in str(exc):
            # fsspec filesystems take their options as keyword arguments.
            msg = f"the filesystem of {path} does not take it: {exc}"
            raise click.BadParameter(msg, param_hint="'--storage-option'") from None
        raise _Failure(f"{path}: {_describe(exc, path)}") from None


@contextlib.contextmanager
def _archive(path: str) -> Iterator[_Archive]:
    """Open ``path`` for the block; errors are reported against ``path``."""
    with _reporting(path):
        reader = _open_archive(path)
        try:
            yield reader
        finally:
            reader.close()


# -- output helpers ------------------------------------------------------------


def _stdout(*, width: int | None = None) -> Console:
    """Return a console for results: styled on a terminal, plain when piped, never wrapped.

    ``width`` applies when the output is not a terminal (tables need room).
    """
    console = Console(highlight=False, markup=False, emoji=False, soft_wrap=True)
    if width is not None and not console.is_terminal:
        console.width = width
    return console


def _stderr() -> Console:
    """Return the console that progress bars draw on."""
    return Console(stderr=True, highlight=False, markup=False, emoji=False)


def _write_lines(lines: Iterable[str]) -> None:
    """Write lines to stdout as plain text, in large writes (listings can be long)."""
    out = sys.stdout
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= _LINES_PER_WRITE:
            out.write("\n".join(batch) + "\n")
            batch.clear()
    if batch:
        out.write("\n".join(batch) + "\n")
    out.flush()


def _print_fields(console: Console, fields: Sequence[tuple[str, str]]) -> None:
    """Print ``label  value`` lines with the labels aligned (bold on a terminal)."""
    width = max((len(label) for label, _ in fields), default=0)
    for label, value in fields:
        console.print(Text.assemble((label.ljust(width), "bold"), "  ", value))


def _size(count: int) -> str:
    """``12.3 MB (12,345,678 bytes)``; small sizes in bytes only."""
    if count < 1000:
        return f"{count} byte" if count == 1 else f"{count} bytes"
    return f"{decimal(count)} ({count:,} bytes)"


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _example(*commands: str) -> str:
    """Return a help epilog that shows ``commands`` as they are, not re-wrapped."""
    label = "Example" if len(commands) == 1 else "Examples"
    return "\b\n" + f"{label}:\n" + "\n".join(f"  {command}" for command in commands)


# -- entries, the same for zip files and bundles ---------------------------------


@dataclass(frozen=True)
class _Entry:
    """What the commands show of one entry, from a zip ZipInfo or a bundle's info."""

    name: str
    size: int
    compressed_size: int
    method: str
    date_time: tuple[int, int, int, int, int, int] | None
    #: where the entry is in the file, for messages: "local header at 0x1a2f"
    location: str | None
    #: what to pass to ``open()``: for zip the ZipInfo itself, so that each of
    #: two entries sharing a name is read; for a bundle (unique names) the name
    member: str | zipfile.ZipInfo

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    def modified(self, separator: str = " ") -> str | None:
        """Return the modification time as ``YYYY-MM-DD HH:MM:SS`` (no time zone, as zip)."""
        if self.date_time is None:
            return None
        year, month, day, hour, minute, second = self.date_time
        return f"{year:04d}-{month:02d}-{day:02d}{separator}{hour:02d}:{minute:02d}:{second:02d}"


def _entries(reader: _Archive) -> list[_Entry]:
    return [_entry(info) for info in reader.infolist()]


def _entry(info: Any) -> _Entry:  # noqa: ANN401 - a ZipInfo or a bundle's info object
    name = str(info.filename)
    codec = getattr(info, "codec", None)
    compress_type = getattr(info, "compress_type", None)
    if isinstance(codec, str):
        method = codec
    elif isinstance(compress_type, int):
        method = method_name(compress_type)
        if method == "unknown":
            method = f"method {compress_type}"
    else:
        method = "unknown"
    header_offset = getattr(info, "header_offset", None)
    data_offset = getattr(info, "data_offset", None)
    if isinstance(header_offset, int):
        location: str | None = f"local header at 0x{header_offset:x}"
    elif isinstance(data_offset, int):
        location = f"data at 0x{data_offset:x}"
    else:
        location = None
    # A bundle entry may have no time at all (its date_time is then a placeholder).
    date_time = None if getattr(info, "mtime", 0) is None else getattr(info, "date_time", None)
    year, month, day, hour, minute, second = date_time or (0, 0, 0, 0, 0, 0)
    return _Entry(
        name=name,
        size=int(getattr(info, "file_size", 0)),
        compressed_size=int(getattr(info, "compress_size", 0)),
        method=method,
        date_time=(year, month, day, hour, minute, second) if date_time else None,
        location=location,
        member=info if isinstance(info, zipfile.ZipInfo) else name,
    )


def _archive_format(reader: _Archive) -> str:
    if isinstance(reader, randread.ZipReader):
        return "zip"
    name = getattr(reader, "format", None)
    return name if isinstance(name, str) else "bundle"


def _comment(reader: _Archive) -> str:
    comment = getattr(reader, "comment", b"")
    if isinstance(comment, bytes):
        return comment.decode("utf-8", errors="replace")
    return str(comment or "")


def _sentry(reader: _Archive) -> SourceBundle | None:
    """Return the Sentry bundle view of ``reader``, or None when it is no Sentry bundle.

    A file marked as one (a ``SYSB`` header, a converted bundle) whose manifest
    is broken raises, so the command reports the problem.
    """
    if not isinstance(reader, (randread.ZipReader, randread.BundleReader)):
        return None
    try:
        return SourceBundle(reader)
    except NotASourceBundleError:
        return None


def _sentry_facts(bundle: SourceBundle) -> dict[str, object]:
    types = Counter(record.type or "-" for record in bundle.files)
    return {
        "sysb_version": bundle.sysb_version,
        "files": len(bundle.files),
        "types": dict(types.most_common()),
        "attributes": dict(bundle.attributes),
        "extra": dict(bundle.extra),
        "unlisted": len(bundle.unlisted),
        "missing": len(bundle.missing),
    }


def _sentry_fields(bundle: SourceBundle) -> list[tuple[str, str]]:
    types = Counter(record.type or "-" for record in bundle.files)
    header = f"SYSB version {bundle.sysb_version}" if bundle.sysb_version else "no SYSB header"
    files = ", ".join(f"{name} {count:,}" for name, count in types.most_common())
    fields = [("sentry", f"{len(bundle.files):,} files ({files or 'none'}), {header}")]
    fields += [(f"  {key}", value) for key, value in bundle.attributes.items()]
    fields += [
        (f"  {key}", json.dumps(value, ensure_ascii=False)) for key, value in bundle.extra.items()
    ]
    if bundle.unlisted:
        fields.append(("  unlisted", f"{len(bundle.unlisted):,} entries not in the manifest"))
    if bundle.missing:
        fields.append(("  missing", f"{len(bundle.missing):,} manifest files with no entry"))
    return fields


def _sentry_record(record: SourceFile) -> dict[str, object]:
    return {
        "type": record.type,
        "path": record.path,
        "url": record.url,
        "headers": dict(record.headers),
    }


# -- the commands --------------------------------------------------------------


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="\b\nExit status: 0 success, 1 a bad archive or a failed check,\n2 a usage error.",
)
@click.version_option(__version__, prog_name="randread")
@_debug_option
@_storage_option
def main() -> None:
    """Fast, thread-safe random access into archives (zip files and bundles).

    The options --debug and --storage-option may come before the command
    name or after it.
    """


@main.command("ls", epilog=_example("randread ls --long data.zip"))
@click.argument("archive")
@_storage_option
@_debug_option
@_index_cache_option
@click.option("-l", "--long", "long_format", is_flag=True, help="Also show sizes, method and time.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of entry objects.")
def list_command(archive: str, long_format: bool, as_json: bool) -> None:
    """List the entries of ARCHIVE, one name a line.

    For a Sentry source or artifact bundle, ``--long`` adds each file's type
    and url (or path), and ``--json`` its manifest record under ``sentry``.
    """
    with _archive(archive) as reader:
        entries = _entries(reader)
        sentry = _sentry(reader) if long_format or as_json else None
    if as_json:
        records: list[dict[str, object]] = [
            {
                "name": entry.name,
                "size": entry.size,
                "compressed_size": entry.compressed_size,
                "method": entry.method,
                "mtime": entry.modified("T"),
                "is_dir": entry.is_dir,
            }
            for entry in entries
        ]
        if sentry is not None:
            for record in records:
                listed = sentry.by_name(str(record["name"]))
                if listed is not None:
                    record["sentry"] = _sentry_record(listed)
        click.echo(json.dumps(records, indent=2))
    elif long_format:
        _print_long_listing(entries, sentry)
    else:
        _write_lines(entry.name for entry in entries)


def _print_long_listing(entries: Sequence[_Entry], sentry: SourceBundle | None = None) -> None:
    header = ("size", "compressed", "method", "modified", "name")
    rows = [
        (
            str(entry.size),
            str(entry.compressed_size),
            entry.method,
            entry.modified() or "-",
            entry.name,
        )
        for entry in entries
    ]
    if sentry is not None:
        # The name keeps the last column; the file's type and url go before it.
        described = []
        for entry in entries:
            record = sentry.by_name(entry.name)
            kind = (record.type or "-") if record is not None else "-"
            where = (record.url or record.path or "-") if record is not None else "-"
            described.append((kind, where))
        kind_width = max(len("type"), *(len(kind) for kind, _ in described))
        url_width = max(len("url/path"), *(len(where) for _, where in described))
        rows = [
            (*row[:4], f"{kind:<{kind_width}}  {where:<{url_width}}  {row[4]}")
            for row, (kind, where) in zip(rows, described, strict=True)
        ]
        header = (*header[:4], f"{'type':<{kind_width}}  {'url/path':<{url_width}}  name")
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(4)]

    def line(row: tuple[str, str, str, str, str]) -> str:
        size, compressed, method, modified, name = row
        return (
            f"{size:>{widths[0]}}  {compressed:>{widths[1]}}  {method:<{widths[2]}}  "
            f"{modified:<{widths[3]}}  {name}"
        )

    _stdout().print(Text(line(header), style="bold"))
    _write_lines(line(row) for row in rows)


@main.command(epilog=_example("randread cat data.zip docs/readme.txt > readme.txt"))
@click.argument("archive")
@_storage_option
@_debug_option
@_index_cache_option
@click.argument("name")
def cat(archive: str, name: str) -> None:
    """Write the content of entry NAME of ARCHIVE to stdout, byte for byte.

    The content is checked against its checksum as it streams; a mismatch is
    reported (exit status 1) after the bytes have been written. A directory
    entry (a name ending in /) has no content: asking for one is an error.
    """
    out = sys.stdout.buffer
    with _archive(archive) as reader:
        if name.endswith("/") and name in reader.namelist():
            raise _Refusal(f"{name!r} is a directory entry: it has no content to write")
        try:
            stream = reader.open(name)
        except KeyError:
            raise _Refusal(f"no entry named {name!r}") from None
        with stream:
            shutil.copyfileobj(stream, out, _CHUNK)
    out.flush()


@main.command(epilog=_example("randread info data.zip"))
@click.argument("archive")
@_storage_option
@_debug_option
@_index_cache_option
@click.option("--json", "as_json", is_flag=True, help="Print the facts as a JSON object.")
def info(archive: str, as_json: bool) -> None:
    """Summarize ARCHIVE: format, entries, methods, sizes and comment.

    A Sentry source or artifact bundle also shows its manifest's bundle-level
    fields (debug_id, org, release, ...) and its files by type.
    """
    with _archive(archive) as reader:
        entries = _entries(reader)
        sentry = _sentry(reader)
        archive_format = _archive_format(reader)
        comment = _comment(reader)
        dictionary_size: int | None = getattr(reader, "dictionary_size", None)
        alignment: int | None = getattr(reader, "alignment", None)
        file_size = reader.source_size
    methods = Counter(entry.method for entry in entries)
    size = sum(entry.size for entry in entries)
    compressed_size = sum(entry.compressed_size for entry in entries)
    if as_json:
        facts: dict[str, object] = {
            "archive": archive,
            "format": archive_format,
            "file_size": file_size,
            "entries": len(entries),
            "methods": dict(methods.most_common()),
            "size": size,
            "compressed_size": compressed_size,
            "ratio": compressed_size / size if size else None,
            "comment": comment,
        }
        if dictionary_size is not None:
            facts["dictionary_size"] = dictionary_size
        if alignment is not None:
            facts["alignment"] = alignment
        if sentry is not None:
            facts["sentry"] = _sentry_facts(sentry)
        click.echo(json.dumps(facts, indent=2))
        return
    fields = [
        ("archive", archive),
        ("format", archive_format),
        ("file size", _size(file_size)),
        ("entries", f"{len(entries):,}"),
        ("methods", ", ".join(f"{name} {count:,}" for name, count in methods.most_common())),
        ("size", _size(size)),
        ("compressed", f"{_size(compressed_size)}, {_percent(compressed_size, size)} of size"),
    ]
    if dictionary_size is not None:
        fields.append(("dictionary", _size(dictionary_size) if dictionary_size else "none"))
    if alignment is not None:
        fields.append(("alignment", f"{alignment} bytes"))
    if comment:
        fields.append(("comment", comment))
    if sentry is not None:
        fields += _sentry_fields(sentry)
    _print_fields(_stdout(), fields)


@main.command(epilog=_example("randread verify data.zip"))
@click.argument("archive")
@_storage_option
@_debug_option
@_index_cache_option
@click.option(
    "--max-problems",
    type=click.IntRange(min=1),
    default=_DEFAULT_MAX_PROBLEMS,
    show_default=True,
    help="List at most this many problems (all are counted).",
)
def verify(archive: str, max_problems: int) -> None:
    """Read every entry of ARCHIVE and check it against its checksum.

    Lists the first problems with the entry name and where it lies in the
    file, then a summary line. Exit status 1 when there is any problem,
    including entries that cannot be checked (encrypted, unsupported method).
    """
    out = _stdout()
    problems = 0

    def report(what: str, message: str) -> None:
        nonlocal problems
        problems += 1
        if problems <= max_problems:
            out.print(Text.assemble(("FAIL", "bold red"), f" {what}: {message}"))

    with _archive(archive) as reader:
        # A bundle's index gets the checks that cost time in proportion to the
        # entry count (checksum, sorted hashes, unique names, no overlaps) only
        # on demand.
        verify_index = getattr(reader, "verify_index", None)
        index_ok = True
        if verify_index is not None:
            try:
                verify_index()
            except _ENTRY_ERRORS as exc:
                report("index", _message(exc))
                index_ok = False
        if index_ok or not isinstance(reader, randread.BundleReader):
            entries = _entries(reader)
        else:
            # The reader refuses to list a damaged index; check what its
            # records say one by one all the same.
            entries = []
            for info in reader.check_records():
                if isinstance(info, randread.BundleFormatError):
                    report("index", _message(info))
                else:
                    entries.append(_entry(info))
        total = sum(entry.size for entry in entries)
        console = _stderr()
        show_progress = console.is_terminal and total >= _VERIFY_PROGRESS_MIN_BYTES
        with _ProgressBar(console, enabled=show_progress, unit="bytes") as progress:
            progress.start(total)
            for entry in entries:
                progress.describe(entry.name)
                error = _check_entry(reader, entry, progress.advance)
                if error is not None:
                    where = f" ({entry.location})" if entry.location else ""
                    report(f"{entry.name}{where}", error)
    if problems > max_problems:
        out.print(f"... and {problems - max_problems:,} more")
    noun = "entry" if len(entries) == 1 else "entries"
    if problems:
        plural = "problem" if problems == 1 else "problems"
        out.print(f"{archive}: {len(entries):,} {noun} checked, {problems:,} {plural}")
        raise click.exceptions.Exit(1)
    out.print(f"{archive}: {len(entries):,} {noun} checked, no problems")


def _check_entry(reader: _Archive, entry: _Entry, advance: Callable[[int], None]) -> str | None:
    """Read one entry to its end; return what is wrong with it, or None."""
    try:
        with reader.open(entry.member) as stream:
            while chunk := stream.read(_CHUNK):
                advance(len(chunk))
    except _ENTRY_ERRORS as exc:
        return _message(exc)
    return None


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        return exc.args[0]  # str() of a KeyError is the repr of its message
    return str(exc) or type(exc).__name__


@main.command(
    epilog=_example(
        "randread extract data.zip out/",
        "randread extract data.zip out/ a.txt b/c.txt",
        "randread extract -d out/ data.zip a.txt b/c.txt",
    )
)
@click.argument("archive")
@click.argument("arguments", nargs=-1, metavar="[DIRECTORY] [NAMES]...")
@click.option(
    "-d",
    "--directory",
    "directory_option",
    metavar="DIRECTORY",
    help="Extract into DIRECTORY; every argument after ARCHIVE is then an entry name.",
)
@_storage_option
@_debug_option
@_index_cache_option
def extract(archive: str, arguments: tuple[str, ...], directory_option: str | None) -> None:
    """Extract the entries of ARCHIVE (or only NAMES) into DIRECTORY.

    DIRECTORY is the first argument after ARCHIVE, or the value of -d. All or
    nothing: entries are extracted into a temporary directory inside
    DIRECTORY and moved into place only when every one has been read and
    checked. An entry whose name would land outside DIRECTORY (an absolute
    path, a drive letter, a ".." component) is refused before anything is
    written. Existing files are replaced. DIRECTORY may not be an existing
    file, nor, when it does not exist, the name of an entry of ARCHIVE (a
    directory forgotten on the command line).
    """
    if directory_option is not None:
        directory, names = directory_option, arguments
    elif arguments:
        directory, names = arguments[0], arguments[1:]
    else:
        raise click.UsageError("Missing argument 'DIRECTORY' (or give it with -d/--directory).")
    root = Path(directory)
    if root.exists() and not root.is_dir():
        msg = f"{directory} exists and is not a directory"
        raise click.BadParameter(msg, param_hint="'DIRECTORY'")
    with _archive(archive) as reader:
        known = set(reader.namelist())
        if directory_option is None and not root.exists() and directory in known:
            msg = (
                f"{directory} looks like an entry name, not a directory; give the output "
                f"directory first or with -d: randread extract {archive} -d DIR "
                f"{' '.join(arguments)}"
            )
            raise click.BadParameter(msg, param_hint="'DIRECTORY'")
        selected = list(names) if names else reader.namelist()
        if names:
            missing = [name for name in names if name not in known]
            if missing:
                listed = ", ".join(repr(name) for name in missing[:5])
                more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
                raise _Refusal(f"no entry named {listed}{more}; nothing was extracted")
        unsafe = [name for name in selected if _escapes(name)]
        if unsafe:
            more = f" (and {len(unsafe) - 1} more)" if len(unsafe) > 1 else ""
            raise _Refusal(
                f"entry {unsafe[0]!r}{more} would be written outside {directory}; "
                "nothing was extracted"
            )
        _extract_all_or_nothing(reader, root, list(names) if names else None)
    noun = "entry" if len(selected) == 1 else "entries"
    click.echo(f"extracted {len(selected):,} {noun} to {directory}")


def _escapes(name: str) -> bool:
    """Whether extracting ``name`` as it is would leave the target directory.

    The readers drop such parts (as zipfile does); the command line refuses
    the archive instead, since an archive built that way is suspect.
    """
    parts = name.replace("\\", "/").split("/")
    return (
        name.startswith(("/", "\\"))
        or ".." in parts
        or any(len(part) >= 2 and part[1] == ":" for part in parts)
    )


def _extract_all_or_nothing(reader: _Archive, root: Path, members: list[str] | None) -> None:
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    done = False
    staging = Path(tempfile.mkdtemp(prefix=".randread-extract-", dir=root))
    try:
        reader.extractall(staging, members)
        _move_tree(staging, root)
        done = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not done:
            with contextlib.suppress(OSError):
                root.rmdir()


def _move_tree(staging: Path, root: Path) -> None:
    """Move what ``staging`` holds into ``root``, after checking every move is safe."""
    resolved_root = root.resolve()
    directories: list[Path] = []
    files: list[tuple[Path, Path]] = []
    for dirpath, _dirnames, filenames in os.walk(staging):
        relative = Path(dirpath).relative_to(staging)
        target_directory = root / relative
        # An existing link inside root must not carry files outside it.
        if not target_directory.resolve().is_relative_to(resolved_root):
            raise _Refusal(f"{target_directory} leads outside {root}; nothing was extracted")
        if target_directory.exists() and not target_directory.is_dir():
            raise _Refusal(f"{target_directory} exists and is not a directory")
        directories.append(target_directory)
        for filename in filenames:
            target = target_directory / filename
            if target.is_dir() and not target.is_symlink():
                raise _Refusal(f"{target} exists and is a directory")
            files.append((Path(dirpath) / filename, target))
    for target_directory in directories:
        target_directory.mkdir(exist_ok=True)
    for source, target in files:
        source.replace(target)


def _check_alignment(_ctx: click.Context, _param: click.Parameter, value: int | None) -> int | None:
    if value is not None and not (0 < value <= _MAX_ALIGNMENT and value & (value - 1) == 0):
        raise click.BadParameter(f"{value} is not a power of two from 1 to {_MAX_ALIGNMENT}")
    return value


@main.command(
    epilog=_example(
        "randread convert data.zip data.rrb",
        "randread convert --codec lz4 --alignment 64 --force data.zip data.rrb",
    )
)
@click.argument("source", metavar="IN.zip")
@click.argument("destination", metavar="OUT.rrb")
@_storage_option
@_debug_option
@click.option(
    "--codec",
    type=click.Choice(_CODECS),
    default="auto",
    show_default=True,
    help="How entries are stored; auto is zstd, storing entries it barely shrinks as they are.",
)
@click.option(
    "--level",
    type=int,
    default=None,
    help=f"Compression level [default: {_CONVERT_DEFAULTS['level']}].",
)
@click.option(
    "--dictionary/--no-dictionary",
    default=None,
    help="Train one zstd dictionary shared by the entries (zstd and auto only) "
    f"[default: {'on' if _CONVERT_DEFAULTS['dictionary'] else 'off'}].",
)
@click.option(
    "--alignment",
    type=int,
    default=None,
    callback=_check_alignment,
    help="Alignment of stored entries, a power of two up to 4096 "
    f"[default: {_CONVERT_DEFAULTS['alignment']}].",
)
@click.option(
    "--sentry/--no-sentry",
    default=None,
    help="Keep a Sentry source or artifact bundle's manifest in the metadata maps "
    "(--sentry requires one) [default: when the zip is one].",
)
@click.option("-f", "--force", is_flag=True, help="Replace OUT.rrb if it exists.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing unless there is an error.")
def convert(
    *,
    source: str,
    destination: str,
    codec: str,
    level: int | None,
    dictionary: bool | None,
    alignment: int | None,
    sentry: bool | None,
    force: bool,
    quiet: bool,
) -> None:
    """Convert the zip file IN.zip into the bundle OUT.rrb.

    Every entry is read, checked and written again with the chosen codec.
    A Sentry source or artifact bundle keeps its manifest: each file's url,
    type and headers in its entry metadata, the bundle-level fields in the
    archive metadata. Shows a progress bar on a terminal, then a summary.
    """
    if Path(source).resolve() == Path(destination).resolve():
        raise click.BadParameter("is the input file; choose another name", param_hint="'OUT.rrb'")
    if Path(destination).exists() and not force:
        raise click.BadParameter(
            f"{destination} exists; pass --force to replace it", param_hint="'OUT.rrb'"
        )
    _check_level(codec, level)
    _check_source(source)
    if not is_url(source) and _starts_with(source, HEADER_MAGIC):
        raise _Failure(
            f"{source}: this is a randread bundle already, not a zip: nothing to convert"
        )
    # Options left out fall back to the converter's own defaults.
    given: dict[str, Any] = {
        "level": level,
        "dictionary": dictionary,
        "alignment": alignment,
        "sentry": sentry,
        "storage_options": _storage_options(),
    }
    options = {key: value for key, value in given.items() if value is not None}
    console = _stderr()
    with (
        _reporting(source),
        _ProgressBar(
            console,
            enabled=not quiet and console.is_terminal,
            unit="entries",
            description="reading the zip",
        ) as bar,
    ):
        result = randread.convert(
            source,
            destination,
            codec=cast("Literal['auto', 'none', 'zstd', 'lz4']", codec),
            overwrite=force,
            progress=bar.report,
            **options,
        )
    if quiet:
        return
    summary = [
        ("converted", f"{source} -> {destination}"),
        ("entries", f"{result.entries:,}"),
        ("input", _size(result.input_size)),
        ("output", _size(result.output_size)),
        ("ratio", f"{_percent(result.output_size, result.input_size)} of input"),
        ("time", f"{result.seconds:.2f} s"),
    ]
    dictionary_size = getattr(result, "dictionary_size", 0)
    if dictionary_size:
        summary.insert(4, ("dictionary", _size(dictionary_size)))
    _print_fields(_stdout(), summary)
    if result.output_size >= result.input_size:
        advice = (
            f" (its {_size(dictionary_size)} dictionary counts); --no-dictionary may help"
            if dictionary_size
            else ""
        )
        click.echo(
            f"randread: warning: the bundle is not smaller than the zip "
            f"({_percent(result.output_size, result.input_size)} of it){advice}",
            err=True,
        )


def _check_level(codec: str, level: int | None) -> None:
    """Refuse a ``--level`` the codec does not have, as a usage error."""
    if level is None or codec == "none":
        return
    name = "lz4" if codec == "lz4" else "zstd"
    lowest, highest = _LEVELS[name]
    if not lowest <= level <= highest:
        article = "an" if name == "lz4" else "a"
        msg = f"{level} is not {article} {name} level ({lowest} to {highest})"
        raise click.BadParameter(msg, param_hint="'--level'")


def _starts_with(path: str, magic: bytes) -> bool:
    try:
        with Path(path).open("rb") as file:
            return file.read(len(magic)) == magic
    except OSError:
        return False


class _ProgressBar:
    """A rich progress bar on stderr, or nothing at all when ``enabled`` is false."""

    def __init__(
        self, console: Console, *, enabled: bool, unit: str, description: str = ""
    ) -> None:
        self._progress: Progress | None = None
        if enabled:
            count = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
            self._progress = Progress(
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                count,
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
        self._task = (
            self._progress.add_task(_shorten(description), total=None) if self._progress else None
        )

    def __enter__(self) -> Self:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start(self, total: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=total)

    def describe(self, name: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=_shorten(name))

    def advance(self, amount: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, amount)

    def report(self, done: int, total: int, name: str) -> None:
        """Serve as the ``progress(done, total, name)`` callback of ``randread.convert``."""
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task, completed=done, total=total, description=_shorten(name)
            )


def _shorten(name: str, width: int = 40) -> str:
    """Return the end of a long name (its most telling part), padded to a fixed width."""
    if len(name) > width:
        name = "..." + name[-(width - 3) :]
    return name.ljust(width)


# -- bench -----------------------------------------------------------------------------


def _thread_counts(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of numbers") from None
    if not counts or min(counts) < 1:
        raise click.BadParameter("thread counts must be 1 or more")
    return counts


@main.command(
    epilog=_example(
        "randread bench",
        "randread bench --quick my_files/",
        "randread bench data.zip --formats zipfile,bundle-zstd --json out.json --plot out.png",
    )
)
@click.argument("sources", nargs=-1, metavar="[ARCHIVE|DIR]...")
@_storage_option
@_debug_option
@click.option(
    "--threads",
    default="1,2,4",
    show_default=True,
    callback=_thread_counts,
    help="Thread counts sharing one reader, comma-separated.",
)
@click.option(
    "--formats",
    "format_names",
    default=None,
    help="Comma-separated formats to measure [default: all; see --list-formats].",
)
@click.option("--list-formats", is_flag=True, help="List the formats and exit.")
@click.option("--quick", is_flag=True, help="Shorter measurements on at most 500 files (~10 s).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the read order.")
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), help="Also write the results as JSON."
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    help="Also write a PNG plot (needs matplotlib: pip install 'randread[plot]').",
)
def bench(
    *,
    sources: tuple[str, ...],
    threads: tuple[int, ...],
    format_names: str | None,
    list_formats: bool,
    quick: bool,
    seed: int,
    json_path: str | None,
    plot_path: str | None,
) -> None:
    """Measure which archive format reads your files fastest.

    Builds every format (zipfile, randread's ZipReader with each deflate
    decoder, zstd and stored zips, bundles with each codec, SQLite, LMDB when
    installed) from the same files in a temporary directory, then measures
    random single-entry reads (uniform and Zipf-skewed), where each read's
    time goes (lookup, I/O, decode, checksum), threads sharing one reader,
    full scans, open time and size. With no ARCHIVE or DIR it uses this
    Python's standard library .py files.
    """
    from randread import bench as benchmark  # noqa: PLC0415 - only this command needs it

    # Optional packages are checked before minutes of measuring, not after.
    if plot_path is not None and importlib.util.find_spec("matplotlib") is None:
        msg = "needs matplotlib, which is not installed: pip install 'randread[plot]'"
        raise click.BadParameter(msg, param_hint="'--plot'")
    # Local directories may sit next to URLs that the storage options are for.
    for source in filter(is_url, sources):
        with _reporting(source):
            _check_source(source)
    available = benchmark.subjects()
    if list_formats:
        for subject in available:
            click.echo(f"{subject.name:24} {subject.description}")
        return
    chosen = available
    if format_names is not None:
        wanted = [name.strip() for name in format_names.split(",") if name.strip()]
        known = {subject.name: subject for subject in available}
        unknown = [name for name in wanted if name not in known]
        if unknown or not wanted:
            raise click.BadParameter(
                f"unknown format {', '.join(unknown) or '(none)'}; known: {', '.join(known)}",
                param_hint="'--formats'",
            )
        chosen = [known[name] for name in wanted]
    limit = 500 if quick else None
    config = benchmark.BenchConfig(
        seconds_per_measure=0.03 if quick else 0.25, threads=threads, seed=seed
    )
    label = ", ".join(sources) or "the standard library"
    console = _stderr()
    with _reporting(label):
        corpus = (
            benchmark.load_corpus(list(sources), limit, storage_options=_storage_options())
            if sources
            else benchmark.default_corpus(limit)
        )
        with (
            tempfile.TemporaryDirectory(prefix="randread-bench-") as directory,
            _ProgressBar(
                console, enabled=console.is_terminal, unit="formats", description="building"
            ) as bar,
        ):
            done = 0

            def report(name: str) -> None:
                nonlocal done
                bar.report(done, len(chosen), name)
                done += 1

            result = benchmark.run(corpus, chosen, Path(directory), config, report)
        benchmark.print_report(result, _stdout(width=_REPORT_WIDTH))
        if json_path is not None:
            benchmark.write_json(result, Path(json_path))
        if plot_path is not None:
            benchmark.write_plot(result, Path(plot_path))
