"""What the remote tests share: archives to serve, and reading the server's request log."""

from __future__ import annotations

import io
import random
import zipfile
from typing import Any

import randread
from randread import ZipReader

#: the secret of the loopback server's test credentials, which no message may show
SECRET = "testing-secret-do-not-leak"


def make_zip(count: int, *, size: int = 2000, name_length: int = 10, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(count):
            name = f"{index:0{name_length}d}.txt"
            # Hex digits: content that deflates to about half its size.
            archive.writestr(name, rng.randbytes(size // 2).hex().encode())
    return buffer.getvalue()


def make_bundle(tmp_path: Any, zip_bytes: bytes, **options: Any) -> bytes:
    source = tmp_path / "in.zip"
    source.write_bytes(zip_bytes)
    target = tmp_path / "out.rrb"
    randread.convert(source, target, **options)
    return target.read_bytes()


def contents(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def central_directory_size(data: bytes) -> int:
    with ZipReader(data) as reader:
        return reader._directory.central_directory_size


def ranges_of(log: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """The ``[start, end]`` of each logged GET with a plain range."""
    spans = []
    for record in log:
        spec = record["range"] or ""
        first, _, last = spec.removeprefix("bytes=").partition("-")
        if first:
            spans.append((int(first), int(last)))
    return spans


def max_in_flight(log: list[dict[str, Any]]) -> int:
    events = sorted(
        [(r["start"], 1) for r in log if r["end"]] + [(r["end"], -1) for r in log if r["end"]]
    )
    best = current = 0
    for _, step in events:
        current += step
        best = max(best, current)
    return best
