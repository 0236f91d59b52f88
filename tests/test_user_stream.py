"""The user stream, GET /events/: one stream per tab for every room and DM of its user.

Its ids are site-wide positions: a plain EventSource's reconnect, sending back only the last
id it saw, resumes every room exactly once and in order. Read positions, unread counts and
direct messages: test_read_positions.py and test_direct_messages.py.
"""

from collections import Counter

import pytest
from asgiref.sync import sync_to_async

from rooms.models import Restriction, Room
from rooms.moderation import actions
from tests.helpers import Stream, wait_for_user_streams
from tests.sse import SSEEvent

pytestmark = pytest.mark.django_db(transaction=True)


def room_events(events: list[SSEEvent]) -> list[tuple[str, int, str]]:
    """(room, seq, type) of the room events among `events`."""
    return [(e.json["room"], e.json["seq"], e.type) for e in events if "seq" in e.json]


def positions(events: list[SSEEvent]) -> list[int]:
    return [int(e.id) for e in events if e.id is not None]


@pytest.fixture
def rooms(alice, bob, carol):
    """Three public rooms alice owns; bob is in two of them, carol in the third."""
    made = {}
    for slug in ("one", "two", "three"):
        made[slug] = Room.objects.create_with_owner(alice, slug=slug, name=slug.title())
    made["one"].add_member(bob)
    made["two"].add_member(bob)
    made["three"].add_member(carol)
    return made


async def test_the_stream_needs_a_login(db):
    async with Stream(None, None) as stream:
        assert stream.status == 401


async def test_every_room_of_the_user_flows_and_no_other(rooms, alice, bob):
    async with Stream(None, bob) as stream:
        await wait_for_user_streams(bob.pk)
        for slug in ("one", "three", "two"):
            await sync_to_async(rooms[slug].post_message)(alice, f"hello {slug}")
        events = await stream.read_events(2)
        await stream.expect_nothing(0.3)
    assert [(e.json["room"], e.json["data"]["body"]) for e in events] == [
        ("one", "hello one"),
        ("two", "hello two"),
    ]
    assert all(e.type == "message" for e in events)
    first, second = positions(events)
    assert first < second
    # The room's own seq travels beside the position: the room stream's id of the event.
    assert events[0].json["seq"] == await sync_to_async(rooms["one"].current_event_seq)()


async def test_a_room_joined_while_connected_flows_at_once_and_a_room_left_stops(rooms, alice, bob):
    three = rooms["three"]
    async with Stream(None, bob) as stream:
        await wait_for_user_streams(bob.pk)
        await sync_to_async(three.add_member)(bob)
        await sync_to_async(three.post_message)(alice, "welcome")
        await sync_to_async(three.remove_member)(bob)
        await sync_to_async(three.post_message)(alice, "after bob left")
        await sync_to_async(rooms["one"].post_message)(alice, "still here")
        events = await stream.read_events(5)
        await stream.expect_nothing(0.3)
    # The room flows from its room_joined on (the member_joined before it is the room's).
    assert [e.type for e in events] == [
        "room_joined",
        "message",
        "member_left",
        "room_left",
        "message",
    ]
    assert events[0].json["room"] == "three"
    assert events[1].json["data"]["body"] == "welcome"
    assert events[3].json == {"room": "three", "reason": "left"}
    assert events[4].json["room"] == "one"
    assert positions(events) == sorted(positions(events))


async def test_a_ban_ends_that_rooms_flow_not_the_stream(rooms, alice, bob):
    one = rooms["one"]
    async with Stream(None, bob) as stream:
        await wait_for_user_streams(bob.pk)
        await sync_to_async(actions.restrict)(alice, one, bob, Restriction.BAN, reason="spam")
        await sync_to_async(one.post_message)(alice, "bob cannot see this")
        await sync_to_async(rooms["two"].post_message)(alice, "bob sees this")
        await sync_to_async(actions.lift_restriction)(alice, one, bob, Restriction.BAN)
        await sync_to_async(one.post_message)(alice, "bob is back")
        events = await stream.read_until(
            lambda events: any(e.type == "message" and "back" in e.data for e in events)
        )
    bodies = [e.json["data"]["body"] for e in events if e.type == "message"]
    assert bodies == ["bob sees this", "bob is back"]
    left = [e.json for e in events if e.type == "room_left"]
    assert left == [{"room": "one", "reason": "banned"}]
    assert [e.json["room"] for e in events if e.type == "room_joined"] == ["one"]
    assert not stream.ended


