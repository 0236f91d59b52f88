"""The one place events leave from: after their transaction commits, never before.

A client must never see an event that was rolled back, and never miss one for good:
the event is in the log when it is published, so a stream that misses the live copy
still reads it from the log.

A fan-out backend carries published events to the hub (rooms/stream/hub.py) of every
process: rooms/stream/backends/local.py within one process, redis.py across processes. The
CHAT_FANOUT_BACKEND setting names it (a dotted path, loaded when first used).
"""

from __future__ import annotations

import functools
import hashlib
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from rooms.event_types import LoggedEvent, UserLoggedEvent

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase


class FanoutBackend(Protocol):
    def publish(self, room_id: int, event: LoggedEvent) -> None:
        """Deliver a committed event to the open streams of its room, in every process.

        Called from any thread after the transaction committed; must not raise or block
        for long: the event is already safe in the log, and streams catch up from there.
        """

    def publish_user(self, event: UserLoggedEvent) -> None:
        """Deliver a committed user event to that user's open user streams, in every process."""

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


def publish_on_commit(room_id: int, event: LoggedEvent) -> None:
    """Hand the room's event to every process's streams once its transaction commits.

    Access the event takes away travels with it (`event.recheck`): the streams concerned
    check again before they send anything later, whether the event arrived published or,
    after a lost publish, read from the log.
    """
    transaction.on_commit(lambda: get_backend().publish(room_id, event), robust=True)


def publish_user_on_commit(event: UserLoggedEvent) -> None:
    """Hand a user's own event to their user streams once its transaction commits."""
    transaction.on_commit(lambda: get_backend().publish_user(event), robust=True)


def revoke_user_on_commit(user_id: int) -> None:
    transaction.on_commit(lambda: get_backend().revoke_user(user_id), robust=True)


def revoke_other_sessions_on_commit(user_id: int, session: SessionBase) -> None:
    """Close the user's streams but those of `session`, the one that changed the password.

    Read at commit: the session's key then, which Django changed (`cycle_key`) after the
    save in the same transaction. Its streams go on under that key.
    """
    previous = session_digest(session.session_key or "")
    transaction.on_commit(
        lambda: get_backend().revoke_other_sessions(
            user_id, session_digest(session.session_key or ""), previous
        ),
        robust=True,
    )


def revoke_session_on_commit(session_key: str) -> None:
    """Close the streams opened with this session (the user logged out)."""
    session = session_digest(session_key)
    transaction.on_commit(lambda: get_backend().revoke_session(session), robust=True)


def session_digest(session_key: str) -> str:
    # Streams know their session by a digest: the key itself never travels through Redis.
    return hashlib.sha256(session_key.encode()).hexdigest()[:32]
