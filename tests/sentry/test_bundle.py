"""randread.sentry.bundle: SourceBundle over source bundles and JS artifact bundles.

The bundles are built here from the format (tests/sentrybuilder.py): a
``SYSB`` header or none, ``manifest.json``, the files under ``files/``.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import randread
from randread import (
    RandreadError,
    SourceBundle,
    SourceBundleError,
    ZipReader,
)
from tests import sentrybuilder as sb
from tests.conftest import run_threads
from tests.sentry import converted, write


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


MUTATION_SEED = sb.build(sb.artifact_files(3), sb.ARTIFACT_ATTRIBUTES, method=zipfile.ZIP_STORED)
#: member name -> (start, end) of its stored bytes in MUTATION_SEED
MUTATION_MEMBERS = {
    info.filename: (
        start := info.header_offset + 30 + len(info.filename.encode()) + len(info.extra),
        start + info.compress_size,
    )
    for info in zipfile.ZipFile(io.BytesIO(MUTATION_SEED)).infolist()
    if info.filename != "manifest.json"
}


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
    changed = {
        offset
        for offset, _ in changes
        if damaged[offset : offset + 1] != MUTATION_SEED[offset : offset + 1]
    }
    # Damage confined to the stored bytes of members leaves every record intact:
    # such a bundle must open, and members the damage missed read back right.
    structure_intact = len(damaged) == len(MUTATION_SEED) and all(
        any(start <= offset < end for start, end in MUTATION_MEMBERS.values()) for offset in changed
    )
    read: dict[str, bytes] = {}
    try:
        with SourceBundle(damaged) as bundle:
            for record in bundle.files:
                # Reads first: a damaged source map may fail the lookup of another record.
                with contextlib.suppress(RandreadError):
                    read[record.name] = bundle.read(record)
                with contextlib.suppress(RandreadError):
                    bundle.source_map_for(record)
    except RandreadError:
        pass
    if structure_intact:
        for name, (start, end) in MUTATION_MEMBERS.items():
            if not any(start <= offset < end for offset in changed):
                assert read.get(name) == MUTATION_SEED[start:end], name


@pytest.mark.parametrize("header", [2, None])
def test_an_open_zip_reader_gives_the_sysb_header_whatever_it_reads(
    tmp_path: Path, header: int | None
) -> None:
    files, attributes = sb.source_bundle_files()
    data = sb.build(files, attributes, header=header)
    path = write(tmp_path, data)
    with path.open("rb") as file:
        sources: list[object] = [path, data, randread.BytesReadAt(data), file, io.BytesIO(data)]
        for source in sources:
            with ZipReader(source) as reader, SourceBundle(reader) as bundle:  # type: ignore[arg-type]
                assert bundle.sysb_version == header
                assert bundle.read(files[0].name) == files[0].data


def test_a_closed_zip_reader_is_refused() -> None:
    files, attributes = sb.source_bundle_files()
    reader = ZipReader(sb.build(files, attributes))
    reader.close()
    with pytest.raises(randread.ClosedError, match="closed"):
        SourceBundle(reader)
