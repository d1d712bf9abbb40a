"""``randread verify``: read every entry and check it against its checksum."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.text import Text

from randread import BundleFormatError, BundleReader
from randread.cli.archives import CHUNK, location, open_entry, opened_archive
from randread.cli.errors import ENTRY_ERRORS, message
from randread.cli.options import debug_option, example, index_cache_option, storage_option
from randread.cli.output import ProgressBar, stderr_console, stdout_console

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from randread.protocol import ArchiveReader, EntryInfo

__all__ = ["verify"]

#: ``verify`` shows a progress bar on a terminal from this much content on
_PROGRESS_MIN_BYTES = 64 << 20
#: ``verify`` lists at most this many problems unless told otherwise
_DEFAULT_MAX_PROBLEMS = 10


@click.command("verify", epilog=example("randread verify data.zip"))
@click.argument("archive")
@storage_option
@debug_option
@index_cache_option
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
    out = stdout_console()
    problems = 0

    def report(what: str, problem: str) -> None:
        nonlocal problems
        problems += 1
        if problems <= max_problems:
            out.print(Text.assemble(("FAIL", "bold red"), f" {what}: {problem}"))

    with opened_archive(archive) as reader:
        infos = _entries_to_check(reader, report)
        total = sum(info.file_size for info in infos)
        console = stderr_console()
        show_progress = console.is_terminal and total >= _PROGRESS_MIN_BYTES
        with ProgressBar(console, enabled=show_progress, unit="bytes") as progress:
            progress.start(total)
            for info in infos:
                progress.describe(info.filename)
                error = _check_entry(reader, info, progress.advance)
                if error is not None:
                    report(f"{info.filename} ({location(info)})", error)
    if problems > max_problems:
        out.print(f"... and {problems - max_problems:,} more")
    noun = "entry" if len(infos) == 1 else "entries"
    if problems:
        plural = "problem" if problems == 1 else "problems"
        out.print(f"{archive}: {len(infos):,} {noun} checked, {problems:,} {plural}")
        raise click.exceptions.Exit(1)
    out.print(f"{archive}: {len(infos):,} {noun} checked, no problems")


def _entries_to_check(
    reader: ArchiveReader[EntryInfo], report: Callable[[str, str], None]
) -> Sequence[EntryInfo]:
    """Return the entries to read, after checking a bundle's index (reporting its problems)."""
    if not isinstance(reader, BundleReader):
        return reader.infolist()
    # A bundle's index gets the checks that cost time in proportion to the
    # entry count (checksum, sorted hashes, unique names, no overlaps) only
    # on demand.
    try:
        reader.verify_index()
    except ENTRY_ERRORS as exc:
        report("index", message(exc))
    else:
        return reader.infolist()
    # The reader refuses to list a damaged index; check what its records say
    # one by one all the same.
    infos: list[EntryInfo] = []
    for record in reader.check_records():
        if isinstance(record, BundleFormatError):
            report("index", message(record))
        else:
            infos.append(record)
    return infos


def _check_entry(
    reader: ArchiveReader[EntryInfo], info: EntryInfo, advance: Callable[[int], None]
) -> str | None:
    """Read one entry to its end; return what is wrong with it, or None."""
    try:
        with open_entry(reader, info) as stream:
            while chunk := stream.read(CHUNK):
                advance(len(chunk))
    except ENTRY_ERRORS as exc:
        return message(exc)
    return None
