"""The process's one writer (rooms/writer.py): the posts that wait are committed together,
each in a savepoint, answered after the commit, their events published after it.

These tests run a real writer thread (its own connection), so their data is committed:
transactional tests. The rest of the suite runs the writer inline (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import pytest
from django.db import OperationalError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from rooms import events
from rooms.loop_calls import LoopCalls
from rooms.models import Message, NotAllowed, Room, RoomEvent
from rooms.writer import Writer, rolled_back_by_the_database
from tests.helpers import post_message as post
from tests.live import LiveServer, sign_up

committed = pytest.mark.django_db(transaction=True)


@pytest.fixture
def writer():
    """A writer of the test's own (the process's is not used here)."""
    writer = Writer()
    yield writer
    writer.stop()


@pytest.fixture
def published(monkeypatch):
    """The events the fan-out backend was handed, with whether a transaction was open then."""
    seen: list[tuple[int, bool]] = []

    class Recorder:
        def publish(self, room_id, event):
            seen.append((event.seq, connection.in_atomic_block))

    monkeypatch.setattr(events, "get_backend", lambda: Recorder())
    return seen


def held_batch(writer: Writer, jobs):
    """Submit `jobs` while the writer is busy with a first one, so that they wait together
    and go in one transaction; return their futures."""
    release = threading.Event()
    started = threading.Event()

    def hold():
        started.set()
        assert release.wait(10)

    first = writer.submit(hold)
    assert started.wait(10)
    futures = [writer.submit(job) for job in jobs]
    release.set()
    first.result(10)
    return futures


def results(futures):
    outcomes = []
    for future in futures:
        try:
            outcomes.append(future.result(10))
        except Exception as exc:
            outcomes.append(exc)
    return outcomes


def seqs(room: Room) -> list[int]:
    return list(RoomEvent.objects.filter(room=room).order_by("seq").values_list("seq", flat=True))


@committed
def test_it_commits_the_posts_that_wait_in_one_transaction(writer, lobby, bob, published):
    before = writer.commits
    futures = held_batch(
        writer, [lambda i=i: lobby.post_message(bob, f"m{i}")[0].pk for i in range(5)]
    )
    ids = results(futures)
    assert writer.commits - before == 2  # the first job's, then the five in one
    assert list(Message.objects.filter(pk__in=ids).values_list("body", flat=True)) == [
        f"m{i}" for i in range(5)
    ]
    assert seqs(lobby) == list(range(1, len(seqs(lobby)) + 1))  # no hole
    assert [seq for seq, _ in published][-5:] == seqs(lobby)[-5:]


@committed
def test_a_failing_post_does_not_fail_the_others_of_its_batch(writer, lobby, bob, carol, published):
    def writes_then_fails():
        lobby.post_message(bob, "rolled back")
        raise RuntimeError("boom")

    futures = held_batch(
        writer,
        [
            lambda: lobby.post_message(bob, "one")[0].body,
            lambda: lobby.post_message(carol, "not a member")[0].body,  # refused
            writes_then_fails,
            lambda: lobby.post_message(bob, "two")[0].body,
        ],
    )
    one, refused, failed, two = results(futures)
    assert (one, two) == ("one", "two")
    assert isinstance(refused, NotAllowed) and "join the room first" in str(refused)
    assert isinstance(failed, RuntimeError)
    assert sorted(Message.objects.values_list("body", flat=True)) == ["one", "two"]
    # The rolled-back post's seq was given back: still no hole, and its event never left.
    assert seqs(lobby) == list(range(1, len(seqs(lobby)) + 1))
    assert [seq for seq, _ in published][-2:] == seqs(lobby)[-2:]


@committed
def test_a_retry_in_the_same_batch_returns_the_first_message(writer, lobby, bob):
    def send():
        message, created = lobby.post_message(bob, "once", "key-1")
        return message.pk, created

    futures = held_batch(writer, [send, send])
    (first, created), (again, created_again) = results(futures)
    assert first == again
    assert (created, created_again) == (True, False)
    assert Message.objects.filter(client_id="key-1").count() == 1


@committed
def test_events_leave_only_after_their_batch_committed(writer, lobby, bob, published):
    futures = held_batch(writer, [lambda i=i: lobby.post_message(bob, f"m{i}") for i in (1, 2)])
    results(futures)
    assert len(published) >= 2
    assert all(not in_transaction for _, in_transaction in published)


@committed
def test_a_failed_commit_answers_every_post_of_the_batch_with_the_error_and_publishes_nothing(
    writer, lobby, bob, published, monkeypatch
):
    wrapper = type(connections["default"])
    real_commit = wrapper._commit  # type: ignore[attr-defined]
    fail = threading.Event()

    def commit(self):
        if fail.is_set() and threading.current_thread().name == "chat-writer":
            raise OperationalError("disk I/O error")
        return real_commit(self)

    monkeypatch.setattr(wrapper, "_commit", commit)
    count = Message.objects.count()
    published.clear()

    def post_then_fail_the_commit(body):
        fail.set()  # the commit of this batch (not the one before) fails
        return lobby.post_message(bob, body)

    futures = held_batch(writer, [lambda i=i: post_then_fail_the_commit(f"m{i}") for i in (1, 2)])
    outcomes = results(futures)
    fail.clear()
    assert all(isinstance(outcome, OperationalError) for outcome in outcomes)
    assert Message.objects.count() == count
    assert published == []
    # The writer goes on with a new connection.
    assert writer.submit(lambda: lobby.post_message(bob, "after")[0].body).result(10) == "after"


@committed
def test_an_error_outside_any_post_answers_its_batch_and_the_writer_goes_on(writer, lobby, bob):
    class Escapes(BaseException):
        """Not an Exception: the per-post savepoint does not catch it."""

    def escapes():
        raise Escapes

    futures = held_batch(writer, [lambda: lobby.post_message(bob, "lost")[0].body, escapes])
    assert all(isinstance(outcome, Escapes) for outcome in results_of_any(futures))
    assert not Message.objects.filter(body="lost").exists()
    assert writer.submit(lambda: lobby.post_message(bob, "after")[0].body).result(10) == "after"


def results_of_any(futures):
    outcomes = []
    for future in futures:
        try:
            outcomes.append(future.result(10))
        except BaseException as exc:
            outcomes.append(exc)
    return outcomes


# PostgreSQL's row locks: a post in the writer's batch never deadlocks with a request's
# transaction (each side used to hold what the other waited for).

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite has no row locks: its writers take turns"
)


def in_a_thread(work):
    """Run `work` on a connection of its own; return (thread, outcome list)."""
    outcome: list = []

    def run():
        try:
            outcome.append(work())
        except Exception as exc:
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def wait_for_a_lock_wait(timeout: float = 10) -> None:
    """Until some backend of this database waits for a lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            # The view is read once per transaction unless its snapshot is dropped.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.01)
    raise AssertionError("nobody waited for a lock")


