"""Access taken away by an event reaches open streams through that event itself.

The event says whose streams must ask the room's access rule again (Recheck); the hub acts
on it when it delivers the event, whether the event was published or read from the log
after its publish was lost. There is no second path to test apart: this is the one.
"""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from rooms import moderation
from rooms.events import get_backend
from tests.helpers import Stream

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lose_publishes_of(monkeypatch):
    """Drop the publishes of the given event types, as if Redis had been down for them."""
    lost: set[str] = set()
    backend = type(get_backend())
    real = backend.publish

    def publish(self, room_id, event):
        if event.type not in lost:
            real(self, room_id, event)

    monkeypatch.setattr(backend, "publish", publish)
    return lost


async def test_a_lost_publish_of_a_leave_still_closes_the_leavers_stream(
    bob, secret, alice, lose_publishes_of
):
    lose_publishes_of.add("member_left")
    async with Stream("secret", bob) as stream:
        await sync_to_async(secret.remove_member)(bob)
        # The next publish shows the hub a hole; it reads the member_left from the log.
        await sync_to_async(secret.post_message)(alice, "after bob left")
        await stream.read_to_end()
        assert [e.type for e in stream.events] == ["member_left", "revoked"]


async def test_a_lost_publish_of_a_ban_still_closes_the_banned_users_stream(
    bob, lobby, alice, lose_publishes_of
):
    lose_publishes_of.add("user_banned")
    async with Stream("lobby", bob) as stream:
        await sync_to_async(moderation.restrict)(alice, lobby, bob, "ban")
        await sync_to_async(lobby.post_message)(alice, "after the ban")
        await stream.read_to_end()
        assert [e.type for e in stream.events] == ["user_banned", "revoked"]


async def test_a_ban_closes_the_stream_with_no_later_event(bob, lobby, alice):
    async with Stream("lobby", bob) as stream:
        await sync_to_async(moderation.restrict)(alice, lobby, bob, "ban")
        await stream.read_to_end()
        assert [e.type for e in stream.events] == ["user_banned", "revoked"]


async def test_a_renamed_user_is_still_closed_by_a_ban(bob, lobby, alice):
    async with Stream("lobby", bob) as stream:

        @sync_to_async
        def rename_then_ban():
            User.objects.filter(pk=bob.pk).update(username="robert")
            moderation.restrict(alice, lobby, User.objects.get(pk=bob.pk), "ban")

        await rename_then_ban()
        await stream.read_to_end()
        assert stream.events[-1].type == "revoked"


async def test_leaving_a_public_room_does_not_close_the_stream(bob, lobby, alice):
    # Anyone logged in may read a public room: leaving it revokes nothing.
    async with Stream("lobby", bob) as stream:
        await sync_to_async(lobby.remove_member)(bob)
        await sync_to_async(lobby.post_message)(alice, "still readable")
        await stream.read_events(2)
        # Its access check ran (the leave asks for none here); it goes on receiving.
        await stream.expect_nothing(0.5)
        await sync_to_async(lobby.post_message)(alice, "and later")
        events = await stream.read_events(3)
        assert [e.type for e in events] == ["member_left", "message", "message"]
        assert not stream.ended


async def test_an_unbanned_user_keeps_the_stream_opened_after_the_unban(bob, lobby, alice):
    # The recheck asks about the present: a ban lifted before it runs takes nothing away.
    @sync_to_async
    def ban_and_lift():
        moderation.restrict(alice, lobby, bob, "ban")
        moderation.lift_restriction(alice, lobby, bob, "ban")

    async with Stream("lobby", alice) as watcher:
        await ban_and_lift()
        await sync_to_async(lobby.post_message)(alice, "hello")
        events = await watcher.read_events(3)
        assert [e.type for e in events] == ["user_banned", "user_unbanned", "message"]
        assert not watcher.ended
