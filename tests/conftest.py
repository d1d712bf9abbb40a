"""Shared fixtures and helpers for the randread test suite."""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from randread._runtime import FREE_THREADED

# distributed's profiler reads other threads' frames, a use-after-free on
# 3.13t that crashes the process (CPython gh-152355, fixed in 3.14 only); as
# docs/threads.md tells users, it is off there. Set before dask is imported,
# and inherited by worker processes.
if FREE_THREADED and sys.version_info < (3, 14):
    os.environ["DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED"] = "False"

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def run_threads(count: int, target: Callable[[int], None], *, timeout: float = 120.0) -> None:
    """Run ``target(i)`` in ``count`` threads that start together on a barrier.

    Re-raises the first exception any thread raised. If a thread is still
    running after ``timeout`` seconds, dumps every thread's stack and fails the
    test instead of hanging.
    """
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        try:
            barrier.wait(timeout)
            target(index)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=body, args=(i,), daemon=True, name=f"worker-{i}")
        for i in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        if thread.is_alive():
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
            pytest.fail(f"{thread.name} did not finish within {timeout} s")
    if errors:
        raise errors[0]


# The loopback S3 and HTTP servers of the remote tests (tests/remote.py).
from tests.remote import http, http_server, s3, s3_server  # noqa: E402, F401


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """On a free-threaded build, fail the run if anything turned the GIL back on."""
    from randread._runtime import FREE_THREADED, gil_enabled  # noqa: PLC0415 - after the run

    if FREE_THREADED and gil_enabled():
        sys.stderr.write(
            "\nrandread: the GIL was enabled during the run on a free-threaded build "
            "(a module imported without declaring free-threading support)\n"
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    del exitstatus
