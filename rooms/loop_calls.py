"""Calls handed to an event loop from other threads, in order, with one wake-up for all that
arrive before the loop gets to them.

`loop.call_soon_threadsafe` writes to the loop's wake-up pipe for every call: a system call
in the calling thread, and a read and a loop turn in the loop's. The writer (rooms/writer.py)
answers every post of a batch and publishes each post's event from its thread once the batch
committed, so a batch of eight made sixteen of them. Here the first call of a burst wakes the
loop and the rest join its list.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


class LoopCalls:
    """The calls waiting to run on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lock = threading.Lock()
        self.calls: list[tuple[Callable[..., None], tuple[Any, ...]]] = []

    def call(self, func: Callable[..., None], *args: Any) -> None:
        """Run func(*args) on the loop, after every call handed over before it. Dropped if
        the loop is closed."""
        with self.lock:
            self.calls.append((func, args))
            if len(self.calls) > 1:
                return  # the loop is woken already, and runs this one with the first
        try:
            self.loop.call_soon_threadsafe(self._run, context=contextvars.Context())
        except RuntimeError:  # the loop is closed: nobody is left to run them
            with self.lock:
                self.calls.clear()

    def _run(self) -> None:
        with self.lock:
            calls, self.calls = self.calls, []
        for func, args in calls:
            try:
                func(*args)
            except Exception:
                # As the loop's own handler would: one failing call does not stop the rest.
                logger.exception("a call handed to the event loop failed")


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopCalls] = (
    weakref.WeakKeyDictionary()
)
_by_loop_lock = threading.Lock()


def loop_calls(loop: asyncio.AbstractEventLoop) -> LoopCalls:
    with _by_loop_lock:
        calls = _by_loop.get(loop)
        if calls is None:
            calls = _by_loop[loop] = LoopCalls(loop)
        return calls
