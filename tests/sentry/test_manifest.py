"""randread.sentry.manifest: the SYSB header and manifest.json, good and bad.

The bundles are built here from the format (tests/sentrybuilder.py): a
``SYSB`` header or none, ``manifest.json``, the files under ``files/``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import randread
from randread import (
    NotASourceBundleError,
    RandreadError,
    SourceBundle,
    SourceBundleError,
    SourceFile,
)
from randread.sentry import parse_sysb_header
from tests import sentrybuilder as sb
from tests.conftest import run_threads
from tests.sentry import RAW_ERRORS, texts


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


VALID_MANIFEST = json.dumps(sb.manifest_of(*sb.source_bundle_files())).encode()


@settings(max_examples=200, deadline=None)
@given(
    manifest=st.binary(max_size=200)
    | st.builds(
        lambda before, after: before + VALID_MANIFEST + after,
        st.sampled_from([b"", b" ", b"\n\t"]),
        st.sampled_from([b"", b"\n", b"  \r\n"]),
    ),
    header=st.sampled_from([None, 2]),
)
def test_any_manifest_bytes_open_or_raise_a_typed_error(
    manifest: bytes, header: int | None
) -> None:
    files, _ = sb.source_bundle_files()
    data = sb.build(files, manifest=manifest, header=header)
    # A valid manifest in JSON whitespace: it must open and read, so the test
    # fails if the reader rejects every manifest.
    valid = manifest.strip() == VALID_MANIFEST
    try:
        with SourceBundle(data) as bundle:
            for record in bundle.files:
                bundle.by_url(record.url or "")
                bundle.source_map_for(record)
            read = {record.name: bundle.read(record) for record in bundle.files}
    except SourceBundleError:
        assert not valid, manifest
        return
    if valid:
        assert read == {file.name: file.data for file in files}


def _nested(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """JSON arrays and objects (keys a manifest uses) of ``children``."""
    return st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["files", "type", "path", "url", "headers", "x"]), children
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    _nested,
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    manifest=json_values,
    extra=st.none() | st.tuples(st.sampled_from(["x", "comment", "x-extra"]), json_values),
    header=st.sampled_from([None, 2]),
)
def test_any_json_manifest_opens_or_raises_a_typed_error(
    manifest: Any, extra: tuple[str, Any] | None, header: int | None
) -> None:
    files, attributes = sb.source_bundle_files()
    if extra is not None:
        # A valid manifest with one more attribute of any JSON value: it must
        # open and read, so the test fails if every manifest is rejected.
        manifest = sb.manifest_of(files, attributes) | {extra[0]: extra[1]}
    data = sb.build(files, manifest=json.dumps(manifest).encode(), header=header)
    try:
        with SourceBundle(data) as bundle:
            for record in bundle.files:
                bundle.by_url(record.url or "~/x")
                bundle.by_debug_id(record.debug_id or "", record.type or "source")
                bundle.source_map_for(record)
                record.manifest_entry()
            bundle.manifest()
            read = {record.name: bundle.read(record) for record in bundle.files}
    except SourceBundleError:
        assert extra is None, extra
        return
    if extra is not None:
        assert read == {file.name: file.data for file in files}
