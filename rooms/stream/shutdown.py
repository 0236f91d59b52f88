"""At SIGTERM (or SIGINT), end this process's open streams at once, properly.

A stream never ends on its own. uvicorn (bin/serve, the systemd units) stops listening at
SIGTERM, waits for the requests under way (--timeout-graceful-shutdown), then cancels what
is left and exits: the open streams would be cut off that late, mid-answer, and nginx in
front counts a cut-off answer as the process failing (it then sends nothing there for a
while, max_fails in deploy/nginx.conf). Here every stream ends as soon as the signal comes,
with the end of its answer, like an overflow: its client resumes with Last-Event-ID on
another process (or on this one once it is back), and the process exits without waiting.

install() runs when a stream opens, on the event loop in the main thread. It wraps the
handler the server put in place (uvicorn's, or Twisted's under daphne), which then runs as
before; where none is callable (no server of ours), it does nothing.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from types import FrameType
from typing import Any

from rooms.stream.hub import hub

SIGNALS = (signal.SIGTERM, signal.SIGINT)
REASON = "shutdown"

_installed = False


def end_all_streams() -> None:
    for subscriber in hub.all_subscribers():
        subscriber.close(REASON)


def install() -> None:
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    _installed = True
    loop = asyncio.get_running_loop()
    for signum in SIGNALS:
        previous = signal.getsignal(signum)
        if callable(previous):
            signal.signal(signum, _wrap(loop, previous))


def _wrap(loop: asyncio.AbstractEventLoop, previous: Any) -> Any:
    def handler(signum: int, frame: FrameType | None) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(end_all_streams)
        previous(signum, frame)

    return handler
