"""The reader of Sentry source bundles and JavaScript artifact bundles.

A zip (with or without the ``SYSB`` header) or a randread bundle converted
from one. Everything is parsed once at open into immutable records and
dictionaries; lookups are dictionary lookups and reads go to the lock-free
reader below, so one :class:`SourceBundle` serves any number of threads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from randread._closing import CloseOnExit
from randread.bundle.format import HEADER_MAGIC
from randread.bundle.reader import BundleReader
from randread.errors import SourceBundleError
from randread.readat import open_readat, source_name
from randread.sentry.ids import join_url, normalize_debug_id, normalize_path, url_candidates
from randread.sentry.manifest import (
    MANIFEST_NAME,
    SYSB_HEADER,
    SourceFile,
    frozen,
    parse_sysb_header,
    read_zip_manifest,
)
from randread.sentry.metadata import read_bundle_manifest
from randread.zip.reader import ZipReader

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from randread.readat import Source

__all__ = ["SourceBundle"]

#: what is read of the file's start: the bundle magic or the ``SYSB`` header
_HEAD_SIZE = max(len(HEADER_MAGIC), SYSB_HEADER.size)


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
        head: bytes | None = None
        if isinstance(source, (ZipReader, BundleReader)):
            reader: ZipReader | BundleReader = source
            self.filename: str | None = source.filename
        else:
            reader, head = _open_reader(source, backend, storage_options)
            self._owns_reader = True
            self.filename = source_name(source)
        try:
            if isinstance(reader, BundleReader):
                manifest, self.sysb_version = read_bundle_manifest(reader)
                self.converted = True
            else:
                if head is None:  # the header lies outside the zip
                    head = reader.source_head(SYSB_HEADER.size)
                self.sysb_version = parse_sysb_header(head)
                manifest = read_zip_manifest(reader, self.sysb_version)
                self.converted = False
        except BaseException:
            if self._owns_reader:
                reader.close()
            raise
        self._reader: ZipReader | BundleReader = reader
        self.attributes: Mapping[str, str] = frozen(manifest.attributes)
        self.extra: Mapping[str, Any] = frozen(manifest.extra)
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

    def _index(self, files: tuple[SourceFile, ...]) -> None:
        # Later files win on a repeated key, as when the references fill their maps.
        by_name: dict[str, SourceFile] = {}
        by_path: dict[str, SourceFile] = {}
        by_url: dict[str, SourceFile] = {}
        by_debug_id: dict[tuple[str, str], SourceFile] = {}
        for record in files:
            by_name[record.name] = record
            if record.path:
                by_path[normalize_path(record.path)] = record
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
        return self._by_path.get(normalize_path(path))

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
        return self.by_url(join_url(record.url or "", reference))

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


def _open_reader(
    source: Source,
    backend: Literal["mmap", "pread"],
    storage_options: Mapping[str, Any] | None,
) -> tuple[ZipReader | BundleReader, bytes]:
    """Open ``source`` as a bundle (by its magic) or a zip; return the reader and the file's head.

    The head is what tells the formats apart and carries the ``SYSB`` header;
    ``randread.open_archive`` tells them apart the same way, but lies above
    this package and keeps no head.
    """
    readat = open_readat(source, backend=backend, storage_options=storage_options)
    owned = readat is not source
    try:
        head = readat.read_at(0, min(readat.size, _HEAD_SIZE))
        # The reader closes what was opened here.
        if head.startswith(HEADER_MAGIC):
            return BundleReader(readat, close_source=owned), head
        parse_sysb_header(head)  # an unknown version fails before the zip is parsed
        return ZipReader(readat, close_source=owned), head
    except BaseException:
        if owned:
            readat.close()
        raise
