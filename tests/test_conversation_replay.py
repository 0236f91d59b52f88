"""History + replay = a fresh history, for what issue #17 added: formatted text, replies and
their quotes, reactions, pins and the room's topic; and a replay never shows, through a
quote or anything else, text that the fresh history does not show.

alice and bob write, react and reply; alice (the owner) pins and sets the topic; mod (site
staff) removes and restores; carol joined afterwards and reads. Runs on both stacks.
"""

import json
import re
import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rooms import moderation
from rooms.models import Message, Room
from tests.helpers import Stream

pytestmark = pytest.mark.django_db(transaction=True)

# Events whose data is the whole message as it is at that moment.
MESSAGE_STATES = {
    "message",
    "message_edited",
    "message_restored",
    "message_quote_updated",
    "reaction_added",
    "reaction_removed",
    "message_pinned",
    "message_unpinned",
}
TEXT = re.compile(r"text-\d+-[0-9a-f]{6}")


def history(client, slug):
    response = client.get(f"/rooms/{slug}/messages/?limit=200")
    assert response.status_code == 200
    page = response.json()
    return {m["id"]: m for m in page["messages"]}, page["last_event_id"], response.content


def topic_of(client, slug):
    return next(r["topic"] for r in client.get("/rooms/").json()["rooms"] if r["slug"] == slug)


def state_of(messages):
    """What a page shows of each message, with what #17 added."""
    return {
        id: (
            m["body"],
            m.get("html", ""),
            m["deleted"],
            m.get("removed", False),
            json.dumps(m.get("reply_to"), sort_keys=True),
            json.dumps(m.get("reactions", []), sort_keys=True),
            m.get("pinned", False),
        )
        for id, m in messages.items()
    }


def apply(messages, topic, events):
    """Apply events as static/rooms/room/stream.js does; return the messages and the topic."""
    for event in events:
        data = event.json
        if event.type in MESSAGE_STATES:
            if event.type == "message" or data["id"] in messages:
                messages[data["id"]] = data
        elif event.type == "message_deleted" and data["id"] in messages:
            gone = {"body": "", "html": "", "deleted": True, "reactions": [], "pinned": False}
            messages[data["id"]] = {**messages[data["id"]], **gone}
        elif event.type == "message_removed" and data["id"] in messages:
            gone = {"body": "", "html": "", "removed": True, "reactions": [], "pinned": False}
            messages[data["id"]] = {**messages[data["id"]], **gone}
        elif event.type == "room_updated":
            topic = data["topic"]
    return messages, topic


async def replay(slug, user, after, upto):
    async with Stream(slug, user, last_event_id=str(after)) as stream:
        if upto > after:
            await stream.read_until(lambda evs: evs and evs[-1].seq >= upto)
        await stream.expect_nothing(0.1)
        return stream.events


def assert_reveals_nothing_more(events, fresh_bytes):
    """Every text a replay carries (a body, a quote's excerpt, a rendered html) is one the
    fresh history shows too. (Earlier topics are not: the room's settings are its record.)"""
    shown = set(TEXT.findall(fresh_bytes.decode()))
    for event in events:
        if event.type == "room_updated":
            continue
        for text in TEXT.findall(event.data):
            assert text in shown, (event.type, text)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("post"), st.sampled_from(["alice", "bob"]), st.integers(-1, 30)),
        st.tuples(
            st.sampled_from(["edit", "delete", "remove", "restore", "pin", "unpin"]),
            st.integers(0, 30),
            st.just(None),
        ),
        st.tuples(
            st.sampled_from(["react", "unreact"]),
            st.integers(0, 30),
            st.tuples(st.sampled_from(["alice", "bob"]), st.sampled_from(["👍", "🎉"])),
        ),
        st.tuples(st.just("topic"), st.integers(0, 3), st.just(None)),
    ),
    max_size=16,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(before=operations, after=operations)
