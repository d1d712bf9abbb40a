"""Convert a zip archive to a bundle, checking every byte on the way."""

from __future__ import annotations

import calendar
import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from randread.bundle.reader import BundleReader
from randread.bundle.writer import (
    DEFAULT_DICTIONARY_SIZE,
    DEFAULT_TRAIN_BYTES,
    BundleWriter,
    train_dictionary,
)
from randread.errors import BundleFormatError, NotASourceBundleError, UnsupportedFeatureError
from randread.sentry import ConversionPlan, conversion_metadata, parse_sysb_header
from randread.zip.reader import ZipReader

if TYPE_CHECKING:
    import zipfile
    from collections.abc import Iterator, Mapping, Sequence

__all__ = ["ConvertResult", "convert"]

PathLike = str | os.PathLike[str]
#: ``progress(done, total, name)``, called after each entry is written (and with
#: ``done`` 0 before a dictionary is trained).
Progress = Callable[[int, int, str], None]

_ZIP_UNIX = 3  # "version made by" host system: UNIX (APPNOTE 4.4.2)
#: entries read together (a remote zip fetches nearby ones in one request)
_BATCH_ENTRIES = 256
_BATCH_BYTES = 64 * 1024 * 1024


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
    """
    started = time.perf_counter()
    workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    with ZipReader(zip_path, pwd=pwd, storage_options=storage_options) as source:
        input_size = source.source_size
        infos = source.infolist()
        _check_unique([info.filename for info in infos], zip_path)
        plan = _sentry_plan(source, sentry)
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


def _sentry_plan(source: ZipReader, sentry: bool | None) -> ConversionPlan | None:
    """Return what to keep of a Sentry bundle's manifest; None to convert the zip as it is."""
    if sentry is False:
        return None
    sysb_version = parse_sysb_header(source.source_head(8))
    try:
        return conversion_metadata(source, sysb_version)
    except NotASourceBundleError:
        if sentry:
            raise
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
