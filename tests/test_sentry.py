"""SourceBundle: Sentry source bundles and JS artifact bundles, as zips and converted.

The bundles are built here from the format (tests/sentrybuilder.py): a
``SYSB`` header or none, ``manifest.json``, the files under ``files/``.
"""

from __future__ import annotations

import io
import json
import random
import re
import struct
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
    RandreadError,
    SourceBundle,
    SourceBundleError,
    SourceFile,
    ZipReader,
)
from randread.sentry import normalize_debug_id, parse_sysb_header, url_candidates
from tests import sentrybuilder as sb
from tests.conftest import run_threads

RAW_ERRORS = (KeyError, IndexError, struct.error, UnicodeDecodeError, json.JSONDecodeError)


def write(tmp_path: Path, data: bytes, name: str = "bundle.zip") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def converted(tmp_path: Path, data: bytes, **options: Any) -> Path:
    source = write(tmp_path, data, "in.zip")
    target = tmp_path / "out.rrb"
    randread.convert(source, target, overwrite=True, **options)
    return target


def lookups(bundle: SourceBundle, files: list[sb.File]) -> list[object]:
    """Every lookup the tests compare between a zip and its conversion."""
    answers: list[object] = []
    for file in files:
        info = file.info or {}
        answers.append(bundle.by_name(file.name))
        if "path" in info:
            answers.append(bundle.by_path(info["path"]))
        if info.get("url"):
            url = info["url"]
            answers.append(bundle.by_url(url))
            answers.append(bundle.by_url("https://example.com" + url.removeprefix("~") + "?v=1#L1"))
            record = bundle.by_url(url)
            assert record is not None
            answers.append(bundle.source_map_for(record))
        identifier = {key.lower(): value for key, value in info.get("headers", {}).items()}.get(
            "debug-id"
        )
        if identifier is not None:
            answers.append(bundle.by_debug_id(identifier, info["type"]))
    return answers


# -- pure helpers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dfb8e43a-f242-3d73-a453-aeb6a777ef75", "dfb8e43a-f242-3d73-a453-aeb6a777ef75"),
        ("DFB8E43AF2423D73A453AEB6A777EF75", "dfb8e43a-f242-3d73-a453-aeb6a777ef75"),
        ("dfb8e43a-f242-3d73-a453-aeb6a777ef75-a", "dfb8e43a-f242-3d73-a453-aeb6a777ef75-a"),
        ("DFB8E43AF2423D73A453AEB6A777EF75a", "dfb8e43a-f242-3d73-a453-aeb6a777ef75-a"),
        ("dfb8e43a-f242-3d73-a453-aeb6a777ef75-0", "dfb8e43a-f242-3d73-a453-aeb6a777ef75"),
        # Appendix digits past the eighth are ignored (the debugid crate's "tail").
        ("dfb8e43af2423d73a453aeb6a777ef750000001affff", "dfb8e43a-f242-3d73-a453-aeb6a777ef75-1a"),
        ("dfb8e43a-1", "DFB8E43A-1"),
        ("DFB8E43A1", "DFB8E43A-1"),
        ("", None),
        ("not a debug id", None),
        ("dfb8e43a-f242-3d73-a453-aeb6a777ef7", None),
        ("dfb8e43af2423d73a453aeb6a777ef75-a", None),
        ("dfb8e43a-f242-3d73-a453-aeb6a777ef75a", None),
        ("dfb8e43a-f242-3d73-a453-aeb6a777ef75-", None),
        ("gfb8e43a-f242-3d73-a453-aeb6a777ef75", None),
        ("dfb8e43a-f242-3d73-a453-aeb6a777ef75-\u0661", None),
    ],
)
def test_normalize_debug_id(text: str, expected: str | None) -> None:
    assert normalize_debug_id(text) == expected


