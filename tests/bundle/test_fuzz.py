"""The bundle fuzz target (fuzz/fuzz_bundle.py) keeps working: a short, repeatable run.

fuzz/ is not an installed package, so the modules are loaded from their files
(fuzz_bundle imports fuzz_zip, whose loop it runs). Long runs are made by hand.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import randread

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"


def _load(name: str) -> ModuleType:
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, FUZZ / f"{name}.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        # dataclasses look their module up in sys.modules while the module runs.
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fuzz_bundle() -> ModuleType:
    _load("fuzz_zip")
    return _load("fuzz_bundle")


def test_the_seeds_read_fully(fuzz_bundle: ModuleType) -> None:
    seeds = fuzz_bundle.built_seeds()
    assert len(seeds) >= 10
    for seed in seeds:
        for source in ("bytes", "file"):
            outcome = fuzz_bundle.check_input(seed.data, source=source)
            assert outcome.opened, seed.name
            assert outcome.read_fully, (seed.name, outcome.errors)
            assert outcome.errors == [], seed.name


def test_mutations_of_the_seeds_find_nothing(fuzz_bundle: ModuleType) -> None:
    # No per-input alarm here: it would take SIGALRM from pytest-timeout.
    stats = fuzz_bundle.fuzz(fuzz_bundle.built_seeds(), seed=20240229, runs=3000)
    findings = "\n".join(finding.traceback for finding in stats.findings[:3])
    assert not stats.finding_counts, findings
    assert stats.inputs == 3000
    # Both sides of the invariant were exercised: bundles that read, and errors.
    assert 0 < stats.read_fully < stats.opened < stats.inputs
    for error in ("BundleFormatError", "ChecksumError", "UnsupportedFeatureError"):
        assert stats.errors[error] > 0, error
    assert stats.open_errors["BundleFormatError"] > 0


def test_an_escaping_exception_is_a_finding(
    fuzz_bundle: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: randread.BundleReader) -> None:
        raise IndexError(self)

    monkeypatch.setattr(randread.BundleReader, "verify_index", broken)
    stats = fuzz_bundle.fuzz(fuzz_bundle.built_seeds()[:3], seed=1, runs=20)
    assert sum(stats.finding_counts.values()) > 0
    assert all(key.startswith("IndexError@") for key in stats.finding_counts)


def test_mutations_depend_only_on_the_seed(fuzz_bundle: ModuleType) -> None:
    pool = [seed.data for seed in fuzz_bundle.built_seeds()]

    def mutations(seed: int) -> list[bytes]:
        rng = fuzz_bundle.random.Random(seed)
        mutator = fuzz_bundle.BundleMutator(rng, list(pool), 1 << 20)
        return [mutator.mutate(rng.choice(pool)) for _ in range(300)]

    first = mutations(7)
    assert first == mutations(7)
    assert first != mutations(8)
    assert len(set(first)) > 250


def test_command_line(tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(FUZZ / "fuzz_bundle.py"), "--runs", "300", "--seed", "3"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "inputs run: 300" in result.stdout
    assert "findings: 0 (0 distinct)" in result.stdout
