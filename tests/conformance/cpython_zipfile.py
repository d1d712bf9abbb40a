"""Run CPython's own ``test_zipfile`` with reading routed to :class:`randread.ZipReader`.

Usage: ``python tests/conformance/cpython_zipfile.py [--json] [-k PATTERN]``.

Every ``zipfile.ZipFile(file)`` / ``zipfile.ZipFile(file, "r")`` that the tests
create becomes a ``randread.ZipReader``; writing and appending keep the real
``zipfile.ZipFile``, and so do zipfile's own subclasses (``zipfile.Path`` given
a file name builds one of those). A test counts as a *reading test* when it
opened at least one archive for reading that way; the pass count is over those
tests. The test package is the one of the running interpreter (its
``test.test_zipfile`` module, or package from 3.12 on).

Prints a summary, or with ``--json`` one JSON object: the Python version, the
counts and each failing reading test with the first line of its error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import unittest
import warnings
import zipfile
from typing import Any

import randread

#: how many archives have been opened for reading through zipfile.ZipFile so far
_routed = [0]


def _routed_new(cls: type, file: object = None, mode: str = "r", *args: Any, **kwargs: Any) -> Any:  # noqa: ARG001 - zipfile.ZipFile's signature
    if cls is zipfile.ZipFile and mode == "r":
        _routed[0] += 1
        if issubclass(randread.ZipReader, zipfile.ZipFile):
            # type.__call__ then runs ZipReader.__init__ with the same arguments.
            return object.__new__(randread.ZipReader)
        # A ZipReader that is no ZipFile: built here; type.__call__ skips __init__.
        return randread.ZipReader(file, metadata_encoding=kwargs.get("metadata_encoding"))
    return object.__new__(cls)


def route_reading() -> None:
    """Make ``zipfile.ZipFile(..., "r")`` construct a ``randread.ZipReader``."""
    zipfile.ZipFile.__new__ = _routed_new  # type: ignore[assignment,method-assign]


class _Result(unittest.TestResult):
    """Records, per test, whether it read through the route and how it ended."""

    def __init__(self) -> None:
        super().__init__()
        self.outcomes: dict[str, tuple[bool, str, str]] = {}
        self._before = 0

    def startTest(self, test: unittest.TestCase) -> None:  # noqa: N802 - unittest's name
        self._before = _routed[0]
        super().startTest(test)

    def _record(self, test: unittest.TestCase, outcome: str, detail: str = "") -> None:
        test_id = test.id().removeprefix("test.")
        reads = _routed[0] > self._before
        previous = self.outcomes.get(test_id)
        if previous is not None and previous[1] != "pass":  # keep a subtest's failure
            return
        self.outcomes[test_id] = (reads or (previous is not None and previous[0]), outcome, detail)

    def addSuccess(self, test: unittest.TestCase) -> None:  # noqa: N802
        super().addSuccess(test)
        self._record(test, "pass")

    def addFailure(self, test: unittest.TestCase, err: Any) -> None:  # noqa: N802
        super().addFailure(test, err)
        self._record(test, "fail", _first_line(err))

    def addError(self, test: unittest.TestCase, err: Any) -> None:  # noqa: N802
        super().addError(test, err)
        self._record(test, "error", _first_line(err))

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:  # noqa: N802
        super().addSkip(test, reason)
        self._record(test, "skip", reason)

    def addExpectedFailure(self, test: unittest.TestCase, err: Any) -> None:  # noqa: N802
        super().addExpectedFailure(test, err)
        self._record(test, "pass")

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:  # noqa: N802
        super().addUnexpectedSuccess(test)
        self._record(test, "fail", "unexpected success")

    def addSubTest(self, test: unittest.TestCase, subtest: Any, err: Any) -> None:  # noqa: N802
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._record(test, "fail", _first_line(err))


def _first_line(err: Any) -> str:
    exc_type, exc, _ = err
    text = f"{exc_type.__name__}: {exc}"
    return text.splitlines()[0][:300] if text else exc_type.__name__


def _load(pattern: str | None) -> unittest.TestSuite:
    loader = unittest.TestLoader()
    if pattern:
        loader.testNamePatterns = [f"*{pattern}*"]
    return loader.loadTestsFromName("test.test_zipfile")


def run(pattern: str | None = None) -> dict[str, Any]:
    """Run test_zipfile with reading routed; return the summary."""
    route_reading()
    suite = _load(pattern)
    result = _Result()
    started = time.perf_counter()
    home = os.getcwd()  # noqa: PTH109 - contextlib.chdir is 3.11+
    with tempfile.TemporaryDirectory() as workdir:
        os.chdir(workdir)
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
                warnings.simplefilter("ignore")
                suite.run(result)
        finally:
            os.chdir(home)
    seconds = time.perf_counter() - started
    reading = {key: value for key, value in result.outcomes.items() if value[0]}
    failing = {key: value[2] for key, value in reading.items() if value[1] in ("fail", "error")}
    return {
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "tests": len(result.outcomes),
        "reading": sum(1 for value in reading.values() if value[1] != "skip"),
        "passed": sum(1 for value in reading.values() if value[1] == "pass"),
        "failing": dict(sorted(failing.items())),
        # reading tests that ran to an end (passed or failed), for stale-list checks
        "ran": sorted(key for key, value in reading.items() if value[1] != "skip"),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("-k", dest="pattern", help="run only tests whose name contains this")
    args = parser.parse_args()
    summary = run(args.pattern)
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    sys.stdout.write(
        f"Python {summary['python']}: {summary['passed']} of {summary['reading']} reading "
        f"tests pass ({summary['tests']} tests in all, {summary['seconds']} s)\n"
    )
    for test_id, detail in summary["failing"].items():
        sys.stdout.write(f"  {test_id}: {detail}\n")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
