"""When a session or an account stops being valid, its streams stop delivering at once."""

import pytest
from asgiref.sync import sync_to_async

from tests.helpers import Stream

pytestmark = pytest.mark.django_db(transaction=True)


async def test_logging_out_closes_that_sessions_streams_only(lobby, alice, bob):
    async with Stream("lobby", bob) as laptop, Stream("lobby", bob) as phone:
        response = await sync_to_async(laptop.client.post)("/accounts/logout/")
        assert response.status_code == 302
        await laptop.read_to_end(timeout=2)
        assert laptop.events[-1].type == "revoked"
        await sync_to_async(lobby.post_message)(alice, "still on the phone")
        events = await phone.read_events(1)
        assert events[0].json["body"] == "still on the phone"


async def test_changing_the_password_closes_every_stream_of_the_account(lobby, alice, bob):
    async with Stream("lobby", bob) as stream, Stream("lobby", alice) as others:

        def change_password():
            bob.set_password("a-brand-new-passphrase-7")
            bob.save()

        await sync_to_async(change_password)()
        await stream.read_to_end(timeout=2)
        assert stream.events[-1].type == "revoked"
        await sync_to_async(lobby.post_message)(alice, "alice is unaffected")
        assert (await others.read_events(1))[0].json["body"] == "alice is unaffected"


async def test_deactivating_a_user_closes_their_streams(lobby, bob):
    async with Stream("lobby", bob) as stream:

        def deactivate():
            bob.is_active = False
            bob.save()

        await sync_to_async(deactivate)()
        await stream.read_to_end(timeout=2)
        assert stream.events[-1].type == "revoked"


async def test_a_deactivated_user_cannot_open_a_stream(lobby, bob):
    def deactivate():
        bob.is_active = False
        bob.save()

    stream = Stream("lobby", bob)
    await sync_to_async(stream._log_in)()
    await sync_to_async(deactivate)()
    stream.user = None  # the session cookie is already set
    async with stream:
        await stream.read_to_end()
        assert stream.status == 401


async def test_saving_a_user_without_changes_keeps_the_streams(lobby, alice, bob):
    async with Stream("lobby", bob) as stream:
        await sync_to_async(bob.save)()
        await sync_to_async(lobby.post_message)(alice, "hello")
        assert (await stream.read_events(1))[0].type == "message"


async def test_open_streams_per_user_are_limited(lobby, bob, settings):
    settings.CHAT_MAX_STREAMS_PER_USER = MAX_STREAMS_PER_USER = 5
    streams = [Stream("lobby", bob) for _ in range(MAX_STREAMS_PER_USER + 1)]
    for stream in streams[:-1]:
        await stream.open()
        assert stream.status == 200
    try:
        await streams[-1].open()
        await streams[-1].read_to_end()
        assert streams[-1].status == 429
        assert b"too many open streams" in streams[-1].body
        # Closing one makes room for another.
        await streams[0].close()
        async with Stream("lobby", bob) as again:
            assert again.status == 200
    finally:
        for stream in streams[1:]:
            await stream.close()