@given(st.text(max_size=60))
def test_normalize_debug_id_never_raises_and_is_idempotent(text: str) -> None:
    canonical = normalize_debug_id(text)
    if canonical is not None:
        assert normalize_debug_id(canonical) == canonical


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://example.com/assets/bundle.min.js",
            ["https://example.com/assets/bundle.min.js", "~/assets/bundle.min.js"],
        ),
        (
            "https://example.com/assets/bundle.min.js?foo=1&bar=baz#wat",
            [
                "https://example.com/assets/bundle.min.js?foo=1&bar=baz",
                "https://example.com/assets/bundle.min.js",
                "~/assets/bundle.min.js?foo=1&bar=baz",
                "~/assets/bundle.min.js",
            ],
        ),
        (
            "app:///_next/server/pages/_error.js",
            ["app:///_next/server/pages/_error.js", "~/_next/server/pages/_error.js"],
        ),
        ("~/main.js", ["~/main.js"]),
        ("/abs/path.js", ["/abs/path.js", "~/abs/path.js"]),
    ],
)
def test_url_candidates(url: str, expected: list[str]) -> None:
    assert url_candidates(url) == expected


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"SYSB\x02\x00\x00\x00", 2),
        (b"SYSB\x01\x00\x00\x00PK", 1),
        (b"PK\x03\x04\x14\x00\x00\x00", None),
        (b"SYSB\x02", None),
        (b"", None),
    ],
)
def test_parse_sysb_header(head: bytes, expected: int | None) -> None:
    assert parse_sysb_header(head) == expected


# -- source bundles -----------------------------------------------------------------


@pytest.mark.parametrize("offsets", ["absolute", "relative"])
@pytest.mark.parametrize("header", [2, 1, None])
def test_source_bundle_fields_files_and_paths(offsets: str, header: int | None) -> None:
    files, attributes = sb.source_bundle_files()
    data = sb.build(files, attributes, header=header, offsets=offsets)  # type: ignore[arg-type]
    with SourceBundle(data) as bundle:
        assert bundle.sysb_version == header
        assert not bundle.converted
        assert dict(bundle.attributes) == attributes
        assert bundle.debug_id == "dfb8e43a-f242-3d73-a453-aeb6a777ef75-a"
        assert bundle.code_id == "dfb8e43af2423d73a453aeb6a777ef75"
        assert bundle.arch == "x86_64"
        assert bundle.object_name == "app"
        assert bundle.org is None
        assert [record.name for record in bundle.files] == [file.name for file in files]
        assert len(bundle) == 3
        for file in files:
            assert file.info is not None
            record = bundle.by_path(file.info["path"])
            assert record is not None
            assert record.name == file.name
            assert record.type == "source"
            assert record.url is None
            assert bundle.read(record) == file.data
            assert bundle.read(file.name) == file.data
            assert file.name in bundle
        # Windows paths are found with either slash, as symbolic normalises them.
        assert bundle.by_path("C:/build/lib\u00e9/util.h") is bundle.by_path(
            "C:\\build\\lib\u00e9\\util.h"
        )
        assert bundle.by_path("/nowhere.c") is None
        assert bundle.by_name("files/nowhere.c") is None
        assert bundle.unlisted == ()
        assert bundle.missing == ()


def test_source_bundle_from_path_file_object_and_open_readers(tmp_path: Path) -> None:
    files, attributes = sb.source_bundle_files()
    path = write(tmp_path, sb.build(files, attributes))
    for source in (path, str(path)):
        with SourceBundle(source) as bundle:
            assert bundle.filename == str(path)
            assert bundle.read(files[0].name) == files[0].data
    with path.open("rb") as file, SourceBundle(file) as bundle:
        assert bundle.read(files[1].name) == files[1].data
    with SourceBundle(path, backend="pread") as bundle:
        assert bundle.read(files[2].name) == files[2].data
    with ZipReader(path) as reader:
        with SourceBundle(reader) as bundle:
            assert bundle.reader is reader
        # The caller's reader stays open.
        assert reader.read(files[0].name) == files[0].data


def test_zipfile_reads_the_same_bundles() -> None:
    # Sentry's own backend opens these bundles with zipfile; both layouts work there too.
    files, attributes = sb.source_bundle_files()
    for offsets in ("absolute", "relative"):
        data = sb.build(files, attributes, offsets=offsets)  # type: ignore[arg-type]
        with zipfile.ZipFile(io.BytesIO(data)) as archive, SourceBundle(data) as bundle:
            manifest = json.loads(archive.read("manifest.json"))
            assert bundle.manifest() == manifest
            for name in manifest["files"]:
                assert bundle.read(name) == archive.read(name)


