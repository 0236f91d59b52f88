"""In-process fan-out: publishing hands the event straight to this process's hub.

Right for `manage.py runserver` and any single-process deployment. With several
processes a stream only sees the events committed by its own process (until it
reconnects), which is why the `rooms.W001` system check warns about it outside DEBUG.
Events that another process writes to the log (the task worker ending a mute, a management
command) reach this process's streams within CATCH_UP_INTERVAL_SECS: while streams are
open, the hub reads the open rooms' newest seqs that often and delivers what it missed.
"""

from __future__ import annotations

import asyncio
import logging

from rooms.event_types import LoggedEvent, UserLoggedEvent
from rooms.stream.hub import hub

logger = logging.getLogger(__name__)

CATCH_UP_INTERVAL_SECS = 1.0


class LocalFanout:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.catcher: asyncio.Task[None] | None = None

    def publish(self, room_id: int, event: LoggedEvent) -> None:
        hub.call_threadsafe(hub.offer, room_id, event)

    def publish_user(self, event: UserLoggedEvent) -> None:
        hub.call_threadsafe(hub.offer_user, event)

    def revoke_user(self, user_id: int) -> None:
        hub.call_threadsafe(hub.revoke_user, user_id)

    def revoke_session(self, session: str) -> None:
        hub.call_threadsafe(hub.revoke_session, session)

    def revoke_other_sessions(self, user_id: int, session: str, previous: str) -> None:
        hub.call_threadsafe(hub.revoke_other_sessions, user_id, session, previous)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is loop and self.catcher is not None and not self.catcher.done():
            return
        self.loop = loop
        self.catcher = loop.create_task(self.catch_up())

    async def catch_up(self) -> None:
        while True:
            await asyncio.sleep(CATCH_UP_INTERVAL_SECS)
            try:
                await hub.catch_up()  # no query while no stream is open
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("local fan-out: reading the open rooms' heads failed: %s", exc)
