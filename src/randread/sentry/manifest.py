"""``manifest.json`` and the ``SYSB`` header: what a Sentry bundle says of its files.

Both kinds of bundle are zip archives holding ``manifest.json`` and the files
it lists; a source bundle may start with an 8-byte ``SYSB`` header
(``docs/sentry.md``). Parsing is pure: bytes in, immutable records out.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from randread.errors import NotASourceBundleError, SourceBundleError
from randread.sentry.ids import normalize_debug_id

if TYPE_CHECKING:
    from collections.abc import Mapping

    from randread.zip.reader import ZipReader

__all__ = [
    "EMPTY",
    "MANIFEST_NAME",
    "SYSB_HEADER",
    "SYSB_MAGIC",
    "SYSB_VERSIONS",
    "Manifest",
    "SourceFile",
    "frozen",
    "parse_manifest",
    "parse_sysb_header",
    "read_zip_manifest",
]

#: The source bundle header: magic ``SYSB`` and a little-endian u32 version,
#: followed by the zip archive.
SYSB_HEADER = struct.Struct("<4sI")
SYSB_MAGIC = b"SYSB"
#: Header versions this reader knows (the current writers write 2).
SYSB_VERSIONS = (1, 2)
MANIFEST_NAME = "manifest.json"

_FILE_FIELDS = frozenset(("type", "path", "url", "headers"))


def parse_sysb_header(head: bytes) -> int | None:
    """Return the version of the ``SYSB`` header at the start of ``head``, or None.

    ``head`` is the first bytes of the file (8 are enough). A header with a
    version outside :data:`SYSB_VERSIONS` raises :class:`SourceBundleError`.
    """
    if len(head) < SYSB_HEADER.size or not head.startswith(SYSB_MAGIC):
        return None
    _magic, version = SYSB_HEADER.unpack_from(head)
    if version not in SYSB_VERSIONS:
        known = ", ".join(str(known) for known in SYSB_VERSIONS)
        msg = f"SYSB header at 0x0: version {version} is not supported (known: {known})"
        raise SourceBundleError(msg)
    return int(version)


# -- records ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file of a manifest: where it is in the archive and what the manifest says of it.

    ``name`` is the archive entry (the manifest's key, ``files/...``);
    ``type``, ``path`` and ``url`` are None when the manifest leaves them out;
    ``headers`` has lower-case names; ``extra`` holds any other fields.
    ``missing`` is True when the archive has no entry ``name``.
    """

    name: str
    type: str | None
    path: str | None
    url: str | None
    headers: Mapping[str, str]
    extra: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    missing: bool = False

    @property
    def debug_id(self) -> str | None:
        """The ``debug-id`` header as a canonical debug id (None if absent or invalid)."""
        value = self.headers.get("debug-id")
        return normalize_debug_id(value) if value is not None else None

    @property
    def source_mapping_url(self) -> str | None:
        """The ``sourcemap`` header, or the legacy ``x-sourcemap``; None if neither."""
        value = self.headers.get("sourcemap")
        return value if value is not None else self.headers.get("x-sourcemap")

    def manifest_entry(self) -> dict[str, Any]:
        """Return this file's manifest record as JSON would hold it."""
        record: dict[str, Any] = dict(self.extra)
        if self.type is not None:
            record["type"] = self.type
        if self.path is not None:
            record["path"] = self.path
        if self.url is not None:
            record["url"] = self.url
        if self.headers:
            record["headers"] = dict(self.headers)
        return record


@dataclass(frozen=True, slots=True)
class Manifest:
    """A parsed manifest: bundle-level fields (strings, and the rest) and the files."""

    attributes: dict[str, str]
    extra: dict[str, Any]
    files: list[SourceFile]
    #: whether the manifest has a ``files`` object (what marks a zip with no header)
    has_files: bool = True


EMPTY: Mapping[str, Any] = MappingProxyType({})


def frozen(mapping: dict[str, Any]) -> Mapping[str, Any]:
    """Return ``mapping`` read-only (the one shared empty mapping when empty)."""
    return MappingProxyType(mapping) if mapping else EMPTY


def _where(name: str) -> str:
    return f"{MANIFEST_NAME}: files[{name!r}]"


def _field_error(name: str, field_name: str, value: object) -> SourceBundleError:
    return SourceBundleError(
        f"{_where(name)}: field {field_name!r} must be a string, "
        f"not {type(value).__name__} {value!r:.60}"
    )


