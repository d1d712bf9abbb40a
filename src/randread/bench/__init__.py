"""The code behind ``randread bench``.

It builds each archive format from one corpus and measures where a read's time
goes (lookup, I/O, decoding, checksum), how reads scale over threads, full
scans, open time and size.
"""

from __future__ import annotations

from randread.bench.corpus import Corpus, default_corpus, load_corpus
from randread.bench.formats import Subject, subjects
from randread.bench.report import print_report, write_json, write_plot
from randread.bench.runner import BenchConfig, run

__all__ = [
    "BenchConfig",
    "Corpus",
    "Subject",
    "default_corpus",
    "load_corpus",
    "print_report",
    "run",
    "subjects",
    "write_json",
    "write_plot",
]
