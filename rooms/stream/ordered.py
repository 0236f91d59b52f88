"""In-order delivery of numbered events: what a room's channel does with its seqs and the
site channel with positions.

Events are numbered 1, 2, 3, ... with no hole, and committed in that order, but they reach a
process in whatever order their transactions published them (or not at all, when a publish
was lost). An OrderedChannel hands them on strictly in order, once each: it keeps those that
arrive ahead of a hole, and reads the hole from the event log before going on.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging

logger = logging.getLogger(__name__)

# How often to re-read the log for a missing number before giving up on it (it is always
# committed before any later one is published, so one read almost always finds it).
GAP_FILL_ATTEMPTS = 5
GAP_FILL_RETRY_SECS = 0.2


class OrderedChannel[E]:
    def __init__(self) -> None:
        # The number of the last event handed on; None until read from the log.
        self.head: int | None = None
        # The newest number known to be committed: from a publish, or read from the log.
        self.target = 0
        # Events that arrived ahead of a hole, by number.
        self.pending: dict[int, E] = {}
        self.filling = False

    # What a kind of channel says.

    def number(self, event: E) -> int:
        raise NotImplementedError

    def deliver(self, event: E) -> None:
        """Hand the next event on (the head is already its number)."""
        raise NotImplementedError

    async def read(self, after: int, before: int) -> list[E]:
        """The log's events numbered after `after` and before `before`, in order."""
        raise NotImplementedError

    def failed(self) -> None:
        """Reading the log failed: end the streams (they resume from their last id)."""
        raise NotImplementedError

    # Delivery, on the loop.

    def offer(self, event: E) -> None:
        number = self.number(event)
        if self.head is not None and number <= self.head:
            return  # already delivered (or before this channel opened: streams replay it)
        self.pending[number] = event
        self.target = max(self.target, number)
        self.drain()

    def catch_up(self, committed: int) -> None:
        """Deliver whatever the log holds up to `committed` that was never offered."""
        self.target = max(self.target, committed)
        self.drain()

    def drain(self) -> None:
        if self.head is None:
            return
        self._deliver_pending()
        if self.head < self.target and not self.filling:
            self.filling = True
            # A context of its own: offer() may run in a callback that carries the context of
            # the thread that published (a request's), whose asgiref state must not leak
            # into the log reads.
            asyncio.get_running_loop().create_task(self._fill_gaps(), context=contextvars.Context())

    def _deliver_pending(self) -> None:
        assert self.head is not None
        for number in [n for n in self.pending if n <= self.head]:
            del self.pending[number]
        while self.head + 1 in self.pending:
            self._deliver(self.pending.pop(self.head + 1))

    def _deliver(self, event: E) -> None:
        self.head = self.number(event)
        self.deliver(event)

    async def _fill_gaps(self) -> None:
        """Read what is missing between the head and the target from the log."""
        attempts = 0
        try:
            while self.head is not None and self.head < self.target:
                upto = min(self.pending) if self.pending else self.target + 1
                rows = await self.read(self.head, upto)
                for event in rows:
                    if self.head is not None and self.number(event) == self.head + 1:
                        self._deliver(event)
                if self.head is None:
                    break
                self._deliver_pending()
                if rows:
                    attempts = 0
                    continue
                if self.head >= self.target:
                    break
                attempts += 1
                if attempts < GAP_FILL_ATTEMPTS:
                    await asyncio.sleep(GAP_FILL_RETRY_SECS)
                    continue
                # Should not happen: a number is only published once every earlier one
                # committed. Move on rather than stall; a stream that reconnects reads the log.
                skip_to = (min(self.pending) if self.pending else self.target + 1) - 1
                logger.error(
                    "%s: %s..%s missing from the log; skipping them", self, self.head + 1, skip_to
                )
                self.head = skip_to
                self._deliver_pending()
                attempts = 0
        except Exception:
            logger.exception("%s: reading the log failed; closing its streams", self)
            self.failed()
            self.pending.clear()
            self.target = self.head or 0
        finally:
            self.filling = False
