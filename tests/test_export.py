"""Exports as JSON Lines: a room's history (manage.py export_room, the Room admin's action),
its import (manage.py import_room), and a person's own data (GET /settings/export/).

alice owns the lobby and the secret room; bob is a member of both; carol of nothing;
mod is site staff who moderates; eve is staff who may not moderate.
"""

from __future__ import annotations

import io
import json
import tracemalloc
import warnings
from datetime import UTC, datetime

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from rooms import moderation
from rooms.backup import check_event_log
from rooms.export.room import room_lines
from rooms.models import Message, Restriction, Room, RoomEvent
from rooms.stream import log
from tests.conftest import client_for
from tests.helpers import image_bytes, upload_file

pytestmark = pytest.mark.django_db

DELETED_TEXT = "my bank password is hunter2"
REMOVED_TEXT = "a rude remark"


def export(slug: str, *options: str) -> list[dict]:
    out = io.StringIO()
    call_command("export_room", slug, *options, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def downloaded(response) -> bytes:
    """The whole body of a streamed download. The test client is sync: it reads the async
    iterator whole (and says so); test_the_download_streams_under_asgi reads it as ASGI does."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "StreamingHttpResponse must consume")
        return b"".join(response)


@pytest.fixture
def history(lobby, alice, bob, mod):
    """The lobby's history: a post, an edit, a picture, a deletion, a removal."""
    lobby.post_message(alice, "hello")
    edited, _ = lobby.post_message(bob, "helo")
    edited.edit("hello, fixed")
    picture = upload_file(client_for(bob), "lobby", "cat.png", image_bytes())
    assert picture.status_code == 201, picture.content
    lobby.post_message(bob, "a cat", attachments=[picture.json()["id"]])
    deleted, _ = lobby.post_message(bob, DELETED_TEXT)
    deleted.erase()
    removed, _ = lobby.post_message(bob, REMOVED_TEXT)
    moderation.remove_message(mod, removed, "rude")
    lobby.post_message(alice, "the last word")
    return lobby


def test_the_export_is_the_room_then_its_members_then_messages_oldest_first(history):
    lines = export("lobby")
    room, *rest = lines
    assert room["type"] == "room"
    assert room["format"] == "chatsite-room" and room["version"] == 1
    assert (room["slug"], room["name"], room["kind"], room["private"]) == (
        "lobby",
        "Lobby",
        "room",
        False,
    )
    assert room["owner"] == "alice"
    assert room["settings"] == {"locked": False, "archived": False, "slow_mode_seconds": 0}
    members = [line for line in rest if line["type"] == "member"]
    assert [(m["username"], m["role"]) for m in members] == [("alice", "owner"), ("bob", "member")]
    messages = [line for line in rest if line["type"] == "message"]
    assert [m["id"] for m in messages] == list(
        Message.objects.filter(room=history).order_by("id").values_list("id", flat=True)
    )
    assert [m.get("body") for m in messages] == [
        "hello",
        "hello, fixed",
        "a cat",
        None,
        REMOVED_TEXT,
        "the last word",
    ]
    assert messages[1]["edited"] is not None and messages[0]["edited"] is None
    assert lines[-1] == {"type": "end", "members": 2, "messages": 6}
    # The line types come in that order and in no other.
    kinds = [line["type"] for line in lines]
    assert kinds == ["room", "member", "member", *["message"] * 6, "end"]


def test_files_are_exported_as_metadata_never_bytes(history):
    cat = next(m for m in export("lobby") if m.get("body") == "a cat")
    (attachment,) = cat["attachments"]
    assert attachment["name"] == "cat.png"
    assert attachment["content_type"] == "image/png"
    upload = history.uploads.get()
    assert (attachment["size"], attachment["key"]) == (upload.size, upload.key)
    assert attachment["image"] == {"width": 64, "height": 48}
    assert "stored_name" not in attachment


def test_a_deleted_message_is_a_tombstone_in_every_export(history, mod, bob):
    command = "".join(json.dumps(line) for line in export("lobby"))
    tombstone = next(m for m in export("lobby") if m.get("deleted"))
    assert set(tombstone) == {"type", "id", "author", "created", "deleted", "deleted_at"}
    admin = downloaded(run_export_action(client_for(mod), history))
    person = downloaded(client_for(bob).get("/settings/export/"))
    for text in (command, admin.decode(), person.decode()):
        assert "hunter2" not in text


def test_a_removed_message_keeps_its_text_only_in_a_staff_export(history, bob):
    removed = next(m for m in export("lobby") if m.get("removed"))
    assert removed["body"] == REMOVED_TEXT
    assert (removed["removed_by"], removed["removal_reason"]) == ("mod", "rude")
    without = next(m for m in export("lobby", "--without-removed-text") if m.get("removed"))
    assert "body" not in without and "attachments" not in without
    person = downloaded(client_for(bob).get("/settings/export/")).decode()
    assert REMOVED_TEXT not in person
    assert '"removed":true' in person


def test_the_export_can_go_to_a_file_whole_or_not_at_all(history, tmp_path):
    target = tmp_path / "lobby.jsonl"
    call_command("export_room", "lobby", "--output", str(target), verbosity=0)
    lines = target.read_text().splitlines()
    assert json.loads(lines[-1])["type"] == "end"
    assert not (tmp_path / "lobby.jsonl.partial").exists()


def test_an_unknown_room_is_a_clear_error(db):
    with pytest.raises(CommandError, match="no room 'nowhere'"):
        call_command("export_room", "nowhere", stdout=io.StringIO())


def without_ids(lines: list[dict]) -> list[dict]:
    """What a round trip keeps: everything but ids, the slug, the moment of export, and
    files (their bytes are not in an export, so an import leaves them out)."""
    kept = []
    for line in lines:
        line = {
            k: v for k, v in line.items() if k not in ("id", "slug", "exported", "messages_up_to")
        }
        line.pop("attachments", None)
        kept.append(line)
    return kept


def test_an_export_imported_under_another_slug_exports_the_same(history, tmp_path):
    # A time whose fraction has no milliseconds: it must come back to the microsecond.
    odd_time = datetime(2025, 1, 2, 3, 4, 5, 123, tzinfo=UTC)
    history.messages.filter(body="hello").update(created_at=odd_time)
    first = tmp_path / "lobby.jsonl"
    call_command("export_room", "lobby", "--output", str(first), verbosity=0)
    out = io.StringIO()
    call_command("import_room", str(first), "--slug", "lobby-copy", stdout=out)
    assert "imported lobby-copy: 2 members, 6 messages, 0 people created" in out.getvalue()
    assert "1 files' metadata left out" in out.getvalue()
    original = [json.loads(line) for line in first.read_text().splitlines()]
    copy = export("lobby-copy")
    assert without_ids(copy) == without_ids(original)
    assert Room.objects.get(slug="lobby-copy").messages.get(body="hello").created_at == odd_time
    assert [m["id"] for m in copy if m["type"] == "message"] == sorted(
        m["id"] for m in copy if m["type"] == "message"
    )


def test_an_imported_room_has_a_whole_event_log_that_replays_its_present(history, tmp_path):
    first = tmp_path / "lobby.jsonl"
    call_command("export_room", "lobby", "--output", str(first), verbosity=0)
    call_command("import_room", str(first), "--slug", "lobby-copy", stdout=io.StringIO())
    copy = Room.objects.get(slug="lobby-copy")
    assert check_event_log()["rooms"] == 2  # no room's log has a hole
    seqs = list(copy.events.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, copy.last_event_seq + 1))
    replayed = [json.loads(event.data) for event in log.read(copy.pk, 0) if event.type == "message"]
    assert [m["body"] for m in replayed] == [
        "hello",
        "hello, fixed",
        "a cat",
        "",
        "",
        "the last word",
    ]
    assert [m["deleted"] for m in replayed][3] is True
    assert [m["removed"] for m in replayed][4] is True
    everything = "".join(copy.events.values_list("data", flat=True))
    assert "hunter2" not in everything and REMOVED_TEXT not in everything
    # The removed text is kept, as in the original, for a restore.
    assert copy.messages.get(removed_at__isnull=False).body == REMOVED_TEXT
    # Members joined through the room's own method: it was not news to them.
    newest = copy.messages.order_by("-id").first()
    assert newest is not None
    assert set(copy.memberships.values_list("last_read", flat=True)) == {newest.pk}


