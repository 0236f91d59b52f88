"""Events on their way from a channel to its streams, a slice of streams per turn of the loop.

Written to 3,000 streams at once, one event held the event loop for about 45 ms, and
everything else the process had to do meanwhile (answering a post, say) waited for all of
it. An Outbox hands each event to FANOUT_SLICE streams per turn of the loop and goes on at
the next turn. Events keep their order: one is handed to its streams only once the one
before it has reached all of its own, and its streams are chosen then (`begin`), from the
channel's state as the events before it left it.

Behind, it takes more of each turn: a slice more per event waiting. Should MAX_WAITING events
wait all the same (the process cannot keep up at all), the channel's streams are closed
(`overflow`) and resume from their last ids, as a stream too slow to read its own is.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Sequence
from typing import Any

from rooms.stream.subscriber import MAX_QUEUED_FRAMES

logger = logging.getLogger(__name__)

FANOUT_SLICE = 200
MAX_WAITING = MAX_QUEUED_FRAMES

# What `begin` makes of an event: the streams it goes to, and what hands it to one of them.
Delivery = tuple[Sequence[Any], Callable[[Any], None]]


class Outbox[E]:
    def __init__(self, begin: Callable[[E], Delivery], overflow: Callable[[], None]) -> None:
        self.begin = begin
        self.overflow = overflow
        self.waiting: collections.deque[E] = collections.deque()
        # The event being handed on: its streams, how, and how many have it.
        self.streams: Sequence[Any] = ()
        self.hand: Callable[[Any], None] | None = None
        self.handed = 0
        self.scheduled = False

    def add(self, event: E) -> None:
        """Hand the event on after those before it: now, if nothing is on its way."""
        if len(self.waiting) >= MAX_WAITING:
            logger.warning("a fan-out fell %s events behind: its streams resume", MAX_WAITING)
            self.clear()
            self.overflow()
        self.waiting.append(event)
        if self.hand is None and not self.scheduled:
            self.write()

    def busy(self) -> bool:
        return self.hand is not None or bool(self.waiting)

    def clear(self) -> None:
        """Forget what is on its way (nobody is left to hand it to)."""
        self.waiting.clear()
        self.streams, self.hand = (), None

    def write(self) -> None:
        """Hand events on, in order, to a slice of streams (a slice more per event waiting);
        go on at the next turn of the loop if some remain. A failure is logged, and goes no
        further than the stream (or the event) it happened to."""
        self.scheduled = False
        behind = len(self.waiting) - (1 if self.hand is None else 0)
        budget = FANOUT_SLICE * (1 + max(behind, 0))
        while budget > 0:
            if self.hand is None:
                if not self.waiting:
                    return
                event = self.waiting.popleft()
                try:
                    self.streams, self.hand = self.begin(event)
                except Exception:
                    logger.exception("an event could not be handed on: %r", event)
                    continue
                self.handed = 0
            hand, start = self.hand, self.handed
            assert hand is not None
            end = min(start + budget, len(self.streams))
            for stream in self.streams[start:end]:
                try:
                    hand(stream)
                except Exception:
                    logger.exception("an event could not be handed to a stream")
            budget -= end - start
            self.handed = end
            if end == len(self.streams):
                self.streams, self.hand = (), None
        if self.busy():
            asyncio.get_running_loop().call_soon(self.write)
            self.scheduled = True
