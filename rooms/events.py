"""The one place events leave from: after their transaction commits, never before.

A client must never see an event that was rolled back, and never miss one for good:
the event is in the log when it is published, so a stream that misses the live copy
still reads it from the log.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from django.db import transaction

from rooms.fanout import get_backend

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase

    from rooms.models import RoomEvent


def publish_on_commit(event: RoomEvent) -> None:
    room_id, seq, type, data = event.room_id, event.seq, event.type, event.data
    transaction.on_commit(lambda: get_backend().publish(room_id, seq, type, data), robust=True)


def revoke_on_commit(room_id: int, user_id: int) -> None:
    """Close the user's open streams of the room once the change that revokes access commits."""
    transaction.on_commit(lambda: get_backend().revoke(room_id, user_id), robust=True)


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