# -- artifact bundles ----------------------------------------------------------------


def test_artifact_bundle_lookups_by_url() -> None:
    files = sb.artifact_files(3)
    with SourceBundle(sb.build(files, sb.ARTIFACT_ATTRIBUTES, header=None)) as bundle:
        assert bundle.sysb_version is None
        assert (bundle.org, bundle.project, bundle.release, bundle.dist) == (
            "acme",
            "web",
            "1.0.0",
            "prod",
        )
        assert bundle.debug_id == "a0000000-0000-4000-8000-000000000001"
        name = "files/_/_/static/js/chunk-1.min.js"
        for url in (
            "~/static/js/chunk-1.min.js",
            "https://example.com/static/js/chunk-1.min.js",
            "http://cdn.example.org/static/js/chunk-1.min.js?v=3",
            "https://example.com/static/js/chunk-1.min.js#L10",
            "app:///static/js/chunk-1.min.js",
        ):
            record = bundle.by_url(url)
            assert record is not None, url
            assert record.name == name
        assert bundle.by_url("~/static/js/chunk-9.min.js") is None
        assert bundle.by_url("https://example.com/other/chunk-1.min.js") is None
        record = bundle.by_url("~/static/js/chunk-1.min.js")
        assert record is not None
        assert record.type == "minified_source"
        assert record.url == "~/static/js/chunk-1.min.js"
        assert record.path is None
        assert bundle.read(record) == files[2].data


def test_artifact_bundle_url_with_a_host_and_a_query_matches_exactly_first() -> None:
    files = [
        sb.File("files/a", b"exact", {"url": "https://example.com/app.js?v=2"}),
        sb.File("files/b", b"relative", {"url": "~/app.js"}),
        sb.File("files/c", b"no query", {"url": "https://example.com/app.js"}),
    ]
    with SourceBundle(sb.build(files, header=None)) as bundle:
        found = bundle.by_url("https://example.com/app.js?v=2")
        assert found is not None
        assert found.name == "files/a"
        found = bundle.by_url("https://example.com/app.js?v=3")
        assert found is not None
        assert found.name == "files/c"
        found = bundle.by_url("https://other.example/app.js")
        assert found is not None
        assert found.name == "files/b"


def test_artifact_bundle_debug_id_and_source_map_lookups() -> None:
    files = sb.artifact_files(4)
    with SourceBundle(sb.build(files, sb.ARTIFACT_ATTRIBUTES)) as bundle:
        identifier = sb.debug_id(2)
        minified = bundle.by_debug_id(identifier)
        assert minified is not None
        assert minified.name == "files/_/_/static/js/chunk-2.min.js"
        # Any form of the id, and header names in any case ("Debug-Id" in the manifest).
        source_map = bundle.by_debug_id(identifier.replace("-", "").upper(), "source_map")
        assert source_map is not None
        assert source_map.name == "files/_/_/static/js/chunk-2.min.js.map"
        assert source_map.headers == {"debug-id": identifier}
        assert bundle.source_map_for(minified) == source_map
        assert bundle.source_map_for("https://example.com/static/js/chunk-2.min.js") == source_map
        assert bundle.by_debug_id(identifier, "indexed_ram_bundle") is None
        assert bundle.by_debug_id("not-an-id") is None
        assert bundle.source_map_for("~/missing.js") is None
        assert json.loads(bundle.read(source_map))["debugId"] == identifier


