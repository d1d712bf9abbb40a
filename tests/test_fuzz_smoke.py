"""The zip fuzz target (fuzz/fuzz_zip.py) keeps working: a short, repeatable run.

fuzz/ is not an installed package, so the module is loaded from its file. The
long runs are made by hand (see fuzz/README.md); this only checks that the
harness runs, is deterministic, and reports what it should.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import randread

FUZZ_ZIP = Path(__file__).resolve().parents[1] / "fuzz" / "fuzz_zip.py"


@pytest.fixture(scope="module")
def fuzz_zip() -> ModuleType:
    module = sys.modules.get("fuzz_zip")
    if module is None:
        spec = importlib.util.spec_from_file_location("fuzz_zip", FUZZ_ZIP)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        # dataclasses look their module up in sys.modules while the module runs.
        sys.modules["fuzz_zip"] = module
        spec.loader.exec_module(module)
    return module


def test_mutations_of_the_built_seeds_find_nothing(fuzz_zip: ModuleType) -> None:
    # No per-input alarm here: it would take SIGALRM from pytest-timeout.
    stats = fuzz_zip.fuzz(fuzz_zip.built_seeds(), seed=20240229, runs=3000)
    findings = "\n".join(finding.traceback for finding in stats.findings[:3])
    assert not stats.finding_counts, findings
    assert stats.inputs == 3000
    # Both sides of the invariant were exercised: archives that read, and errors.
    assert 0 < stats.read_fully < stats.opened < stats.inputs
    assert stats.errors["ZipFormatError"] > 0
    assert stats.open_errors["ZipFormatError"] > 0


def test_mutations_depend_only_on_the_seed(fuzz_zip: ModuleType) -> None:
    pool = [seed.data for seed in fuzz_zip.built_seeds()]

    def mutations(seed: int) -> list[bytes]:
        rng = fuzz_zip.random.Random(seed)
        mutator = fuzz_zip.Mutator(rng, list(pool), 1 << 20)
        return [mutator.mutate(rng.choice(pool)) for _ in range(300)]

    first = mutations(7)
    assert first == mutations(7)
    assert first != mutations(8)
    assert len(set(first)) > 250


def test_the_seeds_read_cleanly(fuzz_zip: ModuleType) -> None:
    for seed in fuzz_zip.built_seeds():
        outcome = fuzz_zip.check_input(seed.data, max_entries=1000)
        assert outcome.opened, seed.name
        assert outcome.read_fully, (seed.name, outcome.errors)
        assert outcome.errors == [], seed.name


def test_an_error_that_is_not_a_randread_error_is_a_finding(
    fuzz_zip: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_testzip(_self: randread.ZipReader) -> str | None:
        raise IndexError("index out of range in the reader")

    monkeypatch.setattr(randread.ZipReader, "testzip", broken_testzip)
    stats = fuzz_zip.fuzz(fuzz_zip.built_seeds()[:2], seed=1, runs=2)
    assert sum(stats.finding_counts.values()) == 2
    (key,) = stats.finding_counts
    assert key.startswith("IndexError@test_fuzz_smoke.py:")
    assert "index out of range in the reader" in stats.findings[0].traceback


def test_read_paths_that_disagree_are_a_finding(
    fuzz_zip: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = randread.ZipReader.read

    def read_one_byte_more(self: randread.ZipReader, name: object, pwd: object = None) -> bytes:
        return original(self, name, pwd) + b"!"  # type: ignore[arg-type]

    monkeypatch.setattr(randread.ZipReader, "read", read_one_byte_more)
    stats = fuzz_zip.fuzz(fuzz_zip.built_seeds()[:1], seed=1, runs=1)
    assert [finding.error.split(":")[0] for finding in stats.findings] == ["DisagreementError"]


def test_the_command_line_runs_and_sums_up(tmp_path: Path) -> None:
    """The script as people run it: alarm, watchdog and memory cap on, then a summary."""
    command = [sys.executable, str(FUZZ_ZIP), "--runs", "300", "--seed", "3"]
    command += ["--no-default-corpus", "--out", str(tmp_path), "--progress", "0"]
    result = subprocess.run(  # noqa: S603 - the repository's own script
        command, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "inputs run: 300 in" in result.stdout
    assert "findings: 0 (0 distinct)" in result.stdout
    assert list(tmp_path.iterdir()) == []
