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
import threading

from django.conf import settings

from rooms.event_types import LoggedEvent, UserLoggedEvent
from rooms.stream.hub import hub

logger = logging.getLogger(__name__)

CATCH_UP_INTERVAL_SECS = 1.0


class LocalPresence:
    """The presence store in this process's memory (see rooms.events.PresenceStore): right
    for the one process that in-process fan-out serves. Views call it from their threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # room id -> {(user id, tab): until}; room id -> {user id: last active}
        self.reports: dict[int, dict[tuple[int, str], float]] = {}
        self.active: dict[int, dict[int, float]] = {}

    def report(self, room_id: int, user_id: int, tab: str, until: float, now: float) -> bool:
        with self.lock:
            reports = self.reports.setdefault(room_id, {})
            was_here = any(u == user_id and t > now for (u, _), t in reports.items())
            reports[(user_id, tab)] = until
            return not was_here

    def leave(self, room_id: int, user_id: int, tab: str, until: float) -> None:
        with self.lock:
            reports = self.reports.get(room_id, {})
            if (user_id, tab) in reports:
                reports[(user_id, tab)] = min(reports[(user_id, tab)], until)

    def sweep(self, room_id: int, now: float) -> set[int]:
        with self.lock:
            reports = self.reports.get(room_id, {})
            ended = [key for key, until in reports.items() if until <= now]
            for key in ended:
                del reports[key]
            if not reports:
                self.reports.pop(room_id, None)
            staying = {user for user, _ in reports}
            return {user for user, _ in ended} - staying

    def here(self, room_id: int, now: float) -> set[int]:
        with self.lock:
            reports = self.reports.get(room_id, {})
            return {user for (user, _), until in reports.items() if until > now}

    def mark_active(self, room_id: int, user_id: int, now: float) -> None:
        with self.lock:
            active = self.active.setdefault(room_id, {})
            active[user_id] = now
            # Forget what is too old to list, so that the memory stays bounded.
            oldest = now - settings.CHAT_PRESENCE_RECENT_SECONDS
            for user, when in list(active.items()):
                if when < oldest:
                    del active[user]

    def active_since(self, room_id: int, since: float) -> set[int]:
        with self.lock:
            return {user for user, when in self.active.get(room_id, {}).items() if when >= since}


class LocalFanout:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.catcher: asyncio.Task[None] | None = None
        self.presence = LocalPresence()

    def publish_ephemeral(self, room_id: int, frame: bytes) -> None:
        hub.call_threadsafe(hub.offer_ephemeral, room_id, frame)

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
