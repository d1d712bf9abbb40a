"""The ``randread`` command line: list, read, check, extract, convert and benchmark archives.

click parses the command line; rich styles the output on a terminal and draws
progress bars there, and stays out of the way when the output is piped.

This module holds the command group; each command has a module of its own,
and they share the options (:mod:`~randread.cli.options`), the opening of
archives (:mod:`~randread.cli.archives`), the error reporting
(:mod:`~randread.cli.errors`) and the output helpers
(:mod:`~randread.cli.output`). Errors about an archive end in one line on
stderr, ``randread: error: <archive>: <problem>``, and exit status 1; click
reports usage errors with exit status 2. ``randread --debug`` lets the original
exception through, traceback included.
"""

from __future__ import annotations

import click

from randread import __version__
from randread.cli import bench, cat, convert, extract, info, ls, verify
from randread.cli.options import debug_option, storage_option

__all__ = ["main"]


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="\b\nExit status: 0 success, 1 a bad archive or a failed check,\n2 a usage error.",
)
@click.version_option(__version__, prog_name="randread")
@debug_option
@storage_option
def main() -> None:
    """Fast, thread-safe random access into archives (zip files and bundles).

    The options --debug and --storage-option may come before the command
    name or after it.
    """


# The modules keep their names (tests patch what a command module uses), so
# the commands are added by attribute rather than imported by name.
main.add_command(ls.list_command)
main.add_command(cat.cat)
main.add_command(info.info)
main.add_command(verify.verify)
main.add_command(extract.extract)
main.add_command(convert.convert)
main.add_command(bench.bench)
