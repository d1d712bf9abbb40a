"""Convert a zip archive to a bundle, checking every byte on the way.

Conversion knows the zip and bundle formats and nothing of what an archive
holds. Metadata that belongs to a kind of archive (a Sentry bundle's manifest)
comes from *metadata hooks*: callables given the zip and its file that return a
:class:`ConversionPlan` for an archive of their kind and None for any other.
Hooks are registered by name with :func:`register_metadata_hook`
(:mod:`randread.sentry` registers ``"sentry"`` when imported, which importing
``randread`` does) or passed to :func:`convert` directly.
"""

from __future__ import annotations

import calendar
import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol

from randread._locks import TimedLock
from randread.bundle.reader import BundleReader
from randread.bundle.writer import (
    DEFAULT_DICTIONARY_SIZE,
    DEFAULT_TRAIN_BYTES,
    BundleWriter,
    train_dictionary,
)
from randread.errors import BundleFormatError, UnsupportedFeatureError
from randread.readat import open_readat, source_name
from randread.zip.reader import ZipReader

if TYPE_CHECKING:
    import zipfile
    from collections.abc import Iterator, Mapping, Sequence

    from randread.readat import ReadAt

__all__ = [
    "ConversionPlan",
    "ConvertResult",
    "MetadataHook",
    "convert",
    "metadata_hooks",
    "register_metadata_hook",
]

PathLike = str | os.PathLike[str]
#: ``progress(done, total, name)``, called after each entry is written (and with
#: ``done`` 0 before a dictionary is trained).
Progress = Callable[[int, int, str], None]

_ZIP_UNIX = 3  # "version made by" host system: UNIX (APPNOTE 4.4.2)
#: entries read together (a remote zip fetches nearby ones in one request)
_BATCH_ENTRIES = 256
_BATCH_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ConversionPlan:
    """What a metadata hook asks :func:`convert` to write: order, entry and archive metadata."""

    #: names of the zip's entries in the order to write them; entries left out are not written
    order: list[str]
    #: entry name -> metadata added to the entry's (after ``comment``)
    entry_metadata: dict[str, dict[str, str]]
    #: the bundle's archive metadata
    archive_metadata: dict[str, str]


class MetadataHook(Protocol):
    """``hook(source, file, required=...)``: plan the conversion of an archive of one kind.

    ``source`` is the zip being converted and ``file`` the whole file it is
    read from (for what lies outside the zip, such as a header in front of
    it). A hook returns a :class:`ConversionPlan` for an archive of its kind
    and None for any other, reading no more than it needs to tell. It raises
    (a :class:`~randread.RandreadError`) when the archive is of its kind but
    cannot be converted, and with ``required=True`` also when it is not of
    its kind. Hooks run once per conversion, from the calling thread.
    """

    def __call__(self, source: ZipReader, file: ReadAt, *, required: bool) -> ConversionPlan | None:
        """Return the plan for ``source``, or None when it is not of this hook's kind."""
        ...


# name -> hook, replaced as a whole (never changed in place) under the lock.
_hooks_lock = TimedLock("conversion.metadata_hooks")
_hooks: Mapping[str, MetadataHook] = MappingProxyType({})


def register_metadata_hook(name: str, hook: MetadataHook) -> None:
    """Run ``hook`` in every :func:`convert` that is not given hooks of its own.

    Hooks run in the order they were first registered; registering a name
    again replaces its hook. :func:`convert`'s ``sentry`` argument switches
    the hook named ``"sentry"``.
    """
    global _hooks  # noqa: PLW0603 - one immutable mapping, published in one assignment
    with _hooks_lock:
        _hooks = MappingProxyType({**_hooks, name: hook})


def metadata_hooks() -> Mapping[str, MetadataHook]:
    """Return the registered metadata hooks, by name (a read-only snapshot)."""
    return _hooks


@dataclass(frozen=True, slots=True)
class ConvertResult:
    """What :func:`convert` did."""

    entries: int
    input_size: int
    output_size: int
    dictionary_size: int
    seconds: float

    @property
    def ratio(self) -> float:
        """Output size over input size."""
        return self.output_size / self.input_size if self.input_size else 1.0


