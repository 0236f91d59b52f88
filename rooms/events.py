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
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from rooms.event_types import LoggedEvent, UserLoggedEvent
from rooms.stream.sse import sse_event

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

    def publish_ephemeral(self, room_id: int, frame: bytes) -> None:
        """Deliver an ephemeral frame (typing, presence: no id, never logged) at once to the
        open streams of the room and the user streams following it, in every process.

        Best effort: nothing catches up on a lost one, and it is sent outside the seq order.
        """

    @property
    def presence(self) -> PresenceStore:
        """Who has which room open, shared by every process (rooms/presence.py)."""
        ...


class PresenceStore(Protocol):
    """The presence of people in rooms, with expiry: each of a person's tabs reports
    "here until <time>"; a person is here while one of their reports holds.

    Times are seconds since the epoch (time.time()), passed in so that tests set the clock.
    Never raises for an unreachable store: presence is best effort (it answers "nobody").
    """

    def report(self, room_id: int, user_id: int, tab: str, until: float, now: float) -> bool:
        """Record the tab's report; return whether the person was not here before it."""
        ...

    def leave(self, room_id: int, user_id: int, tab: str, until: float) -> None:
        """End the tab's report at `until` (sooner than it would have), if it has one."""

    def sweep(self, room_id: int, now: float) -> set[int]:
        """Drop the reports that ended; return the people who are no longer here because of
        it. Atomic: of concurrent sweeps, one returns each departure."""
        ...

    def here(self, room_id: int, now: float) -> set[int]:
        """The people with a report that holds at `now`."""
        ...

    def mark_active(self, room_id: int, user_id: int, now: float) -> None:
        """The person was here or typed just now (kept for CHAT_PRESENCE_RECENT_SECONDS)."""

    def active_since(self, room_id: int, since: float) -> set[int]:
        """The people marked active at `since` or later."""
        ...


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


def publish_ephemeral(room_id: int, type: str, data: dict[str, Any]) -> None:
    """Hand a typing or presence event to the room's readers now, in every process.

    Not on commit and not in the log: it changes nothing stored, and it carries no id, so a
    client's resume position never moves past it and no replay sends it. Encoded here, once:
    the same bytes for every stream, room streams and user streams alike (its data names
    the room).
    """
    get_backend().publish_ephemeral(room_id, sse_event(type, data))


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
