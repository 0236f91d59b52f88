"""Deleted means gone: history + replay = a fresh history load, and a replay never carries
text, or a file's name or URL, that the history would not show the same person now.

alice and bob write; mod (site staff) removes and restores; carol joined afterwards and
reads. Runs on both stacks (SQLite in-process, PostgreSQL with Redis).
"""

import json
import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rooms import moderation
from rooms.models import Message, Room, RoomEvent, Upload
from tests.helpers import Stream

pytestmark = pytest.mark.django_db(transaction=True)


def history(client, slug):
    """The room's whole history as the JSON endpoint shows it to that client now."""
    response = client.get(f"/rooms/{slug}/messages/?limit=200")
    assert response.status_code == 200
    page = response.json()
    return {m["id"]: m for m in page["messages"]}, page["last_event_id"]


def state_of(messages):
    """What a page shows of each message: its text, tombstone, files and mentions."""
    return {
        id: (
            m["body"],
            m["deleted"],
            m.get("removed", False),
            tuple((a["name"], a["url"]) for a in m.get("attachments", [])),
            tuple(m.get("mentions", [])),
            m.get("mentions_room", False),
        )
        for id, m in messages.items()
    }


def attach_file(room, author, name):
    """An upload of `author` in `room` (its bytes do not matter here), for a post to carry."""
    upload = Upload.objects.create(
        room=room,
        uploader=author,
        name=name,
        size=1,
        content_type="text/plain",
        stored_name=f"uploads/{name}",
    )
    return [upload.pk]


def apply(messages, events):
    """Apply stream events to a page's messages the way static/rooms/room.js does."""
    for event in events:
        data = event.json
        if event.type in ("message", "message_restored"):
            messages[data["id"]] = data
        elif event.type == "message_edited":
            if data["id"] in messages:
                messages[data["id"]] = data
        elif event.type == "message_deleted" and data["id"] in messages:
            gone = {
                "body": "",
                "deleted": True,
                "attachments": [],
                "mentions": [],
                "mentions_room": False,
            }
            messages[data["id"]] = {**messages[data["id"]], **gone}
        elif event.type == "message_removed" and data["id"] in messages:
            gone = {
                "body": "",
                "removed": True,
                "attachments": [],
                "mentions": [],
                "mentions_room": False,
            }
            messages[data["id"]] = {**messages[data["id"]], **gone}
    return messages


def assert_no_text_beyond_the_present(events, present):
    """Every body and file a replay carries is one the history shows for that message now."""
    for event in events:
        data = json.loads(event.data)
        body = data.get("body")
        if body:
            assert body == present[event.json["id"]]["body"], (event.type, body)
        for file in data.get("attachments", []):
            assert file in present[event.json["id"]]["attachments"], (event.type, file)


async def replay(slug, user, after, upto):
    async with Stream(slug, user, last_event_id=str(after)) as stream:
        if upto > after:
            await stream.read_until(lambda evs: evs and evs[-1].seq >= upto)
        await stream.expect_nothing(0.1)
        return stream.events


def test_a_replay_from_zero_shows_deleted_removed_and_edited_messages_as_they_are_now(
    lobby, alice, bob, carol, mod, as_carol
):
    doomed, _ = lobby.post_message(
        alice, "to delete", attachments=attach_file(lobby, alice, "a.txt")
    )
    doomed.erase()
    spam, _ = lobby.post_message(bob, "spam spam", attachments=attach_file(lobby, bob, "b.txt"))
    moderation.remove_message(mod, spam, "spam")
    edited, _ = lobby.post_message(alice, "first")
    edited.edit("second")
    lobby.add_member(carol)  # joined afterwards

    events = async_to_sync(replay)("lobby", carol, 0, lobby.current_event_seq())
    raw = b"".join(e.data.encode() for e in events)
    keys = Upload.objects.values_list("key", flat=True)
    for text in (b"to delete", b"spam spam", b"first", b"a.txt", b"b.txt", *map(str.encode, keys)):
        assert text not in raw
    present, _ = history(as_carol, "lobby")
    assert present[edited.pk]["body"] == "second"
    assert_no_text_beyond_the_present(events, present)
    assert state_of(apply({}, events)) == state_of(present)