def convert(
    zip_path: PathLike,
    bundle_path: PathLike,
    *,
    codec: Literal["auto", "none", "zstd", "lz4"] = "auto",
    level: int = 6,
    dictionary: bool = True,
    dictionary_size: int = DEFAULT_DICTIONARY_SIZE,
    alignment: int = 8,
    workers: int | None = None,
    overwrite: bool = False,
    pwd: bytes | None = None,
    progress: Progress | None = None,
    sentry: bool | None = None,
    storage_options: Mapping[str, Any] | None = None,
    metadata_hooks: Mapping[str, MetadataHook] | None = None,
) -> ConvertResult:
    """Convert the zip at ``zip_path`` (anything ZipReader reads) to a bundle.

    ``zip_path`` may be a URL (``s3://``, ``https://``, ...), with
    ``storage_options`` for its filesystem; entries are then fetched in
    batches of nearby ranges. The bundle is written locally.

    Every entry's CRC-32 is checked as it is read; names, modification times,
    Unix modes, entry comments (metadata key ``comment``) and the archive
    comment carry over. ``level`` 6 with a dictionary makes bundles of
    source-code-like files smaller than the same files deflated at level 6,
    and zstd decodes as fast at any level. zip's DOS timestamps have no time zone: they are
    stored as if UTC, so ``date_time`` reads back unchanged. With
    ``dictionary=True`` (zstd codecs only), a zstd dictionary is trained on a
    sample of the entries spread over the archive. The finished bundle is read
    back and compared with the zip before it is moved into place; on any error
    nothing is left at ``bundle_path``. ``progress(done, total, name)`` is
    called after each entry, and once with ``done`` 0 before a dictionary is
    trained. Zips with repeated names cannot be
    converted (bundle names are unique): ``UnsupportedFeatureError``.

    A Sentry source bundle or artifact bundle (docs/sentry.md) keeps its
    manifest: each file's url, type, path and headers go into its entry
    metadata, the bundle-level fields into the archive metadata, and
    ``manifest.json`` itself is not copied. ``sentry=None`` recognises such
    bundles (a ``SYSB`` header, or a ``manifest.json`` with a ``files``
    object); ``True`` requires one (``SourceBundleError`` otherwise);
    ``False`` converts the zip as it is.

    What a kind of archive keeps comes from metadata hooks (see
    :class:`MetadataHook`): ``metadata_hooks`` maps names to hooks, by
    default the registered ones (:func:`metadata_hooks`), of which
    ``randread.sentry`` registers ``"sentry"``. They run in order until one
    returns a :class:`ConversionPlan`; ``sentry`` switches the hook named
    ``"sentry"``: False skips it, True runs it with ``required=True``.
    """
    started = time.perf_counter()
    workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    hooks = _hooks if metadata_hooks is None else metadata_hooks
    readat = open_readat(zip_path, storage_options=storage_options)
    try:
        source = ZipReader(readat, pwd=pwd, close_source=True)
    except BaseException:
        readat.close()
        raise
    source.filename = source_name(zip_path)
    with source:
        input_size = source.source_size
        infos = source.infolist()
        _check_unique([info.filename for info in infos], zip_path)
        plan = _plan(source, readat, hooks, {"sentry": sentry})
        if plan is not None:
            by_name = {info.filename: info for info in infos}
            infos = [by_name[name] for name in plan.order]
        trained = None
        if dictionary and codec in ("auto", "zstd"):
            if progress is not None:
                progress(0, len(infos), "(training a dictionary)")
            trained = train_dictionary(_samples(source, infos), size=dictionary_size, level=level)

        def check(temporary: Path) -> None:
            _compare(temporary, infos)

        with BundleWriter(
            bundle_path,
            codec=codec,
            level=level,
            dictionary=trained,
            alignment=alignment,
            workers=workers,
            comment=_text(source.comment),
            metadata=plan.archive_metadata if plan is not None else None,
            overwrite=overwrite,
            before_publish=check,
        ) as writer:
            for done, (info, content) in enumerate(_contents(source, infos), 1):
                writer.add(
                    info.filename,
                    content,
                    mtime=_mtime(info),
                    mode=_mode(info),
                    metadata=_entry_metadata(info, plan),
                )
                if progress is not None:
                    progress(done, len(infos), info.filename)
    return ConvertResult(
        entries=len(infos),
        input_size=input_size,
        output_size=Path(bundle_path).stat().st_size,
        dictionary_size=len(trained) if trained is not None else 0,
        seconds=time.perf_counter() - started,
    )


