"""Fan-out: getting a committed event to every open stream of its room.

`hub` (rooms/stream/hub.py) holds this process's open streams and delivers to them in
order. A backend carries published events to the hub of every process: `local` within one
process, `redis` across processes. The backend is chosen by the CHAT_FANOUT_BACKEND setting.
"""

from __future__ import annotations

import functools
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from rooms.event_types import LoggedEvent


class FanoutBackend(Protocol):
    def publish(self, room_id: int, event: LoggedEvent) -> None:
        """Deliver a committed event to the open streams of its room, in every process.

        Called from any thread after the transaction committed; must not raise or block
        for long: the event is already safe in the log, and streams catch up from there.
        """

    def revoke_user(self, user_id: int) -> None:
        """Close every open stream of the user, in every process."""

    def revoke_session(self, session: str) -> None:
        """Close every open stream opened with this session (a digest), in every process."""

    def revoke_other_sessions(self, user_id: int, session: str, previous: str) -> None:
        """Close every open stream of the user but those of one session, in every process.

        That session's key changed from `previous` to `session` (digests): its streams go on
        under the new one (Django cycles the key of the session that changes the password).
        """

    async def start(self) -> None:
        """Begin receiving (called on the event loop when the first stream opens)."""


@functools.cache
def get_backend() -> FanoutBackend:
    backend: FanoutBackend = import_string(settings.CHAT_FANOUT_BACKEND)()
    return backend
