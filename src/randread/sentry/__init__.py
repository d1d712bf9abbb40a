"""Sentry source bundles and JavaScript artifact bundles, read the way symbolication reads them.

Both are zip archives holding ``manifest.json`` and the files it lists; a
source bundle may start with an 8-byte ``SYSB`` header. ``docs/sentry.md``
describes the format, where each rule comes from, and how a converted
randread bundle keeps the manifest in its metadata maps.

The modules, from the bottom: :mod:`~randread.sentry.ids` (debug ids and
urls), :mod:`~randread.sentry.manifest` (``manifest.json`` and the ``SYSB``
header), :mod:`~randread.sentry.metadata` (the manifest in a converted
bundle's metadata, and the conversion's metadata hook) and
:mod:`~randread.sentry.bundle` (:class:`SourceBundle`). Importing the package
registers :func:`~randread.sentry.metadata.metadata_hook` with
:func:`randread.conversion.register_metadata_hook` as ``"sentry"``, so
:func:`randread.convert` keeps a Sentry bundle's manifest.
"""

from __future__ import annotations

from randread.conversion import register_metadata_hook
from randread.sentry.bundle import SourceBundle
from randread.sentry.ids import normalize_debug_id, url_candidates
from randread.sentry.manifest import (
    MANIFEST_NAME,
    SYSB_MAGIC,
    SourceFile,
    parse_manifest,
    parse_sysb_header,
)
from randread.sentry.metadata import conversion_metadata, metadata_hook

__all__ = [
    "MANIFEST_NAME",
    "SYSB_MAGIC",
    "SourceBundle",
    "SourceFile",
    "conversion_metadata",
    "metadata_hook",
    "normalize_debug_id",
    "parse_manifest",
    "parse_sysb_header",
    "url_candidates",
]

register_metadata_hook("sentry", metadata_hook)
