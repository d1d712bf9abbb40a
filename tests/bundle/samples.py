"""The small bundle the damage tests start from, and the patterns their messages match."""

from __future__ import annotations

import functools
import random
import tempfile
from pathlib import Path

import randread

HEX = "0x[0-9a-f]+"
ENTRY = rf"entry #\d+ at {HEX}"

#: name, content, add() options; the writer keeps this order (entry index = position)
FILES: list[tuple[str, bytes, dict[str, object]]] = [
    ("stored.bin", random.Random(1).randbytes(300), {}),
    ("text.txt", b"hello bundle " * 100, {"mtime": 1_700_000_000.0}),
    ("empty", b"", {"mode": 0o100644}),
    ("dir/", b"", {"mode": 0o40755}),
    ("meta.txt", b"with metadata " * 10, {"metadata": {"comment": "c", "type": "t"}}),
]
INDEX = {name: position for position, (name, _, _) in enumerate(FILES)}
CONTENT = {name: content for name, content, _ in FILES}


@functools.cache
def bundle(codec: str = "auto") -> bytes:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "b.rrb"
        with randread.BundleWriter(path, codec=codec, comment="archive comment") as writer:  # type: ignore[arg-type]
            for name, content, options in FILES:
                writer.add(name, content, **options)  # type: ignore[arg-type]
        return path.read_bytes()
