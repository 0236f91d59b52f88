"""The room list + the user stream's replay = a fresh room list.

A client that read `GET /rooms/` at position P and comes back with P applies what the
stream replays (messages, deletions and removals, its own reads, rooms joined and left) and
ends with the rooms, read positions, unread and mention counts a fresh `GET /rooms/` shows;
and the
replay carries nothing of a room the person no longer follows.
"""

import pytest
from asgiref.sync import sync_to_async

from rooms.models import Room
from rooms.models.log import current_position
from rooms.moderation import actions
from tests.conftest import client_for
from tests.helpers import Stream, post_json
from tests.sse import SSEEvent

pytestmark = pytest.mark.django_db(transaction=True)


KEYS = ("unread", "last_read", "latest", "mentions")


def room_list(client) -> dict[str, dict[str, int]]:
    """The member rooms of GET /rooms/: slug -> read state."""
    rooms = client.get("/rooms/").json()["rooms"]
    return {room["slug"]: {key: room[key] for key in KEYS} for room in rooms if room["member"]}


def apply(state, events: list[SSEEvent], me: str, fresh) -> None:
    """What a page does with the user stream's events to its room list."""
    authors: dict[int, str] = {}
    mentioning: set[int] = set()  # messages counted as mentioning me
    for event in events:
        data = event.json
        if event.type == "room_joined":
            state[data["room"]] = fresh()[data["room"]]  # a page reads the list again
        elif event.type == "room_left":
            state.pop(data["room"], None)
        elif event.type == "read":
            state[data["room"]] = {k: data[k] for k in KEYS}
        elif event.type == "message":
            room, message = state.get(data["room"]), data["data"]
            authors[message["id"]] = message["author"]
            if room is None or message["id"] <= room["latest"]:
                continue
            room["latest"] = message["id"]
            gone = message["deleted"] or message["removed"]
            if message["author"] != me and message["id"] > room["last_read"] and not gone:
                room["unread"] += 1
            if message["author"] != me and me in message["mentions"]:
                room["mentions"] += 1
                mentioning.add(message["id"])
        elif event.type in ("message_deleted", "message_removed"):
            room, message_id = state.get(data["room"]), data["data"]["id"]
            if room is None or authors.get(message_id, me) == me:
                continue
            if message_id > room["last_read"]:
                room["unread"] -= 1
            if message_id in mentioning:
                room["mentions"] -= 1


async def test_room_list_plus_replay_is_a_fresh_room_list(alice, bob, mod):
    rooms = {}
    for slug in ("one", "two", "three", "four"):
        rooms[slug] = await sync_to_async(Room.objects.create_with_owner)(
            alice, slug=slug, name=slug
        )
    for slug in ("one", "two", "four"):
        await sync_to_async(rooms[slug].add_member)(bob)
    old, _ = await sync_to_async(rooms["one"].post_message)(alice, "old")
    bobs = await sync_to_async(client_for)(bob)
    state = await sync_to_async(room_list)(bobs)
    position = await sync_to_async(current_position)()

    # While bob is away: news in his rooms, some of it deleted or removed, his own posts,
    # a read on another device, a room he joins, one he leaves, a room he never joined.
    posted = []
    for i in range(3):
        message, _ = await sync_to_async(rooms["one"].post_message)(alice, f"@bob one {i}")
        posted.append(message)
    await sync_to_async(rooms["two"].post_message)(bob, "my own")
    await sync_to_async(rooms["two"].post_message)(alice, "two")
    await sync_to_async(posted[0].erase)()
    await sync_to_async(actions.remove_message)(mod, posted[1], reason="spam")
    await sync_to_async(post_json)(bobs, "/rooms/one/read/", {"up_to": old.pk})
    await sync_to_async(rooms["three"].add_member)(bob)
    await sync_to_async(rooms["three"].post_message)(alice, "three")
    await sync_to_async(rooms["four"].remove_member)(bob)
    await sync_to_async(rooms["four"].post_message)(alice, "four, after bob left")
    await sync_to_async(rooms["two"].post_message)(alice, "@bob two, again")
    last, _ = await sync_to_async(rooms["one"].post_message)(alice, "the last, @bob")

    async with Stream(None, bob, last_event_id=str(position)) as stream:
        events = await stream.read_until(
            lambda events: any(
                e.type == "message" and e.json["data"]["id"] == last.pk for e in events
            )
        )
    await sync_to_async(apply)(state, events, "bob", lambda: room_list(bobs))
    fresh = await sync_to_async(room_list)(bobs)
    assert state == fresh
    assert set(fresh) == {"one", "two", "three"}
    assert all(e.json.get("room") != "four" or e.type == "room_left" for e in events)
