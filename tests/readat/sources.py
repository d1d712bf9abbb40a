"""Bytes the ReadAt tests read, and a file holding them."""

from __future__ import annotations

import random
from pathlib import Path

DATA = bytes(random.Random(1234).getrandbits(8) for _ in range(100_003))


def write_source(data: bytes, folder: Path) -> Path:
    """Write ``data`` to a file in ``folder`` and return its path."""
    path = folder / "source.bin"
    path.write_bytes(data)
    return path
