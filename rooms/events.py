"""The one place events leave from: after their transaction commits, never before.

A client must never see an event that was rolled back, and never miss one for good:
the event is in the log when it is published, so a stream that misses the live copy
still reads it from the log.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from django.db import transaction

from rooms.event_types import LoggedEvent
from rooms.stream.backends import get_backend

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase


def publish_on_commit(room_id: int, event: LoggedEvent) -> None:
    """Hand the room's event to every process's streams once its transaction commits.

    Access the event takes away travels with it (`event.recheck`): the streams concerned
    check again before they send anything later, whether the event arrived published or,
    after a lost publish, read from the log.
    """
    transaction.on_commit(lambda: get_backend().publish(room_id, event), robust=True)


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
