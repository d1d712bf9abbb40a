"""The command line on Sentry bundles: info, ls and convert."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from randread import (
    BundleReader,
)
from tests import sentrybuilder as sb
from tests.sentry import write


def invoke(*args: str | Path) -> Any:
    from click.testing import CliRunner  # noqa: PLC0415 - only these tests need it

    from randread import cli  # noqa: PLC0415 - same

    return CliRunner().invoke(cli.main, [str(arg) for arg in args])


@pytest.fixture
def artifact_zip(tmp_path: Path) -> Path:
    stray = sb.File("files/stray.txt", b"stray", None)
    return write(tmp_path, sb.build([*sb.artifact_files(2), stray], sb.ARTIFACT_ATTRIBUTES))


def test_cli_info_shows_the_bundle_level_fields(artifact_zip: Path, tmp_path: Path) -> None:
    rrb = tmp_path / "out.rrb"
    assert invoke("convert", "-q", artifact_zip, rrb).exit_code == 0
    for path in (artifact_zip, rrb):
        result = invoke("info", path)
        assert result.exit_code == 0, result.output
        assert "sentry" in result.output
        assert "4 files (minified_source 2, source_map 2), SYSB version 2" in result.output
        for key, value in sb.ARTIFACT_ATTRIBUTES.items():
            assert f"{key}" in result.output
            assert value in result.output
        assert "1 entries not in the manifest" in result.output
        facts = json.loads(invoke("info", "--json", path).output)
        assert facts["sentry"] == {
            "sysb_version": 2,
            "files": 4,
            "types": {"minified_source": 2, "source_map": 2},
            "attributes": sb.ARTIFACT_ATTRIBUTES,
            "extra": {},
            "unlisted": 1,
            "missing": 0,
        }


def test_cli_ls_shows_the_per_file_metadata(artifact_zip: Path, tmp_path: Path) -> None:
    rrb = tmp_path / "out.rrb"
    assert invoke("convert", "-q", artifact_zip, rrb).exit_code == 0
    listings = []
    for path in (artifact_zip, rrb):
        lines = invoke("ls", "--long", path).output.splitlines()
        assert lines[0].split()[-3:] == ["type", "url/path", "name"]
        row = next(line for line in lines if line.endswith("files/_/_/static/js/chunk-1.min.js"))
        assert "minified_source  ~/static/js/chunk-1.min.js" in row
        stray = next(line for line in lines if line.endswith("files/stray.txt"))
        assert stray.split()[-3:] == ["-", "-", "files/stray.txt"]
        records = json.loads(invoke("ls", "--json", path).output)
        by_name = {record["name"]: record for record in records}
        assert by_name["files/_/_/static/js/chunk-0.min.js.map"]["sentry"] == {
            "type": "source_map",
            "path": None,
            "url": "~/static/js/chunk-0.min.js.map",
            "headers": {"debug-id": sb.debug_id(0)},
        }
        assert "sentry" not in by_name["files/stray.txt"]
        listings.append({name: record.get("sentry") for name, record in by_name.items()})
    # The zip also lists manifest.json, which the bundle keeps in its metadata instead.
    assert listings[0].pop("manifest.json") is None
    assert listings[0] == listings[1]
    # A plain zip keeps the plain listing.
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("a.txt", "a")
    assert invoke("ls", "--long", plain).output.splitlines()[0].split()[-1] == "name"
    assert "type" not in invoke("ls", "--long", plain).output


def test_cli_convert_no_sentry_keeps_the_zip_as_it_is(artifact_zip: Path, tmp_path: Path) -> None:
    rrb = tmp_path / "plain.rrb"
    assert invoke("convert", "-q", "--no-sentry", artifact_zip, rrb).exit_code == 0
    with BundleReader(rrb) as reader:
        assert "manifest.json" in reader
        assert reader.metadata == {}


def test_cli_reports_a_broken_bundle_in_one_line(tmp_path: Path) -> None:
    files, attributes = sb.source_bundle_files()
    path = write(tmp_path, sb.build(files, attributes, manifest=b"{"))
    for command in ("info", "ls"):
        result = invoke(command, "--json", path)
        assert result.exit_code == 1
        assert result.output.startswith("randread: error: ")
        assert "manifest.json: not valid JSON" in result.output
        assert "Traceback" not in result.output