def test_people_missing_here_are_created_inactive_without_a_password(history, tmp_path):
    lines = [
        json.loads(line)
        for line in "".join(room_lines(history, removed_text=True)).split("\n")
        if line
    ]
    for line in lines:
        for key in ("username", "author", "owner"):
            if line.get(key) == "bob":
                line[key] = "newcomer"
    source = tmp_path / "renamed.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    call_command("import_room", str(source), "--slug", "renamed", stdout=io.StringIO())
    newcomer = User.objects.get(username="newcomer")
    assert not newcomer.is_active
    assert not newcomer.has_usable_password()
    assert Room.objects.get(slug="renamed").messages.filter(author=newcomer).count() == 4


def test_an_import_refuses_a_room_that_exists(history, tmp_path):
    first = tmp_path / "lobby.jsonl"
    call_command("export_room", "lobby", "--output", str(first), verbosity=0)
    with pytest.raises(CommandError, match="a room 'lobby' exists already"):
        call_command("import_room", str(first), stdout=io.StringIO())


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        (lambda lines: lines[:-1], "expected a message or the end"),
        (lambda lines: [lines[0].replace('"version":1', '"version":9'), *lines[1:]], "version 9"),
        (lambda lines: lines[1:], "not a room export"),
        (lambda lines: [*lines[:4], "{oops\n", *lines[4:]], "line 5: not JSON"),
        (lambda lines: [line.replace("the last word", "nul\\u0000") for line in lines], "NUL"),
        (lambda lines: [line.replace('"alice"', '"al ice"') for line in lines], "username"),
    ],
    ids=["truncated", "newer version", "no room line", "not json", "nul", "bad username"],
)
def test_a_damaged_export_is_refused_and_leaves_nothing(history, tmp_path, damage, error):
    lines = list(room_lines(history, removed_text=True))
    source = tmp_path / "damaged.jsonl"
    source.write_text("".join(damage(lines)))
    events = RoomEvent.objects.count()
    with pytest.raises(CommandError, match=error):
        call_command("import_room", str(source), "--slug", "damaged", stdout=io.StringIO())
    assert not Room.objects.filter(slug="damaged").exists()
    assert RoomEvent.objects.count() == events