def test_deleting_a_message_erases_its_text_from_the_database(lobby, alice):
    message, _ = lobby.post_message(alice, "a secret to erase")
    message.edit("a second secret")
    message.erase()
    assert Message.objects.get(pk=message.pk).body == ""
    for data in RoomEvent.objects.filter(room=lobby).values_list("data", flat=True):
        assert "secret" not in data


def test_a_removal_keeps_the_text_for_moderators_only(lobby, bob, mod, as_alice):
    message, _ = lobby.post_message(bob, "rude words")
    moderation.remove_message(mod, message, "rude")
    assert Message.objects.get(pk=message.pk).body == "rude words"  # can be restored
    assert "rude words" not in as_alice.get("/rooms/lobby/messages/").content.decode()
    assert "rude words" not in as_alice.get("/rooms/lobby/").content.decode()
    moderation.restore_message(mod, message, "fine after all")
    assert as_alice.get(f"/rooms/lobby/messages/{message.pk}/").json()["body"] == "rude words"


# Operations on the room's messages, by index into what was posted so far.
operations = st.lists(
    st.one_of(
        st.tuples(st.just("post"), st.sampled_from(["alice", "bob"]), st.booleans()),
        st.tuples(st.sampled_from(["edit", "delete", "remove", "restore"]), st.integers(0, 30)),
    ),
    max_size=14,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(before=operations, after=operations)
def test_history_and_replay_equal_a_fresh_history_and_reveal_nothing_more(
    alice, bob, carol, mod, as_carol, before, after
):
    slug = f"r-{uuid.uuid4().hex[:10]}"
    room = Room.objects.create(slug=slug, name=slug, owner=alice)
    for user in (alice, bob, carol):
        room.add_member(user)
    people = {"alice": alice, "bob": bob}
    posted: list[Message] = []
    texts = iter(f"text-{k}-{uuid.uuid4().hex[:6]}" for k in range(1000))

    def run(ops):
        for op, arg, *with_file in ops:
            if op == "post":
                author = people[arg]
                files = attach_file(room, author, f"{next(texts)}.txt") if with_file[0] else None
                posted.append(room.post_message(author, next(texts), attachments=files)[0])
                continue
            if not posted:
                continue
            message = Message.objects.get(pk=posted[arg % len(posted)].pk)
            if message.is_deleted or (op != "restore" and message.is_removed):
                continue  # the API refuses these
            if op == "edit":
                message.edit(next(texts))
            elif op == "delete":
                message.erase()
            elif op == "remove":
                moderation.remove_message(mod, message)
            elif op == "restore" and message.is_removed:
                moderation.restore_message(mod, message)

    run(before)
    seen, snapshot_id = history(as_carol, slug)

    async def follow_then_replay():
        # A page open through the changes receives them live; then, while it is still open
        # (its frames are in the hub's memory), two pages resume: one from the snapshot,
        # one from nothing.
        async with Stream(slug, carol, last_event_id=str(snapshot_id)) as live:
            await sync_to_async(run)(after)
            current = await sync_to_async(room.current_event_seq)()
            if current > snapshot_id:
                await live.read_until(lambda evs: evs and evs[-1].seq >= current)
            from_snapshot = await replay(slug, carol, snapshot_id, current)
            from_zero = await replay(slug, carol, 0, current)
            return live.events, from_snapshot, from_zero

    live_events, from_snapshot, from_zero = async_to_sync(follow_then_replay)()
    present, _ = history(as_carol, slug)
    fresh = state_of(present)
    assert state_of(apply(dict(seen), live_events)) == fresh
    assert state_of(apply(dict(seen), from_snapshot)) == fresh
    assert state_of(apply({}, from_zero)) == fresh
    assert_no_text_beyond_the_present(from_snapshot, present)
    assert_no_text_beyond_the_present(from_zero, present)
