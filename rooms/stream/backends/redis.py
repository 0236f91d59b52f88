"""Fan-out across processes over Redis pub/sub (redis-py's asyncio client).

Publishing hands the event to this process's hub at once, and PUBLISHes it on the room's
Redis channel for the other processes, and on the site channel for their user streams
(GET /events/); a user's own events go on the site channel only. Each process holds one
subscriber connection, subscribed to the rooms it has open room streams for, to the site
channel while it has user streams open, and to one control channel (revocations).

Redis is a doorbell, not the record: the event log is. A process that was not listening
(Redis restarted, the connection dropped, a publish failed) catches up from the log when
it reconnects and every CATCH_UP_INTERVAL_SECS, and the hub fills any hole in the seqs
it sees, so a lost publish delays an event but never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from typing import Any

import redis
import redis.asyncio
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from rooms import metrics
from rooms.event_types import LoggedEvent, UserLoggedEvent
from rooms.stream.hub import hub

logger = logging.getLogger(__name__)

ROOM_CHANNEL_PREFIX = f"{settings.REDIS_CHANNEL_PREFIX}room:"
CONTROL_CHANNEL = f"{settings.REDIS_CHANNEL_PREFIX}control"
SITE_CHANNEL = f"{settings.REDIS_CHANNEL_PREFIX}site"
# Typing and presence frames of every room: every process listens, whatever it has open.
EPHEMERAL_CHANNEL = f"{settings.REDIS_CHANNEL_PREFIX}ephemeral"
# Per room: a sorted set of "<user id>:<tab>" scored by when the report ends, and one of
# user ids scored by when they were last active. Both keys expire once nothing refreshes them.
PRESENCE_KEY_PREFIX = f"{settings.REDIS_CHANNEL_PREFIX}presence:"
ACTIVE_KEY_PREFIX = f"{settings.REDIS_CHANNEL_PREFIX}active:"
CATCH_UP_INTERVAL_SECS = 5.0
RECONNECT_DELAY_MIN_SECS = 0.1
RECONNECT_DELAY_MAX_SECS = 2.0
# After a failed publish, don't make every post wait on a dead Redis for this long.
PUBLISH_BACKOFF_SECS = 1.0
PUBLISH_TIMEOUT_SECS = 0.5


def room_channel(room_id: int) -> str:
    return f"{ROOM_CHANNEL_PREFIX}{room_id}"


# After a failed presence call, answer "nobody" without asking Redis for this long: a request
# must not wait on a dead Redis every time.
PRESENCE_BACKOFF_SECS = 1.0


def quick_client(url: str, retries: int = 0) -> redis.Redis:
    """A client for calls made while a request or a commit waits: short timeouts and no
    backoff (redis-py retries with backoff by default: seconds per call while Redis is
    down, all of it spent in the thread that committed)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=PUBLISH_TIMEOUT_SECS,
        socket_connect_timeout=PUBLISH_TIMEOUT_SECS,
        retry=Retry(NoBackoff(), retries),
    )


def _user_of(member: bytes) -> int:
    return int(member.split(b":", 1)[0])