async def test_resume_with_the_last_id_gets_every_room_once_in_order(rooms, alice, bob, carol):
    one, two, three = rooms["one"], rooms["two"], rooms["three"]
    async with Stream(None, bob) as stream:
        await wait_for_user_streams(bob.pk)
        await sync_to_async(one.post_message)(alice, "before")
        (seen,) = await stream.read_events(1)
    # While bob is away: posts in his rooms and others, an edit, a room he is added to.
    for i in range(3):
        await sync_to_async(one.post_message)(alice, f"one {i}")
        await sync_to_async(two.post_message)(alice, f"two {i}")
        await sync_to_async(three.post_message)(carol, f"three {i}")
    await sync_to_async(three.add_member)(bob)
    await sync_to_async(three.post_message)(carol, "three after bob joined")
    async with Stream(None, bob, last_event_id=seen.id) as resumed:
        await wait_for_user_streams(bob.pk)
        await sync_to_async(two.post_message)(alice, "live again")
        events = await resumed.read_until(
            lambda events: any("live again" in e.data for e in events)
        )
        await resumed.expect_nothing(0.3)
    ids = positions(events)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert ids[0] > seen.seq
    per_room = Counter(room for room, _, _ in room_events(events))
    # Room three is carried whole from after the resumed id: bob may read all of it now.
    assert per_room == {"one": 3, "two": 4, "three": 5}
    for slug in ("one", "two", "three"):
        seqs = [seq for room, seq, _ in room_events(events) if room == slug]
        assert seqs == sorted(seqs) and seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert [e.json["room"] for e in events if e.type == "room_joined"] == ["three"]


async def test_replay_never_brings_back_text_the_history_no_longer_shows(rooms, alice, bob, mod):
    one = rooms["one"]
    async with Stream(None, bob) as stream:
        await wait_for_user_streams(bob.pk)
        await sync_to_async(one.post_message)(alice, "start")
        (seen,) = await stream.read_events(1)
    deleted, _ = await sync_to_async(one.post_message)(alice, "to delete")
    removed, _ = await sync_to_async(one.post_message)(alice, "spam spam")
    edited, _ = await sync_to_async(one.post_message)(alice, "first")
    await sync_to_async(deleted.erase)()
    await sync_to_async(actions.remove_message)(mod, removed, reason="spam")
    await sync_to_async(edited.edit)("second")
    async with Stream(None, bob, last_event_id=seen.id) as resumed:
        events = await resumed.read_until(
            lambda events: any(e.type == "message_edited" for e in events)
        )
    text = "".join(e.data for e in events)
    for gone in ("to delete", "spam spam", '"first"'):
        assert gone not in text
    assert '"second"' in text


@pytest.mark.parametrize("bad", ["not-a-number", "room-1:x", "99999999999"])
async def test_a_useless_id_gets_a_reset_with_the_current_position(rooms, alice, bob, bad):
    async with Stream(None, bob, last_event_id=bad) as stream:
        (reset,) = await stream.read_events(1)
        assert reset.type == "reset"
        current = reset.json["last_event_id"]
        assert reset.seq == current
        await wait_for_user_streams(bob.pk)
        message, _ = await sync_to_async(rooms["one"].post_message)(alice, "after the reset")
        (event,) = (await stream.read_events(2))[1:]
    assert event.json["data"]["id"] == message.pk
    assert event.seq > current


async def test_a_room_its_user_was_banned_from_while_away_is_not_replayed(rooms, alice, bob):
    one = rooms["one"]
    async with Stream(None, bob) as stream:
        await wait_for_user_streams(bob.pk)
        await sync_to_async(rooms["two"].post_message)(alice, "start")
        (seen,) = await stream.read_events(1)
    await sync_to_async(one.post_message)(alice, "before the ban")
    await sync_to_async(Restriction.objects.create)(room=one, user=bob, kind=Restriction.BAN)
    await sync_to_async(one.post_message)(alice, "during the ban")
    async with Stream(None, bob, last_event_id=seen.id) as resumed:
        await wait_for_user_streams(bob.pk)
        await sync_to_async(rooms["two"].post_message)(alice, "end")
        events = await resumed.read_until(lambda events: any("end" in e.data for e in events))
    assert [e.json["room"] for e in events if "seq" in e.json] == ["two"]


async def test_logging_out_or_a_new_password_ends_user_streams(rooms, alice, bob):
    async with Stream(None, bob) as laptop, Stream(None, bob) as phone:
        await wait_for_user_streams(bob.pk, 2)
        response = await sync_to_async(laptop.client.post)("/accounts/logout/")
        assert response.status_code == 302
        await laptop.read_to_end(timeout=2)
        assert laptop.events[-1].type == "revoked"
        await sync_to_async(rooms["one"].post_message)(alice, "still on the phone")
        (event,) = await phone.read_events(1)
        assert event.json["data"]["body"] == "still on the phone"

        def change_password() -> None:
            bob.set_password("a-brand-new-passphrase-7")
            bob.save()

        await sync_to_async(change_password)()
        await phone.read_to_end(timeout=2)
        assert phone.events[-1].type == "revoked"
