"""Sentry source bundles and JavaScript artifact bundles, read the way symbolication reads them.

Both are zip archives holding ``manifest.json`` and the files it lists; a
source bundle may start with an 8-byte ``SYSB`` header. ``docs/sentry.md``
describes the format, where each rule comes from, and how a converted
randread bundle keeps the manifest in its metadata maps.

Everything is parsed once at open into immutable records and dictionaries;
lookups are dictionary lookups and reads go to the lock-free reader below,
so one :class:`SourceBundle` serves any number of threads.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from randread._closing import CloseOnExit
from randread.bundle.format import HEADER_MAGIC
from randread.bundle.reader import BundleReader
from randread.errors import NotASourceBundleError, SourceBundleError
from randread.readat import open_readat, source_name
from randread.zip.reader import ZipReader

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from randread.readat import Source

__all__ = [
    "MANIFEST_NAME",
    "SYSB_MAGIC",
    "SourceBundle",
    "SourceFile",
    "conversion_metadata",
    "normalize_debug_id",
    "parse_sysb_header",
    "url_candidates",
]

#: The source bundle header: magic ``SYSB`` and a little-endian u32 version,
#: followed by the zip archive.
SYSB_HEADER = struct.Struct("<4sI")
SYSB_MAGIC = b"SYSB"
#: Header versions this reader knows (the current writers write 2).
SYSB_VERSIONS = (1, 2)
MANIFEST_NAME = "manifest.json"

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

_FILE_FIELDS = frozenset(("type", "path", "url", "headers"))
# Debug ids in the debugid crate's forms; ASCII hex digits only.
_HEX = "[0-9a-fA-F]"
_HYPHENATED_ID = re.compile(
    rf"({_HEX}{{8}})-({_HEX}{{4}})-({_HEX}{{4}})-({_HEX}{{4}})-({_HEX}{{12}})(?:-({_HEX}+))?"
)
_SIMPLE_ID = re.compile(rf"({_HEX}{{32}})({_HEX}+)?")
_PDB20_ID = re.compile(rf"({_HEX}{{8}})-?({_HEX}{{1,8}})")
#: appendix digits past these are ignored
_APPENDIX_DIGITS = 8


# -- pure helpers ----------------------------------------------------------------


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


def normalize_debug_id(text: str) -> str | None:
    """Return ``text`` as a canonical debug id, or None when it is not one.

    Accepted, in any letter case: a UUID with or without hyphens, optionally
    followed by an appendix of hex digits (after a hyphen if and only if the
    UUID is hyphenated; digits past the eighth are ignored), and the short
    PDB 2.0 form (8 hex digits of timestamp, then the age). The canonical form
    is the lower-case hyphenated UUID, then ``-<appendix>`` in lower-case hex
    when the appendix is not zero. This is the parse and the display of the
    ``debugid`` crate that symbolic and Sentry use.
    """
    match = _HYPHENATED_ID.fullmatch(text)
    if match is not None:
        digits = "".join(match.group(1, 2, 3, 4, 5))
        tail = match.group(6)
    else:
        match = _SIMPLE_ID.fullmatch(text)
        if match is None:
            match = _PDB20_ID.fullmatch(text)
            if match is None:
                return None
            appendix = int(match.group(2), 16)
            return f"{int(match.group(1), 16):08X}" + (f"-{appendix:x}" if appendix else "")
        digits, tail = match.group(1, 2)
    digits = digits.lower()
    canonical = f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
    appendix = int(tail[:_APPENDIX_DIGITS], 16) if tail else 0
    return canonical + (f"-{appendix:x}" if appendix else "")


def _strip_host(url: str) -> str:
    """Return the part of ``url`` after its scheme and host (or after a leading ``~``)."""
    if url.startswith("~"):
        return url[1:]
    scheme_end = url.find("://")
    if scheme_end >= 0:
        rest = url[scheme_end + 3 :]
        slash = rest.find("/")
        return rest[slash:] if slash >= 0 else rest
    return url


def url_candidates(url: str) -> list[str]:
    """Return the manifest urls a request for ``url`` matches, best first.

    As Sentry's symbolicator resolves release files: the fragment is dropped;
    then the url itself, the url without its query, and the same two with the
    scheme and host replaced by ``~`` (``https://example.com/static/app.js``
    also matches ``~/static/app.js``). Repeats are left out.
    """
    url = url.split("#", 1)[0]
    relative = _strip_host(url)
    candidates = [url]
    if "?" in url:
        candidates.append(url.split("?", 1)[0])
    candidates.append(f"~{relative}")
    if "?" in relative:
        candidates.append("~" + relative.split("?", 1)[0])
    unique: list[str] = []
    for candidate in candidates:
        if candidate not in unique:
            unique.append(candidate)
    return unique


def _join_url(base: str, reference: str) -> str:
    """Resolve ``reference`` (a ``sourcemap`` header) against the file url ``base``.

    ``~`` counts as the scheme and host, as in the references.
    """
    if "://" in reference or reference.startswith("data:"):
        return reference
    base = base.split("#", 1)[0].split("?", 1)[0]
    if base.startswith("~"):
        origin, path = "~", base[1:]
    elif "://" in base:
        scheme, rest = base.split("://", 1)
        host, slash, tail = rest.partition("/")
        origin, path = f"{scheme}://{host}", slash + tail
    else:
        origin, path = "", base
    reference = reference.removeprefix("~")
    if reference.startswith("/"):
        return origin + reference
    segments = path.split("/")[:-1]  # the directory of the file
    for segment in reference.split("/"):
        if segment == "..":
            if len(segments) > 1:
                segments.pop()
        elif segment != ".":
            segments.append(segment)
    return origin + "/".join(segments)


def _normalize_path(path: str) -> str:
    # symbolic indexes and looks up paths with backslashes turned into slashes.
    return path.replace("\\", "/")


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
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
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
class _Manifest:
    attributes: dict[str, str]
    extra: dict[str, Any]
    files: list[SourceFile]
    #: whether the manifest has a ``files`` object (what marks a zip with no header)
    has_files: bool = True


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _frozen(mapping: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(mapping) if mapping else _EMPTY


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
        MappingProxyType(headers) if headers else _EMPTY,
        MappingProxyType(extra) if extra else _EMPTY,
        names is not None and name not in names,
    )


def parse_manifest(data: bytes, names: frozenset[str] | None = None) -> _Manifest:
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
    return _Manifest(attributes, extra, records, has_files=isinstance(document.get("files"), dict))


# -- converted bundles: the metadata mapping ----------------------------------------


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


@dataclass(frozen=True, slots=True)
class ConversionPlan:
    """What ``convert`` writes for a Sentry bundle: order, entry and archive metadata."""

    #: entry names in the order to write them: the manifest's files, then the rest
    order: list[str]
    entry_metadata: dict[str, dict[str, str]]
    archive_metadata: dict[str, str]


def conversion_metadata(reader: ZipReader, sysb_version: int | None) -> ConversionPlan:
    """Plan the conversion of the Sentry bundle ``reader`` reads.

    Raises :class:`NotASourceBundleError` when nothing marks the zip as one
    (no ``SYSB`` header, and no manifest with a ``files`` object), and
    :class:`SourceBundleError` when it is one but cannot be converted as it
    is (a manifest file with no entry: there is nothing to attach it to).
    """
    manifest = _read_zip_manifest(reader, sysb_version)
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


def _read_zip_manifest(reader: ZipReader, sysb_version: int | None) -> _Manifest:
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
        MappingProxyType(headers) if headers else _EMPTY,
        _frozen(_json_of(extra, f"entry {name!r}")) if extra is not None else _EMPTY,
    )


def _read_bundle_manifest(reader: BundleReader) -> tuple[_Manifest, int | None]:
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
    return _Manifest(attributes, extra, files), int(sysb_text) if sysb_text is not None else None


# -- the reader ------------------------------------------------------------------


class SourceBundle(CloseOnExit):
    """A Sentry source bundle or JavaScript artifact bundle, for lookups from many threads.

    ``source`` is a path, a bytes-like object, a binary file object or any
    :class:`~randread.ReadAt` (a remote object behind a ReadAt works as it
    is), holding a zip with or without the ``SYSB`` header, or a randread
    bundle converted from one; or an open :class:`~randread.ZipReader` or
    :class:`~randread.BundleReader`, which stays the caller's to close.

    Bundle-level fields are in :attr:`attributes` (and :attr:`debug_id`,
    :attr:`code_id`, ...); :attr:`files` lists the manifest's files.
    :meth:`by_name`, :meth:`by_path`, :meth:`by_url`, :meth:`by_debug_id` and
    :meth:`source_map_for` return a :class:`SourceFile` or None; :meth:`read`
    returns its content. Problems with the bundle raise
    :class:`~randread.SourceBundleError`; a file with no ``SYSB`` header and
    no manifest with a ``files`` object raises its subclass
    :class:`~randread.NotASourceBundleError`.
    """

    def __init__(
        self,
        source: Source | ZipReader | BundleReader,
        *,
        backend: Literal["mmap", "pread"] = "mmap",
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._owns_reader = False
        if isinstance(source, (ZipReader, BundleReader)):
            reader: ZipReader | BundleReader = source
            self.filename: str | None = source.filename
        else:
            reader = self._open_reader(source, backend, storage_options)
            self._owns_reader = True
            self.filename = source_name(source)
        try:
            if isinstance(reader, BundleReader):
                manifest, self.sysb_version = _read_bundle_manifest(reader)
                self.converted = True
            else:
                self.sysb_version = self._sysb_version_of(reader)
                manifest = _read_zip_manifest(reader, self.sysb_version)
                self.converted = False
        except BaseException:
            if self._owns_reader:
                reader.close()
            raise
        self._reader: ZipReader | BundleReader = reader
        self.attributes: Mapping[str, str] = _frozen(manifest.attributes)
        self.extra: Mapping[str, Any] = _frozen(manifest.extra)
        self.files: tuple[SourceFile, ...] = tuple(manifest.files)
        self._index(self.files)
        listed = self._by_name
        self.unlisted: tuple[str, ...] = tuple(
            name
            for name in reader.namelist()
            if name not in listed and name != MANIFEST_NAME and not name.endswith("/")
        )
        self.missing: tuple[SourceFile, ...] = tuple(
            record for record in self.files if record.missing
        )

    @staticmethod
    def _open_reader(
        source: Source,
        backend: Literal["mmap", "pread"],
        storage_options: Mapping[str, Any] | None,
    ) -> ZipReader | BundleReader:
        readat = open_readat(source, backend=backend, storage_options=storage_options)
        owned = readat is not source
        try:
            head = readat.read_at(0, min(readat.size, len(HEADER_MAGIC)))
            if head == HEADER_MAGIC:
                # The reader closes what was opened here.
                return BundleReader(readat, close_source=owned)
            parse_sysb_header(head)  # an unknown version fails before the zip is parsed
            zip_reader = ZipReader(readat, close_source=owned)
        except BaseException:
            if owned:
                readat.close()
            raise
        return zip_reader

    @staticmethod
    def _sysb_version_of(reader: ZipReader) -> int | None:
        return parse_sysb_header(reader.source_head(SYSB_HEADER.size))

    def _index(self, files: tuple[SourceFile, ...]) -> None:
        # Later files win on a repeated key, as when the references fill their maps.
        by_name: dict[str, SourceFile] = {}
        by_path: dict[str, SourceFile] = {}
        by_url: dict[str, SourceFile] = {}
        by_debug_id: dict[tuple[str, str], SourceFile] = {}
        for record in files:
            by_name[record.name] = record
            if record.path:
                by_path[_normalize_path(record.path)] = record
            if record.url:
                by_url[record.url] = record
            if record.type is not None and "debug-id" in record.headers:
                debug_id = record.debug_id
                if debug_id is not None:
                    by_debug_id[debug_id, record.type] = record
        self._by_name = by_name
        self._by_path = by_path
        self._by_url = by_url
        self._by_debug_id = by_debug_id

    # -- bundle-level fields ---------------------------------------------------

    def _attribute(self, key: str) -> str | None:
        return self.attributes.get(key)

    @property
    def debug_id(self) -> str | None:
        """The bundle's ``debug_id`` as a canonical debug id (None if absent or invalid)."""
        value = self.attributes.get("debug_id")
        return normalize_debug_id(value) if value is not None else None

    @property
    def code_id(self) -> str | None:
        """The ``code_id`` field (source bundles of native debug files)."""
        return self._attribute("code_id")

    @property
    def arch(self) -> str | None:
        """The ``arch`` field (source bundles)."""
        return self._attribute("arch")

    @property
    def object_name(self) -> str | None:
        """The ``object_name`` field (source bundles)."""
        return self._attribute("object_name")

    @property
    def org(self) -> str | None:
        """The ``org`` field (artifact bundles)."""
        return self._attribute("org")

    @property
    def project(self) -> str | None:
        """The ``project`` field (artifact bundles)."""
        return self._attribute("project")

    @property
    def release(self) -> str | None:
        """The ``release`` field (artifact bundles)."""
        return self._attribute("release")

    @property
    def dist(self) -> str | None:
        """The ``dist`` field (artifact bundles)."""
        return self._attribute("dist")

    @property
    def reader(self) -> ZipReader | BundleReader:
        """The archive reader underneath."""
        return self._reader

    def manifest(self) -> dict[str, Any]:
        """Return the manifest as JSON would hold it (header names in lower case)."""
        document: dict[str, Any] = {
            "files": {record.name: record.manifest_entry() for record in self.files}
        }
        document.update(self.attributes)
        document.update(self.extra)
        return document

    # -- lookups ---------------------------------------------------------------------

    def by_name(self, name: str) -> SourceFile | None:
        """Return the file stored at archive entry ``name`` (``files/...``), or None."""
        return self._by_name.get(name)

    def by_path(self, path: str) -> SourceFile | None:
        """Return the file whose ``path`` is ``path`` (either slash matches), or None."""
        return self._by_path.get(_normalize_path(path))

    def by_url(self, url: str) -> SourceFile | None:
        """Return the file for ``url``, or None.

        The url as it is first, then the candidates of :func:`url_candidates`:
        a full url finds a file stored as ``~/path``, and a query or fragment
        the manifest does not have is ignored.
        """
        found = self._by_url.get(url)
        if found is not None:
            return found
        for candidate in url_candidates(url):
            found = self._by_url.get(candidate)
            if found is not None:
                return found
        return None

    def by_debug_id(self, debug_id: str, file_type: str = "minified_source") -> SourceFile | None:
        """Return the file of type ``file_type`` whose ``debug-id`` header is ``debug_id``.

        ``debug_id`` may be in any form :func:`normalize_debug_id` accepts.
        """
        canonical = normalize_debug_id(debug_id)
        if canonical is None:
            return None
        return self._by_debug_id.get((canonical, file_type))

    def source_map_for(self, file: SourceFile | str) -> SourceFile | None:
        """Return the source map of a minified file (a :class:`SourceFile` or a url), or None.

        By the file's debug id first (the ``source_map`` with the same
        ``debug-id``), then by its ``sourcemap`` (or ``x-sourcemap``) header
        resolved against the file's url.
        """
        record = self.by_url(file) if isinstance(file, str) else file
        if record is None:
            return None
        debug_id = record.debug_id
        if debug_id is not None:
            found = self._by_debug_id.get((debug_id, "source_map"))
            if found is not None:
                return found
        reference = record.source_mapping_url
        if reference is None:
            return None
        return self.by_url(_join_url(record.url or "", reference))

    # -- reading ---------------------------------------------------------------

    def read(self, file: SourceFile | str) -> bytes:
        """Return the content of a file (a :class:`SourceFile` or its archive entry name).

        A manifest file with no archive entry raises :class:`SourceBundleError`;
        a name that is no entry at all raises ``KeyError``.
        """
        name = file if isinstance(file, str) else file.name
        try:
            return self._reader.read(name)
        except KeyError:
            record = self._by_name.get(name)
            if record is None:
                raise
        msg = f"{MANIFEST_NAME}: files[{record.name!r}]: the archive has no entry {record.name!r}"
        raise SourceBundleError(msg)

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[SourceFile]:
        return iter(self.files)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __repr__(self) -> str:
        kind = "converted bundle" if self.converted else "zip"
        return f"<SourceBundle {self.filename or kind!r} {len(self.files)} files>"

    # -- lifetime ------------------------------------------------------------------

    def close(self) -> None:
        """Close the reader underneath, if this object opened it."""
        if self._owns_reader:
            self._reader.close()
