"""A room's history as JSON Lines: the format that `manage.py import_room` reads back.

    {"type": "room", "format": "chatsite-room", "version": 1, "slug": ..., ...}
    {"type": "member", "username": ..., "role": ..., "joined": ...}      one per member
    {"type": "message", "id": ..., "author": ..., "created": ..., ...}   oldest first
    {"type": "end", "members": n, "messages": n}                        a whole file

One function writes each type of line (room_line, member_line, message_line): a new part
of a message (reactions, replies) is a new field in message_line, read for a whole chunk
as attachments_of reads files, and a new kind of line a function of its own here.

What a message line says:
- its present text and when it was last edited. Earlier versions are not exported: the
  site shows nobody an earlier version (replay sends a message as it is now); they remain
  only in the room's event log, and are erased from there too when the message is deleted.
- a deleted message is a tombstone, {"deleted": true} with its id, author and time: no
  text, no files. Deleted means gone, from exports too.
- a removed message (a moderator's removal, which can be undone) says "removed": true with
  when, by whom and why; its text is kept in the database for a restore and is exported
  only when `removed_text` is asked for. Room exports are made by staff (the command, the
  admin action), who can read removed text in the admin already, and they ask for it.
- its files' metadata (name, size, content type, key, image size), never their bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Max, Model, QuerySet
from django.utils import timezone

from rooms.models import Membership, Message, Room, Upload

FORMAT_NAME = "chatsite-room"
FORMAT_VERSION = 1
# Messages read per query: the memory an export takes, whatever the room's size.
EXPORT_CHUNK_MESSAGES = 500


class ExportEncoder(DjangoJSONEncoder):
    """Times to the microsecond, always written alike: Django's encoder keeps milliseconds
    and drops a zero fraction, so a time would not survive an export and import whole."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return o.isoformat(timespec="microseconds").replace("+00:00", "Z")
        return super().default(o)


def encode_line(data: dict[str, Any]) -> str:
    """One line of JSON Lines, newline included (UTF-8 text, never split over lines)."""
    return json.dumps(data, cls=ExportEncoder, separators=(",", ":"), ensure_ascii=False) + "\n"


def export_filename(room: Room) -> str:
    return f"{room.slug}.jsonl"


def room_lines(
    room: Room, *, removed_text: bool, chunk_size: int = EXPORT_CHUNK_MESSAGES
) -> Iterator[str]:
    """The room's export, line by line. Messages posted after the export began are left
    out (they belong to the next one); the newest id it covers is on the first line.

    LIMITATION: chunks are read one query each, not in one snapshot: a message edited,
    deleted or removed while the export runs appears as it was when its chunk was read.
    """
    newest = Message.objects.filter(room=room).aggregate(newest=Max("id"))["newest"] or 0
    yield encode_line(room_line(room, newest, removed_text=removed_text))
    members = 0
    for memberships in chunks(room.memberships.select_related("user"), chunk_size):
        for membership in memberships:
            members += 1
            yield encode_line(member_line(membership))
    count = 0
    messages = Message.objects.filter(room=room, pk__lte=newest)
    # On the (room, id) index.
    for chunk in chunks(messages.select_related("author", "removed_by"), chunk_size):
        files = attachments_of(chunk)
        for message in chunk:
            count += 1
            yield encode_line(
                message_line(message, files.get(message.pk, []), removed_text=removed_text)
            )
    yield encode_line({"type": "end", "members": members, "messages": count})


def chunks[Row: Model](rows: QuerySet[Row], size: int) -> Iterator[list[Row]]:
    """The rows in id order, `size` at a time, each chunk one query (keyset pagination).

    Not .iterator(): a server-side cursor would stay open on the connection while a
    download waits on its reader, and past the request if the reader goes away.
    """
    after = 0
    while True:
        chunk = list(rows.filter(pk__gt=after).order_by("pk")[:size])
        if not chunk:
            return
        yield chunk
        after = chunk[-1].pk


def attachments_of(messages: list[Message]) -> dict[int, list[Upload]]:
    """The files of a chunk of messages, by message id, in one query.

    Not prefetch_related: that leaves each message holding a queryset that points back at
    it, a cycle only the garbage collector frees, and an export's memory grows with the
    room until it runs. A plain dict goes when the chunk does.
    """
    files: dict[int, list[Upload]] = {}
    uploads = Upload.objects.filter(message_id__in=[message.pk for message in messages])
    for upload in uploads.order_by("message_id", "position", "id"):
        assert upload.message_id is not None
        files.setdefault(upload.message_id, []).append(upload)
    return files


def room_line(room: Room, newest_message: int, *, removed_text: bool) -> dict[str, Any]:
    return {
        "type": "room",
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "slug": room.slug,
        "name": room.name,
        "kind": room.kind,
        "private": room.private,
        "settings": {
            "locked": room.locked,
            "archived": room.archived,
            "slow_mode_seconds": room.slow_mode_seconds,
        },
        "created": room.created_at,
        "owner": room.owner.get_username() if room.owner is not None else None,
        "exported": timezone.now(),
        "messages_up_to": newest_message,
        "removed_text": removed_text,
    }


def member_line(membership: Membership) -> dict[str, Any]:
    return {
        "type": "member",
        "username": membership.user.get_username(),
        "role": membership.role,
        "joined": membership.joined_at,
    }


def message_line(
    message: Message, attachments: list[Upload], *, removed_text: bool
) -> dict[str, Any]:
    """A message as the export keeps it; `attachments` are its files (attachments_of).
    Reactions, replies and mentions would be read per chunk like attachments_of and
    added here as fields of their own."""
    line: dict[str, Any] = {
        "type": "message",
        "id": message.pk,
        "author": message.author.get_username(),
        "created": message.created_at,
    }
    if message.is_deleted:
        # A tombstone: what was said, and its files, are gone.
        return {**line, "deleted": True, "deleted_at": message.deleted_at}
    line["edited"] = message.edited_at
    if message.is_removed:
        line["removed"] = True
        line["removed_at"] = message.removed_at
        line["removed_by"] = (
            message.removed_by.get_username() if message.removed_by is not None else None
        )
        line["removal_reason"] = message.removal_reason
        if removed_text:
            line["body"] = message.body
    else:
        line["body"] = message.body
    if not message.is_removed or removed_text:
        line["attachments"] = [attachment_data(upload) for upload in attachments]
    return line


def attachment_data(upload: Upload) -> dict[str, Any]:
    """A file's metadata: enough to name it, never its bytes or where they are stored."""
    data: dict[str, Any] = {
        "name": upload.name,
        "size": upload.size,
        "content_type": upload.content_type,
        "key": upload.key,
    }
    if upload.is_image:
        data["image"] = {"width": upload.width, "height": upload.height}
    return data
