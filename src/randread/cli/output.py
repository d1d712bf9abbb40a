"""What the commands print: consoles, aligned fields, sizes, listings and progress bars.

rich styles the output on a terminal and draws progress bars there, and
stays out of the way when the output is piped.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from types import TracebackType

    from typing_extensions import Self

__all__ = [
    "ProgressBar",
    "percent",
    "print_fields",
    "size",
    "stderr_console",
    "stdout_console",
    "write_lines",
]

#: lines written per ``write`` call when listing
_LINES_PER_WRITE = 4096


def stdout_console(*, width: int | None = None) -> Console:
    """Return a console for results: styled on a terminal, plain when piped, never wrapped.

    ``width`` applies when the output is not a terminal (tables need room).
    """
    console = Console(highlight=False, markup=False, emoji=False, soft_wrap=True)
    if width is not None and not console.is_terminal:
        console.width = width
    return console


def stderr_console() -> Console:
    """Return the console that progress bars draw on."""
    return Console(stderr=True, highlight=False, markup=False, emoji=False)


def write_lines(lines: Iterable[str]) -> None:
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


def print_fields(console: Console, fields: Sequence[tuple[str, str]]) -> None:
    """Print ``label  value`` lines with the labels aligned (bold on a terminal)."""
    width = max((len(label) for label, _ in fields), default=0)
    for label, value in fields:
        console.print(Text.assemble((label.ljust(width), "bold"), "  ", value))


def size(count: int) -> str:
    """``12.3 MB (12,345,678 bytes)``; small sizes in bytes only."""
    if count < 1000:
        return f"{count} byte" if count == 1 else f"{count} bytes"
    return f"{decimal(count)} ({count:,} bytes)"


def percent(part: int, whole: int) -> str:
    """``part`` as a percentage of ``whole`` (``-`` when ``whole`` is 0)."""
    return f"{100 * part / whole:.1f}%" if whole else "-"


class ProgressBar:
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
        """Set the total the bar fills up to."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=total)

    def describe(self, name: str) -> None:
        """Show ``name`` (its end, when long) as what is being worked on."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=_shorten(name))

    def advance(self, amount: int) -> None:
        """Count ``amount`` more done."""
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
