"""In-process fan-out: publishing hands the event straight to this process's hub.

Right for `manage.py runserver` and any single-process deployment. With several
processes a stream only sees the events committed by its own process (until it
reconnects), which is why the `rooms.W001` system check warns about it outside DEBUG.
"""

from __future__ import annotations

from rooms.event_types import LoggedEvent
from rooms.fanout.hub import hub


class LocalFanout:
    def publish(self, room_id: int, event: LoggedEvent) -> None:
        hub.call_threadsafe(hub.offer, room_id, event)

    def revoke_user(self, user_id: int) -> None:
        hub.call_threadsafe(hub.revoke_user, user_id)

    def revoke_session(self, session: str) -> None:
        hub.call_threadsafe(hub.revoke_session, session)

    async def start(self) -> None:
        return None
