"""Memoryviews that no two threads share.

On free-threaded CPython (3.13t, 3.14t) a memoryview's count of the views
made from it is a plain integer: threads that slice one shared memoryview, or
take buffers from it (``np.frombuffer``, ``struct.unpack_from``, ``crc32``),
lose updates to that count, and the buffer behind it is released under views
that are still in use ("operation forbidden on released memoryview object",
CPython gh-155606). So randread never keeps a memoryview that several threads
slice. Two tools replace it:

- :class:`ThreadViews` gives each thread a view of its own, made once per
  thread from the object that owns the memory (the *exporter*: ``bytes``, an
  ``mmap`` or a numpy array). Slicing it costs what slicing one shared view
  did, plus a thread-local lookup. Views a thread takes from it stay in that
  thread (its reads decode them).
- :func:`fresh_view` makes a view with a managed buffer of its own, for views
  handed to a caller: whatever the caller does with it, in whichever thread,
  touches no count that randread's own threads use.

Exporters must have no buffer-export state that matters to randread:
``bytes`` has none, and an ``mmap`` is never closed or resized by randread
(its own export count only guards those). Anything else (a ``bytearray``, a
caller's memoryview) is wrapped once, by :func:`exporter_of`, in a read-only
numpy array, whose buffer exports keep no count.
"""

from __future__ import annotations

import itertools
import mmap
import threading
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterable

    from typing_extensions import Buffer

__all__ = ["Exporter", "ThreadViews", "byte_slots", "exporter_of", "fresh_view", "view_of"]

#: An object that owns memory and may export it to any thread at any time.
Exporter: TypeAlias = "bytes | mmap.mmap | np.ndarray[Any, np.dtype[np.uint8]]"


def exporter_of(data: Buffer) -> Exporter:
    """Return an exporter of the bytes of ``data`` (no copy): ``data`` itself when it is one.

    ``bytes`` and ``mmap`` are their own exporters; any other C-contiguous
    buffer becomes a read-only 1-D ``uint8`` numpy array over the same memory,
    which holds one export of ``data`` for as long as it lives (so a
    ``bytearray`` cannot be resized meanwhile).
    """
    if isinstance(data, (bytes, mmap.mmap)):
        return data
    if (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 1
        and not data.flags.writeable
    ):
        return data
    view = memoryview(data)
    if not view.c_contiguous:
        msg = "expected a C-contiguous buffer"
        raise ValueError(msg)
    # The array keeps ``view`` as its base and exports from its own memory
    # pointer: no thread ever slices ``view`` itself.
    array = np.frombuffer(
        view if view.format == "B" and view.ndim == 1 else view.cast("B"), np.uint8
    )
    array.flags.writeable = False
    return array


def view_of(exporter: Exporter) -> memoryview:
    """Return a new read-only byte view of all of ``exporter``, with a managed buffer of its own."""
    view = memoryview(cast("Buffer", exporter))
    return view if view.readonly else view.toreadonly()


def fresh_view(exporter: Exporter, start: int, stop: int) -> memoryview:
    """Return a read-only view of ``exporter[start:stop]`` with a managed buffer of its own."""
    return view_of(exporter)[start:stop]


def byte_slots(target: memoryview, sizes: Iterable[int]) -> list[memoryview]:
    """Split the writable byte view ``target`` into back-to-back views of ``sizes`` bytes.

    Each view has a managed buffer of its own (made from a numpy array over
    ``target``), so the caller may hand each to a different thread, and
    threads may write into different views at once.
    """
    array = cast("Buffer", np.frombuffer(target, np.uint8))
    starts = itertools.accumulate(sizes, initial=0)
    return [memoryview(array)[start:stop] for start, stop in itertools.pairwise(starts)]


class ThreadViews(threading.local):
    """One read-only byte view of ``exporter`` per thread, in :attr:`view`.

    Each thread that reads :attr:`view` first gets a view made for it (this
    ``__init__`` runs once per thread); it may slice that view freely, but
    must not hand the view or its slices to another thread. Dropping the
    object (every thread's reference to it) drops every thread's view.
    """

    view: memoryview

    def __init__(self, exporter: Exporter) -> None:
        self.view = view_of(exporter)
