"""The bundle format: randread's indexed archive for frequent random reads.

See ``formats/bundle.md`` for the byte-level specification.
"""

from __future__ import annotations

from randread.bundle.reader import BundleEntryInfo, BundleReader
from randread.bundle.writer import BundleWriter, train_dictionary

__all__ = [
    "BundleEntryInfo",
    "BundleReader",
    "BundleWriter",
    "train_dictionary",
]
