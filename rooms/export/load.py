"""Load a room's export (rooms/export/room.py) into this site: `manage.py import_room`.

The room must not exist here. People are matched by username; whoever is missing is
created as an inactive account with an unusable password (the export holds no passwords
or email addresses): they can post nothing until staff activate them and they reset their
password. Messages keep their order, authors, times, edits, tombstones and removals; they
get new ids. Each member joins through Room.add_member and each message gets its
"message" event as Message.as_event_data() writes it now (a tombstone for a deleted or
removed message, as a replay would send it), with seqs handed out by Room.next_event_seq:
the room's log is whole (gapless, 1..n), so streams and replay work on it at once.

The whole import is one transaction: a bad line leaves nothing behind.

LIMITATION: files are not imported. An export holds their metadata, not their bytes, and a
row without its bytes would be a broken link; the command counts what it left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import DataError, models, transaction
from django.utils.dateparse import parse_datetime

from rooms.event_types import EventType
from rooms.export.room import FORMAT_NAME, FORMAT_VERSION
from rooms.models import (
    MAX_MESSAGE_LENGTH,
    Membership,
    Message,
    Room,
    RoomEvent,
    Upload,
    encode_event_data,
)
from rooms.models.log import next_position
from rooms.models.rooms import dm_key

# Messages written per batch (one INSERT for them, one for their events).
IMPORT_BATCH_MESSAGES = 500


class BadExport(Exception):
    """The file is not a room export this site can load, or the room exists already."""


@dataclass
class Imported:
    room: Room
    members: int = 0
    messages: int = 0
    people_created: int = 0
    files_left_out: int = 0


def import_room(lines: Iterable[str], slug: str | None = None) -> Imported:
    """Load the export's lines as a new room (named `slug`, or the export's own)."""
    try:
        with transaction.atomic():
            return _Importer(_parsed(lines)).run(slug)
    except DataError as exc:
        # A value the database will not store (a NUL in a text, a name too long).
        raise BadExport(f"the database refused a value: {exc}") from None


def _parsed(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            raise BadExport(f"line {number}: not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise BadExport(f"line {number}: not an object with a type")
        yield number, data


def _text(data: dict[str, Any], key: str, number: int, optional: bool = False) -> Any:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise BadExport(f"line {number}: {key} must be a string")
    return value


def _time(data: dict[str, Any], key: str, number: int, optional: bool = False) -> Any:
    value = data.get(key)
    if value is None and optional:
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None or parsed.tzinfo is None:
        raise BadExport(f"line {number}: {key} must be a time with its offset")
    return parsed


class _Importer:
    def __init__(self, lines: Iterator[tuple[int, dict[str, Any]]]) -> None:
        self.lines = lines
        # Everyone met so far, by username: as many as the room has people, not messages.
        self.people: dict[str, Any] = {}
        self.people_created = 0

    def run(self, slug: str | None) -> Imported:
        number, header = next(self.lines, (1, {}))
        self._check_header(number, header)
        room = self._room(header, slug)
        result = Imported(room)
        number, line = next(self.lines, (number + 1, {"type": "(end of file)"}))
        members: list[Any] = []
        while line["type"] == "member":
            members.append(self._member(room, number, line))
            number, line = next(self.lines, (number + 1, {"type": "(end of file)"}))
        result.members = len(members)
        if room.is_dm:
            room.dm_key = dm_key({user.pk: user for user in members})
            if Room.objects.filter(dm_key=room.dm_key).exists():
                raise BadExport("a direct message between these people exists already")
            room.save(update_fields=["dm_key"])
        batch: list[tuple[int, dict[str, Any]]] = []
        last_id = 0
        while line["type"] == "message":
            exported_id = line.get("id")
            if not isinstance(exported_id, int) or exported_id <= last_id:
                raise BadExport(f"line {number}: message ids must grow (the export's order)")
            last_id = exported_id
            batch.append((number, line))
            if len(batch) == IMPORT_BATCH_MESSAGES:
                self._write_messages(room, batch, result)
                batch = []
            number, line = next(self.lines, (number + 1, {"type": "(end of file)"}))
        self._write_messages(room, batch, result)
        if line["type"] != "end":
            raise BadExport(f"line {number}: expected a message or the end, got {line['type']}")
        if (line.get("members"), line.get("messages")) != (result.members, result.messages):
            raise BadExport(f"line {number}: the counts do not match the lines: a damaged file")
        if next(self.lines, None) is not None:
            raise BadExport(f"line {number + 1}: lines after the end")
        # The imported history is not news to its members.
        newest = room.messages.order_by("-id").values_list("id", flat=True).first() or 0
        Membership.objects.filter(room=room).update(last_read=newest)
        result.people_created = self.people_created
        return result

    def _check_header(self, number: int, header: dict[str, Any]) -> None:
        if header.get("type") != "room" or header.get("format") != FORMAT_NAME:
            raise BadExport(f"line {number}: not a room export (no room line first)")
        if header.get("version") != FORMAT_VERSION:
            raise BadExport(
                f"line {number}: format version {header.get('version')!r};"
                f" this site reads version {FORMAT_VERSION}"
            )

    def _room(self, header: dict[str, Any], slug: str | None) -> Room:
        number = 1
        slug = slug or _text(header, "slug", number)
        if Room.objects.filter(slug=slug).exists():
            raise BadExport(f"a room {slug!r} exists already: import it under another --slug")
        settings = header.get("settings")
        if not isinstance(settings, dict):
            raise BadExport(f"line {number}: settings must be an object")
        kind = header.get("kind")
        if kind not in (Room.KIND_ROOM, Room.KIND_DM):
            raise BadExport(f"line {number}: unknown kind {kind!r}")
        owner_name = _text(header, "owner", number, optional=True)
        room = Room(
            slug=slug,
            name=_text(header, "name", number),
            kind=kind,
            private=bool(header.get("private")),
            owner=self._person(owner_name) if owner_name else None,
            created_at=_time(header, "created", number),
            locked=bool(settings.get("locked")),
            archived=bool(settings.get("archived")),
            slow_mode_seconds=int(settings.get("slow_mode_seconds") or 0),
        )
        try:
            # A DM has no name (its people name it).
            room.full_clean(exclude=["owner", "dm_key", *(["name"] if room.is_dm else [])])
        except ValidationError as exc:
            raise BadExport(f"line {number}: {'; '.join(exc.messages)}") from None
        room.save()
        return room

    def _person(self, username: str) -> Any:
        person = self.people.get(username)
        if person is None:
            User = get_user_model()
            try:
                field = User._meta.get_field(User.USERNAME_FIELD)
                assert isinstance(field, models.Field)
                field.run_validators(username)
            except ValidationError as exc:
                raise BadExport(f"username {username!r}: {' '.join(exc.messages)}") from None
            person = User.objects.filter(username=username).first()
            if person is None:
                person = User(username=username, is_active=False)
                person.set_unusable_password()
                person.save()
                self.people_created += 1
            self.people[username] = person
        return person

    def _member(self, room: Room, number: int, line: dict[str, Any]) -> Any:
        user = self._person(_text(line, "username", number))
        role = line.get("role")
        if role not in dict(Membership.ROLE_CHOICES):
            raise BadExport(f"line {number}: unknown role {role!r}")
        membership, created = room.add_member(user, role=role)
        if not created:
            raise BadExport(f"line {number}: {user} is listed twice")
        membership.joined_at = _time(line, "joined", number)
        membership.save(update_fields=["joined_at"])
        return user

    def _write_messages(
        self, room: Room, batch: list[tuple[int, dict[str, Any]]], result: Imported
    ) -> None:
        if not batch:
            return
        last_seq = room.next_event_seq(len(batch))
        last_position = next_position(len(batch))
        first_seq = last_seq - len(batch) + 1
        messages = [
            self._message(room, number, line, seq=first_seq + n)
            for n, (number, line) in enumerate(batch)
        ]
        Message.objects.bulk_create(messages)
        for _, line in batch:
            attachments = line.get("attachments")
            result.files_left_out += len(attachments) if isinstance(attachments, list) else 0
        # Nothing attached (files are not imported): its data says so without a query. A
        # queryset with its (empty) results in hand, as prefetch_related leaves one; a bare
        # none() would still compile its SQL each time it is read (most of an import's time).
        nothing = Upload.objects.none()
        nothing._result_cache = []
        nothing._prefetch_done = True  # type: ignore[attr-defined]
        events = []
        for n, message in enumerate(messages):
            message._prefetched_objects_cache = {"attachments": nothing}  # type: ignore[attr-defined]
            events.append(
                RoomEvent(
                    room=room,
                    seq=message.state_seq,
                    type=EventType.MESSAGE_POSTED,
                    data=encode_event_data(message.as_event_data()),
                    message_id=message.pk,
                    position=last_position - len(messages) + 1 + n,
                )
            )
        RoomEvent.objects.bulk_create(events)
        result.messages += len(messages)

    def _message(self, room: Room, number: int, line: dict[str, Any], seq: int) -> Message:
        deleted = line.get("deleted") is True
        removed = line.get("removed") is True
        body = "" if deleted else (_text(line, "body", number, optional=removed) or "")
        if len(body) > MAX_MESSAGE_LENGTH or "\x00" in body:
            raise BadExport(f"line {number}: a body longer than {MAX_MESSAGE_LENGTH} or with NUL")
        removed_by = _text(line, "removed_by", number, optional=True) if removed else None
        return Message(
            room=room,
            author=self._person(_text(line, "author", number)),
            body=body,
            created_at=_time(line, "created", number),
            edited_at=None if deleted else _time(line, "edited", number, optional=True),
            deleted_at=_time(line, "deleted_at", number) if deleted else None,
            removed_at=_time(line, "removed_at", number) if removed and not deleted else None,
            removed_by=self._person(removed_by) if removed_by else None,
            removal_reason=str(line.get("removal_reason") or "") if removed else "",
            state_seq=seq,
        )