class RedisPresence:
    """The presence store in Redis (see rooms.events.PresenceStore), shared by every process:
    each operation is one round trip, and those that read and change run as one MULTI."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.paused_until = 0.0

    def _run(self, build: Any, default: Any) -> Any:
        if time.monotonic() < self.paused_until:
            return default
        try:
            with self.client.pipeline(transaction=True) as pipeline:
                build(pipeline)
                return pipeline.execute()
        except redis.RedisError as exc:
            metrics.REDIS_ERRORS.labels("presence").inc()
            self.paused_until = time.monotonic() + PRESENCE_BACKOFF_SECS
            logger.warning("redis presence: %s; nobody is listed meanwhile", exc)
            return default

    def report(self, room_id: int, user_id: int, tab: str, until: float, now: float) -> bool:
        key = f"{PRESENCE_KEY_PREFIX}{room_id}"
        keep_secs = math.ceil(settings.CHAT_PRESENCE_TTL_SECONDS) + 1

        def build(pipeline: Any) -> None:
            pipeline.zrangebyscore(key, f"({now}", "+inf")
            pipeline.zadd(key, {f"{user_id}:{tab}": until})
            pipeline.expire(key, keep_secs)

        result = self._run(build, None)
        if result is None:
            return False
        return user_id not in {_user_of(member) for member in result[0]}

    def leave(self, room_id: int, user_id: int, tab: str, until: float) -> None:
        key = f"{PRESENCE_KEY_PREFIX}{room_id}"
        # XX: only a report that exists; LT: only ever sooner.
        self._run(lambda p: p.zadd(key, {f"{user_id}:{tab}": until}, xx=True, lt=True), None)

    def sweep(self, room_id: int, now: float) -> set[int]:
        key = f"{PRESENCE_KEY_PREFIX}{room_id}"

        def build(pipeline: Any) -> None:
            pipeline.zrangebyscore(key, "-inf", now)
            pipeline.zremrangebyscore(key, "-inf", now)
            pipeline.zrange(key, 0, -1)

        result = self._run(build, None)
        if result is None:
            return set()
        ended, _, staying = result
        return {_user_of(m) for m in ended} - {_user_of(m) for m in staying}

    def here(self, room_id: int, now: float) -> set[int]:
        key = f"{PRESENCE_KEY_PREFIX}{room_id}"
        result = self._run(lambda p: p.zrangebyscore(key, f"({now}", "+inf"), [[]])
        return {_user_of(member) for member in result[0]}

    def mark_active(self, room_id: int, user_id: int, now: float) -> None:
        key = f"{ACTIVE_KEY_PREFIX}{room_id}"
        keep_secs = math.ceil(settings.CHAT_PRESENCE_RECENT_SECONDS) + 1

        def build(pipeline: Any) -> None:
            pipeline.zadd(key, {str(user_id): now})
            pipeline.zremrangebyscore(key, "-inf", f"({now - keep_secs}")
            pipeline.expire(key, keep_secs)

        self._run(build, None)

    def active_since(self, room_id: int, since: float) -> set[int]:
        key = f"{ACTIVE_KEY_PREFIX}{room_id}"
        result = self._run(lambda p: p.zrangebyscore(key, since, "+inf"), [[]])
        return {int(member) for member in result[0]}


class RedisFanout:
    def __init__(self) -> None:
        self.url = settings.REDIS_URL
        # Tells our own publishes apart when they come back from Redis.
        self.origin = uuid.uuid4().hex[:16]
        # One immediate retry: a pooled connection that Redis closed (a restart) fails its
        # first command, and the retry reconnects.
        self.publisher = quick_client(self.url, retries=1)
        self.publish_paused_until = 0.0
        self.presence = RedisPresence(quick_client(self.url))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.listener: asyncio.Task[None] | None = None
        self.pubsub: Any = None
        # Rooms that have open streams here, and what the connection is subscribed to.
        self.wanted: set[str] = set()
        self.subscribed: set[str] = set()
        self.subscriptions_lock: asyncio.Lock | None = None
        self.connected: asyncio.Event | None = None
        self.syncing: set[asyncio.Task[None]] = set()
        hub.on_room_opened = self.room_opened
        hub.on_room_closed = self.room_closed
        hub.on_site_opened = self.site_opened
        hub.on_site_closed = self.site_closed

    # Sending: from any thread, after commit.

    def _send(self, channel: str, payload: str, *more: tuple[str, str]) -> None:
        if time.monotonic() < self.publish_paused_until:
            return
        try:
            if more:
                pipeline = self.publisher.pipeline(transaction=False)
                for name, body in ((channel, payload), *more):
                    pipeline.publish(name, body)
                pipeline.execute()
            else:
                self.publisher.publish(channel, payload)
        except redis.RedisError as exc:
            metrics.REDIS_ERRORS.labels("publish").inc()
            self.publish_paused_until = time.monotonic() + PUBLISH_BACKOFF_SECS
            logger.warning("redis fan-out: publish failed (%s); others catch up from the log", exc)

    def publish(self, room_id: int, event: LoggedEvent) -> None:
        hub.call_threadsafe(hub.offer, room_id, event)
        seq, type, data, message_id, subject, recheck, position, slug = event
        body = (
            f"{seq}\n{type}\n{message_id or ''}\n{subject or ''}\n{recheck}\n"
            f"{position}\n{slug}\n{data}"
        )
        self._send(
            room_channel(room_id),
            f"{self.origin}\n{body}",
            (SITE_CHANNEL, f"{self.origin}\nroom\n{room_id}\n{body}"),
        )

    def publish_user(self, event: UserLoggedEvent) -> None:
        hub.call_threadsafe(hub.offer_user, event)
        position, user_id, room_id, type, data = event
        self._send(
            SITE_CHANNEL, f"{self.origin}\nuser\n{position}\n{user_id}\n{room_id}\n{type}\n{data}"
        )

    def publish_ephemeral(self, room_id: int, frame: bytes) -> None:
        hub.call_threadsafe(hub.offer_ephemeral, room_id, frame)
        self._send(EPHEMERAL_CHANNEL, f"{self.origin}\n{room_id}\n{frame.decode()}")

    def revoke_user(self, user_id: int) -> None:
        hub.call_threadsafe(hub.revoke_user, user_id)
        self._send(CONTROL_CHANNEL, f"{self.origin}\nrevoke_user\n{user_id}")

    def revoke_session(self, session: str) -> None:
        hub.call_threadsafe(hub.revoke_session, session)
        self._send(CONTROL_CHANNEL, f"{self.origin}\nrevoke_session\n{session}")

    def revoke_other_sessions(self, user_id: int, session: str, previous: str) -> None:
        hub.call_threadsafe(hub.revoke_other_sessions, user_id, session, previous)
        payload = f"{self.origin}\nrevoke_other_sessions\n{user_id}\n{session}\n{previous}"
        self._send(CONTROL_CHANNEL, payload)

    # Receiving: on the event loop.

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is loop and self.listener is not None and not self.listener.done():
            return
        self.loop = loop
        self.wanted = set()
        self.subscribed = set()
        # An old loop's (one that ended while they waited) are never finished: let them go.
        self.syncing = set()
        self.subscriptions_lock = asyncio.Lock()
        self.connected = asyncio.Event()
        self.listener = loop.create_task(self.listen())

    async def room_opened(self, room_id: int) -> None:
        self.wanted.add(room_channel(room_id))
        await self.sync_subscriptions()

    def room_closed(self, room_id: int) -> None:
        self.wanted.discard(room_channel(room_id))
        self.sync_soon()

    async def site_opened(self) -> None:
        self.wanted.add(SITE_CHANNEL)
        await self.sync_subscriptions()

    def site_closed(self) -> None:
        self.wanted.discard(SITE_CHANNEL)
        self.sync_soon()

    def sync_soon(self) -> None:
        """Unsubscribe what is no longer wanted, in a task of its own (the caller cannot wait).

        Not once the loop is closed (its last streams closing as it ends): the listener of a
        later loop subscribes to what is wanted then.
        """
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        task = loop.create_task(self.sync_subscriptions())
        # The loop keeps only a weak reference to a task: keep it until it is done.
        self.syncing.add(task)
        task.add_done_callback(self.syncing.discard)

    async def sync_subscriptions(self) -> None:
        """Make the connection's subscriptions match the rooms open here."""
        if self.pubsub is None or self.subscriptions_lock is None:
            return  # the listener subscribes to everything wanted when it (re)connects
        async with self.subscriptions_lock:
            pubsub = self.pubsub
            if pubsub is None:
                return
            try:
                extra = self.subscribed - self.wanted
                if extra:
                    await pubsub.unsubscribe(*extra)
                    self.subscribed -= extra
                missing = self.wanted - self.subscribed
                if missing:
                    await pubsub.subscribe(*missing)
                    self.subscribed |= missing
            except (redis.RedisError, OSError) as exc:
                metrics.REDIS_ERRORS.labels("subscribe").inc()
                # The listener sees the broken connection too, reconnects and resubscribes.
                logger.warning("redis fan-out: subscribing failed: %s", exc)

    async def listen(self) -> None:
        delay = RECONNECT_DELAY_MIN_SECS
        while True:
            client = redis.asyncio.Redis.from_url(
                self.url, socket_connect_timeout=2, health_check_interval=10
            )
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                channels = {CONTROL_CHANNEL, EPHEMERAL_CHANNEL, *self.wanted}
                await pubsub.subscribe(*channels)
                self.subscribed = channels - {CONTROL_CHANNEL, EPHEMERAL_CHANNEL}
                self.pubsub = pubsub
                assert self.connected is not None
                self.connected.set()
                delay = RECONNECT_DELAY_MIN_SECS
                await self.sync_subscriptions()
                await self.receive(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                metrics.REDIS_ERRORS.labels("connection").inc()
                logger.warning(
                    "redis fan-out: connection lost (%s); reconnecting in %.1fs", exc, delay
                )
            finally:
                self.pubsub = None
                if self.connected is not None:
                    self.connected.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                    await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_DELAY_MAX_SECS)

    async def receive(self, pubsub: Any) -> None:
        # Whatever was published while we were not listening is in the log.
        await hub.catch_up()
        caught_up_at = time.monotonic()
        while True:
            message = await pubsub.get_message(timeout=CATCH_UP_INTERVAL_SECS)
            if message is not None and message["type"] == "message":
                self.handle(message["channel"].decode(), message["data"].decode())
            if time.monotonic() - caught_up_at >= CATCH_UP_INTERVAL_SECS:
                await hub.catch_up()
                caught_up_at = time.monotonic()

    def handle(self, channel: str, payload: str) -> None:
        origin, _, rest = payload.partition("\n")
        if origin == self.origin:
            return  # delivered locally when it was published
        try:
            if channel == CONTROL_CHANNEL:
                action, _, args = rest.partition("\n")
                if action == "revoke_user":
                    hub.revoke_user(int(args))
                elif action == "revoke_session":
                    hub.revoke_session(args)
                elif action == "revoke_other_sessions":
                    user, session, previous = args.split("\n")
                    hub.revoke_other_sessions(int(user), session, previous)
                return
            if channel == EPHEMERAL_CHANNEL:
                room, _, frame = rest.partition("\n")
                # Encoded once here, the same bytes for every stream of this process.
                hub.offer_ephemeral(int(room), frame.encode())
                return
            if channel == SITE_CHANNEL:
                kind, _, rest = rest.partition("\n")
                if kind == "user":
                    position, user_id, room, type, data = rest.split("\n", 4)
                    hub.offer_user(
                        UserLoggedEvent(int(position), int(user_id), int(room), type, data)
                    )
                else:
                    room, _, rest = rest.partition("\n")
                    hub.offer_site(int(room), self.decode(rest))
                return
            hub.offer(int(channel.removeprefix(ROOM_CHANNEL_PREFIX)), self.decode(rest), site=False)
        except ValueError:
            logger.warning("redis fan-out: ignoring a malformed message on %s", channel)

    @staticmethod
    def decode(body: str) -> LoggedEvent:
        seq, type, message_id, subject, recheck, position, slug, data = body.split("\n", 7)
        return LoggedEvent(
            int(seq),
            type,
            data,
            int(message_id) if message_id else None,
            int(subject) if subject else None,
            recheck,
            int(position),
            slug,
        )
