"""The fan-out contract: what every backend (rooms/stream/backends/) owes the streams.

A published event reaches every stream of its room, in seq order however it was published,
once however often; a hole is filled from the log; a revocation closes the streams of that
user or session only; an event that may take access away closes the streams that lost it
and keeps the others.

The same tests run against each backend. For one that crosses processes (Redis), events
and revocations come from another process: a second instance of the backend with a hub of
its own, so that what it sends reaches the streams here through the backend only. What the
application publishes itself is held back, and the hub's periodic catch-up from the log is
off: an event reaches a stream because a test published it, or through the hub's hole fill.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import sync_to_async

from rooms import moderation
from rooms.event_types import LoggedEvent
from rooms.events import get_backend, session_digest
from rooms.stream.backends.local import LocalFanout
from rooms.stream.backends.redis import (
    EPHEMERAL_CHANNEL,
    SITE_CHANNEL,
    RedisFanout,
    room_channel,
)
from rooms.stream.hub import Hub, hub
from rooms.stream.sse import sse_event
from tests.helpers import Stream, wait_for_subscribers, wait_for_user_streams, wait_until
from tests.sse import ids

pytestmark = pytest.mark.django_db(transaction=True)

BACKENDS = [
    pytest.param((LocalFanout, False), id="local"),
    pytest.param(
        (RedisFanout, True),
        id="redis",
        marks=pytest.mark.skipif(
            not os.environ.get("REDIS_URL"),
            reason="the Redis fan-out needs Redis: set REDIS_URL (bin/test's postgres stack)",
        ),
    ),
]


class OtherProcess:
    """A backend as another process runs it: with a hub of its own, which has no streams."""

    def __init__(self, backend_class: type[Any]) -> None:
        self.module = sys.modules[backend_class.__module__]
        self.hub = Hub()
        with self.running():
            self.backend = backend_class()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        with mock.patch.object(self.module, "hub", self.hub):
            yield

    def __getattr__(self, name: str) -> Callable[..., None]:
        method = getattr(self.backend, name)

        def call(*args: Any) -> None:
            with self.running():
                method(*args)

        return call


@dataclass
class Fanout:
    """The backend this process's streams use, and who publishes to them."""

    backend: Any
    publisher: Any  # the same process's, or another's
    crosses_processes: bool
    held: list[tuple[int, LoggedEvent]] = field(default_factory=list)

    def publish(self, room_id: int, event: LoggedEvent) -> None:
        self.publisher.publish(room_id, event)

    def publish_held(self, *which: int) -> None:
        """Publish what the application published (all of it, or the ones at `which`)."""
        for i in which or range(len(self.held)):
            self.publish(*self.held[i])

    async def ready(self, room_id: int, streams: int = 1) -> None:
        """Wait until `streams` streams of the room listen: what is published now reaches them.

        What the application published before (the people and rooms of the test) is dropped.
        """
        await wait_for_subscribers(room_id, streams)
        self.held.clear()
        if self.crosses_processes:
            channel = room_channel(room_id)
            client = self.backend.publisher

            def subscribed() -> bool:
                return bool(dict(client.pubsub_numsub(channel)).get(channel.encode()))

            await wait_until(subscribed, 5, "the backend did not subscribe to the room")


@pytest.fixture(params=BACKENDS)
def fanout(request, settings, monkeypatch) -> Iterator[Fanout]:
    backend_class, crosses_processes = request.param
    settings.CHAT_FANOUT_BACKEND = f"{backend_class.__module__}.{backend_class.__qualname__}"
    # A backend that subscribes per room sets these hooks on the hub when it is made.
    monkeypatch.setattr(hub, "on_room_opened", None)
    monkeypatch.setattr(hub, "on_room_closed", None)
    get_backend.cache_clear()
    backend = get_backend()
    publisher = OtherProcess(backend_class) if crosses_processes else backend_class()
    fanout = Fanout(backend, publisher, crosses_processes)
    monkeypatch.setattr(backend, "publish", lambda *event: fanout.held.append(event))

    async def no_catch_up() -> None:
        pass

    monkeypatch.setattr(hub, "catch_up", no_catch_up)
    yield fanout
    get_backend.cache_clear()


def bodies(events):
    return [e.json["body"] for e in events if e.type == "message"]


