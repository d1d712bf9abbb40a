"""``randread cat``: one entry's content on stdout, byte for byte."""

from __future__ import annotations

import shutil
import sys

import click

from randread.cli.archives import CHUNK, opened_archive
from randread.cli.errors import Refusal
from randread.cli.options import debug_option, example, index_cache_option, storage_option

__all__ = ["cat"]


@click.command("cat", epilog=example("randread cat data.zip docs/readme.txt > readme.txt"))
@click.argument("archive")
@storage_option
@debug_option
@index_cache_option
@click.argument("name")
def cat(archive: str, name: str) -> None:
    """Write the content of entry NAME of ARCHIVE to stdout, byte for byte.

    The content is checked against its checksum as it streams; a mismatch is
    reported (exit status 1) after the bytes have been written. A directory
    entry (a name ending in /) has no content: asking for one is an error.
    """
    out = sys.stdout.buffer
    with opened_archive(archive) as reader:
        if name.endswith("/") and name in reader.namelist():
            raise Refusal(f"{name!r} is a directory entry: it has no content to write")
        try:
            stream = reader.open(name)
        except KeyError:
            raise Refusal(f"no entry named {name!r}") from None
        with stream:
            shutil.copyfileobj(stream, out, CHUNK)
    out.flush()
