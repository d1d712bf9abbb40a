"""Readers that open on first use: what unpickling one gives.

A reader pickles as "open this source again" (its ReadAt and options, never
the parsed index). Unpickled, it makes no request and reads nothing until it
is first used: a reader sent to a thousand workers costs nothing on those
that never read. The first use (any attribute the open sets) runs the
reader's ``__init__`` once, under a lock; threads that use it meanwhile
wait for it, and a failed open is tried again by the next use.
"""

from __future__ import annotations

import threading
from typing import Any

from randread._core.errors import closed_error

__all__ = ["OpenOnFirstUse"]

#: ``_deferred`` while the reader's ``__init__`` runs, and once closed unopened
_OPENING = object()
_CLOSED = object()


class OpenOnFirstUse:
    """A base for readers whose ``__init__`` may wait for the first use."""

    __slots__ = ()

    #: the wording of the reader's ClosedError ("ZIP archive", "bundle")
    _closed_kind = "archive"

    def _open_later(self, *args: object, **kwargs: object) -> None:
        """Make this object (from ``__new__``) run ``__init__(*args, **kwargs)`` on first use."""
        state = self.__dict__
        state["_deferred"] = (args, kwargs)
        # This class's: zipfile.Path may change the object's class before it opens.
        state["_deferred_init"] = type(self).__init__
        state["_deferred_lock"] = threading.RLock()

    def _reopen_arguments(self) -> tuple[tuple[object, ...], dict[str, object]]:
        """Return the ``__init__`` arguments that open the same source again (the reader's)."""
        raise NotImplementedError

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Pickle as "open the same source again" (its ReadAt and options), not the parsed state.

        Unpickled, the reader owns that ReadAt and opens on first use; pickled
        again before that, it reads nothing either.
        """
        args, kwargs = self._deferred_arguments() or self._reopen_arguments()
        # The reader's own class: zipfile.Path may have swapped in a subclass
        # that exists only in this process.
        cls: type[OpenOnFirstUse] = next(
            c for c in type(self).__mro__ if "_reopen_arguments" in c.__dict__
        )
        return (cls._unpickled, (args, kwargs))

    @classmethod
    def _unpickled(cls, args: tuple[object, ...], kwargs: dict[str, object]) -> OpenOnFirstUse:
        """Return the reader a pickle holds, to open on first use."""
        reader = cls.__new__(cls)
        cls._open_later(reader, *args, **kwargs)
        return reader

    def _deferred_arguments(self) -> tuple[tuple[object, ...], dict[str, object]] | None:
        """Return the arguments of an open still to come, else None."""
        deferred = self.__dict__.get("_deferred")
        return deferred if isinstance(deferred, tuple) else None

    def _close_unopened(self) -> bool:
        """Close a reader never opened (its source only): True if it was one."""
        state = self.__dict__
        lock = state.get("_deferred_lock")
        if lock is None:
            return False
        with lock:
            deferred = state.get("_deferred")
            if not isinstance(deferred, tuple):
                return deferred is _CLOSED
            state["_deferred"] = _CLOSED
        source = deferred[0][0]
        close = getattr(source, "close", None)
        if close is not None:  # the source was handed to the reader
            close()
        return True

    def _open_now(self) -> None:
        """Open now if the open is still to come; ClosedError if closed unopened."""
        state = self.__dict__
        lock = state.get("_deferred_lock")
        if lock is None:
            return
        with lock:
            deferred = state.get("_deferred")
            if deferred is _CLOSED:
                raise closed_error(self._closed_kind)
            if isinstance(deferred, tuple):
                args, kwargs = deferred
                state["_deferred"] = _OPENING
                try:
                    state["_deferred_init"](self, *args, **kwargs)
                except BaseException:
                    state["_deferred"] = deferred
                    raise
                state["_deferred"] = None

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - whatever the open sets
        state = self.__dict__
        lock = state.get("_deferred_lock")
        if lock is None or name.startswith("__"):
            raise AttributeError(name)
        with lock:  # reentrant: the opening thread's own lookups find _OPENING
            if state.get("_deferred") is _OPENING:
                raise AttributeError(name)
            self._open_now()
        return object.__getattribute__(self, name)