async def test_a_published_event_reaches_every_stream_of_its_room(
    fanout, lobby, secret, alice, bob, carol
):
    async with (
        Stream("lobby", bob) as bobs,
        Stream("lobby", carol) as carols,
        Stream("secret", alice) as elsewhere,
    ):
        await fanout.ready(lobby.pk, 2)
        await fanout.ready(secret.pk)
        message, _ = await sync_to_async(lobby.post_message)(alice, "hi all")
        fanout.publish_held()
        for stream in (bobs, carols):
            events = await stream.read_events(1)
            assert events[0].type == "message"
            assert events[0].json["id"] == message.pk
            assert events[0].json["body"] == "hi all"
        await elsewhere.expect_nothing(0.3)


async def test_events_published_out_of_order_are_delivered_in_order(fanout, lobby, alice, bob):
    async with Stream("lobby", bob) as stream:
        await fanout.ready(lobby.pk)
        for body in ("first", "second", "third"):
            await sync_to_async(lobby.post_message)(alice, body)
        fanout.publish_held(2, 1, 0)
        events = await stream.read_events(3)
        await stream.expect_nothing(0.3)
        assert bodies(events) == ["first", "second", "third"]
        assert ids(events) == list(range(ids(events)[0], ids(events)[0] + 3))


async def test_a_hole_is_filled_from_the_log(fanout, lobby, alice, bob):
    async with Stream("lobby", bob) as stream:
        await fanout.ready(lobby.pk)
        for body in ("lost in transit", "arrives"):
            await sync_to_async(lobby.post_message)(alice, body)
        fanout.publish_held(1)  # the first one never arrives
        events = await stream.read_events(2)
        assert bodies(events) == ["lost in transit", "arrives"]
        assert ids(events) == [ids(events)[0], ids(events)[0] + 1]


async def test_a_duplicate_publish_is_delivered_once(fanout, lobby, alice, bob):
    async with Stream("lobby", bob) as stream:
        await fanout.ready(lobby.pk)
        await sync_to_async(lobby.post_message)(alice, "once")
        fanout.publish_held(0, 0)
        await stream.read_events(1)
        fanout.publish_held(0)  # and once more, after it was delivered
        await stream.expect_nothing(0.3)
        assert len(stream.events) == 1


def session_of(stream: Stream) -> str:
    """The session a stream was opened with, as the fan-out knows it (a digest)."""
    return session_digest(stream.client.cookies["sessionid"].value)


async def still_live(fanout, room, author, *streams: Stream) -> None:
    """Each stream goes on receiving: a message published now reaches it."""
    fanout.held.clear()
    await sync_to_async(room.post_message)(author, "still there?")
    fanout.publish_held()
    for stream in streams:
        events = await stream.read_until(lambda evs: "still there?" in bodies(evs))
        assert events[-1].json["body"] == "still there?"
        assert not stream.ended


async def test_revoking_a_user_closes_their_streams_only(fanout, lobby, alice, bob):
    async with (
        Stream("lobby", bob) as laptop,
        Stream("lobby", bob) as phone,
        Stream("lobby", alice) as alices,
    ):
        await fanout.ready(lobby.pk, 3)
        fanout.publisher.revoke_user(bob.pk)
        for stream in (laptop, phone):
            await stream.read_to_end(timeout=2)
            assert [e.type for e in stream.events] == ["revoked"]
        await still_live(fanout, lobby, alice, alices)


async def test_revoking_a_session_closes_that_sessions_streams_only(fanout, lobby, alice, bob):
    async with Stream("lobby", bob) as laptop, Stream("lobby", bob) as phone:
        await fanout.ready(lobby.pk, 2)
        fanout.publisher.revoke_session(session_of(laptop))
        await laptop.read_to_end(timeout=2)
        assert [e.type for e in laptop.events] == ["revoked"]
        await still_live(fanout, lobby, alice, phone)


