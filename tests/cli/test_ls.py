"""``randread ls``: names, ``--long`` and ``--json``."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from tests.cli.helpers import ENTRIES, TEXT, UNICODE_NAME, invoke, run


def test_ls_prints_names_in_archive_order(sample_zip: Path) -> None:
    result = run("ls", sample_zip)
    assert result.returncode == 0
    assert result.stderr == b""
    assert result.stdout.decode().splitlines() == list(ENTRIES)


def test_ls_json_is_a_list_of_entry_objects(sample_zip: Path) -> None:
    result = run("ls", "--json", sample_zip)
    assert result.returncode == 0
    records = json.loads(result.stdout)
    assert [record["name"] for record in records] == list(ENTRIES)
    by_name = {record["name"]: record for record in records}
    assert by_name["hello.txt"]["size"] == len(TEXT)
    assert by_name["hello.txt"]["compressed_size"] < len(TEXT)
    assert by_name["hello.txt"]["method"] == "deflate"
    assert by_name["data/big.bin"]["method"] == "stored"
    assert by_name["hello.txt"]["mtime"] == "2021-03-04T05:06:08"
    assert by_name["data/"]["is_dir"] is True
    assert by_name["hello.txt"]["is_dir"] is False


def test_ls_long_shows_size_compressed_size_method_and_time(sample_zip: Path) -> None:
    result = invoke("ls", "--long", sample_zip)
    assert result.exit_code == 0
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["size", "compressed", "method", "modified", "name"]
    assert len(rows) == len(ENTRIES)
    hello = rows[0].split()
    compressed = zipfile.ZipFile(sample_zip).getinfo("hello.txt").compress_size
    assert hello == [
        str(len(TEXT)),
        str(compressed),
        "deflate",
        "2021-03-04",
        "05:06:08",
        "hello.txt",
    ]
    assert rows[-1].endswith(f"  {UNICODE_NAME}")