@postgres_only
@committed
def test_a_post_does_not_deadlock_with_a_key_checked_at_commit(writer, lobby, bob):
    # A request took the site's event counter (a read position's event), then wrote a row
    # pointing at the room, whose key PostgreSQL checks at COMMIT. Meanwhile a post locked
    # the room and waited for the counter. The post's lock must not keep out the key check.
    from rooms.models import UserEvent
    from rooms.models.log import next_position

    has_counter = threading.Event()

    def read_position():
        with transaction.atomic():
            position = next_position()
            has_counter.set()
            wait_for_a_lock_wait()  # the post waits for the counter
            UserEvent.objects.create(
                user=bob, position=position, type="read", room=lobby, data="{}"
            )
        return "committed"

    thread, outcome = in_a_thread(read_position)
    assert has_counter.wait(10)
    before = writer.commits
    posted = writer.submit(lambda: lobby.post_message(bob, "meanwhile")[0].body)
    assert posted.result(10) == "meanwhile"
    thread.join(10)
    assert outcome == ["committed"]
    assert writer.commits - before == 1  # not a deadlock's victim, run again


@postgres_only
@committed
def test_a_post_of_a_batch_waits_for_a_room_only_briefly_and_runs_again_alone(
    writer, lobby, alice, bob
):
    # The batch's first post holds the event counter; the second waits for another room's
    # row, held by a request that then waits for the counter. Nobody may be a deadlock's
    # victim: the second post gives up its wait and runs after the batch committed.
    from rooms.models.log import next_position

    side = Room.objects.create(slug="side", name="Side", owner=alice)
    side.add_member(alice, role="owner")
    side.add_member(bob)
    holds_the_room = threading.Event()
    first_posted = threading.Event()

    def moderation():
        with connection.cursor() as cursor:
            # It would find the deadlock before the writer does (at 1 s), and lose it.
            cursor.execute("SET deadlock_timeout = '500ms'")
        with transaction.atomic():
            side.next_event_seq()
            holds_the_room.set()
            assert first_posted.wait(10)
            time.sleep(0.2)  # the second post asks for the room meanwhile
            next_position()
        return "committed"

    thread, outcome = in_a_thread(moderation)
    assert holds_the_room.wait(10)

    def first():
        body = lobby.post_message(bob, "first")[0].body
        first_posted.set()
        return body

    before = writer.commits
    futures = held_batch(writer, [first, lambda: side.post_message(bob, "second")[0].body])
    assert results(futures) == ["first", "second"]
    thread.join(10)
    assert outcome == ["committed"]
    assert writer.commits - before == 3  # the held job's, the batch's, the second's alone


