"""Build Sentry source bundles and JavaScript artifact bundles for tests.

The layout follows docs/sentry.md: an optional 8-byte ``SYSB`` header (magic,
little-endian u32 version), then a zip holding ``manifest.json`` and the files
it lists by their zip path.
"""

from __future__ import annotations

import io
import json
import struct
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any, Literal

#: manifest=DEFAULT writes the manifest built from the files and attributes
DEFAULT: Any = object()


@dataclass
class File:
    """One zip entry; ``info`` is its manifest record, or None to leave it out of the manifest."""

    name: str
    data: bytes
    info: dict[str, Any] | None = field(default_factory=dict)


def manifest_of(files: list[File], attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "files": {file.name: file.info for file in files if file.info is not None}
    }
    document.update(attributes or {})
    return document


def build(
    files: list[File],
    attributes: dict[str, Any] | None = None,
    *,
    header: int | None = 2,
    offsets: Literal["absolute", "relative"] = "absolute",
    manifest: Any = DEFAULT,
    listed_only: list[File] | None = None,
    method: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    """Return the bytes of a bundle holding ``files`` (plus ``listed_only`` in the manifest only).

    ``offsets="absolute"`` writes the zip after the header into one stream, so
    its offsets count the header (as symbolic's writer does); ``"relative"``
    prepends the header to a finished zip (``cat header bundle.zip``).
    ``manifest`` may be bytes, a JSON-able value, or None for no manifest.
    """
    if manifest is DEFAULT:
        manifest = manifest_of(files + (listed_only or []), attributes)
    prefix = struct.pack("<4sI", b"SYSB", header) if header is not None else b""
    buffer = io.BytesIO()
    if offsets == "absolute":
        buffer.write(prefix)
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for file in files:
            archive.writestr(file.name, file.data)
        if manifest is not None:
            text = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
            archive.writestr("manifest.json", text)
    data = buffer.getvalue()
    return prefix + data if offsets == "relative" else data


def source_bundle_files() -> tuple[list[File], dict[str, str]]:
    """A native source bundle: sources with their build paths (one Windows path, non-ASCII)."""
    files = [
        File(
            "files/usr/src/app/main.c",
            b"int main(void) { return 0; }\n",
            {"type": "source", "path": "/usr/src/app/main.c"},
        ),
        File(
            "files/C/build/lib\u00e9/util.h",
            "/* d\u00e9j\u00e0 vu */\n".encode(),
            {"type": "source", "path": "C:\\build\\lib\u00e9\\util.h"},
        ),
        File(
            "files/usr/src/\u6e90/\u30c6\u30b9\u30c8.c",
            "// \u6e90\u30b3\u30fc\u30c9\n".encode(),
            {"type": "source", "path": "/usr/src/\u6e90/\u30c6\u30b9\u30c8.c"},
        ),
    ]
    attributes = {
        "debug_id": "DFB8E43A-F242-3D73-A453-AEB6A777EF75-a",
        "code_id": "dfb8e43af2423d73a453aeb6a777ef75",
        "arch": "x86_64",
        "object_name": "app",
    }
    return files, attributes


def debug_id(index: int) -> str:
    return str(uuid.UUID(int=(index + 1) * 0x1_0000_0001_0000_0001))


def artifact_files(count: int, *, size: int = 64) -> list[File]:
    """``count`` minified files, each with a source map sharing its debug id."""
    files = []
    for index in range(count):
        identifier = debug_id(index)
        name = f"static/js/chunk-{index}.min.js"
        body = (f"/*{index}*/" + "x" * size).encode()
        files.append(
            File(
                f"files/_/_/{name}",
                body + f"\n//# sourceMappingURL=chunk-{index}.min.js.map\n".encode(),
                {
                    "type": "minified_source",
                    "url": f"~/{name}",
                    "headers": {"debug-id": identifier, "Sourcemap": f"chunk-{index}.min.js.map"},
                },
            )
        )
        files.append(
            File(
                f"files/_/_/{name}.map",
                json.dumps(
                    {"version": 3, "file": name, "mappings": "", "debugId": identifier}
                ).encode(),
                {"type": "source_map", "url": f"~/{name}.map", "headers": {"Debug-Id": identifier}},
            )
        )
    return files


ARTIFACT_ATTRIBUTES = {
    "org": "acme",
    "project": "web",
    "release": "1.0.0",
    "dist": "prod",
    "debug_id": "a0000000-0000-4000-8000-000000000001",
}
