"""``randread bench``: the checks made before any measuring."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.cli.helpers import invoke


def test_a_url_without_fsspec_is_reported_before_any_work(
    monkeypatch: pytest.MonkeyPatch, files_dir: Path
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda _name: None)
    result = invoke("bench", files_dir, "s3://bucket/a.zip", "--quick")
    assert result.exit_code == 1
    assert "pip install 'randread[remote]'" in result.output
    assert "Corpus" not in result.output


def test_bench_plot_without_matplotlib_fails_before_measuring(
    monkeypatch: pytest.MonkeyPatch, files_dir: Path
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name: None if name == "matplotlib" else real_find_spec(name),
    )
    result = invoke("bench", files_dir, "--quick", "--plot", "out.png")
    assert result.exit_code == 2
    assert "'--plot'" in result.output
    assert "randread[plot]" in result.output
    assert "Corpus" not in result.output


def test_bench_takes_storage_options_next_to_local_sources(files_dir: Path) -> None:
    # The options are for URL sources; a local directory beside them is fine.
    result = invoke("bench", files_dir, "--storage-option", "anon=true", "--list-formats")
    assert result.exit_code == 0, result.output
    assert "bundle-zstd" in result.output
