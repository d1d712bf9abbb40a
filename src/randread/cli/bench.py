"""``randread bench``: which archive format reads your files fastest."""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import click

from randread.cli.archives import check_source
from randread.cli.errors import reporting
from randread.cli.options import debug_option, example, storage_option, storage_options
from randread.cli.output import ProgressBar, stderr_console, stdout_console
from randread.readat import is_url

__all__ = ["bench"]

#: width of the ``bench`` tables when the output is piped
_REPORT_WIDTH = 150


def _thread_counts(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of numbers") from None
    if not counts or min(counts) < 1:
        raise click.BadParameter("thread counts must be 1 or more")
    return counts


@click.command(
    "bench",
    epilog=example(
        "randread bench",
        "randread bench --quick my_files/",
        "randread bench data.zip --formats zipfile,bundle-zstd --json out.json --plot out.png",
    ),
)
@click.argument("sources", nargs=-1, metavar="[ARCHIVE|DIR]...")
@storage_option
@debug_option
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
        with reporting(source):
            check_source(source)
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
    console = stderr_console()
    with reporting(label):
        corpus = (
            benchmark.load_corpus(list(sources), limit, storage_options=storage_options())
            if sources
            else benchmark.default_corpus(limit)
        )
        with (
            tempfile.TemporaryDirectory(prefix="randread-bench-") as directory,
            ProgressBar(
                console, enabled=console.is_terminal, unit="formats", description="building"
            ) as bar,
        ):
            done = 0

            def report(name: str) -> None:
                nonlocal done
                bar.report(done, len(chosen), name)
                done += 1

            result = benchmark.run(corpus, chosen, Path(directory), config, report)
        benchmark.print_report(result, stdout_console(width=_REPORT_WIDTH))
        if json_path is not None:
            benchmark.write_json(result, Path(json_path))
        if plot_path is not None:
            benchmark.write_plot(result, Path(plot_path))
