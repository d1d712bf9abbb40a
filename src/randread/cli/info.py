"""``randread info``: an archive's format, entries, methods, sizes and comment."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING

import click

from randread import BundleReader
from randread.cli.archives import opened_archive, sentry
from randread.cli.options import debug_option, example, index_cache_option, storage_option
from randread.cli.output import percent, print_fields, size, stdout_console

if TYPE_CHECKING:
    from randread.sentry import SourceBundle

__all__ = ["info"]


@click.command("info", epilog=example("randread info data.zip"))
@click.argument("archive")
@storage_option
@debug_option
@index_cache_option
@click.option("--json", "as_json", is_flag=True, help="Print the facts as a JSON object.")
def info(archive: str, as_json: bool) -> None:
    """Summarize ARCHIVE: format, entries, methods, sizes and comment.

    A Sentry source or artifact bundle also shows its manifest's bundle-level
    fields (debug_id, org, release, ...) and its files by type.
    """
    dictionary_size: int | None = None
    alignment: int | None = None
    with opened_archive(archive) as reader:
        infos = reader.infolist()
        bundle = sentry(reader)
        archive_format = "bundle" if isinstance(reader, BundleReader) else "zip"
        comment = reader.comment.decode("utf-8", errors="replace")
        if isinstance(reader, BundleReader):
            dictionary_size = reader.dictionary_size
            alignment = reader.alignment
        file_size = reader.source_size
    methods = Counter(entry.codec for entry in infos)
    total = sum(entry.file_size for entry in infos)
    compressed_size = sum(entry.compress_size for entry in infos)
    if as_json:
        facts: dict[str, object] = {
            "archive": archive,
            "format": archive_format,
            "file_size": file_size,
            "entries": len(infos),
            "methods": dict(methods.most_common()),
            "size": total,
            "compressed_size": compressed_size,
            "ratio": compressed_size / total if total else None,
            "comment": comment,
        }
        if dictionary_size is not None:
            facts["dictionary_size"] = dictionary_size
        if alignment is not None:
            facts["alignment"] = alignment
        if bundle is not None:
            facts["sentry"] = _sentry_facts(bundle)
        click.echo(json.dumps(facts, indent=2))
        return
    fields = [
        ("archive", archive),
        ("format", archive_format),
        ("file size", size(file_size)),
        ("entries", f"{len(infos):,}"),
        ("methods", ", ".join(f"{name} {count:,}" for name, count in methods.most_common())),
        ("size", size(total)),
        ("compressed", f"{size(compressed_size)}, {percent(compressed_size, total)} of size"),
    ]
    if dictionary_size is not None:
        fields.append(("dictionary", size(dictionary_size) if dictionary_size else "none"))
    if alignment is not None:
        fields.append(("alignment", f"{alignment} bytes"))
    if comment:
        fields.append(("comment", comment))
    if bundle is not None:
        fields += _sentry_fields(bundle)
    print_fields(stdout_console(), fields)


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
