"""Print per-read times and ratios from a pytest-benchmark JSON file.

    python -m pytest benchmarks --benchmark-enable --benchmark-json=results.json
    python benchmarks/ratios.py results.json [--stat min|median|mean]

For each group: the time per read (a round's time divided by
``extra_info["reads"]``), the speed-up over the group's zipfile baseline, and
for randread cases the time over the bare decompressor of the same codec, with
and without the CRC-32 that every read checks. Thread cases show throughput
relative to one thread. A last section compares the results with the targets.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATS = ("min", "median", "mean")

#: the targets the zip benchmarks are held to
MAX_OVERHEAD_US = 2.0
MIN_SPEEDUP_ZLIB = 1.8
MIN_SPEEDUP_FAST = 3.5
MIN_TWO_THREAD_SCALING = 1.6
#: cores other processes kept busy during a case above which it is flagged
BUSY_MACHINE = 0.2


@dataclass(frozen=True)
class Case:
    """One benchmark's result, reduced to what the ratios need."""

    group: str
    name: str
    role: str
    codec: str | None
    crc: str | None
    threads: int | None
    #: cores that other processes used while the case ran (see conftest.py)
    other_load: float | None
    #: seconds per read (per open, for open cases)
    seconds: float

    @property
    def micros(self) -> float:
        return self.seconds * 1e6


