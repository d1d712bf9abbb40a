"""``randread ls``: the entries of an archive, one name a line, or a table, or JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click
from rich.text import Text

from randread.cli.archives import modified, opened_archive, sentry
from randread.cli.options import debug_option, example, index_cache_option, storage_option
from randread.cli.output import stdout_console, write_lines

if TYPE_CHECKING:
    from collections.abc import Sequence

    from randread.protocol import EntryInfo
    from randread.sentry import SourceBundle, SourceFile

__all__ = ["list_command"]


@click.command("ls", epilog=example("randread ls --long data.zip"))
@click.argument("archive")
@storage_option
@debug_option
@index_cache_option
@click.option("-l", "--long", "long_format", is_flag=True, help="Also show sizes, method and time.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of entry objects.")
def list_command(archive: str, long_format: bool, as_json: bool) -> None:
    """List the entries of ARCHIVE, one name a line.

    For a Sentry source or artifact bundle, ``--long`` adds each file's type
    and url (or path), and ``--json`` its manifest record under ``sentry``.
    """
    with opened_archive(archive) as reader:
        infos = reader.infolist()
        bundle = sentry(reader) if long_format or as_json else None
    if as_json:
        records: list[dict[str, object]] = [
            {
                "name": info.filename,
                "size": info.file_size,
                "compressed_size": info.compress_size,
                "method": info.codec,
                "mtime": modified(info, "T"),
                "is_dir": info.is_dir(),
            }
            for info in infos
        ]
        if bundle is not None:
            for record in records:
                listed = bundle.by_name(str(record["name"]))
                if listed is not None:
                    record["sentry"] = _sentry_record(listed)
        click.echo(json.dumps(records, indent=2))
    elif long_format:
        _print_long_listing(infos, bundle)
    else:
        write_lines(info.filename for info in infos)


def _sentry_record(record: SourceFile) -> dict[str, object]:
    return {
        "type": record.type,
        "path": record.path,
        "url": record.url,
        "headers": dict(record.headers),
    }


def _print_long_listing(infos: Sequence[EntryInfo], bundle: SourceBundle | None = None) -> None:
    header = ("size", "compressed", "method", "modified", "name")
    rows = [
        (
            str(info.file_size),
            str(info.compress_size),
            info.codec,
            modified(info) or "-",
            info.filename,
        )
        for info in infos
    ]
    if bundle is not None:
        # The name keeps the last column; the file's type and url go before it.
        described = []
        for info in infos:
            record = bundle.by_name(info.filename)
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

    stdout_console().print(Text(line(header), style="bold"))
    write_lines(line(row) for row in rows)
