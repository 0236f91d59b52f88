"""The room event stream: GET /rooms/<slug>/events/ as Server-Sent Events.

Connect: check the session and the room (one short DB call), subscribe to the room's hub.
Replay: send every event after the client's Last-Event-ID from the log, in seq order.
Live: write what the hub hands over, skipping what replay already sent; a heartbeat
comment keeps proxies from closing an idle stream. Disconnect: unsubscribe.

An open stream holds no thread and no DB connection: it is a task, a socket and a queue.
It is routed in chatsite/asgi.py around Django's request handler, which would hold a
thread per long response.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from importlib import import_module
from types import SimpleNamespace
from typing import Any, NamedTuple
from urllib.parse import parse_qs

from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer
from channels.sessions import CookieMiddleware
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AnonymousUser
from django.db import InterfaceError, OperationalError
from django.http.cookie import parse_cookie
from django.utils import timezone

from rooms import access_log, metrics
from rooms.events import get_backend, session_digest
from rooms.middleware import DATABASE_UNAVAILABLE, RETRY_AFTER_SECS, security_headers_for
from rooms.models import Access, Room
from rooms.models.log import current_position
from rooms.programs import tokens
from rooms.stream import log, shutdown
from rooms.stream.db import database_sync_to_async
from rooms.stream.hub import hub
from rooms.stream.log import position_of
from rooms.stream.site import SiteChannel, UserSubscriber
from rooms.stream.sse import (
    CHANNEL_PREFIX,
    RETRY_MILLISECONDS,
    SSE_HEADERS,
    InvalidEventId,
    encode_frame,
    parse_last_event_id,
    sse_event,
)
from rooms.stream.subscriber import RECHECK, Subscriber, Unfinished, send_at_once

session_store = import_module(settings.SESSION_ENGINE).SessionStore

logger = logging.getLogger(__name__)


def session_key(scope: dict[str, Any]) -> str | None:
    """The session cookie of the request, if any."""
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            key = parse_cookie(value.decode("latin-1")).get(settings.SESSION_COOKIE_NAME)
            if key:
                return key
    return None


def _connect(
    scope: dict[str, Any], slug: str | None = None
) -> tuple[Any, bool, tuple[int, str, int] | tuple[int, str] | bool | None]:
    """Load the session's user and check the room (if any: the user stream has none), in
    one trip to a DB thread.

    Return the user, whether the session turned out stale (Django flushed it: the response
    should delete the cookie, as channels' session middleware would), and the access.
    """
    text = scope.get("bearer_token")
    if text is not None:
        # A program's token in place of the session (rules: rooms/programs/tokens.py).
        try:
            token = tokens.authenticate(text, "GET")
        except tokens.Refusal as refusal:
            return AnonymousUser(), False, (refusal.status, refusal.message)
        scope["api_token"] = token
        scope["user"] = token.user
        return token.user, False, _check_access(token.user, slug) if slug is not None else True
    session = session_store(session_key(scope))
    user = auth.get_user(SimpleNamespace(session=session))  # type: ignore[arg-type]
    scope["session"] = session
    scope["user"] = user
    if not user.is_authenticated:
        return user, session.modified, None
    return user, False, _check_access(user, slug) if slug is not None else True


def bearer_token(scope: dict[str, Any]) -> str | None:
    """The API token of the request's Authorization header, if any (Refusal if it is sent
    in the query string, or the header is not a bearer token's)."""
    authorization = None
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            authorization = value.decode("latin-1")
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return tokens.bearer_text(authorization, query.keys(), scope.get("path", ""))


def _check_access(user: Any, slug: str) -> tuple[int, str, int] | tuple[int, str]:
    """Return (room id, channel, current seq) if the user may read the room, else
    (status, reason): 404 if they may not know it exists, 403 if they are banned."""
    room = Room.objects.for_reader(slug, user)  # with the user's standing: one query
    if room is None:
        return 404, "no such room"
    access = room.access_for(user)
    if access is Access.BANNED:
        return 403, "you are banned from this room"
    if access is not Access.READ:
        return 404, "no such room"
    return room.pk, f"{CHANNEL_PREFIX}{room.pk}", room.last_event_seq


def _may_still_read(room_id: int, user_id: int) -> bool:
    """Ask the room's access rule again, about the user as they are now."""
    room = Room.objects.filter(pk=room_id).first()
    user = auth.get_user_model().objects.filter(pk=user_id).first()
    return room is not None and user is not None and room.can_read(user)


class Reader(NamedTuple):
    """Who an open stream reads as: the user's id and name, all it keeps of the User and
    session objects its connect loaded (those are let go: memory per open stream)."""

    pk: int
    username: str

    def get_username(self) -> str:
        return self.username


connect = database_sync_to_async(_connect)
may_still_read = database_sync_to_async(_may_still_read)


class StreamConsumer(AsyncHttpConsumer):
    """One open stream. Runs as a task so that a client disconnect can cancel it."""

    stream_task: asyncio.Task[None] | None = None
    forget_session = False
    record: access_log.StreamRecord  # its log lines and metrics, once it is open
    # The room's slug when routed by chatsite/asgi.py's own match, which does not copy the
    # scope to add url_route to it (a copy per open stream); else url_route's.
    routed_slug: str | None = None

    @classmethod
    def for_slug(cls, slug: str | None) -> StreamConsumer:
        consumer = cls()
        consumer.routed_slug = slug
        return consumer

    @property
    def slug(self) -> str | None:
        if self.routed_slug is not None:
            return self.routed_slug
        kwargs: dict[str, str] = self.scope.get("url_route", {}).get("kwargs", {})
        return kwargs.get("slug")

    @property
    def name(self) -> str:
        """What the access log calls the stream: its room, or "*" for a user stream."""
        return self.slug or "*"

    async def stream(self) -> None:
        raise NotImplementedError

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # AsyncConsumer's __call__ awaits receive in a task of its own and asyncio.waits on
        # it, to serve a channel layer too (this site has none): one more task per open
        # stream. Here the application's task awaits receive itself.
        self.scope = scope
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            # Cancelled itself (the server stops waiting for it): the stream goes too.
            if self.stream_task is not None and not self.stream_task.done():
                self.stream_task.cancel()

    async def dispatch(self, message: dict[str, Any]) -> None:
        # AsyncConsumer.dispatch closes stale DB connections in a worker thread before every
        # message: a thread hop on connect and another on disconnect. This consumer touches
        # the database only through (stream_)database_sync_to_async, which does that in its hop.
        if message["type"] == "http.request":
            await self.http_request(message)
        elif message["type"] == "http.disconnect":
            await self.http_disconnect(message)
        else:
            raise ValueError(f"No handler for message type {message['type']}")

    async def http_request(self, message: dict[str, Any]) -> None:
        # Unlike AsyncHttpConsumer, do not wait for the response to end here: keep reading
        # the connection so that http.disconnect arrives and cancels the stream.
        if message.get("more_body"):
            return
        self.stream_task = asyncio.get_running_loop().create_task(self.stream())

    async def http_disconnect(self, message: dict[str, Any]) -> None:
        if self.stream_task is not None:
            self.stream_task.cancel()
            await asyncio.wait([self.stream_task])
        raise StopConsumer()

    async def error(self, status: int, message: str) -> None:
        access_log.stream_refused(self.scope, self.name, status)
        body = json.dumps({"error": message}).encode()
        # With its length, the answer is sent as it is: without one uvicorn sends it in
        # chunks, even to an HTTP/1.0 client, which cannot read those.
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
            *security_headers_for(self.scope),
        ]
        if status == 503:
            headers.append((b"retry-after", str(RETRY_AFTER_SECS).encode()))
        start = {"type": "http.response.start", "status": status, "headers": headers}
        if self.forget_session:
            CookieMiddleware.delete_cookie(
                start,
                settings.SESSION_COOKIE_NAME,
                path=settings.SESSION_COOKIE_PATH,
                domain=settings.SESSION_COOKIE_DOMAIN,
            )
        await self.send(start)
        await self.send_body(body)

    def requested_event_id(self) -> str | None:
        for name, value in self.scope.get("headers", []):
            if name == b"last-event-id":
                return str(value.decode("latin-1"))
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        values = query.get("lastEventId")
        return values[0] if values else None

    async def write(self, chunks: list[bytes]) -> None:
        if chunks:
            # What send_body does, without its two extra calls per write.
            await self.base_send(
                {"type": "http.response.body", "body": b"".join(chunks), "more_body": True}
            )

    async def send_reset(self, reason: str, current: int) -> None:
        """Tell the client its id is useless: reload, then continue from `current`."""
        await self.send_body(
            sse_event("reset", {"reason": reason, "last_event_id": current}, current),
            more_body=True,
        )

    async def open(self, connected: Any, send_head: bool = True) -> Any:
        """Check the session (and the room) in one DB trip; answer an error and return None
        if the stream may not open, else send the stream's head (unless not `send_head`)
        and return what was checked."""
        try:
            self.scope["bearer_token"] = bearer_token(self.scope)
        except tokens.Refusal as refusal:
            connected.close()
            await self.error(refusal.status, refusal.message)
            return None
        try:
            user, self.forget_session, access = await connected
        except (OperationalError, InterfaceError) as exc:
            # The database is restarting: the client retries (a bare EventSource gives up on a
            # non-200 answer; the pages use ReconnectingEventSource, which retries).
            logger.warning("stream %r: database unavailable: %s", self.name, exc)
            metrics.DATABASE_ERRORS.labels("stream").inc()
            await self.error(503, DATABASE_UNAVAILABLE)
            return None
        if isinstance(access, tuple) and len(access) == 2:
            await self.error(*access)
            return None
        if not user.is_authenticated or access is None:
            await self.error(401, "authentication required")
            return None
        # LIMITATION: counted per process; with several processes one may hold this many in each.
        limit = settings.CHAT_MAX_STREAMS_PER_USER
        if hub.user_streams[user.pk] >= limit:
            await self.error(429, f"too many open streams (at most {limit})")
            return None
        if send_head:
            await self.send_head()
        await get_backend().start()
        return Reader(user.pk, user.get_username()), access

    async def send_head(self) -> None:
        shutdown.install()  # open streams end at once when the server stops
        await self.send_headers(
            status=200, headers=[*SSE_HEADERS, *security_headers_for(self.scope)]
        )
        await self.send_body(f"retry: {RETRY_MILLISECONDS}\n\n".encode(), more_body=True)

    def session_of_stream(self) -> str:
        """What closes the stream when it stops being valid: its session's digest, or its
        token's (ApiToken.revoke closes the streams of that key)."""
        token = self.scope.get("api_token")
        if token is not None:
            return session_digest(token.stream_key)
        key = getattr(self.scope.get("session"), "session_key", None) or ""
        return session_digest(key)

    def close_at_expiry(self, subscriber: Subscriber) -> asyncio.TimerHandle | None:
        """Close the stream when its token expires, as revoking it would."""
        token = self.scope.get("api_token")
        if token is None or token.expires_at is None:
            return None
        delay = (token.expires_at - timezone.now()).total_seconds()
        return asyncio.get_running_loop().call_later(max(delay, 0), subscriber.close, "revoked")

    async def run(self, user: Reader, go: Any) -> None:
        """Send what `go` sends until the stream ends; then say why, and log it."""
        self.record = access_log.StreamRecord(self.scope, user, self.name)
        # Open: what the connect loaded is not needed any more.
        self.scope.pop("session", None)
        self.scope.pop("user", None)
        reason = "client"  # unless it ends otherwise, the client went away
        try:
            reason = await go
            if reason == "revoked":
                await self.send_body(sse_event("revoked", {"reason": "access revoked"}))
            else:
                # Overflow or error: end the response; the client resumes from its last id.
                await self.send_body(b"")
        except asyncio.CancelledError:
            raise
        except Exception:
            reason = "error"
            logger.exception("stream %r of user %s failed", self.name, user.pk)
            with contextlib.suppress(Exception):  # the send itself may be what failed
                await self.send_body(b"")
        finally:
            self.record.closed(reason)

    async def live(self, subscriber: Subscriber, last_sent: int) -> str:
        """Write what the hub hands the subscriber, skipping ids at or below `last_sent`
        (the replay sent them), until the stream must end; return why.

        While this task waits with nothing queued, the hub writes a frame from where it
        pushes it (Subscriber.send_now): no task wake-up per stream per event.
        """
        subscriber.last_sent = last_sent
        subscriber.send_now = self.send_now
        while True:
            await subscriber.wait()
            if subscriber.closed_reason is not None:
                return subscriber.closed_reason
            chunks: list[bytes] = []
            for seq, frame in subscriber.take():
                if frame is RECHECK:
                    # An event that may have taken this reader's access went out just now:
                    # ask the access rule again before sending anything that follows it.
                    await self.write(chunks)
                    chunks = []
                    if not await may_still_read(subscriber.room_id, subscriber.user_id):
                        return "revoked"
                    continue
                if not subscriber.to_send(seq):
                    continue  # the replay sent it
                if seq is not None:
                    self.record.events += 1
                chunks.append(frame)
            await self.write(chunks)

    def send_now(self, seq: int | None, frame: bytes) -> Unfinished | None:
        """Write one live frame from the hub, as far as the server's send goes at once."""
        if seq is not None:
            self.record.events += 1
        message = {"type": "http.response.body", "body": frame, "more_body": True}
        return send_at_once(self.base_send, message)


