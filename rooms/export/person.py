"""A person's own data as JSON Lines (GET /settings/export/):

    {"type": "account", "format": "chatsite-person", "version": 1, "username": ..., ...}
    {"type": "preferences", "notify": ..., "email_notifications": ..., "share_presence": ...}
    {"type": "membership", "room": ..., "role": ..., "joined": ...}      one per room
    {"type": "message", "room": ..., "id": ..., "created": ..., ...}    oldest first
    {"type": "end", "memberships": n, "messages": n}

Their messages are theirs wherever they were posted, in rooms they can still read or not
(left, banned, a private room they were removed from): each with its room's slug, its
present text and files' metadata. A deleted message is a tombstone without text or files
(deleted means gone). A removed message is a tombstone too, {"removed": true}, without its
text: the site shows it to nobody, its author included, until a moderator restores it, and
a download must not bring back what a moderator took down (it may be someone else's
private data or unlawful); once restored it is exported like any other.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.utils import timezone

from rooms.export.room import (
    EXPORT_CHUNK_MESSAGES,
    attachment_data,
    attachments_of,
    chunks,
    encode_line,
)
from rooms.models import Membership, Message, Preferences, Upload

FORMAT_NAME = "chatsite-person"
FORMAT_VERSION = 1


def person_lines(user: Any, chunk_size: int = EXPORT_CHUNK_MESSAGES) -> Iterator[str]:
    """The person's data, line by line, one chunk of messages in memory at a time."""
    yield encode_line(account_line(user))
    yield encode_line(preferences_line(Preferences.of(user)))
    memberships = 0
    for rows in chunks(Membership.objects.filter(user=user).select_related("room"), chunk_size):
        for membership in rows:
            memberships += 1
            yield encode_line(membership_line(membership))
    count = 0
    # Their messages in every room, on the message table's author index.
    for chunk in chunks(Message.objects.filter(author=user).select_related("room"), chunk_size):
        files = attachments_of(chunk)
        for message in chunk:
            count += 1
            yield encode_line(own_message_line(message, files.get(message.pk, [])))
    yield encode_line({"type": "end", "memberships": memberships, "messages": count})


def account_line(user: Any) -> dict[str, Any]:
    return {
        "type": "account",
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "username": user.get_username(),
        "email": user.email,
        "date_joined": user.date_joined,
        "exported": timezone.now(),
    }


def preferences_line(preferences: Preferences) -> dict[str, Any]:
    return {
        "type": "preferences",
        "notify": preferences.notify,
        "email_notifications": preferences.email_notifications,
        "share_presence": preferences.share_presence,
    }


def membership_line(membership: Membership) -> dict[str, Any]:
    room = membership.room
    return {
        "type": "membership",
        "room": room.slug,
        "name": room.name,
        "kind": room.kind,
        "role": membership.role,
        "joined": membership.joined_at,
    }


def own_message_line(message: Message, attachments: list[Upload]) -> dict[str, Any]:
    line: dict[str, Any] = {
        "type": "message",
        "room": message.room.slug,
        "id": message.pk,
        "created": message.created_at,
    }
    if message.is_deleted:
        return {**line, "deleted": True}
    if message.is_removed:
        return {**line, "removed": True}
    return {
        **line,
        "body": message.body,
        "edited": message.edited_at,
        "attachments": [attachment_data(upload) for upload in attachments],
    }
