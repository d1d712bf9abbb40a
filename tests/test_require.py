"""The helper that lets CI insist on optional libraries (tests/require.py)."""

from __future__ import annotations

import pytest

from tests.require import REQUIRE_VARIABLE, require_module, required_modules

MISSING = "randread_no_such_module_for_tests"


def test_a_missing_module_skips_when_not_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_VARIABLE, "torch, ray")
    assert required_modules() == {"torch", "ray"}
    with pytest.raises(pytest.skip.Exception, match=MISSING):
        require_module(MISSING)


def test_a_missing_required_module_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_VARIABLE, f"torch,{MISSING}")
    with pytest.raises(pytest.fail.Exception, match="is required here"):
        require_module(MISSING)


def test_a_present_module_is_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_VARIABLE, raising=False)
    assert required_modules() == set()
    assert require_module("zipfile").ZipFile is not None
