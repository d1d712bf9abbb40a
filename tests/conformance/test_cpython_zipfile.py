"""Conformance: CPython's own test_zipfile, reading through ZipReader.

``cpython_zipfile.py`` runs the ``test.test_zipfile`` of the interpreter
running this suite, in a subprocess, with every ``zipfile.ZipFile(..., "r")``
answered by ``randread.ZipReader`` (writing keeps the real zipfile). The tests
that still fail, with the reason for each, are listed in one place:
``cpython_zipfile_failures.tsv``. This test fails when a test fails that is
not listed there, when a listed one passes (the list is out of date), or when
more than :data:`MAX_FAILURES` reading tests fail.

Measured (reading tests passed): 3.10 161/163, 3.11 169/171, 3.12 172/175,
3.13 190/196.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "cpython_zipfile.py"
FAILURES = HERE / "cpython_zipfile_failures.tsv"
#: the target: at least 165 of 3.11's 171 reading tests pass; the same number
#: of failures at most on every Python
MAX_FAILURES = 6
#: fewer reading tests than this means the routing broke, not that tests pass
MIN_READING_TESTS = 150
VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


def _has_test_zipfile() -> bool:
    try:
        return importlib.util.find_spec("test.test_zipfile") is not None
    except ModuleNotFoundError:
        return False


pytestmark = pytest.mark.skipif(
    not _has_test_zipfile(),
    reason=f"this Python {VERSION} has no test.test_zipfile (its test package is not installed)",
)


def _short_id(test_id: str) -> str:
    """``test_zipfile.test_core.OtherTests.test_x`` -> ``OtherTests.test_x``."""
    return ".".join(test_id.split(".")[-2:])


def known_failures() -> dict[str, str]:
    """The listed failures that apply to this Python: short test id -> reason."""
    with FAILURES.open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return {
            row["test"]: row["reason"]
            for row in rows
            if row["python"] == "all" or VERSION in row["python"].split(",")
        }


@pytest.fixture(scope="module")
def summary() -> dict[str, object]:
    result = subprocess.run(  # noqa: S603 - our own script, with this interpreter
        [sys.executable, str(RUNNER), "--json"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    parsed: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return parsed


def test_failures_file_is_well_formed() -> None:
    with FAILURES.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows
    for row in rows:
        assert row["reason"].strip(), row
        assert row["test"].count(".") == 1, row
        assert all(
            part in {"all", "3.10", "3.11", "3.12", "3.13"} for part in row["python"].split(",")
        )


def test_cpython_test_zipfile_reads_through_zipreader(
    summary: dict[str, object], record_property: pytest.RecordProperty
) -> None:
    reading = summary["reading"]
    passed = summary["passed"]
    failing = summary["failing"]
    assert isinstance(reading, int)
    assert isinstance(passed, int)
    assert isinstance(failing, dict)
    record_property("reading_tests", reading)
    record_property("passed", passed)
    counts = f"Python {VERSION}: {passed} of {reading} reading tests pass"
    assert reading >= MIN_READING_TESTS, f"{counts}: the routing to ZipReader broke"
    known = known_failures()
    unexpected = {test: detail for test, detail in failing.items() if _short_id(test) not in known}
    assert not unexpected, f"{counts}; failures not in {FAILURES.name}: {unexpected}"
    now_passing = set(known) - {_short_id(test) for test in failing}
    ran = {_short_id(test) for test in summary.get("ran", [])}  # type: ignore[union-attr]
    stale = sorted(now_passing & ran)
    assert not stale, f"{counts}; listed in {FAILURES.name} but passing: {stale}"
    assert reading - passed <= MAX_FAILURES, counts
