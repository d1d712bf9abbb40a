"""Optional libraries that some test modules need: skipped, or required by the environment.

A module's tests skip when a library it needs is not importable, unless the
``RANDREAD_REQUIRE`` environment variable (comma-separated module names, e.g.
``torch,ray``) names it: then a missing library fails the module, so a CI
lane that is meant to run those tests cannot pass without running them.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

REQUIRE_VARIABLE = "RANDREAD_REQUIRE"


def required_modules() -> set[str]:
    """The module names ``RANDREAD_REQUIRE`` lists."""
    listed = os.environ.get(REQUIRE_VARIABLE, "")
    return {name.strip() for name in listed.split(",") if name.strip()}


def require_module(name: str) -> ModuleType:
    """Import ``name``; skip the calling module when it is missing, or fail if it is required."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if name in required_modules():
            pytest.fail(
                f"{name} is required here ({REQUIRE_VARIABLE}={os.environ[REQUIRE_VARIABLE]!r}) "
                f"but cannot be imported: {exc}",
                pytrace=False,
            )
        pytest.skip(f"{name} is not installed ({exc})", allow_module_level=True)
