"""Moderation reaches open pages live, is in the replay, and a ban closes streams at once."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from rooms import moderation
from rooms.models import Restriction
from tests.helpers import Stream
from tests.sse import ids

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def moderate_everything(lobby, alice, bob, carol):
    """One of each moderation action; return the seq before them."""
    start = lobby.current_event_seq()
    message, _ = lobby.post_message(bob, "spam")
    moderation.remove_message(alice, message, "spam")
    moderation.restore_message(alice, message, "not spam after all")
    moderation.restrict(alice, lobby, carol, Restriction.MUTE, 10, "flood")
    moderation.lift_restriction(alice, lobby, carol, Restriction.MUTE)
    moderation.update_room(alice, lobby, locked=True, slow_mode_seconds=5)
    moderation.restrict(alice, lobby, carol, Restriction.BAN, None, "abuse")
    return start, message


EXPECTED_TYPES = [
    "message",
    "message_removed",
    "message_restored",
    "user_muted",
    "user_unmuted",
    "room_updated",
    "user_banned",
]


async def test_moderation_events_reach_an_open_stream_live(lobby, alice, bob, carol):
    async with Stream("lobby", bob) as stream:
        _, message = await moderate_everything(lobby, alice, bob, carol)
        events = await stream.read_events(len(EXPECTED_TYPES))
        assert [e.type for e in events] == EXPECTED_TYPES
        assert events[1].json == {"id": message.pk, "room": "lobby", "removed": True}
        assert events[2].json["body"] == "spam"
        assert events[3].json["user"] == "carol"
        assert events[3].json["until"] is not None
        assert events[5].json == {
            "room": "lobby",
            "name": "Lobby",
            "private": False,
            "locked": True,
            "archived": False,
            "slow_mode_seconds": 5,
            "topic": "",
        }
        # Reasons are for the moderation log, not for the room.
        assert all("abuse" not in e.data and "flood" not in e.data for e in events)


async def test_moderation_events_are_replayed_after_reconnect(lobby, alice, bob, carol):
    start, _ = await moderate_everything(lobby, alice, bob, carol)
    async with Stream("lobby", bob, last_event_id=str(start)) as stream:
        events = await stream.read_events(len(EXPECTED_TYPES))
        assert [e.type for e in events] == EXPECTED_TYPES
        assert ids(events) == list(range(start + 1, start + 1 + len(EXPECTED_TYPES)))


async def test_a_ban_closes_the_banned_users_stream_at_once(lobby, alice, bob):
    async with Stream("lobby", bob) as bobs, Stream("lobby", alice) as alices:
        await sync_to_async(moderation.restrict)(alice, lobby, bob, Restriction.BAN, None, "")
        await bobs.read_to_end(timeout=2)
        assert bobs.events[-1].type == "revoked"
        # Nothing after the ban reaches bob; the others carry on.
        await sync_to_async(lobby.post_message)(alice, "bob is gone")
        events = await alices.read_events(2)
        assert [e.type for e in events] == ["user_banned", "message"]
        assert "bob is gone" not in bobs.body.decode()


async def test_a_ban_between_the_access_check_and_the_subscription_closes_the_stream(
    lobby, alice, bob, monkeypatch
):
    """The replay of what came between the two carries no RECHECK: the access rule is asked
    again before anything of it is sent."""
    from rooms.stream.hub import hub

    subscribe = hub.subscribe

    async def banned_meanwhile(subscriber):
        await sync_to_async(moderation.restrict)(alice, lobby, bob, Restriction.BAN, None, "")
        await sync_to_async(lobby.post_message)(alice, "after the ban")
        return await subscribe(subscriber)

    monkeypatch.setattr(hub, "subscribe", banned_meanwhile)
    async with Stream("lobby", bob) as stream:
        await stream.read_to_end(timeout=5)
        assert stream.status == 200
        assert [e.type for e in stream.events] == ["revoked"]
        assert "after the ban" not in stream.body.decode()


async def test_a_banned_user_cannot_reopen_or_replay(lobby, alice, bob):
    start = await sync_to_async(lobby.current_event_seq)()
    await sync_to_async(lobby.post_message)(alice, "before the ban")
    await sync_to_async(moderation.restrict)(alice, lobby, bob, Restriction.BAN, None, "")
    async with Stream("lobby", bob, last_event_id=str(start)) as stream:
        await stream.read_to_end()
        assert stream.status == 403
        assert stream.events == []
        assert b"banned" in stream.body


async def test_a_ban_that_expired_lets_the_user_back_in(lobby, alice, bob):
    await sync_to_async(moderation.restrict)(alice, lobby, bob, Restriction.BAN, 5, "")
    await sync_to_async(
        lambda: Restriction.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    )()
    async with Stream("lobby", bob) as stream:
        assert stream.status == 200


async def test_a_mute_does_not_close_the_stream(lobby, alice, bob):
    async with Stream("lobby", bob) as stream:
        await sync_to_async(moderation.restrict)(alice, lobby, bob, Restriction.MUTE, None, "")
        await sync_to_async(lobby.post_message)(alice, "you can still read this")
        events = await stream.read_events(2)
        assert [e.type for e in events] == ["user_muted", "message"]
