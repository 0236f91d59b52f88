"""Leaving a private room closes the leaver's streams even when the revocation message is
lost: the member_left event in the log is enough (see RoomChannel._close_leavers)."""

import pytest
from asgiref.sync import sync_to_async

from rooms.fanout import get_backend
from tests.sse import Stream

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_lost_revocation_still_closes_the_stream(bob, secret, alice, monkeypatch):
    # As if the revocation never reached this process (Redis down, a failed publish).
    monkeypatch.setattr(get_backend(), "revoke", lambda room_id, user_id: None)
    async with Stream("secret", bob) as stream:
        await sync_to_async(secret.remove_member)(bob)
        await sync_to_async(secret.post_message)(alice, "after bob left")
        await stream.read_to_end()
        assert stream.events[-1].type == "revoked"
        assert [e for e in stream.events if e.type == "message"] == []


async def test_leaving_a_public_room_does_not_close_the_stream(bob, lobby, alice):
    # Anyone logged in may read a public room: leaving it revokes nothing.
    async with Stream("lobby", bob) as stream:
        await sync_to_async(lobby.remove_member)(bob)
        await sync_to_async(lobby.post_message)(alice, "still readable")
        events = await stream.read_events(2)
        assert [e.type for e in events] == ["member_left", "message"]
        assert not stream.ended


async def test_others_keep_their_stream_when_someone_leaves(bob, secret, alice, monkeypatch):
    monkeypatch.setattr(get_backend(), "revoke", lambda room_id, user_id: None)
    async with Stream("secret", alice) as stream:
        await sync_to_async(secret.remove_member)(bob)
        await sync_to_async(secret.post_message)(alice, "still here")
        events = await stream.read_events(2)
        assert [e.type for e in events] == ["member_left", "message"]