class RoomEventsConsumer(StreamConsumer):
    """GET /rooms/<slug>/events/: one room's events, ids its seqs."""

    async def stream(self) -> None:
        slug = self.slug
        assert slug is not None
        # The session, its user and the room in one DB trip (channels' AuthMiddlewareStack
        # would take a trip of its own for the session and user, and wrap every send).
        opened = await self.open(connect(self.scope, slug))
        if opened is None:
            return
        user, (room_id, channel, current) = opened
        subscriber = Subscriber(room_id, user.pk, session=self.session_of_stream())
        try:
            head = await hub.subscribe(subscriber)
        except Exception:
            # Reading the room's head failed (the database is restarting): end the response
            # rather than leave it hanging; the client resumes from its last id.
            logger.warning("stream of room %s: could not subscribe", room_id, exc_info=True)
            hub.unsubscribe(subscriber)
            await self.send_body(b"")
            return
        expiry = self.close_at_expiry(subscriber)
        try:
            await self.run(user, self.send_events(subscriber, channel, current, head))
        finally:
            if expiry is not None:
                expiry.cancel()
            hub.unsubscribe(subscriber)

    async def send_events(
        self, subscriber: Subscriber, channel: str, current: int, head: int
    ) -> str:
        """Replay, then go live. Return why the stream ended.

        `current` is the room's seq when access was checked, `head` the seq after which the
        hub hands events to this subscriber; the log covers whatever lies between.
        """
        try:
            last_sent = parse_last_event_id(self.requested_event_id(), channel)
        except InvalidEventId as exc:
            last_sent = None
            await self.send_reset(str(exc), current)
        if last_sent is None:
            last_sent = current
        # Events came between the access check and the subscription: one of them may have
        # taken the reader's access (a ban, the room made private), and the replay sends
        # them with no RECHECK after them. Ask the access rule again, as it is now.
        if head > current and not await may_still_read(subscriber.room_id, subscriber.user_id):
            return "revoked"
        if last_sent != current or head > current:
            last_sent = await self.replay(last_sent, subscriber, head)

        return await self.live(subscriber, last_sent)

    async def replay(self, after: int, subscriber: Subscriber, upto: int) -> int:
        """Send every event after `after` from the log; return the last seq sent.

        `upto` is the hub's head when this stream subscribed: the hub hands over what comes
        later, so the replay must reach at least that far. Recent frames come from memory
        when the hub has all of them; concurrent reads of the same range share one query.
        """
        room_id = subscriber.room_id
        share = True
        while subscriber.closed_reason is None:
            frames = log.recent.get(room_id, after, upto)
            if frames is not None:
                await self.send_body(b"".join(frames), more_body=True)
                self.record.replayed(len(frames), "memory")
                return upto
            generation = log.recent.generation(room_id)
            try:
                events = await log.read_shared(room_id, after, share)
            except log.EventDoesNotExist as exc:
                await self.send_reset(f"event {after} does not exist in this room", exc.current_id)
                return int(exc.current_id)
            if events:
                frames = []
                for event in events:
                    frame = encode_frame(event.seq, event.type, event.data)
                    log.recent.add(room_id, event, frame, generation)
                    frames.append(frame)
                await self.send_body(b"".join(frames), more_body=True)
                self.record.replayed(len(frames), "log")
                after = events[-1].seq
            if len(events) < log.REPLAY_BATCH_EVENTS:
                if after >= upto or not share:
                    break
                # A shared read may have begun before this stream subscribed and so stop short
                # of the hub's head: read once more on our own.
                share = False
        return after


