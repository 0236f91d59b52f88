"""The kinds of room events, and the one rule that says who may lose access through one.

Plain values only: the models write these, the stream and the fan-out read them, and
none of them has to decode an event's JSON to decide anything.
"""

from __future__ import annotations

from typing import NamedTuple

from django.db import models


class EventType(models.TextChoices):
    MESSAGE_POSTED = "message", "message posted"
    MESSAGE_EDITED = "message_edited", "message edited"
    MESSAGE_DELETED = "message_deleted", "message deleted"
    MEMBER_JOINED = "member_joined", "member joined"
    MEMBER_LEFT = "member_left", "member left"
    MEMBER_ROLE_CHANGED = "member_role_changed", "member role changed"
    MESSAGE_REMOVED = "message_removed", "message removed by a moderator"
    MESSAGE_RESTORED = "message_restored", "message restored by a moderator"
    USER_MUTED = "user_muted", "user muted"
    USER_UNMUTED = "user_unmuted", "user unmuted"
    USER_BANNED = "user_banned", "user banned"
    USER_UNBANNED = "user_unbanned", "user unbanned"
    ROOM_UPDATED = "room_updated", "room settings changed"
    MESSAGE_QUOTE_UPDATED = (
        "message_quote_updated",
        "the message a reply quotes was edited, deleted, removed or restored",
    )
    REACTION_ADDED = "reaction_added", "reaction added"
    REACTION_REMOVED = "reaction_removed", "reaction removed"
    MESSAGE_PINNED = "message_pinned", "message pinned"
    MESSAGE_UNPINNED = "message_unpinned", "message unpinned"
    CUSTOM = "custom", "custom"


# Events whose data is the whole message as it was at that moment. A replay never sends
# that old state: it sends the message as it is now (see RoomEventQuerySet.read).
# A reply's new quote, a reaction and a pin carry the whole message too: one kind of
# message state for the page to apply, and the same present-state rule for replay.
SNAPSHOT_TYPES = frozenset(
    {
        EventType.MESSAGE_POSTED,
        EventType.MESSAGE_EDITED,
        EventType.MESSAGE_RESTORED,
        EventType.MESSAGE_QUOTE_UPDATED,
        EventType.REACTION_ADDED,
        EventType.REACTION_REMOVED,
        EventType.MESSAGE_PINNED,
        EventType.MESSAGE_UNPINNED,
    }
)
# Events that change a message, making its earlier snapshots stale.
CHANGE_TYPES = frozenset(
    {
        EventType.MESSAGE_EDITED,
        EventType.MESSAGE_DELETED,
        EventType.MESSAGE_REMOVED,
        EventType.MESSAGE_RESTORED,
        EventType.MESSAGE_QUOTE_UPDATED,
        EventType.REACTION_ADDED,
        EventType.REACTION_REMOVED,
        EventType.MESSAGE_PINNED,
        EventType.MESSAGE_UNPINNED,
    }
)
# Changes of a message that change what its replies quote (Message.refresh_replies).
QUOTE_AFFECTING_TYPES = frozenset(
    {
        EventType.MESSAGE_EDITED,
        EventType.MESSAGE_DELETED,
        EventType.MESSAGE_REMOVED,
        EventType.MESSAGE_RESTORED,
    }
)


class Recheck(models.TextChoices):
    """Whose open streams of the room must check their access again after an event."""

    NOBODY = "", "nobody"
    SUBJECT = "subject", "the user the event is about"
    EVERYONE = "everyone", "everyone reading the room"


def who_may_lose_access(type: str, *, private: bool, became_private: bool = False) -> Recheck:
    """The one rule of which events can take away someone's right to read a room.

    It does not decide who still may read: a stream told to recheck asks the room's one
    access rule (Room.access_for) again before it sends anything more.
    """
    if type == EventType.USER_BANNED:
        return Recheck.SUBJECT
    if type == EventType.MEMBER_LEFT and private:
        return Recheck.SUBJECT
    if type == EventType.ROOM_UPDATED and became_private:
        return Recheck.EVERYONE
    return Recheck.NOBODY


class LoggedEvent(NamedTuple):
    """One event of a room's log as it travels to the streams: plain values, data encoded."""

    seq: int
    type: str
    data: str
    # The message the event is about (posts, edits, deletions, removals, restores).
    message_id: int | None = None
    # The user the event is about (joins, leaves, roles, mutes, bans).
    subject: int | None = None
    recheck: str = Recheck.NOBODY
    # The event's site-wide position (the user stream's id), and its room's slug.
    position: int = 0
    room: str = ""


class UserEventType(models.TextChoices):
    """Events of one user's own, on their user stream only (UserEvent)."""

    ROOM_JOINED = "room_joined", "joined a room, or was added to a direct message"
    ROOM_LEFT = "room_left", "left a room, or lost access to it"
    READ = "read", "read position moved"


class UserLoggedEvent(NamedTuple):
    """One UserEvent as it travels to the user streams."""

    position: int
    user_id: int
    room_id: int
    type: str
    data: str
