"""``randread convert``: a zip file into a bundle."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Literal, cast

import click

import randread
from randread.bundle.format import HEADER_MAGIC
from randread.cli.archives import check_source
from randread.cli.errors import Failure, reporting, starts_with
from randread.cli.options import debug_option, example, storage_option, storage_options
from randread.cli.output import (
    ProgressBar,
    percent,
    print_fields,
    size,
    stderr_console,
    stdout_console,
)
from randread.readat import is_url

__all__ = ["convert"]

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
#: the largest alignment the bundle format allows (formats/bundle.md, File header)
_MAX_ALIGNMENT = 4096


def _check_alignment(_ctx: click.Context, _param: click.Parameter, value: int | None) -> int | None:
    if value is not None and not (0 < value <= _MAX_ALIGNMENT and value & (value - 1) == 0):
        raise click.BadParameter(f"{value} is not a power of two from 1 to {_MAX_ALIGNMENT}")
    return value


@click.command(
    "convert",
    epilog=example(
        "randread convert data.zip data.rrb",
        "randread convert --codec lz4 --alignment 64 --force data.zip data.rrb",
    ),
)
@click.argument("source", metavar="IN.zip")
@click.argument("destination", metavar="OUT.rrb")
@storage_option
@debug_option
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
    check_source(source)
    if not is_url(source) and starts_with(source, HEADER_MAGIC):
        raise Failure(f"{source}: this is a randread bundle already, not a zip: nothing to convert")
    # Options left out fall back to the converter's own defaults.
    given: dict[str, Any] = {
        "level": level,
        "dictionary": dictionary,
        "alignment": alignment,
        "sentry": sentry,
        "storage_options": storage_options(),
    }
    options = {key: value for key, value in given.items() if value is not None}
    console = stderr_console()
    with (
        reporting(source),
        ProgressBar(
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
        ("input", size(result.input_size)),
        ("output", size(result.output_size)),
        ("ratio", f"{percent(result.output_size, result.input_size)} of input"),
        ("time", f"{result.seconds:.2f} s"),
    ]
    dictionary_size = result.dictionary_size
    if dictionary_size:
        summary.insert(4, ("dictionary", size(dictionary_size)))
    print_fields(stdout_console(), summary)
    if result.output_size >= result.input_size:
        advice = (
            f" (its {size(dictionary_size)} dictionary counts); --no-dictionary may help"
            if dictionary_size
            else ""
        )
        click.echo(
            f"randread: warning: the bundle is not smaller than the zip "
            f"({percent(result.output_size, result.input_size)} of it){advice}",
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
