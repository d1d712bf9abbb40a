"""SourceBundle against zipfile + json, the way artifact bundles are read today.

The bundle: a JavaScript artifact bundle of 10 000 files (5 000 minified
files and their 5 000 source maps, 31 MB), built here with zipfile
(deflate, level 6) behind a ``SYSB`` header, as sentry-cli writes them, and
converted to randread bundles. Each benchmarked call looks up and reads 256
files by full url (``https://example.com/static/js/chunk-17.min.js``, which
the manifest holds as ``~/static/js/chunk-17.min.js``), in one fixed, seeded
order, and records ``extra_info["reads"]``.

Groups:

* ``sentry-url-read``: the baseline parses ``manifest.json`` with zipfile and
  json once, keeps a url -> zip path dict, tries the same url candidates and
  reads with ``ZipFile.read`` (what Sentry's ``ArtifactBundleArchive`` does);
  against ``SourceBundle.by_url`` + ``read`` over the same zip and over
  converted bundles (zstd with a dictionary, lz4, stored).
* ``sentry-url-lookup``: the lookups alone.
* ``sentry-open``: opening: zipfile + json + the dicts, against SourceBundle
  over the zip and over the converted zstd bundle.
* ``sentry-threads``: 1 and 2 threads sharing one reader, 512 reads per round.
"""

from __future__ import annotations

import io
import json
import random
import struct
import zipfile

import pytest

import randread
from randread.sentry import url_candidates

PAIRS = 5_000
SAMPLE = 256
THREAD_READS = 512
THREAD_COUNTS = (1, 2)
WORDS = [
    "function",
    "return",
    "var",
    "const",
    "let",
    "this",
    "window",
    "document",
    "prototype",
    "length",
    "undefined",
    "null",
    "true",
    "false",
    "if",
    "else",
    "for",
    "while",
    "new",
    "typeof",
    "instanceof",
]

#: randread bundles to compare: label -> convert options
CONVERTED = {
    "bundle-zstd": {"codec": "zstd"},
    "bundle-lz4": {"codec": "lz4", "level": 0},
    "bundle-none": {"codec": "none"},
}


def minified(chooser: random.Random, index: int) -> bytes:
    words = " ".join(chooser.choice(WORDS) for _ in range(450))
    return f"/*! chunk {index} */{words}\n//# sourceMappingURL=chunk-{index}.min.js.map\n".encode()


def source_map(chooser: random.Random, index: int) -> bytes:
    mappings = ";".join(
        ",".join("".join(chooser.choice("ACDEGIKMOQSUWYgik") for _ in range(4)) for _ in range(8))
        for _ in range(60)
    )
    document = {
        "version": 3,
        "file": f"chunk-{index}.min.js",
        "sources": [f"src/module-{index}-{part}.js" for part in range(4)],
        "names": [chooser.choice(WORDS) for _ in range(40)],
        "mappings": mappings,
    }
    return json.dumps(document).encode()


def debug_id(index: int) -> str:
    return f"{index:08x}-0000-4000-8000-{index:012x}"


@pytest.fixture(scope="session")
def artifact_bundle(tmp_path_factory):
    """The 10 000-file artifact bundle as a SYSB zip, plus the urls to read."""
    directory = tmp_path_factory.mktemp("sentry")
    chooser = random.Random(15)
    buffer = io.BytesIO()
    buffer.write(struct.pack("<4sI", b"SYSB", 2))
    files = {}
    contents = {}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for index in range(PAIRS):
            for suffix, kind, body in (
                ("", "minified_source", minified(chooser, index)),
                (".map", "source_map", source_map(chooser, index)),
            ):
                url = f"~/static/js/chunk-{index}.min.js{suffix}"
                name = f"files/_/_/static/js/chunk-{index}.min.js{suffix}"
                headers = {"debug-id": debug_id(index)}
                if not suffix:
                    headers["sourcemap"] = f"chunk-{index}.min.js.map"
                files[name] = {"type": kind, "url": url, "headers": headers}
                archive.writestr(name, body)
                contents[url] = body
        manifest = {"files": files, "org": "acme", "release": "1.0.0", "debug_id": debug_id(0)}
        archive.writestr("manifest.json", json.dumps(manifest))
    path = directory / "artifacts.zip"
    path.write_bytes(buffer.getvalue())
    urls = sorted(contents)
    sample = ["https://example.com" + url.removeprefix("~") for url in chooser.sample(urls, SAMPLE)]
    expected = [contents["~" + url.removeprefix("https://example.com")] for url in sample]
    converted = {}
    for label, options in CONVERTED.items():
        target = directory / f"artifacts-{label}.rrb"
        randread.convert(path, target, **options)
        converted[label] = target
    return path, converted, sample, expected


