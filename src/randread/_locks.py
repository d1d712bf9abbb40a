"""The one lock randread uses: a mutex with a timeout, an owner and counters.

Every lock in the package is a :class:`TimedLock`. Acquiring one waits at most
its timeout (the package default is 30 s, see :func:`set_lock_timeout`) and
then raises :class:`~randread.LockTimeoutError` naming the lock, the thread
that holds it and for how long, instead of hanging forever.

Each lock counts its acquisitions, the contended ones (those that had to wait),
the total and longest wait and the total and longest hold. The counters are
updated while the lock is held, so they are exact and need no second lock; an
uncontended acquire and release costs two clock reads more than a bare
:class:`threading.Lock` (measured in ``benchmarks/test_cache.py``).
:func:`lock_stats` sums them per lock name over every lock of that name, alive
or garbage-collected.

After :func:`os.fork` the child gets fresh locks: a lock that another parent
thread held at the moment of the fork would otherwise stay locked forever in
the child, where that thread does not exist.
"""

from __future__ import annotations

import math
import os
import threading
import weakref
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Protocol

from randread.errors import LockTimeoutError

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "LockStats",
    "TimedLock",
    "get_lock_timeout",
    "lock_stats",
    "register_after_fork",
    "set_lock_timeout",
]

#: seconds a lock (or a wait on another thread's result) may take before it fails
DEFAULT_LOCK_TIMEOUT = 30.0

_default_timeout = DEFAULT_LOCK_TIMEOUT
_get_ident = threading.get_ident


def set_lock_timeout(seconds: float | None) -> float:
    """Set the timeout of every lock that has none of its own; return the previous one.

    ``None`` restores the default (30 s). The new value applies at once, to
    locks that already exist too.
    """
    global _default_timeout
    if seconds is None:
        seconds = DEFAULT_LOCK_TIMEOUT
    seconds = _check_timeout(seconds)
    previous, _default_timeout = _default_timeout, seconds
    return previous


def get_lock_timeout() -> float:
    """Return the timeout of locks that have none of their own, in seconds."""
    return _default_timeout


def _check_timeout(seconds: float) -> float:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        msg = f"timeout must be a number of seconds, not {type(seconds).__name__}"
        raise TypeError(msg)
    if not seconds > 0 or math.isinf(seconds):
        msg = f"timeout must be a finite number of seconds > 0, not {seconds!r}"
        raise ValueError(msg)
    return float(seconds)


@dataclass(frozen=True, slots=True)
class LockStats:
    """Counters of one lock, or of every lock sharing a name.

    Times are in seconds. ``contended`` counts the acquisitions that found the
    lock held and had to wait; ``wait_total`` is the time they waited in all.
    ``hold_total`` divided by the elapsed time is how busy the lock was.
    """

    name: str
    #: locks of this name alive now (1 for the stats of a single lock)
    locks: int
    acquisitions: int
    contended: int
    wait_total: float
    wait_max: float
    hold_total: float
    hold_max: float

    @property
    def contention(self) -> float:
        """The share of acquisitions that had to wait (0.0 to 1.0)."""
        return self.contended / self.acquisitions if self.acquisitions else 0.0

    @property
    def mean_wait(self) -> float:
        """The mean wait of a contended acquisition, in seconds."""
        return self.wait_total / self.contended if self.contended else 0.0


#: a dead lock's counters: acquisitions, contended, wait total/max, hold total/max
_Counters = tuple[int, int, float, float, float, float]
_ZERO: _Counters = (0, 0, 0.0, 0.0, 0.0, 0.0)


def _add(left: _Counters, right: _Counters) -> _Counters:
    return (
        left[0] + right[0],
        left[1] + right[1],
        left[2] + right[2],
        max(left[3], right[3]),
        left[4] + right[4],
        max(left[5], right[5]),
    )


class _Family:
    """Every lock of one name: weak references to the live ones, totals of the dead."""

    __slots__ = ("live", "name", "retired", "totals")

    def __init__(self, name: str) -> None:
        self.name = name
        # Only single dict and list operations touch these outside the
        # registry lock, so a lock dying in any thread (even inside a garbage
        # collection) never has to wait for anything.
        self.live: dict[int, weakref.ref[TimedLock]] = {}
        self.retired: list[_Counters] = []
        self.totals: _Counters = _ZERO


_families: dict[str, _Family] = {}
#: dead locks' counters wait in ``_Family.retired`` until this many pile up
_FOLD_AT = 256


def _family(name: str) -> _Family:
    family = _families.get(name)
    if family is None:
        family = _families.setdefault(name, _Family(name))
    return family