def load(path: Path, stat: str) -> list[Case]:
    """Read the cases of a ``--benchmark-json`` file."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    cases = []
    for bench in document["benchmarks"]:
        info = bench.get("extra_info", {})
        reads = int(info.get("reads", 1))
        cases.append(
            Case(
                group=bench.get("group") or "(no group)",
                name=bench["name"],
                role=info.get("role", "subject"),
                codec=info.get("codec"),
                crc=info.get("crc"),
                threads=info.get("threads"),
                other_load=info.get("other_load"),
                seconds=float(bench["stats"][stat]) / reads,
            )
        )
    return cases


def format_time(micros: float) -> str:
    """Format a duration given in microseconds with a readable unit."""
    if micros >= 10_000:
        return f"{micros / 1000:9.1f} ms"
    return f"{micros:9.2f} us"


def baseline_for(case: Case, cases: list[Case]) -> Case | None:
    """The zipfile case to compare ``case`` with: same group, same thread count."""
    for other in cases:
        if other.group == case.group and other.role == "baseline" and other.threads == case.threads:
            return other
    return None


def bare_for(case: Case, cases: list[Case]) -> Case | None:
    """The bare decompressor case of the same group and codec."""
    for other in cases:
        if other.group == case.group and other.role == "bare" and other.codec == case.codec:
            return other
    return None


def crc_for(case: Case, cases: list[Case]) -> Case | None:
    """The CRC-32 case for the CRC library ``case`` uses."""
    if case.crc is None:
        return None
    for other in cases:
        if (
            other.group == case.group
            and other.role == "part"
            and other.codec == f"crc32-{case.crc}"
        ):
            return other
    return None


def single_thread_for(case: Case, cases: list[Case]) -> Case | None:
    """The one-thread case of the same group, role and codec."""
    for other in cases:
        if (
            other.group == case.group
            and other.role == case.role
            and other.codec == case.codec
            and other.threads == 1
        ):
            return other
    return None


def describe(case: Case, cases: list[Case]) -> str:
    """One line: name, time per read, and every ratio that applies."""
    notes = []
    baseline = baseline_for(case, cases)
    if baseline is not None and baseline is not case and case.role != "part":
        notes.append(f"{baseline.seconds / case.seconds:5.2f}x zipfile")
    bare = bare_for(case, cases)
    if bare is not None and case.role == "subject":
        notes.append(f"+{case.micros - bare.micros:.2f} us over bare {case.codec}")
        crc = crc_for(case, cases)
        if crc is not None:
            floor = bare.micros + crc.micros
            notes.append(f"+{case.micros - floor:.2f} us over bare {case.codec} + {crc.codec}")
    if case.threads is not None:
        single = single_thread_for(case, cases)
        if single is not None:
            notes.append(f"{single.seconds / case.seconds:4.2f}x one thread's throughput")
    if case.other_load is not None and case.other_load >= BUSY_MACHINE:
        notes.append(f"[other processes used {case.other_load:.1f} cores meanwhile]")
    return f"  {case.name:44s} {format_time(case.micros)}  " + ", ".join(notes)


def find(cases: list[Case], group: str, role: str, **fields: object) -> Case | None:
    """The first case of ``group`` and ``role`` whose attributes match ``fields``."""
    for case in cases:
        if case.group != group or case.role != role:
            continue
        if all(getattr(case, key) == value for key, value in fields.items()):
            return case
    return None


def targets(cases: list[Case]) -> list[str]:
    """Compare the zip results with the targets; one line per target that can be checked."""
    lines = []

    def verdict(ok: bool) -> str:
        return "met   " if ok else "MISSED"

    zipfile_read = find(cases, "zip-read-deflate", "baseline")
    fast = next(
        (
            case
            for case in cases
            if case.group == "zip-read-deflate"
            and case.role == "subject"
            and case.codec in ("libdeflate", "isal")
            and "fast" in case.name
        ),
        None,
    )
    plain = find(cases, "zip-read-deflate", "subject", codec="zlib")
    if fast is not None:
        bare = bare_for(fast, cases)
        if bare is not None:
            overhead = fast.micros - bare.micros
            lines.append(
                f"{verdict(overhead <= MAX_OVERHEAD_US)} overhead over bare {fast.codec}: "
                f"{overhead:.2f} us per read (target <= {MAX_OVERHEAD_US} us)"
            )
    for case, minimum, label in (
        (plain, MIN_SPEEDUP_ZLIB, "zlib"),
        (fast, MIN_SPEEDUP_FAST, "fast"),
    ):
        if case is not None and zipfile_read is not None:
            speedup = zipfile_read.seconds / case.seconds
            lines.append(
                f"{verdict(speedup >= minimum)} speed-up over zipfile with {label} "
                f"({case.codec}): {speedup:.2f}x (target >= {minimum}x)"
            )
    for role, label in (("subject", "randread"), ("baseline", "zipfile")):
        one = find(cases, "zip-threads", role, threads=1)
        two = find(cases, "zip-threads", role, threads=2)
        if one is not None and two is not None:
            scaling = one.seconds / two.seconds
            busy = max(case.other_load or 0.0 for case in (one, two))
            warning = (
                f" [other processes used up to {busy:.1f} cores: not a fair measurement]"
                if busy >= BUSY_MACHINE
                else ""
            )
            if role == "subject":
                lines.append(
                    f"{verdict(scaling >= MIN_TWO_THREAD_SCALING)} 2 threads on one {label} "
                    f"reader: {scaling:.2f}x one thread (target >= {MIN_TWO_THREAD_SCALING}x)"
                    + warning
                )
            else:
                lines.append(
                    f"       2 threads on one {label}: {scaling:.2f}x one thread" + warning
                )
    randread_open = find(cases, "zip-open", "subject")
    zipfile_open = find(cases, "zip-open", "baseline")
    if randread_open is not None and zipfile_open is not None:
        speedup = zipfile_open.seconds / randread_open.seconds
        lines.append(
            f"{verdict(speedup >= 1.0)} open time: {speedup:.2f}x zipfile's speed (target >= 1.0x)"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a --benchmark-json output file")
    parser.add_argument(
        "--stat",
        choices=STATS,
        default="min",
        help="which statistic of the rounds to compare (default: min, the least disturbed "
        "by other load on the machine)",
    )
    arguments = parser.parse_args(argv)
    cases = load(arguments.results, arguments.stat)
    if not cases:
        print("no benchmarks in the file (was --benchmark-enable given?)", file=sys.stderr)
        return 1
    print(f"time per read ({arguments.stat} of the rounds)")
    for group in sorted({case.group for case in cases}):
        print(f"\n{group}")
        members = [case for case in cases if case.group == group]
        for case in sorted(members, key=lambda case: (case.threads or 0, case.seconds)):
            print(describe(case, members))
    lines = targets(cases)
    if lines:
        print("\ntargets")
        for line in lines:
            print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
