"""Readers that open on first use: what unpickling one gives.

A reader pickles as "open this source again" (its ReadAt and options, never
the parsed index). Unpickled, it makes no request and reads nothing until it
is first used: a reader sent to a thousand workers costs nothing on those
that never read.

The unpickled object is an instance of a subclass of the reader's class
(``isinstance`` holds) whose ``__getattr__`` runs the reader's ``__init__``
the first time the object lacks an attribute the open sets; then the object
becomes an instance of the reader's own class. The readers themselves have no
``__getattr__``: it would slow every attribute lookup of their read paths.
Threads that use an unopened reader at once wait for one open; the opening
thread's own lookups during ``__init__`` are plain misses; a failed open is
tried again by the next use.
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from randread._core.errors import closed_error
from randread._locks import TimedLock

__all__ = ["OpenOnFirstUse"]

_R = TypeVar("_R", bound="OpenOnFirstUse")

#: ``_deferred`` once closed unopened
_CLOSED = object()


class OpenOnFirstUse:
    """A base for readers that pickle as their source and open on first use."""

    __slots__ = ()

    #: the wording of the reader's ClosedError ("ZIP archive", "bundle")
    _closed_kind = "archive"

    def _reopen_arguments(self) -> tuple[tuple[object, ...], dict[str, object]]:
        """Return the ``__init__`` arguments that open the same source again (the reader's)."""
        raise NotImplementedError

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Pickle as "open the same source again" (its ReadAt and options), not the parsed state.

        Unpickled, the reader owns that ReadAt and opens on first use; pickled
        again before that, it reads nothing either.
        """
        args, kwargs = self._deferred_arguments() or self._reopen_arguments()
        return (_unpickled, (_reader_class(type(self)), args, kwargs))

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
        close = getattr(deferred[0][0], "close", None)
        if close is not None:  # the source was handed to the reader
            close()
        return True

    def _open_now(self) -> None:
        """Open now if the open is still to come; ClosedError if closed unopened."""
        state = self.__dict__
        lock = state.get("_deferred_lock")
        if lock is None or state["_deferred_opener"] == threading.get_ident():
            return
        with lock:
            deferred = state.get("_deferred")
            if deferred is _CLOSED:
                raise closed_error(self._closed_kind)
            if not isinstance(deferred, tuple):
                return  # opened by another thread meanwhile
            args, kwargs = deferred
            cls = _reader_class(type(self))
            state["_deferred_opener"] = threading.get_ident()
            try:
                cls.__init__(self, *args, **kwargs)
            finally:
                state["_deferred_opener"] = 0
            state["_deferred"] = None
            # From now on an instance of the reader's class, with its fast lookups.
            object.__setattr__(self, "__class__", cls)


def _unpickled(cls: type[_R], args: tuple[object, ...], kwargs: dict[str, object]) -> _R:
    """Return the reader a pickle holds, to open on first use."""
    reader = cls.__new__(_unopened_class(cls))
    state = reader.__dict__
    state["_deferred"] = (args, kwargs)
    state["_deferred_opener"] = 0  # the ident of the thread opening it
    state["_deferred_lock"] = TimedLock(f"{cls.__name__} open on first use")
    return reader


def _unopened_getattr(self: OpenOnFirstUse, name: str) -> Any:  # noqa: ANN401 - what the open sets
    state = self.__dict__
    if name.startswith("__") or state.get("_deferred_opener") == threading.get_ident():
        raise AttributeError(name)  # the opening thread's own lookups
    self._open_now()
    return object.__getattribute__(self, name)


_unopened_classes: dict[type, type] = {}
_unopened_lock = TimedLock("randread open on first use classes")


def _unopened_class(cls: type[_R]) -> type[_R]:
    """Return the subclass of ``cls`` that unpickled readers have until they open."""
    unopened = _unopened_classes.get(cls)
    if unopened is None:
        with _unopened_lock:
            unopened = _unopened_classes.get(cls)
            if unopened is None:
                namespace = {
                    "__slots__": (),  # the reader's layout, so its class can come back
                    "__getattr__": _unopened_getattr,
                    "__module__": cls.__module__,
                    "__qualname__": cls.__qualname__,
                    "_unopened_of": cls,
                }
                unopened = _unopened_classes[cls] = type(cls.__name__, (cls,), namespace)
    return unopened


def _reader_class(cls: type) -> type[OpenOnFirstUse]:
    """Return the reader class behind ``cls`` (an unopened one's, or zipfile.Path's mix)."""
    for klass in cls.__mro__:
        if "_unopened_of" in klass.__dict__:
            return klass.__dict__["_unopened_of"]  # type: ignore[no-any-return]
        if "_reopen_arguments" in klass.__dict__:
            return klass
    msg = f"{cls.__name__} is not a reader"
    raise TypeError(msg)