class ZipfileArtifacts:
    """How artifact bundles are read today: zipfile, json, and a url dict built at open."""

    def __init__(self, path):
        self.archive = zipfile.ZipFile(path)
        manifest = json.loads(self.archive.read("manifest.json").decode("utf-8"))
        self.by_url = {}
        for name, info in manifest.get("files", {}).items():
            url = info.get("url")
            if url:
                self.by_url[url] = (name, info)

    def lookup(self, url):
        for candidate in url_candidates(url):
            found = self.by_url.get(candidate)
            if found is not None:
                return found
        return None

    def read_url(self, url):
        name, _info = self.lookup(url)
        return self.archive.read(name)

    def close(self):
        self.archive.close()


def record(benchmark, group, role, *, reads, codec=None, threads=None):
    benchmark.group = group
    benchmark.extra_info.update(role=role, reads=reads)
    if codec is not None:
        benchmark.extra_info["codec"] = codec
    if threads is not None:
        benchmark.extra_info["threads"] = threads


def read_all(read, urls):
    def batch():
        for url in urls:
            read(url)

    return batch


def source_bundle_read(bundle):
    def read(url):
        return bundle.read(bundle.by_url(url))

    return read


# -- lookup + read by url --------------------------------------------------------------


def test_url_read_zipfile_json(benchmark, artifact_bundle):
    path, _converted, sample, expected = artifact_bundle
    baseline = ZipfileArtifacts(path)
    try:
        assert [baseline.read_url(url) for url in sample] == expected
        record(benchmark, "sentry-url-read", "baseline", reads=len(sample), codec="zlib")
        benchmark(read_all(baseline.read_url, sample))
    finally:
        baseline.close()


@pytest.mark.parametrize("label", ["zip", *CONVERTED])
def test_url_read_source_bundle(benchmark, artifact_bundle, label):
    path, converted, sample, expected = artifact_bundle
    with randread.SourceBundle(path if label == "zip" else converted[label]) as bundle:
        read = source_bundle_read(bundle)
        assert [read(url) for url in sample] == expected
        record(benchmark, "sentry-url-read", "subject", reads=len(sample), codec=label)
        benchmark(read_all(read, sample))


def test_url_lookup_zipfile_json(benchmark, artifact_bundle):
    path, _converted, sample, _expected = artifact_bundle
    baseline = ZipfileArtifacts(path)
    try:
        assert all(baseline.lookup(url) is not None for url in sample)
        record(benchmark, "sentry-url-lookup", "baseline", reads=len(sample))
        benchmark(read_all(baseline.lookup, sample))
    finally:
        baseline.close()


def test_url_lookup_source_bundle(benchmark, artifact_bundle):
    path, _converted, sample, _expected = artifact_bundle
    with randread.SourceBundle(path) as bundle:
        assert all(bundle.by_url(url) is not None for url in sample)
        record(benchmark, "sentry-url-lookup", "subject", reads=len(sample))
        benchmark(read_all(bundle.by_url, sample))


# -- open ------------------------------------------------------------------------------


def test_open_zipfile_json(benchmark, artifact_bundle):
    path = artifact_bundle[0]
    record(benchmark, "sentry-open", "baseline", reads=1)
    benchmark.pedantic(lambda: ZipfileArtifacts(path).close(), rounds=10, warmup_rounds=1)


@pytest.mark.parametrize("label", ["zip", "bundle-zstd"])
def test_open_source_bundle(benchmark, artifact_bundle, label):
    path, converted, _sample, _expected = artifact_bundle
    source = path if label == "zip" else converted[label]
    record(benchmark, "sentry-open", "subject", reads=1, codec=label)
    benchmark.pedantic(lambda: randread.SourceBundle(source).close(), rounds=10, warmup_rounds=1)


# -- threads ---------------------------------------------------------------------------


@pytest.mark.parametrize("threads", THREAD_COUNTS)
@pytest.mark.parametrize("role", ["baseline", "subject"])
def test_threads(benchmark, artifact_bundle, thread_gang, threads, role):
    path, converted, sample, expected = artifact_bundle
    if role == "baseline":
        reader = ZipfileArtifacts(path)
        read = reader.read_url
    else:
        reader = randread.SourceBundle(converted["bundle-zstd"])
        read = source_bundle_read(reader)
    try:
        assert read(sample[0]) == expected[0]
        per_thread = THREAD_READS // threads
        urls = (sample * (THREAD_READS // len(sample) + 1))[:THREAD_READS]
        gang = thread_gang(threads)

        def job(index):
            for url in urls[index * per_thread : (index + 1) * per_thread]:
                read(url)

        record(
            benchmark,
            "sentry-threads",
            role,
            reads=THREAD_READS,
            codec="zlib" if role == "baseline" else "bundle-zstd",
            threads=threads,
        )
        benchmark.pedantic(gang.run, args=(job,), rounds=20, warmup_rounds=1)
    finally:
        reader.close()