@pytest.mark.parametrize(
    ("url", "header", "expected"),
    [
        ("~/static/js/app.min.js", "app.min.js.map", "~/static/js/app.min.js.map"),
        ("~/static/js/app.min.js", "../maps/app.map", "~/static/maps/app.map"),
        ("~/static/js/app.min.js", "./app.min.js.map", "~/static/js/app.min.js.map"),
        ("~/static/js/app.min.js", "/maps/app.map", "~/maps/app.map"),
        ("~/static/js/app.min.js", "~/maps/app.map", "~/maps/app.map"),
        ("https://cdn.example/js/app.js?v=1", "app.js.map", "https://cdn.example/js/app.js.map"),
        ("https://cdn.example/js/app.js", "https://maps.example/app.map", None),
    ],
)
def test_source_map_by_sourcemap_header(url: str, header: str, expected: str | None) -> None:
    files = [
        sb.File("files/min", b"min", {"type": "minified_source", "url": url, "headers": {}}),
        sb.File("files/map", b"{}", {"type": "source_map", "url": expected or "~/elsewhere"}),
    ]
    # The legacy X-SourceMap header counts when there is no SourceMap header.
    for name in ("SourceMap", "X-SourceMap"):
        files[0].info = {"type": "minified_source", "url": url, "headers": {name: header}}
        with SourceBundle(sb.build(files)) as bundle:
            record = bundle.by_name("files/min")
            assert record is not None
            assert record.source_mapping_url == header
            found = bundle.source_map_for(record)
            assert (found.name if found else None) == ("files/map" if expected else None)


def test_non_ascii_names_urls_and_headers(tmp_path: Path) -> None:
    files = [
        sb.File(
            "files/_/_/\u00fcber/\u30b9\u30af\u30ea\u30d7\u30c8.js",
            "console.log('\u2603')".encode(),
            {
                "type": "minified_source",
                "url": "~/\u00fcber/\u30b9\u30af\u30ea\u30d7\u30c8.js",
                "headers": {"X-Note": "na\u00efve \u2603", "debug-id": sb.debug_id(7)},
            },
        ),
        sb.File(
            "files/src/\u0645\u0631\u062d\u0628\u0627.c",
            b"int x;",
            {"type": "source", "path": "/src/\u0645\u0631\u062d\u0628\u0627.c"},
        ),
    ]
    data = sb.build(files, {"release": "r\u00e9lease-\u2603"})
    for bundle in (SourceBundle(data), SourceBundle(converted(tmp_path, data))):
        with bundle:
            assert bundle.release == "r\u00e9lease-\u2603"
            record = bundle.by_url(
                "https://example.com/\u00fcber/\u30b9\u30af\u30ea\u30d7\u30c8.js"
            )
            assert record is not None
            assert record.headers["x-note"] == "na\u00efve \u2603"
            assert bundle.read(record) == files[0].data
            by_path = bundle.by_path("/src/\u0645\u0631\u062d\u0628\u0627.c")
            assert by_path is not None
            assert bundle.read(by_path) == b"int x;"


def test_thousands_of_files(tmp_path: Path) -> None:
    files = sb.artifact_files(2500, size=16)
    data = sb.build(files, sb.ARTIFACT_ATTRIBUTES, method=zipfile.ZIP_STORED)
    with SourceBundle(data) as bundle, SourceBundle(converted(tmp_path, data)) as other:
        assert len(bundle) == len(other) == 5000
        for index in random.Random(3).sample(range(2500), 200):
            url = f"https://example.com/static/js/chunk-{index}.min.js"
            record = bundle.by_url(url)
            assert record is not None
            assert record == other.by_url(url)
            assert bundle.read(record) == other.read(record) == files[2 * index].data
            source_map = bundle.source_map_for(record)
            assert source_map is not None
            assert source_map == other.source_map_for(url)
            assert bundle.read(source_map) == files[2 * index + 1].data


# -- files the manifest and the archive disagree on ------------------------------------


def test_manifest_file_with_no_entry_is_listed_and_fails_on_read(tmp_path: Path) -> None:
    files, attributes = sb.source_bundle_files()
    ghost = sb.File("files/ghost.c", b"", {"type": "source", "path": "/ghost.c"})
    data = sb.build(files, attributes, listed_only=[ghost])
    with SourceBundle(data) as bundle:
        record = bundle.by_path("/ghost.c")
        assert record is not None
        assert record.missing
        assert bundle.missing == (record,)
        with pytest.raises(SourceBundleError, match=r"files\['files/ghost.c'\].*no entry"):
            bundle.read(record)
        with pytest.raises(KeyError):
            bundle.read("files/not-listed-either.c")
    source = write(tmp_path, data)
    with pytest.raises(SourceBundleError, match=r"ghost\.c"):
        randread.convert(source, tmp_path / "out.rrb")
    assert not (tmp_path / "out.rrb").exists()


