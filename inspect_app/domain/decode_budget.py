"""A process-wide budget for the pixel memory of image decodes.

A small compressed file can hold a large image (a 240 KB PNG holds 50 megapixels of RGBA, 200 MB
decoded), so the byte limit of an upload does not bound memory: six such uploads at once drove a
server to 4.3 GB. Every decode first reserves its pixel memory here; while other requests hold
the budget it waits a little, then gives up with Busy (503 with Retry-After) rather than let the
process grow without bound. Threads share it (uploads decode in the thread pool); each worker
process has its own.
"""

from __future__ import annotations

import ctypes
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from inspect_app.domain.errors import Busy
from inspect_app.i18n import _

RETRY_AFTER_SECONDS = 5


class DecodeBudget:
    """Bytes of decoded pixels that may be held at once by all decodes of this process."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.held = 0
        self.peak = 0  # the most ever held at once (for tests and benchmarks)
        self._changed = threading.Condition()

    @contextmanager
    def reserve(self, cost: int, wait: float) -> Iterator[None]:
        """Hold `cost` bytes for the duration of the block; Busy if they are not free in time.

        A decode dearer than the whole budget is clamped to it: it then runs alone, never refused
        for being large (the pixel limit refuses large images, with its own message).
        """
        cost = max(0, min(cost, self.capacity))
        deadline = time.monotonic() + wait
        with self._changed:
            while self.held + cost > self.capacity:
                left = deadline - time.monotonic()
                if left <= 0 or not self._changed.wait(left):
                    if self.held + cost > self.capacity:
                        raise Busy(
                            _("The server is busy decoding other photos; try again in a moment."),
                            retry_after=RETRY_AFTER_SECONDS,
                        )
            self.held += cost
            self.peak = max(self.peak, self.held)
        try:
            yield
        finally:
            return_freed_memory_to_the_system()
            with self._changed:
                self.held -= cost
                self._changed.notify_all()


_budgets: dict[int, DecodeBudget] = {}
_lock = threading.Lock()


def budget_for(capacity: int) -> DecodeBudget | None:
    """The one budget of this process for a capacity in bytes (None: 0 turns the budget off).

    Keyed by capacity so that apps built with other settings in one process (tests) do not
    share a budget of another size; a server has one.
    """
    if capacity <= 0:
        return None
    with _lock:
        return _budgets.setdefault(capacity, DecodeBudget(capacity))


def reserve(capacity: int, cost: int, wait: float) -> AbstractContextManager[None]:
    """Hold `cost` bytes of this process's budget of `capacity` bytes (0: no budget, no wait)."""
    budget = budget_for(capacity)
    return budget.reserve(cost, wait) if budget is not None else nullcontext()


def return_freed_memory_to_the_system() -> None:
    """Give the freed pages of finished decodes back to the system (glibc's malloc_trim).

    Pillow allocates pixels in blocks of up to 16 MB; after the first is freed, glibc serves
    such blocks from per-thread heaps that seldom shrink by themselves, and a burst of large
    decodes stayed resident at twice the budget. Does nothing off glibc.
    (A fixed mmap threshold through mallopt did the same at startup but made uvicorn's
    spawned worker processes die: not used.)
    """
    if _libc is not None:
        _libc.malloc_trim(0)


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        getattr(libc, "malloc_trim")
    except (OSError, AttributeError):  # another C library (musl)
        return None
    return libc


_libc = _glibc()
