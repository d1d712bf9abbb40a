"""Converted bundles: a Sentry bundle's manifest in a randread bundle's metadata maps.

:func:`conversion_metadata` writes the mapping (``docs/sentry.md``,
"Converted bundles") as a :class:`~randread.conversion.ConversionPlan`;
:func:`metadata_hook` is the conversion's metadata hook that the package
registers as ``"sentry"``; :func:`read_bundle_manifest` reads the mapping back.
"""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from randread.conversion import ConversionPlan
from randread.errors import NotASourceBundleError, SourceBundleError
from randread.sentry.manifest import (
    EMPTY,
    MANIFEST_NAME,
    SYSB_HEADER,
    Manifest,
    SourceFile,
    frozen,
    parse_sysb_header,
    read_zip_manifest,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from randread.bundle.reader import BundleReader
    from randread.readat import ReadAt
    from randread.zip.reader import ZipReader

__all__ = [
    "KEY_FILE_COUNT",
    "KEY_JSON",
    "KEY_MARKER",
    "KEY_PATH",
    "KEY_SYSB",
    "KEY_TYPE",
    "KEY_URL",
    "MARKER_VERSION",
    "PREFIX_ATTRIBUTE",
    "PREFIX_HEADER",
    "conversion_metadata",
    "metadata_hook",
    "read_bundle_manifest",
]

# Metadata keys of a converted bundle (docs/sentry.md, "Converted bundles").
#: archive metadata: the version of this mapping; its presence marks the bundle
KEY_MARKER = "sentry.bundle"
MARKER_VERSION = "1"
#: archive metadata: how many entries, from the first, the manifest lists
KEY_FILE_COUNT = "sentry.files"
#: archive metadata: the SYSB header version of the original, when it had one
KEY_SYSB = "sentry.sysb"
#: archive metadata: one key per string-valued manifest field
PREFIX_ATTRIBUTE = "sentry.attr."
#: archive and entry metadata: the other fields, as one JSON object
KEY_JSON = "sentry.json"
#: entry metadata: the file's fields and headers
KEY_TYPE = "sentry.type"
KEY_PATH = "sentry.path"
KEY_URL = "sentry.url"
PREFIX_HEADER = "sentry.header."


def _json_text(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), ensure_ascii=False, separators=(",", ":"), sort_keys=False)


def _entry_metadata(record: SourceFile) -> dict[str, str]:
    metadata: dict[str, str] = {}
    if record.type is not None:
        metadata[KEY_TYPE] = record.type
    if record.path is not None:
        metadata[KEY_PATH] = record.path
    if record.url is not None:
        metadata[KEY_URL] = record.url
    for header, value in record.headers.items():
        metadata[PREFIX_HEADER + header] = value
    if record.extra:
        metadata[KEY_JSON] = _json_text(record.extra)
    return metadata