def _file_record(name: str, info: object, names: frozenset[str] | None) -> SourceFile:
    # Runs once per file at open: messages are built only when raising.
    if type(info) is not dict:
        msg = f"{_where(name)} must be an object, not {type(info).__name__}"
        raise SourceBundleError(msg)
    file_type = info.get("type")
    path = info.get("path")
    url = info.get("url")
    for field_name, value in (("type", file_type), ("path", path), ("url", url)):
        if value is not None and type(value) is not str:
            raise _field_error(name, field_name, value)
    raw_headers = info.get("headers")
    headers: dict[str, str] = {}
    if raw_headers:
        if type(raw_headers) is not dict:
            msg = (
                f"{_where(name)}: field 'headers' must be an object, "
                f"not {type(raw_headers).__name__}"
            )
            raise SourceBundleError(msg)
        for header, value in raw_headers.items():
            if type(value) is not str or not header:
                msg = (
                    f"{_where(name)}: header {header!r} must have a non-empty name "
                    "and a string value"
                )
                raise SourceBundleError(msg)
            # Header names are case-insensitive; the references fold them to lower case.
            headers[header.lower()] = value
    elif raw_headers is not None and type(raw_headers) is not dict:
        msg = f"{_where(name)}: field 'headers' must be an object, not {type(raw_headers).__name__}"
        raise SourceBundleError(msg)
    extra = (
        {key: value for key, value in info.items() if key not in _FILE_FIELDS}
        if not info.keys() <= _FILE_FIELDS
        else {}
    )
    return SourceFile(
        name,
        file_type,
        path,
        url,
        MappingProxyType(headers) if headers else EMPTY,
        MappingProxyType(extra) if extra else EMPTY,
        names is not None and name not in names,
    )


def parse_manifest(data: bytes, names: frozenset[str] | None = None) -> Manifest:
    """Parse ``manifest.json``; ``names`` (the archive's entries) marks missing files."""
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        msg = f"{MANIFEST_NAME}: not UTF-8 (byte 0x{data[exc.start]:02x} at {exc.start})"
        raise SourceBundleError(msg) from None
    except json.JSONDecodeError as exc:
        msg = f"{MANIFEST_NAME}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise SourceBundleError(msg) from None
    except RecursionError:
        msg = f"{MANIFEST_NAME}: JSON nested too deeply"
        raise SourceBundleError(msg) from None
    if not isinstance(document, dict):
        msg = f"{MANIFEST_NAME}: the top level must be an object, not {type(document).__name__}"
        raise SourceBundleError(msg)
    files = document.get("files", {})
    if files is None:
        files = {}
    if not isinstance(files, dict):
        msg = f"{MANIFEST_NAME}: field 'files' must be an object, not {type(files).__name__}"
        raise SourceBundleError(msg)
    attributes: dict[str, str] = {}
    extra: dict[str, Any] = {}
    for key, value in document.items():
        if key == "files":
            continue
        if isinstance(value, str):
            attributes[key] = value
        else:
            extra[key] = value
    records = [_file_record(name, info, names) for name, info in files.items()]
    return Manifest(attributes, extra, records, has_files=isinstance(document.get("files"), dict))


def read_zip_manifest(reader: ZipReader, sysb_version: int | None) -> Manifest:
    """Read and parse the manifest of the zip ``reader`` reads.

    With no ``SYSB`` header (``sysb_version`` None), a zip whose manifest is
    missing, broken or has no ``files`` object raises
    :class:`NotASourceBundleError`: it may be something else entirely.
    """
    names = frozenset(reader.namelist())
    if MANIFEST_NAME not in names:
        msg = f"the archive has no {MANIFEST_NAME}"
        if sysb_version is None:
            raise NotASourceBundleError(msg)
        raise SourceBundleError(msg)
    data = reader.read(MANIFEST_NAME)
    try:
        manifest = parse_manifest(data, names)
    except SourceBundleError as exc:
        if sysb_version is None:
            raise NotASourceBundleError(str(exc)) from None
        raise
    # With no header, a manifest.json may belong to something else entirely.
    if sysb_version is None and not manifest.has_files:
        msg = f"{MANIFEST_NAME} has no 'files' object and the file no SYSB header"
        raise NotASourceBundleError(msg)
    return manifest