def test_only_what_the_database_undid_for_a_lock_s_sake_is_run_again():
    import psycopg

    def wrapped(cause):
        try:
            raise OperationalError(str(cause)) from cause
        except OperationalError as exc:
            return exc

    assert rolled_back_by_the_database(wrapped(psycopg.errors.DeadlockDetected()))
    assert rolled_back_by_the_database(wrapped(psycopg.errors.SerializationFailure()))
    assert rolled_back_by_the_database(wrapped(psycopg.errors.LockNotAvailable()))
    assert not rolled_back_by_the_database(wrapped(psycopg.errors.AdminShutdown()))
    assert not rolled_back_by_the_database(OperationalError("database is locked"))
    assert not rolled_back_by_the_database(RuntimeError("boom"))


@committed
def test_a_post_through_the_writer_thread_answers_like_inline(settings, bob, lobby):
    settings.CHAT_WRITER = "thread"
    from rooms import writer
    from tests.conftest import client_for

    as_bob = client_for(bob)
    try:
        first = post(as_bob, "lobby", {"body": "hi", "client_id": "k-1"})
        again = post(as_bob, "lobby", {"body": "hi", "client_id": "k-1"})
        assert first.status_code == again.status_code == 201
        assert again["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        assert post(as_bob, "nowhere", {"body": "hi"}).status_code == 404
        assert post(as_bob, "lobby", {"body": ""}).status_code == 400
        assert post(client_for(None), "lobby", {"body": "hi"}).status_code == 401
        assert writer.get_writer().committed_jobs >= 1
    finally:
        writer.get_writer().stop()
        connections.close_all()


@pytest.mark.django_db
def test_a_post_costs_eight_queries_and_two_savepoints(as_bob, lobby):
    # The session, the user, the room with bob's role, ban and mute (one query), the key's
    # earlier message, the room's next seq and the site's next position (each an UPDATE ...
    # RETURNING), the message, its event; and two savepoints with their releases (the
    # writer's, or here the inline transaction's, and the post's own). One query fewer
    # without a client_id. (Before the writer: 12 queries and one savepoint, 14 statements,
    # with a client_id, before the site-wide position added its UPDATE.)
    with CaptureQueriesContext(connection) as queries:
        response = post(as_bob, "lobby", {"body": "counted", "client_id": "c-1"})
    assert response.status_code == 201
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert [s for s in statements if s not in ("SAVEPOINT", "RELEASE")] == [
        *["SELECT"] * 4,
        "UPDATE",  # the seq
        "INSERT",  # the message
        "UPDATE",  # the position
        "INSERT",  # the event
    ], statements
    assert len(statements) == 12
    with CaptureQueriesContext(connection) as queries:
        assert post(as_bob, "lobby", {"body": "no key"}).status_code == 201
    assert len(queries.captured_queries) == 11


# Through the async middleware chain (Django's AsyncClient runs the handler in async mode,
# as daphne does): no middleware may do I/O on the event loop.


@pytest.mark.django_db(transaction=True)
async def test_the_async_chain_posts_refuses_a_missing_csrf_token_and_saves_a_login(lobby, bob):
    from django.test import AsyncClient

    client = AsyncClient(enforce_csrf_checks=True)
    page = await client.get("/accounts/login/")
    token = page.cookies["csrftoken"].value
    response = await client.post(
        "/accounts/login/",
        {"username": "bob", "password": "bob-password-1", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302  # the session was saved (in a thread)
    refused = await client.post(
        "/rooms/lobby/messages/", {"body": "no token"}, content_type="application/json"
    )
    assert refused.status_code == 403
    token = client.cookies["csrftoken"].value
    sent = await client.post(
        "/rooms/lobby/messages/",
        {"body": "with a token"},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert sent.status_code == 201, sent.content
    assert sent.json()["author"] == "bob"
    anonymous = AsyncClient()
    answer = await anonymous.post(
        "/rooms/lobby/messages/", {"body": "x"}, content_type="application/json"
    )
    assert answer.status_code == 401


# A real server, killed: every post it acknowledged is in the database.


@pytest.mark.server
async def test_every_acknowledged_post_survives_a_kill_mid_burst(live_database):
    server = LiveServer(live_database).start()
    acknowledged: list[int] = []
    try:
        people = [await sign_up(server.url, f"poster{i}") for i in range(4)]
        await people[0].post("/rooms/", json={"slug": "burst", "name": "Burst"})
        for person in people[1:]:
            await person.post("/rooms/burst/join/")

        async def keep_posting(person, i):
            k = 0
            while True:
                try:
                    response = await person.post(
                        "/rooms/burst/messages/", json={"body": f"{i}-{k}"}, timeout=5
                    )
                except httpx.HTTPError:
                    return
                if response.status_code == 201:
                    acknowledged.append(response.json()["id"])
                k += 1

        posting = [asyncio.create_task(keep_posting(p, i)) for i, p in enumerate(people)]
        await asyncio.sleep(1.5)
        server.kill()
        await asyncio.gather(*posting)
        for person in people:
            await person.aclose()
    finally:
        server.stop()
    assert len(acknowledged) > 20
    stored = set(
        json.loads(
            live_database.manage(
                "shell",
                "-c",
                "import json; from rooms.models import Message; "
                "print(json.dumps(list(Message.objects.values_list('id', flat=True))))",
            ).splitlines()[-1]
        )
    )
    assert set(acknowledged) <= stored


@committed
async def test_the_answers_of_a_batch_wake_the_callers_loop_once(writer, monkeypatch):
    loop = asyncio.get_running_loop()
    wakes = []
    call_soon_threadsafe = loop.call_soon_threadsafe

    def counted(*args, **kwargs):
        if getattr(args[0], "__func__", None) is LoopCalls._run:
            wakes.append(args[0])
        return call_soon_threadsafe(*args, **kwargs)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counted)
    release, started = threading.Event(), threading.Event()

    def hold():
        started.set()
        return release.wait(10)

    first = writer.submit(hold)  # busy: the next ones wait together
    assert started.wait(10)
    waiters = [loop.create_future() for _ in range(8)]
    for n, waiter in enumerate(waiters):
        writer.submit(lambda n=n: n, waiter)
    release.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 10) == list(range(8))
    assert await asyncio.wrap_future(first)
    assert writer.commits == 2  # the first alone, then the eight in one transaction
    # The eight answers wake the loop once, not once each.
    assert len(wakes) == 1


@committed
async def test_an_error_outside_any_post_reaches_its_callers_on_the_loop(writer, lobby, bob):
    class Escapes(BaseException):
        """Not an Exception: the per-post savepoint does not catch it."""

    def escapes():
        raise Escapes

    loop = asyncio.get_running_loop()
    release, started = threading.Event(), threading.Event()

    def hold():
        started.set()
        return release.wait(10)

    first = writer.submit(hold)
    assert started.wait(10)
    waiters = [loop.create_future(), loop.create_future()]
    writer.submit(lambda: lobby.post_message(bob, "lost")[0].body, waiters[0])
    writer.submit(escapes, waiters[1])
    release.set()
    for waiter in waiters:  # answered, not left waiting forever
        with pytest.raises(Escapes):
            await asyncio.wait_for(waiter, 10)
    assert await asyncio.wrap_future(first)