def conversion_metadata(reader: ZipReader, sysb_version: int | None) -> ConversionPlan:
    """Plan the conversion of the Sentry bundle ``reader`` reads.

    Raises :class:`NotASourceBundleError` when nothing marks the zip as one
    (no ``SYSB`` header, and no manifest with a ``files`` object), and
    :class:`SourceBundleError` when it is one but cannot be converted as it
    is (a manifest file with no entry: there is nothing to attach it to).
    """
    manifest = read_zip_manifest(reader, sysb_version)
    missing = [record.name for record in manifest.files if record.missing]
    if missing:
        listed = ", ".join(repr(name) for name in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        msg = (
            f"{MANIFEST_NAME} lists {listed}{more}, which the archive does not hold; "
            "a converted bundle keeps a manifest file only with its entry"
        )
        raise SourceBundleError(msg)
    listed_names = [record.name for record in manifest.files]
    listed_set = set(listed_names)
    rest = [name for name in reader.namelist() if name != MANIFEST_NAME and name not in listed_set]
    archive: dict[str, str] = {
        KEY_MARKER: MARKER_VERSION,
        KEY_FILE_COUNT: str(len(listed_names)),
    }
    if sysb_version is not None:
        archive[KEY_SYSB] = str(sysb_version)
    for key, value in manifest.attributes.items():
        archive[PREFIX_ATTRIBUTE + key] = value
    if manifest.extra:
        archive[KEY_JSON] = _json_text(manifest.extra)
    return ConversionPlan(
        order=listed_names + rest,
        entry_metadata={record.name: _entry_metadata(record) for record in manifest.files},
        archive_metadata=archive,
    )


def metadata_hook(source: ZipReader, file: ReadAt, *, required: bool) -> ConversionPlan | None:
    """Plan the conversion of a Sentry bundle; None for any other zip.

    The conversion's metadata hook (:class:`~randread.conversion.MetadataHook`):
    ``file`` gives the ``SYSB`` header, which lies outside the zip. With
    ``required=True`` a zip that is no Sentry bundle raises
    :class:`~randread.NotASourceBundleError`.
    """
    sysb_version = parse_sysb_header(file.read_at(0, min(SYSB_HEADER.size, file.size)))
    try:
        return conversion_metadata(source, sysb_version)
    except NotASourceBundleError:
        if required:
            raise
        return None


def _text_of(metadata: Mapping[str, str], key: str, where: str) -> str:
    try:
        return metadata[key]
    except KeyError:
        msg = f"{where}: archive metadata has no {key!r}"
        raise SourceBundleError(msg) from None


def _json_of(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        msg = f"{where}: metadata {KEY_JSON!r} is not valid JSON: {exc}"
        raise SourceBundleError(msg) from None
    if not isinstance(value, dict):
        msg = f"{where}: metadata {KEY_JSON!r} must be a JSON object"
        raise SourceBundleError(msg)
    return value


def _record_from_metadata(name: str, metadata: Mapping[str, str]) -> SourceFile:
    prefix_length = len(PREFIX_HEADER)
    headers = {
        key[prefix_length:]: value
        for key, value in metadata.items()
        if key.startswith(PREFIX_HEADER)
    }
    extra = metadata.get(KEY_JSON)
    return SourceFile(
        name,
        metadata.get(KEY_TYPE),
        metadata.get(KEY_PATH),
        metadata.get(KEY_URL),
        MappingProxyType(headers) if headers else EMPTY,
        frozen(_json_of(extra, f"entry {name!r}")) if extra is not None else EMPTY,
    )


def read_bundle_manifest(reader: BundleReader) -> tuple[Manifest, int | None]:
    """Read the manifest and the ``SYSB`` version back from a converted bundle's metadata.

    A bundle with no ``sentry.bundle`` marker raises :class:`NotASourceBundleError`.
    """
    metadata = reader.metadata
    where = "converted source bundle"
    marker = metadata.get(KEY_MARKER)
    if marker is None:
        msg = f"the bundle's archive metadata has no {KEY_MARKER!r}: it was not converted from one"
        raise NotASourceBundleError(msg)
    if marker != MARKER_VERSION:
        msg = (
            f"{where}: metadata {KEY_MARKER!r} is {marker!r}; this reader reads {MARKER_VERSION!r}"
        )
        raise SourceBundleError(msg)
    count_text = _text_of(metadata, KEY_FILE_COUNT, where)
    sysb_text = metadata.get(KEY_SYSB)
    if not count_text.isdigit() or int(count_text) > len(reader):
        msg = (
            f"{where}: metadata {KEY_FILE_COUNT!r} is {count_text!r}; "
            f"the bundle has {len(reader)} entries"
        )
        raise SourceBundleError(msg)
    if sysb_text is not None and not sysb_text.isdigit():
        msg = f"{where}: metadata {KEY_SYSB!r} is {sysb_text!r}, not a version number"
        raise SourceBundleError(msg)
    attributes = {
        key[len(PREFIX_ATTRIBUTE) :]: value
        for key, value in metadata.items()
        if key.startswith(PREFIX_ATTRIBUTE)
    }
    extra_text = metadata.get(KEY_JSON)
    extra = _json_of(extra_text, where) if extra_text is not None else {}
    infos = reader.infolist()[: int(count_text)]
    files = [_record_from_metadata(info.filename, info.metadata) for info in infos]
    return Manifest(attributes, extra, files), int(sysb_text) if sysb_text is not None else None
