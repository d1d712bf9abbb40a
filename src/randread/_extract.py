"""Safe extraction of archive entries: nothing is ever written outside the target."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import BinaryIO

__all__ = ["extract_entry", "safe_relative_path"]

_COPY_BUFFER = 64 * 1024


def safe_relative_path(name: str) -> list[str]:
    """Split an entry name into path parts that stay inside the extraction root.

    Backslashes count as separators; drive letters, empty, ``.`` and ``..``
    parts are dropped, as zipfile does.
    """
    parts = []
    for part in name.replace("\\", "/").split("/"):
        if part in ("", ".", ".."):
            continue
        if len(part) >= 2 and part[1] == ":":  # a drive letter: C:
            part = part[2:]  # noqa: PLW2901
            if not part:
                continue
        parts.append(part)
    return parts


def extract_entry(
    name: str,
    root: Path,
    open_entry: Callable[[], BinaryIO],
    error: Callable[[str], Exception],
) -> str:
    """Write entry ``name`` under ``root``; return the path written.

    The path returned is ``root`` as given (relative or not) joined with the
    safe parts of ``name`` and normalised, as zipfile's ``extract`` returns it.

    Directories (names ending in ``/``) are created. A name that would land
    outside ``root``, also through a symbolic link already inside it, raises
    ``error(message)``. Entries are written as regular files, never as links,
    and appear only once complete.
    """
    relative = safe_relative_path(name)
    root_resolved = root.resolve()
    target = root_resolved.joinpath(*relative) if relative else root_resolved
    if not target.resolve().is_relative_to(root_resolved):
        msg = f"entry {name!r} would be written outside {os.fspath(root)!r}"
        raise error(msg)
    written = os.path.normpath(os.path.join(os.fspath(root), *relative))  # noqa: PTH118
    if name.endswith("/") or not relative:
        target.mkdir(parents=True, exist_ok=True)
        return written
    parent = target.parent
    if parent.exists() and not parent.is_dir():
        # zipfile fails here opening the file; say the same (not FileExistsError).
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), os.fspath(parent))
    parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename when complete: an entry that fails
    # its checksum half way leaves no partial file (and an older file intact).
    # Mode 0o666 less the umask, as a plain open() would create it.
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(temporary, flags, 0o666)
    try:
        with open_entry() as source, os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, _COPY_BUFFER)
        temporary.replace(target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return written