class TimedLock:
    """A non-reentrant mutex with a timeout, an owner and contention counters.

    Use it as a context manager. ``timeout`` (seconds) overrides the package
    default for this lock. Only the fast path runs when the lock is free: a
    non-blocking acquire, the owner and a clock read; the timeout is looked
    up only when the lock has to be waited for.
    """

    __slots__ = (
        "__weakref__",
        "_acquired_at",
        "_family",
        "_lock",
        "_owner",
        "acquisitions",
        "contended",
        "hold_max",
        "hold_total",
        "name",
        "timeout",
        "wait_max",
        "wait_total",
    )

    def __init__(self, name: str, *, timeout: float | None = None) -> None:
        self.name = name
        self.timeout = None if timeout is None else _check_timeout(timeout)
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._acquired_at = 0.0
        self.acquisitions = 0
        self.contended = 0
        self.wait_total = 0.0
        self.wait_max = 0.0
        self.hold_total = 0.0
        self.hold_max = 0.0
        family = self._family = _family(name)
        family.live[id(self)] = weakref.ref(self)
        if len(family.retired) >= _FOLD_AT:
            _fold_soon(family)

    def __enter__(self) -> Self:
        if not self._lock.acquire(False):  # noqa: FBT003 - the C API takes it positionally
            self._wait()
        self.acquisitions += 1
        self._owner = _get_ident()
        self._acquired_at = perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        held = perf_counter() - self._acquired_at
        self.hold_total += held
        if held > self.hold_max:  # noqa: PLR1730 - cheaper than max() on the hot path
            self.hold_max = held
        self._owner = None
        self._lock.release()

    def _wait(self) -> None:
        timeout = self.timeout if self.timeout is not None else _default_timeout
        started = perf_counter()
        if not self._lock.acquire(True, timeout):  # noqa: FBT003 - positional C API
            raise self._timeout_error(timeout)
        # From here on the lock is ours, so the counters need no other guard.
        waited = perf_counter() - started
        self.contended += 1
        self.wait_total += waited
        if waited > self.wait_max:  # noqa: PLR1730 - as in __exit__
            self.wait_max = waited

    def _timeout_error(self, timeout: float) -> LockTimeoutError:
        owner, acquired_at = self._owner, self._acquired_at
        if owner is None:  # released just now, or held during a fork
            return LockTimeoutError(
                f"lock {self.name!r} not acquired within {timeout:g} s", lock=self.name
            )
        held_for = perf_counter() - acquired_at
        holder = thread_name(owner)
        return LockTimeoutError(
            f"lock {self.name!r} not acquired within {timeout:g} s: held by thread "
            f"{holder} for {held_for:.3f} s",
            lock=self.name,
            holder=holder,
            held_for=held_for,
        )

    def try_acquire(self) -> bool:
        """Take the lock if it is free, without waiting or counting; True if taken."""
        return self._lock.acquire(False)  # noqa: FBT003 - the C API takes it positionally

    def release(self) -> None:
        """Release the lock taken by :meth:`try_acquire`."""
        self._lock.release()

    def locked(self) -> bool:
        """Return True if some thread holds the lock."""
        return self._lock.locked()

    def stats(self) -> LockStats:
        """Return this lock's counters."""
        return _stats_of(self.name, 1, self.counters())

    def counters(self) -> _Counters:
        return (
            self.acquisitions,
            self.contended,
            self.wait_total,
            self.wait_max,
            self.hold_total,
            self.hold_max,
        )

    def after_fork_in_child(self) -> None:
        if self._owner != _get_ident():  # not held by the thread that forked
            self._lock = threading.Lock()
            self._owner = None

    def __del__(self) -> None:
        family: _Family | None = getattr(self, "_family", None)
        if family is None:  # __init__ failed before registering
            return
        family.live.pop(id(self), None)
        family.retired.append(self.counters())

    def __repr__(self) -> str:
        state = "locked" if self._lock.locked() else "unlocked"
        return f"<TimedLock {self.name!r} {state}, {self.acquisitions} acquisitions>"


def thread_name(ident: int) -> str:
    """Describe the thread with ``ident``: its name and ident, or the ident alone."""
    for thread in threading.enumerate():
        if thread.ident == ident:
            return f"{thread.name!r} (ident {ident})"
    return f"ident {ident} (no longer running)"


def _stats_of(name: str, locks: int, counters: _Counters) -> LockStats:
    acquisitions, contended, wait_total, wait_max, hold_total, hold_max = counters
    return LockStats(
        name, locks, acquisitions, contended, wait_total, wait_max, hold_total, hold_max
    )


# The registry lock guards folding dead locks' counters into their totals.
_registry_lock = TimedLock("randread.lock_stats")


def _fold(family: _Family) -> None:
    """Add the counters of dead locks to the family's totals (registry lock held)."""
    retired = family.retired
    totals = family.totals
    while retired:
        totals = _add(totals, retired.pop())
    family.totals = totals


def _fold_soon(family: _Family) -> None:
    """Fold now unless another thread holds the registry lock (it folds, then)."""
    # Never waits: a lock is created anywhere, even under another lock.
    if _registry_lock.try_acquire():
        try:
            _fold(family)
        finally:
            _registry_lock.release()


def lock_stats() -> dict[str, LockStats]:
    """Return the counters of every lock in the process, summed per lock name.

    Locks that have been garbage-collected still count under their name.
    """
    result = {}
    with _registry_lock:
        for name, family in sorted(_families.copy().items()):
            _fold(family)
            totals = family.totals
            alive = 0
            for reference in family.live.copy().values():
                lock = reference()
                if lock is not None:
                    alive += 1
                    totals = _add(totals, lock.counters())
            result[name] = _stats_of(name, alive, totals)
    return result


class _ForkAware(Protocol):
    def after_fork_in_child(self) -> None: ...


_fork_aware: weakref.WeakSet[_ForkAware] = weakref.WeakSet()


def register_after_fork(obj: _ForkAware) -> None:
    """Call ``obj.after_fork_in_child()`` in the child after a fork, while ``obj`` lives.

    Locks are made fresh before any of these calls.
    """
    _fork_aware.add(obj)


def _after_fork_in_child() -> None:
    # The child runs one thread, so nothing here can race.
    for family in _families.values():
        for reference in family.live.values():
            lock = reference()
            if lock is not None:
                lock.after_fork_in_child()
    for obj in list(_fork_aware):
        obj.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
