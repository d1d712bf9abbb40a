"""What the command-line tests share: a sample zip's entries, builders, and ways to run.

``run`` goes through ``python -m randread`` in a subprocess, as a user or a
script would; ``invoke`` uses click's CliRunner in process, which is faster.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result

from randread.cli import main

DATE_TIME = (2021, 3, 4, 5, 6, 8)
TEXT = b"The quick brown fox jumps over the lazy dog.\n" * 300
ALL_BYTES = bytes(range(256)) * 8 + b"\r\n\x00\x1a\r"
#: larger than the CLI's 1 MiB streaming chunk, so cat and verify loop
BIG = random.Random(1).randbytes(3 << 20)
UNICODE_NAME = "notes/naïve ☃.txt"
COMMENT = b"sample archive"
#: name -> (content, method); "data/" is a directory entry
ENTRIES: dict[str, tuple[bytes, int]] = {
    "hello.txt": (TEXT, zipfile.ZIP_DEFLATED),
    "data/": (b"", zipfile.ZIP_STORED),
    "data/all-bytes.bin": (ALL_BYTES, zipfile.ZIP_STORED),
    "data/big.bin": (BIG, zipfile.ZIP_STORED),
    UNICODE_NAME: ("naïve ☃\n".encode(), zipfile.ZIP_DEFLATED),
}


def write_zip(path: Path, entries: dict[str, tuple[bytes, int]] = ENTRIES) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, (data, method) in entries.items():
            info = zipfile.ZipInfo(name, DATE_TIME)
            info.compress_type = method
            archive.writestr(info, data)
        archive.comment = COMMENT
    return path


def data_offset(path: Path, name: str) -> int:
    """Where the data of zip entry ``name`` starts (after its local header)."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    with path.open("rb") as file:
        file.seek(info.header_offset + 26)
        lengths = file.read(4)
    name_length = int.from_bytes(lengths[:2], "little")
    extra_length = int.from_bytes(lengths[2:], "little")
    return info.header_offset + 30 + name_length + extra_length


def flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as file:
        file.seek(offset)
        byte = file.read(1)[0]
        file.seek(offset)
        file.write(bytes([byte ^ 0xFF]))


def corrupt_entry(path: Path, name: str) -> None:
    """Flip one byte in the middle of the compressed data of ``name``."""
    with zipfile.ZipFile(path) as archive:
        size = archive.getinfo(name).compress_size
    flip_byte(path, data_offset(path, name) + size // 2)


def header_offset(path: Path, name: str) -> int:
    with zipfile.ZipFile(path) as archive:
        return archive.getinfo(name).header_offset


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def run(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(  # noqa: S603 - this interpreter, on files the tests wrote
        [sys.executable, "-m", "randread", *(os.fspath(arg) for arg in args)],
        capture_output=True,
        check=False,
        timeout=60,
        env=env,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[bytes], *fragments: str) -> str:
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("randread: error: ")
    for fragment in fragments:
        assert fragment in stderr
    return stderr


def invoke(*args: str | os.PathLike[str]) -> Result:
    return CliRunner().invoke(main, [os.fspath(arg) for arg in args])


@dataclass
class FakeResult:
    entries: int
    input_size: int
    output_size: int
    seconds: float
    dictionary_size: int = 0


class FakeConvert:
    """Follows the contract of randread.convert and records how it was called."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, object]]] = []

    def __call__(self, zip_path: str, bundle_path: str, **options: object) -> FakeResult:
        self.calls.append((zip_path, bundle_path, options))
        progress = options["progress"]
        assert callable(progress)
        progress(1, 2, "first.txt")
        progress(2, 2, "second.txt")
        Path(bundle_path).write_bytes(b"bundle")
        return FakeResult(entries=2, input_size=4000, output_size=1000, seconds=0.25)