def _contents(
    source: ZipReader, infos: Sequence[zipfile.ZipInfo]
) -> Iterator[tuple[zipfile.ZipInfo, bytes]]:
    """Each entry with its content, read a batch at a time (one request per run remotely).

    A batch holds at most ``_BATCH_ENTRIES`` entries and ``_BATCH_BYTES`` of
    content (a larger entry is a batch of its own).
    """
    batch: list[zipfile.ZipInfo] = []
    size = 0
    for info in [*infos, None]:
        if batch and (
            info is None or len(batch) == _BATCH_ENTRIES or size + info.file_size > _BATCH_BYTES
        ):
            yield from zip(batch, source.read_many(batch), strict=True)
            batch, size = [], 0
        if info is not None:
            batch.append(info)
            size += info.file_size


def _plan(
    source: ZipReader,
    file: ReadAt,
    hooks: Mapping[str, MetadataHook],
    switches: Mapping[str, bool | None],
) -> ConversionPlan | None:
    """Return the first hook's plan; None to convert the zip as it is."""
    for name, hook in hooks.items():
        switch = switches.get(name)
        if switch is False:
            continue
        plan = hook(source, file, required=switch is True)
        if plan is not None:
            return plan
    return None


def _entry_metadata(info: zipfile.ZipInfo, plan: ConversionPlan | None) -> dict[str, str] | None:
    metadata = {"comment": _text(info.comment)} if info.comment else {}
    if plan is not None:
        metadata.update(plan.entry_metadata.get(info.filename, {}))
    return metadata or None


def _check_unique(names: list[str], zip_path: PathLike) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            msg = (
                f"{os.fspath(zip_path)}: the name {name!r} appears more than once; "
                "bundle names are unique, so this zip cannot be converted as it is"
            )
            raise UnsupportedFeatureError(msg)
        seen.add(name)


def _samples(source: ZipReader, infos: Sequence[zipfile.ZipInfo]) -> list[bytes]:
    """Entries spread evenly over the archive, up to the training budget."""
    # Not ZipInfo.is_dir(): it fails on the empty name, which zips may hold.
    files = [info for info in infos if not info.filename.endswith("/") and info.file_size]
    total = sum(info.file_size for info in files)
    step = max(1, round(total / DEFAULT_TRAIN_BYTES)) if total else 1
    return [source.read(info) for info in files[::step]]


def _mtime(info: zipfile.ZipInfo) -> int | None:
    """Return the DOS timestamp in seconds, as if UTC; ``None`` when it is no real time.

    Zip writers leave the date zero (month 0, day 0) or out of range when they
    have no time to give; such an entry gets no mtime.
    """
    try:
        dt.datetime(*info.date_time)  # noqa: DTZ001 - only checks the fields
    except ValueError:
        return None
    return calendar.timegm((*info.date_time, 0, 0, 0))


def _mode(info: zipfile.ZipInfo) -> int | None:
    mode = info.external_attr >> 16
    if info.create_system == _ZIP_UNIX and 0 < mode <= 0xFFFF:
        return mode
    return None


def _text(raw: bytes) -> str:
    """Decode a zip comment: UTF-8 when it is, else cp437 (zip's legacy encoding)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp437")


def _compare(bundle_path: Path, infos: Sequence[zipfile.ZipInfo]) -> None:
    """Read the finished bundle back and check it against the zip's directory."""
    with BundleReader(bundle_path, verify_index=True) as bundle:
        if bundle.namelist() != [info.filename for info in infos]:
            msg = f"{bundle_path}: written names differ from the zip's"
            raise BundleFormatError(msg)
        for info in infos:
            written = bundle.getinfo(info.filename)
            if (written.file_size, written.CRC) != (info.file_size, info.CRC):
                msg = (
                    f"{bundle_path}: entry {info.filename!r} was written with size "
                    f"{written.file_size} and CRC 0x{written.CRC:08x}, the zip has "
                    f"{info.file_size} and 0x{info.CRC:08x}"
                )
                raise BundleFormatError(msg)
        bad = bundle.testzip()
        if bad is not None:
            msg = f"{bundle_path}: entry {bad!r} does not read back"
            raise BundleFormatError(msg)
