"""randread.sentry.metadata: Sentry bundles converted, and read back from the metadata maps."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import randread
from randread import (
    BundleReader,
    BundleWriter,
    NotASourceBundleError,
    SourceBundle,
    SourceBundleError,
)
from tests import sentrybuilder as sb
from tests.sentry import converted, lookups, texts, write


def test_a_plain_bundle_is_not_a_source_bundle(tmp_path: Path) -> None:
    path = tmp_path / "plain.rrb"
    with BundleWriter(path) as writer:
        writer.add("a.txt", b"a")
    with pytest.raises(NotASourceBundleError, match=r"sentry\.bundle"):
        SourceBundle(path)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"sentry.bundle": "2", "sentry.files": "1"}, "this reader reads '1'"),
        ({"sentry.bundle": "1"}, "no 'sentry.files'"),
        ({"sentry.bundle": "1", "sentry.files": "x"}, "'sentry.files' is 'x'"),
        ({"sentry.bundle": "1", "sentry.files": "5"}, "has 1 entries"),
        ({"sentry.bundle": "1", "sentry.files": "1", "sentry.sysb": "v2"}, "'v2'"),
        ({"sentry.bundle": "1", "sentry.files": "1", "sentry.json": "[1]"}, "JSON object"),
        ({"sentry.bundle": "1", "sentry.files": "1", "sentry.json": "{"}, "not valid JSON"),
    ],
)
def test_damaged_converted_metadata(tmp_path: Path, metadata: dict[str, str], message: str) -> None:
    path = tmp_path / "damaged.rrb"
    with BundleWriter(path, metadata=metadata) as writer:
        writer.add("files/a.js", b"a", metadata={"sentry.json": "not json"})
    with pytest.raises(SourceBundleError, match=re.escape(message)):
        SourceBundle(path)


def test_damaged_entry_metadata(tmp_path: Path) -> None:
    path = tmp_path / "damaged.rrb"
    with BundleWriter(path, metadata={"sentry.bundle": "1", "sentry.files": "1"}) as writer:
        writer.add("files/a.js", b"a", metadata={"sentry.json": "not json"})
    with pytest.raises(SourceBundleError, match=r"entry 'files/a\.js'"):
        SourceBundle(path)


def conversion_cases() -> list[tuple[str, list[sb.File], bytes]]:
    source_files, attributes = sb.source_bundle_files()
    artifact = sb.artifact_files(20)
    stray = sb.File("files/stray.txt", b"stray", None)
    return [
        ("source bundle", source_files, sb.build(source_files, attributes)),
        (
            "source bundle, relative",
            source_files,
            sb.build(source_files, attributes, offsets="relative"),
        ),
        ("artifact bundle", artifact, sb.build(artifact, sb.ARTIFACT_ATTRIBUTES, header=None)),
        (
            "artifact bundle with SYSB and extras",
            [*artifact, stray],
            sb.build(
                [*artifact, stray],
                {**sb.ARTIFACT_ATTRIBUTES, "comment": "a field called comment", "n": 3},
            ),
        ),
    ]


@pytest.mark.parametrize(
    ("files", "data"),
    [case[1:] for case in conversion_cases()],
    ids=[case[0] for case in conversion_cases()],
)
@pytest.mark.parametrize("codec", ["auto", "lz4", "none"])
def test_converted_bundle_answers_every_lookup_as_the_original(
    tmp_path: Path, files: list[sb.File], data: bytes, codec: str
) -> None:
    with (
        SourceBundle(data) as original,
        SourceBundle(converted(tmp_path, data, codec=codec)) as copy,
    ):
        assert copy.converted
        assert copy.sysb_version == original.sysb_version
        assert copy.manifest() == original.manifest()
        assert copy.attributes == original.attributes
        assert copy.extra == original.extra
        assert copy.files == original.files
        assert copy.unlisted == original.unlisted
        assert (copy.debug_id, copy.org, copy.release, copy.dist, copy.arch) == (
            original.debug_id,
            original.org,
            original.release,
            original.dist,
            original.arch,
        )
        assert lookups(copy, files) == lookups(original, files)
        for record in original.files:
            assert copy.read(record) == original.read(record)
        assert "manifest.json" not in copy.reader


def test_converted_metadata_maps_are_readable_as_they_are(tmp_path: Path) -> None:
    files = sb.artifact_files(1)
    path = converted(tmp_path, sb.build(files, sb.ARTIFACT_ATTRIBUTES))
    with BundleReader(path) as reader:
        assert reader.metadata == {
            "sentry.bundle": "1",
            "sentry.files": "2",
            "sentry.sysb": "2",
            "sentry.attr.org": "acme",
            "sentry.attr.project": "web",
            "sentry.attr.release": "1.0.0",
            "sentry.attr.dist": "prod",
            "sentry.attr.debug_id": "a0000000-0000-4000-8000-000000000001",
        }
        assert reader.getinfo("files/_/_/static/js/chunk-0.min.js").metadata == {
            "sentry.type": "minified_source",
            "sentry.url": "~/static/js/chunk-0.min.js",
            "sentry.header.debug-id": sb.debug_id(0),
            "sentry.header.sourcemap": "chunk-0.min.js.map",
        }


def test_convert_sentry_switch(tmp_path: Path) -> None:
    files = sb.artifact_files(1)
    source = write(tmp_path, sb.build(files, header=None))
    randread.convert(source, tmp_path / "plain.rrb", sentry=False)
    with BundleReader(tmp_path / "plain.rrb") as reader:
        assert "manifest.json" in reader
        assert reader.metadata == {}
    plain_zip = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("manifest.json", '{"name": "not a sentry bundle"}')
    randread.convert(plain_zip, tmp_path / "auto.rrb")
    with BundleReader(tmp_path / "auto.rrb") as reader:
        assert reader.namelist() == ["manifest.json"]
    with pytest.raises(NotASourceBundleError):
        randread.convert(plain_zip, tmp_path / "forced.rrb", sentry=True)


def test_convert_refuses_an_unknown_header_version(tmp_path: Path) -> None:
    files, attributes = sb.source_bundle_files()
    data = sb.build(files, attributes, header=7)
    source = write(tmp_path, data)
    with pytest.raises(SourceBundleError, match="version 7"):
        randread.convert(source, tmp_path / "out.rrb")


header_names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12
)


records = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["source", "minified_source", "source_map", "other"]),
        "path": texts,
        "url": texts,
        "headers": st.dictionaries(header_names.map(str.lower), texts, max_size=3),
    },
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    manifest_files=st.dictionaries(
        st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)
        .map(lambda name: "files/" + name)
        # zipfile ends a name at its first NUL; a trailing slash makes a directory.
        .filter(lambda name: "\x00" not in name and not name.endswith("/")),
        records,
        max_size=8,
    ),
    attributes=st.dictionaries(header_names.filter(lambda key: key != "files"), texts, max_size=4),
    header=st.sampled_from([None, 1, 2]),
)
def test_round_trip_keeps_every_manifest(
    tmp_path: Path,
    manifest_files: dict[str, dict[str, Any]],
    attributes: dict[str, str],
    header: int | None,
) -> None:
    files = [sb.File(name, name.encode(), info) for name, info in manifest_files.items()]
    data = sb.build(files, attributes, header=header)
    with SourceBundle(data) as original:
        target = converted(tmp_path, data, sentry=True)
        with SourceBundle(target) as copy:
            # Empty headers objects are left out, as symbolic writes manifests.
            expected = json.loads(json.dumps(sb.manifest_of(files, attributes)))
            for record in expected["files"].values():
                if record.get("headers") == {}:
                    del record["headers"]
            assert copy.manifest() == original.manifest() == expected
            assert lookups(copy, files) == lookups(original, files)
