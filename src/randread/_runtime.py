"""What the running interpreter is: a free-threaded build or not, and whether the GIL is on."""

from __future__ import annotations

import sys
import sysconfig

__all__ = ["FREE_THREADED", "gil_enabled"]

#: True on a free-threaded CPython build (3.13t, 3.14t), where threads run
#: Python code in parallel unless something turned the GIL back on.
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def gil_enabled() -> bool:
    """Return whether the GIL is on now (always True before Python 3.13)."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())