# A reply whose original is edited before the page loads and deleted while it is open.
@example(
    before=[("post", "alice", -1), ("post", "bob", 0), ("edit", 0, None)],
    after=[("react", 1, ("alice", "👍")), ("delete", 0, None), ("pin", 1, None)],
)
# A reply to a message removed, restored, then edited after the page loaded.
@example(
    before=[("post", "alice", -1), ("post", "bob", 0), ("remove", 0, None)],
    after=[("restore", 0, None), ("edit", 0, None), ("topic", 1, None)],
)
def test_history_and_replay_equal_a_fresh_history_with_quotes_reactions_pins_and_topic(
    alice, bob, carol, mod, as_carol, before, after
):
    slug = f"r-{uuid.uuid4().hex[:10]}"
    room = Room.objects.create(slug=slug, name=slug, owner=alice)
    room.add_member(alice, role="owner")
    for user in (bob, carol):
        room.add_member(user)
    people = {"alice": alice, "bob": bob}
    posted: list[Message] = []
    texts = iter(f"text-{k}-{uuid.uuid4().hex[:6]}" for k in range(1000))

    def run(ops):
        for op, arg, extra in ops:
            if op == "post":
                quoted = posted[extra % len(posted)].pk if posted and extra >= 0 else None
                body = f"**{next(texts)}** `{next(texts)}`"
                posted.append(room.post_message(people[arg], body, reply_to=quoted)[0])
                continue
            if op == "topic":
                moderation.update_room(alice, room, topic=f"topic {arg} {next(texts)}")
                continue
            if not posted:
                continue
            message = Message.objects.get(pk=posted[arg % len(posted)].pk)
            if message.is_deleted or (op != "restore" and message.is_removed):
                continue  # the API refuses these
            if op == "edit":
                message.edit(f"_{next(texts)}_")
            elif op == "delete":
                message.erase()
            elif op == "remove":
                moderation.remove_message(mod, message)
            elif op == "restore" and message.is_removed:
                moderation.restore_message(mod, message)
            elif op in ("pin", "unpin"):
                message.set_pinned(alice, op == "pin")
            elif op in ("react", "unreact"):
                who, emoji = extra
                message.set_reaction(people[who], emoji, op == "react")

    run(before)
    seen, snapshot_id, _ = history(as_carol, slug)
    seen_topic = topic_of(as_carol, slug)

    async def follow_then_replay():
        async with Stream(slug, carol, last_event_id=str(snapshot_id)) as live:
            await sync_to_async(run)(after)
            current = await sync_to_async(room.current_event_seq)()
            if current > snapshot_id:
                await live.read_until(lambda evs: evs and evs[-1].seq >= current)
            from_snapshot = await replay(slug, carol, snapshot_id, current)
            from_zero = await replay(slug, carol, 0, current)
            return live.events, from_snapshot, from_zero

    live_events, from_snapshot, from_zero = async_to_sync(follow_then_replay)()
    present, _, fresh_bytes = history(as_carol, slug)
    fresh = (state_of(present), topic_of(as_carol, slug))
    for start, start_topic, events in (
        (seen, seen_topic, live_events),
        (seen, seen_topic, from_snapshot),
        ({}, "", from_zero),
    ):
        messages, topic = apply(dict(start), start_topic, events)
        assert (state_of(messages), topic) == fresh
    assert_reveals_nothing_more(from_snapshot, fresh_bytes)
    assert_reveals_nothing_more(from_zero, fresh_bytes)


def test_a_replay_from_zero_never_quotes_a_deleted_or_removed_message(
    lobby, alice, bob, carol, mod, as_carol
):
    deleted, _ = lobby.post_message(alice, "deleted words")
    removed, _ = lobby.post_message(alice, "removed words")
    lobby.post_message(bob, "re 1", reply_to=deleted.pk)
    lobby.post_message(bob, "re 2", reply_to=removed.pk)
    deleted.erase()
    moderation.remove_message(mod, removed)
    lobby.add_member(carol)
    events = async_to_sync(replay)("lobby", carol, 0, lobby.current_event_seq())
    raw = "".join(e.data for e in events)
    assert "deleted words" not in raw
    assert "removed words" not in raw
    quotes = [e.json["reply_to"] for e in events if e.json.get("reply_to")]
    assert {(q["deleted"], q["removed"]) for q in quotes} == {(True, False), (False, True)}
