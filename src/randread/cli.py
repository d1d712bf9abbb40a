"""The ``randread`` command line."""

from __future__ import annotations

import click

from randread import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="randread")
def main() -> None:
    """Fast, thread-safe random access into archives."""