def test_an_export_takes_the_memory_of_a_chunk_however_many_messages(lobby, alice):
    body = "x" * 1000

    def peak_for(count: int) -> tuple[int, int]:
        Message.objects.bulk_create(
            [Message(room=lobby, author=alice, body=body) for _ in range(count)]
        )
        room = Room.objects.select_related("owner").get(pk=lobby.pk)
        tracemalloc.start()
        try:
            written = sum(len(line) for line in room_lines(room, removed_text=True, chunk_size=100))
            return tracemalloc.get_traced_memory()[1], written
        finally:
            tracemalloc.stop()

    small, _ = peak_for(300)
    large, written = peak_for(2700)  # 3000 messages now
    assert written > 3_000_000
    # Ten times the messages, about the same memory: one chunk's worth, not the room's.
    assert large < small * 1.5, (small, large)
    assert large < 1_000_000, large


def run_export_action(client, *rooms):
    return client.post(
        "/admin/rooms/room/",
        {"action": "export", ACTION_CHECKBOX_NAME: [str(room.pk) for room in rooms]},
    )


def test_a_site_moderator_downloads_a_room_from_the_admin(history, mod):
    response = run_export_action(client_for(mod), history)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert response["Content-Disposition"] == 'attachment; filename="lobby.jsonl"'
    lines = [json.loads(line) for line in downloaded(response).splitlines()]
    assert without_ids(lines) == without_ids(export("lobby"))


def test_the_admin_exports_one_room_at_a_time(history, secret, mod):
    response = run_export_action(client_for(mod), history, secret)
    assert response.status_code == 302
    assert not getattr(response, "streaming", False)


def test_nobody_but_site_moderators_can_use_the_admin_export(history, bob, eve):
    as_bob = run_export_action(client_for(bob), history)
    assert as_bob.status_code == 302 and "/admin/login/" in as_bob["Location"]
    as_eve = run_export_action(client_for(eve), history)
    assert not getattr(as_eve, "streaming", False)
    assert b"hello" not in as_eve.content


def test_staff_cannot_export_a_direct_message_they_may_not_read(alice, bob, mod):
    dm, _ = Room.objects.direct_message(alice, [bob])
    dm.post_message(alice, "just between us")
    response = run_export_action(client_for(mod), dm)
    assert not getattr(response, "streaming", False)
    assert b"just between us" not in response.content
    superuser = User.objects.create_superuser("root", password="root-password-1")
    allowed = downloaded(run_export_action(client_for(superuser), dm))
    assert b"just between us" in allowed


