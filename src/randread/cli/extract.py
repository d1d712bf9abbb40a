"""``randread extract``: entries into a directory, all or nothing."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from randread.cli.archives import opened_archive
from randread.cli.errors import Refusal
from randread.cli.options import debug_option, example, index_cache_option, storage_option

if TYPE_CHECKING:
    from randread.protocol import ArchiveReader, EntryInfo

__all__ = ["extract"]


@click.command(
    "extract",
    epilog=example(
        "randread extract data.zip out/",
        "randread extract data.zip out/ a.txt b/c.txt",
        "randread extract -d out/ data.zip a.txt b/c.txt",
    ),
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
@storage_option
@debug_option
@index_cache_option
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
    with opened_archive(archive) as reader:
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
                raise Refusal(f"no entry named {listed}{more}; nothing was extracted")
        unsafe = [name for name in selected if _escapes(name)]
        if unsafe:
            more = f" (and {len(unsafe) - 1} more)" if len(unsafe) > 1 else ""
            raise Refusal(
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


def _extract_all_or_nothing(
    reader: ArchiveReader[EntryInfo], root: Path, members: list[str] | None
) -> None:
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
            raise Refusal(f"{target_directory} leads outside {root}; nothing was extracted")
        if target_directory.exists() and not target_directory.is_dir():
            raise Refusal(f"{target_directory} exists and is not a directory")
        directories.append(target_directory)
        for filename in filenames:
            target = target_directory / filename
            if target.is_dir() and not target.is_symlink():
                raise Refusal(f"{target} exists and is a directory")
            files.append((Path(dirpath) / filename, target))
    for target_directory in directories:
        target_directory.mkdir(exist_ok=True)
    for source, target in files:
        source.replace(target)