def test_entries_missing_from_the_manifest_are_kept(tmp_path: Path) -> None:
    files, attributes = sb.source_bundle_files()
    stray = sb.File("files/stray.txt", b"not in the manifest", None)
    data = sb.build([*files, stray], attributes)
    with SourceBundle(data) as bundle:
        assert bundle.unlisted == ("files/stray.txt",)
        assert "files/stray.txt" not in bundle
        assert bundle.by_name("files/stray.txt") is None
        assert bundle.read("files/stray.txt") == stray.data
    with SourceBundle(converted(tmp_path, data)) as bundle:
        assert bundle.unlisted == ("files/stray.txt",)
        assert bundle.read("files/stray.txt") == stray.data
        assert bundle.reader.getinfo("files/stray.txt").metadata == {}


# -- bad input -------------------------------------------------------------------------


def bad_cases() -> list[tuple[str, bytes, type[Exception], str]]:
    files, attributes = sb.source_bundle_files()
    good = sb.build(files, attributes)
    manifest = sb.manifest_of(files, attributes)

    def with_manifest(value: Any, *, header: int | None = 2) -> bytes:
        return sb.build(files, attributes, manifest=value, header=header)

    def file_record(record: Any) -> bytes:
        return with_manifest({**manifest, "files": {files[0].name: record}})

    return [
        ("version 3", b"SYSB\x03\x00\x00\x00" + good[8:], SourceBundleError, "version 3"),
        ("version 0", b"SYSB\x00\x00\x00\x00" + good[8:], SourceBundleError, "version 0"),
        ("version max", b"SYSB\xff\xff\xff\xff" + good[8:], SourceBundleError, "4294967295"),
        ("no manifest", with_manifest(None), SourceBundleError, "no manifest.json"),
        (
            "no manifest, no header",
            with_manifest(None, header=None),
            NotASourceBundleError,
            "no manifest.json",
        ),
        ("not json", with_manifest(b"{files: 1}"), SourceBundleError, "line 1 column 2"),
        ("truncated json", with_manifest(b'{"files": {'), SourceBundleError, "not valid JSON"),
        ("not utf-8", with_manifest(b'{"a": "\xff"}'), SourceBundleError, "not UTF-8"),
        ("empty", with_manifest(b""), SourceBundleError, "not valid JSON"),
        ("deep", with_manifest(b"[" * 100_000), SourceBundleError, "JSON"),
        ("array", with_manifest([1, 2]), SourceBundleError, "top level must be an object"),
        ("files list", with_manifest({"files": []}), SourceBundleError, "'files' must be"),
        ("record", file_record("source"), SourceBundleError, "must be an object"),
        ("type", file_record({"type": 1}), SourceBundleError, "field 'type'"),
        ("url", file_record({"url": ["~/a"]}), SourceBundleError, "field 'url'"),
        ("path", file_record({"path": {}}), SourceBundleError, "field 'path'"),
        ("headers", file_record({"headers": "x"}), SourceBundleError, "field 'headers'"),
        ("header value", file_record({"headers": {"a": 1}}), SourceBundleError, "header 'a'"),
        ("header name", file_record({"headers": {"": "x"}}), SourceBundleError, "header ''"),
        (
            "json without files, no header",
            with_manifest({"name": "an extension"}, header=None),
            NotASourceBundleError,
            "no 'files' object",
        ),
        (
            "bad json, no header",
            with_manifest(b"{", header=None),
            NotASourceBundleError,
            "not valid JSON",
        ),
        ("not a zip", b"SYSB\x02\x00\x00\x00" + b"\x00" * 40, randread.ZipFormatError, "zip"),
        ("short header", b"SYSB\x02\x00", randread.ZipFormatError, "zip"),
    ]


BAD_CASES = bad_cases()


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [case[1:] for case in BAD_CASES],
    ids=[case[0] for case in BAD_CASES],
)
def test_bad_input_raises_a_typed_error(data: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)) as caught:
        SourceBundle(data)
    assert isinstance(caught.value, RandreadError)
    assert not isinstance(caught.value, RAW_ERRORS)