def test_a_person_downloads_their_own_data(history, secret, alice, bob):
    secret.post_message(bob, "in the secret room")
    moderation.restrict(alice, secret, bob, Restriction.BAN)
    response = client_for(bob).get("/settings/export/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert response["Content-Disposition"] == 'attachment; filename="bob-data.jsonl"'
    assert "no-store" in response["Cache-Control"]
    lines = [json.loads(line) for line in downloaded(response).splitlines()]
    account, preferences, *rest = lines
    assert (account["type"], account["username"]) == ("account", "bob")
    assert preferences == {
        "type": "preferences",
        "notify": "mentions",
        "email_notifications": True,
        "share_presence": True,
    }
    memberships = [line["room"] for line in rest if line["type"] == "membership"]
    assert memberships == ["lobby", "secret"]
    messages = [line for line in rest if line["type"] == "message"]
    # Their own messages only, in rooms they can still read or not (banned from secret).
    assert [(m["room"], m.get("body")) for m in messages] == [
        ("lobby", "hello, fixed"),
        ("lobby", "a cat"),
        ("lobby", None),
        ("lobby", None),
        ("secret", "in the secret room"),
    ]
    assert messages[2] == {**messages[2], "deleted": True} and "body" not in messages[2]
    assert messages[3]["removed"] is True
    assert messages[1]["attachments"][0]["name"] == "cat.png"
    assert "hello" not in [m.get("body") for m in messages]  # alice's
    assert lines[-1] == {"type": "end", "memberships": 2, "messages": 5}


def test_the_settings_page_links_to_the_download(bob):
    page = client_for(bob).get("/settings/")
    assert b'href="/settings/export/"' in page.content


def test_anonymous_people_are_sent_to_log_in(db):
    response = client_for(None).get("/settings/export/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_downloads_of_ones_data_are_rate_limited(bob, settings):
    settings.CHAT_EXPORTS_PER_HOUR = 1
    client = client_for(bob)
    assert client.get("/settings/export/").status_code == 200
    again = client.get("/settings/export/")
    assert again.status_code == 429
    assert int(again["Retry-After"]) > 0


@pytest.mark.django_db(transaction=True)
async def test_the_download_streams_under_asgi(history, bob):
    """Under ASGI the lines are sent as they are read, a batch at a time (an async
    iterator: Django would read a sync one into memory whole first)."""
    from asgiref.sync import sync_to_async
    from django.test import AsyncClient

    client = AsyncClient()
    await sync_to_async(client.force_login)(bob)
    response = await client.get("/settings/export/")
    assert response.status_code == 200
    assert response.is_async  # type: ignore[attr-defined]
    chunks = [chunk async for chunk in response.streaming_content]  # type: ignore[attr-defined]
    assert b"hello, fixed" in b"".join(chunks)


@pytest.mark.django_db(transaction=True)
def test_the_command_reads_in_a_transaction_of_its_own(lobby, alice):
    """Outside any transaction (as from a shell) the command opens its own snapshot."""
    lobby.post_message(alice, "hello")
    assert [line["type"] for line in export("lobby")] == [
        "room",
        "member",
        "member",
        "message",
        "end",
    ]


def test_a_direct_message_is_imported_only_if_its_people_have_none(alice, bob, tmp_path):
    dm, _ = Room.objects.direct_message(alice, [bob])
    dm.post_message(alice, "just between us")
    source = tmp_path / "dm.jsonl"
    source.write_text("".join(room_lines(dm, removed_text=True)))
    with pytest.raises(CommandError, match="a direct message between these people exists"):
        call_command("import_room", str(source), "--slug", "dm-copy", stdout=io.StringIO())
    Room.objects.filter(pk=dm.pk).update(dm_key=None)  # as if on another site
    call_command("import_room", str(source), "--slug", "dm-copy", stdout=io.StringIO())
    copy = Room.objects.get(slug="dm-copy")
    assert (copy.kind, copy.private, copy.owner) == ("dm", True, None)
    assert copy.dm_key == f"{alice.pk},{bob.pk}"
    assert copy.member_names() == ["alice", "bob"]
