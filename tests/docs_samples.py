"""The archives and files the documentation's examples use, built on demand.

Each page's examples run in a temporary directory of their own. Before the
first block runs, every sample whose name appears in the page is created
there (``data.zip``, ``site.zip``, ``shards/``, ...), so a page needs no setup
code of its own to use them; a page that mentions none gets an empty
directory. What each sample holds is what the pages say it holds: the entries
``docs/cli.md`` lists for ``data.zip``, the Sentry fields ``docs/sentry.md``
shows for ``artifacts.zip``.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import randread
from tests import sentrybuilder

DATE_TIME = (2024, 5, 17, 14, 3, 22)


def _write_zip(path: Path, entries: dict[str, tuple[bytes, int]], *, comment: bytes = b"") -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, (data, method) in entries.items():
            info = zipfile.ZipInfo(name, DATE_TIME)
            info.compress_type = method
            archive.writestr(info, data)
        archive.comment = comment


def _data_entries() -> dict[str, tuple[bytes, int]]:
    return {
        "README.md": (b"# data\n" * 300, zipfile.ZIP_DEFLATED),
        "images/": (b"", zipfile.ZIP_STORED),
        "images/logo.png": (bytes(range(256)) * 20, zipfile.ZIP_STORED),
        "src/main.py": (b"print('hello')\n" * 500, zipfile.ZIP_DEFLATED),
    }


def data_zip(directory: Path) -> None:
    """``data.zip``: the four entries of docs/cli.md's examples, and a comment."""
    _write_zip(directory / "data.zip", _data_entries(), comment=b"release 1.2")


def bad_zip(directory: Path) -> None:
    """``bad.zip``: ``data.zip`` with one byte of ``images/logo.png`` flipped."""
    path = directory / "bad.zip"
    _write_zip(path, _data_entries())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("images/logo.png")
    with path.open("r+b") as file:
        file.seek(info.header_offset + 26)
        lengths = file.read(4)
        start = (
            info.header_offset
            + 30
            + int.from_bytes(lengths[:2], "little")
            + int.from_bytes(lengths[2:], "little")
        )
        file.seek(start + 100)
        byte = file.read(1)[0]
        file.seek(start + 100)
        file.write(bytes([byte ^ 0xFF]))


def evil_zip(directory: Path) -> None:
    """``evil.zip``: an entry whose name climbs out of the target (``../x``)."""
    _write_zip(directory / "evil.zip", {"../x": (b"x", zipfile.ZIP_STORED)})


def big_zip(directory: Path) -> None:
    """``big.zip``: 20 000 tiny stored entries, where an index cache starts to pay."""
    with zipfile.ZipFile(directory / "big.zip", "w") as archive:
        for index in range(20_000):
            archive.writestr(zipfile.ZipInfo(f"dir{index % 10}/file_{index:07d}.txt"), b"x")


def site_zip(directory: Path) -> None:
    """``site.zip``: a small web site (pages, and a directory ``static/``)."""
    page = b"<html><body>" + b"<p>randread</p>" * 200 + b"</body></html>\n"
    entries = {
        name: (page.replace(b"randread", name.encode()), zipfile.ZIP_DEFLATED)
        for name in ("index.html", "a.html", "b.html", "c.html")
    }
    entries["static/app.js"] = (b"console.log('app');\n" * 50, zipfile.ZIP_DEFLATED)
    entries["static/style.css"] = (b"body { margin: 0 }\n" * 50, zipfile.ZIP_DEFLATED)
    _write_zip(directory / "site.zip", entries)


def symbols_zip(directory: Path) -> None:
    """``symbols.zip``: a debug file and a log, as in the quickstart."""
    _write_zip(
        directory / "symbols.zip",
        {
            "libfoo.so.debug": (b"\x7fELF" + bytes(range(256)) * 64, zipfile.ZIP_DEFLATED),
            "big.log": (b"GET /index.html 200\n" * 5000, zipfile.ZIP_DEFLATED),
        },
    )


ARTIFACT_ATTRIBUTES = {
    "org": "acme",
    "release": "1.0.0",
    "dist": "prod",
    "debug_id": "a0000000-0000-4000-8000-000000000001",
}


def _artifact_bundle() -> bytes:
    files = []
    for index, name in enumerate(("app", "vendor")):
        debug_id = f"a0000000-0000-4000-8000-00000000000{index + 2}"
        url = f"~/static/js/{name}.min.js"
        files.append(
            sentrybuilder.File(
                f"files/_/_/static/js/{name}.min.js",
                f"function {name}(){{}}\n//# sourceMappingURL={name}.min.js.map\n".encode(),
                {
                    "type": "minified_source",
                    "url": url,
                    "headers": {"debug-id": debug_id, "sourcemap": f"{name}.min.js.map"},
                },
            )
        )
        files.append(
            sentrybuilder.File(
                f"files/_/_/static/js/{name}.min.js.map",
                json.dumps({"version": 3, "file": f"{name}.min.js", "mappings": ""}).encode(),
                {"type": "source_map", "url": f"{url}.map", "headers": {"debug-id": debug_id}},
            )
        )
    return sentrybuilder.build(files, ARTIFACT_ATTRIBUTES)


def artifacts_zip(directory: Path) -> None:
    """``artifacts.zip``: a Sentry artifact bundle (two minified files, their maps)."""
    (directory / "artifacts.zip").write_bytes(_artifact_bundle())


def bundle_zip(directory: Path) -> None:
    """``bundle.zip``: the same artifact bundle under the name docs/sentry.md uses."""
    (directory / "bundle.zip").write_bytes(_artifact_bundle())


def my_files(directory: Path) -> None:
    """``my_files/``: a directory of files to benchmark."""
    root = directory / "my_files"
    for index in range(40):
        path = root / f"part{index % 4}" / f"file{index}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"line {index}\n".encode() * (50 + index * 10))


def shards(directory: Path) -> None:
    """``shards/``: four bundles of JSON records (and a README each), for Dask."""
    root = directory / "shards"
    root.mkdir(exist_ok=True)
    kinds = ("page", "image", "video")
    for shard in range(4):
        with randread.BundleWriter(root / f"{shard:04d}.rrb", overwrite=True) as writer:
            for index in range(25):
                record = {"id": shard * 100 + index, "kind": kinds[index % 3]}
                writer.add(f"records/{index:03d}.json", json.dumps(record).encode())
            writer.add("README.txt", b"shard of sample records\n")


def tables_zip(directory: Path) -> None:
    """``tables.zip``: two CSV tables under ``tables/``."""
    rows = "id,name\n" + "".join(f"{index},row {index}\n" for index in range(100))
    _write_zip(
        directory / "tables.zip",
        {
            "tables/a.csv": (rows.encode(), zipfile.ZIP_DEFLATED),
            "tables/b.csv": (rows.upper().encode(), zipfile.ZIP_DEFLATED),
        },
    )


#: the name a page mentions -> what creates it in the page's directory
SAMPLES: dict[str, Callable[[Path], None]] = {
    "data.zip": data_zip,
    "bad.zip": bad_zip,
    "evil.zip": evil_zip,
    "big.zip": big_zip,
    "site.zip": site_zip,
    "symbols.zip": symbols_zip,
    "artifacts.zip": artifacts_zip,
    "bundle.zip": bundle_zip,
    "my_files/": my_files,
    "shards/": shards,
    "tables.zip": tables_zip,
}


def create_samples(text: str, directory: Path) -> list[str]:
    """Create in ``directory`` every sample ``text`` mentions; return their names."""
    made = []
    for name, build in SAMPLES.items():
        if name in text:
            build(directory)
            made.append(name)
    return made