def test_bad_input_from_threads() -> None:
    def work(_index: int) -> None:
        for _name, data, error, message in BAD_CASES:
            with pytest.raises(error, match=re.escape(message)):
                SourceBundle(data)

    run_threads(4, work)


def test_lenient_fields_the_references_accept() -> None:
    files, _ = sb.source_bundle_files()
    manifest = {
        "files": {
            files[0].name: {"type": "something_new", "path": None, "headers": None, "x": [1]},
            files[1].name: {},
        },
        "source_links": {"/src/*": "https://example.com/src/*"},
        "version": 2,
        "name": "bundle",
    }
    with SourceBundle(sb.build(files, manifest=manifest)) as bundle:
        first = bundle.by_name(files[0].name)
        assert first == SourceFile(files[0].name, "something_new", None, None, {}, {"x": [1]})
        assert bundle.by_name(files[1].name) == SourceFile(files[1].name, None, None, None, {})
        assert dict(bundle.attributes) == {"name": "bundle"}
        assert dict(bundle.extra) == {"source_links": manifest["source_links"], "version": 2}
        assert bundle.unlisted == (files[2].name,)


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


# -- conversion ----------------------------------------------------------------------


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


# -- threads and properties ----------------------------------------------------------


def test_one_bundle_shared_by_threads(tmp_path: Path) -> None:
    files = sb.artifact_files(300)
    data = sb.build(files, sb.ARTIFACT_ATTRIBUTES)
    for bundle in (SourceBundle(data), SourceBundle(converted(tmp_path, data))):

        def work(index: int, bundle: SourceBundle = bundle) -> None:
            chooser = random.Random(index)
            for _ in range(400):
                number = chooser.randrange(300)
                record = bundle.by_url(f"https://example.com/static/js/chunk-{number}.min.js")
                assert record is not None
                assert bundle.read(record) == files[2 * number].data
                source_map = bundle.source_map_for(record)
                assert source_map is not None
                assert bundle.read(source_map) == files[2 * number + 1].data
                assert bundle.by_debug_id(sb.debug_id(number), "source_map") == source_map

        with bundle:
            run_threads(8, work)


header_names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12
)
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
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


@settings(max_examples=200, deadline=None)
@given(manifest=st.binary(max_size=200), header=st.sampled_from([None, 2]))
def test_any_manifest_bytes_open_or_raise_a_typed_error(
    manifest: bytes, header: int | None
) -> None:
    files, _ = sb.source_bundle_files()
    data = sb.build(files, manifest=manifest, header=header)
    try:
        with SourceBundle(data) as bundle:
            for record in bundle.files:
                bundle.by_url(record.url or "")
                bundle.source_map_for(record)
    except SourceBundleError:
        pass


# -- command line --------------------------------------------------------------------


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


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["files", "type", "path", "url", "headers", "x"]), children
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(manifest=json_values, header=st.sampled_from([None, 2]))
def test_any_json_manifest_opens_or_raises_a_typed_error(manifest: Any, header: int | None) -> None:
    files, _ = sb.source_bundle_files()
    data = sb.build(files, manifest=json.dumps(manifest).encode(), header=header)
    try:
        with SourceBundle(data) as bundle:
            for record in bundle.files:
                bundle.by_url(record.url or "~/x")
                bundle.by_debug_id(record.debug_id or "", record.type or "source")
                bundle.source_map_for(record)
                record.manifest_entry()
            bundle.manifest()
    except SourceBundleError:
        pass


MUTATION_SEED = sb.build(sb.artifact_files(3), sb.ARTIFACT_ATTRIBUTES, method=zipfile.ZIP_STORED)


@settings(max_examples=300, deadline=None)
@given(
    changes=st.lists(
        st.tuples(st.integers(0, len(MUTATION_SEED) - 1), st.integers(0, 255)), max_size=4
    ),
    cut=st.integers(0, 64),
)
def test_damaged_bundle_bytes_raise_only_randread_errors(
    changes: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(MUTATION_SEED)
    for offset, value in changes:
        data[offset] = value
    damaged = bytes(data[: len(data) - cut] if cut < 8 else data)
    try:
        with SourceBundle(damaged) as bundle:
            for record in bundle.files:
                bundle.source_map_for(record)
                bundle.read(record)
    except RandreadError:
        pass