async def test_revoking_the_other_sessions_keeps_the_one_that_changed_the_password(
    fanout, lobby, alice, bob
):
    async with Stream("lobby", bob) as laptop, Stream("lobby", bob) as phone:
        await fanout.ready(lobby.pk, 2)
        # The laptop changed the password: its session goes on under a new key.
        renamed = session_digest("the laptop's new session key")
        fanout.publisher.revoke_other_sessions(bob.pk, renamed, session_of(laptop))
        await phone.read_to_end(timeout=2)
        assert [e.type for e in phone.events] == ["revoked"]
        await still_live(fanout, lobby, alice, laptop)
        # Logging out there later must find the laptop's streams under the new key.
        fanout.publisher.revoke_session(renamed)
        await laptop.read_to_end(timeout=2)
        assert laptop.events[-1].type == "revoked"


async def test_a_recheck_of_the_subject_closes_their_stream_once_they_lost_access(
    fanout, secret, alice, bob
):
    async with Stream("secret", bob) as bobs, Stream("secret", alice) as alices:
        await fanout.ready(secret.pk, 2)
        await sync_to_async(secret.remove_member)(bob)
        fanout.publish_held()
        await bobs.read_to_end(timeout=2)
        assert [e.type for e in bobs.events] == ["member_left", "revoked"]
        await still_live(fanout, secret, alice, alices)
        assert [e.type for e in alices.events] == ["member_left", "message"]


async def test_a_recheck_of_everyone_closes_only_the_streams_that_lost_access(
    fanout, lobby, alice, bob, carol
):
    # carol reads the public lobby without being a member; bob is a member.
    async with Stream("lobby", carol) as carols, Stream("lobby", bob) as bobs:
        await fanout.ready(lobby.pk, 2)
        await sync_to_async(moderation.change_room)(alice, lobby, private=True)
        fanout.publish_held()
        await carols.read_to_end(timeout=2)
        assert [e.type for e in carols.events] == ["room_updated", "revoked"]
        await still_live(fanout, lobby, alice, bobs)
        assert [e.type for e in bobs.events] == ["room_updated", "message"]


async def ephemeral_ready(fanout) -> None:
    """Wait until this process hears typing and presence frames from the others."""
    if fanout.crosses_processes:
        client = fanout.backend.publisher

        def subscribed() -> bool:
            return bool(
                dict(client.pubsub_numsub(EPHEMERAL_CHANNEL)).get(EPHEMERAL_CHANNEL.encode())
            )

        await wait_until(subscribed, 5, "the backend did not subscribe to ephemeral frames")


async def test_an_ephemeral_frame_reaches_the_rooms_streams_and_followers_without_an_id(
    fanout, lobby, secret, alice, bob, carol
):
    frame = sse_event("typing", {"room": "lobby", "user": "alice", "seconds": 6})
    async with (
        Stream("lobby", carol) as readers,
        Stream(None, bob) as bobs,
        Stream("secret", alice) as elsewhere,
    ):
        await fanout.ready(lobby.pk)
        await fanout.ready(secret.pk)
        await wait_for_user_streams(bob.pk)
        await ephemeral_ready(fanout)
        fanout.publisher.publish_ephemeral(lobby.pk, frame)
        for stream in (readers, bobs):
            [event] = await stream.read_events(1)
            assert (event.type, event.id, event.json["user"]) == ("typing", None, "alice")
        await elsewhere.expect_nothing(0.3)
        # Then a durable event: its id follows the last durable one, untouched by the typing.
        await sync_to_async(lobby.post_message)(alice, "after typing")
        fanout.publish_held()
        [_, message] = await readers.read_events(2)
        assert message.type == "message"
        assert int(message.id or 0) == await sync_to_async(lobby.current_event_seq)()


@pytest.mark.skipif(
    not os.environ.get("REDIS_URL"),
    reason="the Redis fan-out needs Redis: set REDIS_URL (bin/test's postgres stack)",
)
def test_the_redis_fan_out_lets_rooms_go_quietly_once_its_loop_has_ended(monkeypatch):
    # Making the backend sets the hub's hooks: they are put back after the test.
    for hook in ("on_room_opened", "on_room_closed", "on_site_opened", "on_site_closed"):
        monkeypatch.setattr(hub, hook, getattr(hub, hook))
    backend = RedisFanout()
    ended = asyncio.new_event_loop()
    ended.close()
    backend.loop = ended
    backend.wanted = {room_channel(1), SITE_CHANNEL}

    # The last streams of a room close as their loop ends (a server stopping, a test's end).
    backend.room_closed(1)
    backend.site_closed()

    assert backend.wanted == set()
    assert not backend.syncing
