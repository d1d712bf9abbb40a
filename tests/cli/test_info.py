"""``randread info``: the summary of a zip and of a bundle."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.cli.helpers import COMMENT, ENTRIES, invoke


def test_info_summarizes_a_zip(sample_zip: Path) -> None:
    result = invoke("info", sample_zip)
    assert result.exit_code == 0
    fields = dict(line.split(None, 1) for line in result.stdout.splitlines() if " " in line)
    assert fields["format"] == "zip"
    assert fields["entries"] == str(len(ENTRIES))
    assert fields["methods"] == "stored 3, deflate 2"
    assert fields["comment"] == COMMENT.decode()
    total = sum(len(data) for data, _method in ENTRIES.values())
    assert fields["size"].endswith(f"({total:,} bytes)")
    assert "dictionary" not in fields


def test_info_json(sample_zip: Path) -> None:
    result = invoke("info", "--json", sample_zip)
    assert result.exit_code == 0
    facts = json.loads(result.stdout)
    with zipfile.ZipFile(sample_zip) as archive:
        infos = archive.infolist()
    assert facts["format"] == "zip"
    assert facts["entries"] == len(ENTRIES)
    assert facts["methods"] == {"stored": 3, "deflate": 2}
    assert facts["size"] == sum(info.file_size for info in infos)
    assert facts["compressed_size"] == sum(info.compress_size for info in infos)
    assert facts["ratio"] == pytest.approx(facts["compressed_size"] / facts["size"])
    assert facts["file_size"] == sample_zip.stat().st_size
    assert facts["comment"] == COMMENT.decode()


def test_bundle_info(sample_bundle: Path) -> None:
    result = invoke("info", "--json", sample_bundle)
    assert result.exit_code == 0
    facts = json.loads(result.stdout)
    assert facts["format"] == "bundle"
    assert facts["entries"] == len(ENTRIES)
    assert facts["comment"] == COMMENT.decode()
    assert "dictionary_size" in facts
    text = invoke("info", sample_bundle).stdout
    assert "dictionary" in text