def _starting_point(user_id: int) -> tuple[int, set[int]]:
    """The newest committed position, then the rooms the user stream follows now.

    Read in this order: the rooms are as they were at that position or later, and a change
    after it reaches the stream as an event after it (room_joined, room_left).
    """
    position = current_position()
    user = auth.get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        return position, set()
    return position, set(Room.objects.followed_by(user).values_list("pk", flat=True))


starting_point = database_sync_to_async(_starting_point)
read_for_user = database_sync_to_async(log.read_for_user)


class UserEventsConsumer(StreamConsumer):
    """GET /events/: every event of every room the user is a member of, and the user's own
    (joined or left a room, read position moved), ids the events' site-wide positions.

    A plain EventSource's reconnect sends back the last position it saw; everything after
    it is replayed, in position order, for the rooms the user follows now.
    """

    async def stream(self) -> None:
        opened = await self.open(connect(self.scope), send_head=False)
        if opened is None:
            return
        user, _ = opened
        subscriber = UserSubscriber(user.pk, session=self.session_of_stream())
        try:
            await hub.subscribe_user(subscriber)
            # After subscribing: what the log holds up to `current` is read from it, what
            # comes later is collected by the hub meanwhile.
            current, rooms = await starting_point(user.pk)
        except asyncio.CancelledError:
            hub.unsubscribe_user(subscriber)
            raise
        except Exception as exc:
            # The database is restarting (reading the head or the rooms failed): the client
            # retries, as on any 503.
            hub.unsubscribe_user(subscriber)
            logger.warning("user stream of %s: could not start: %s", user.pk, exc)
            metrics.DATABASE_ERRORS.labels("stream").inc()
            await self.error(503, DATABASE_UNAVAILABLE)
            return
        # The response begins once the stream is live: a page that sees it open knows that
        # every event from then on reaches it.
        await self.send_head()
        expiry = self.close_at_expiry(subscriber)
        try:
            await self.run(user, self.send_events(subscriber, current, rooms))
        finally:
            if expiry is not None:
                expiry.cancel()
            hub.unsubscribe_user(subscriber)

    async def send_events(self, subscriber: UserSubscriber, current: int, rooms: set[int]) -> str:
        try:
            last_sent = parse_last_event_id(self.requested_event_id(), "")
            if last_sent is not None and last_sent > current:
                raise InvalidEventId(f"event {last_sent} does not exist")
        except InvalidEventId as exc:
            last_sent = None
            await self.send_reset(str(exc), current)
        if last_sent is None:
            last_sent = current
        while last_sent < current and subscriber.closed_reason is None:
            events = await read_for_user(subscriber.user_id, list(rooms), last_sent, current)
            if not events:
                break
            await self.write([SiteChannel.frame(event) for event in events])
            self.record.replayed(len(events), "log")
            last_sent = position_of(events[-1])
        hub.site.start(subscriber, rooms, current)
        last_sent = max(last_sent, current)

        return await self.live(subscriber, last_sent)
