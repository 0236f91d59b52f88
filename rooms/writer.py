"""One writer per process: the message posts' transactions, committed in groups.

A post (rooms/api.py) hands its work, a function, to the writer: one thread that owns one
long-lived database connection. While a transaction commits (an fsync: SQLite runs with
synchronous=FULL, PostgreSQL with synchronous_commit on), the posts that arrive meanwhile
queue up, and the writer runs all that wait in the next transaction (group commit):

- each function runs in a savepoint of its own: one that fails (refused, bad input, a
  constraint) rolls back its own writes only, and the others commit;
- events leave after the commit that holds them (`transaction.on_commit`, rooms/events.py:
  Django runs the hooks of every savepoint that was kept once the batch commits, and drops
  those of a savepoint that was rolled back);
- every caller is answered after the commit returned: a 201 is on disk. If the commit (or
  BEGIN) fails, every function of the batch that had succeeded gets that error instead:
  nothing of the batch was written.

On PostgreSQL, the batch's transaction holds the locks of its first posts (the room's row,
the site's event counter, rooms/models/log.py) while the next ones run; a later post that
waited for a room's row held by a request that itself waits for that counter would deadlock.
So the posts after the first wait at most LOCK_WAIT for a lock: one that waited longer (or
lost a deadlock or a serialization check) is rolled back to its savepoint and run again,
alone, once the batch committed (`rolled_back_by_the_database`).

CHAT_WRITER says how: "thread" (the default) or "inline", which runs each function at once,
alone in its transaction, in the request's sync thread: pytest-django's test transaction
must see the writes, and a writer thread's own connection would not.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, Error, OperationalError, connections, transaction

from rooms.loop_calls import loop_calls

logger = logging.getLogger(__name__)

# The most functions one transaction holds: bounds how long one batch keeps the others waiting.
MAX_BATCH_JOBS = 64

# How long a post after the first of its batch waits for a lock (PostgreSQL) before it is
# put off to a transaction of its own.
LOCK_WAIT = "50ms"

# How often a post the database rolled back (deadlock, serialization failure) is run again.
MAX_ATTEMPTS = 3

# LIMITATION: the queue itself is not bounded: under more posts than the writer can commit,
# they wait (each holding only its request's coroutine) and their latency grows, as they
# queued for SQLite's write lock before. A bound would answer the excess with a 503.


@dataclass
class _Job:
    work: Callable[[], Any]
    future: concurrent.futures.Future[Any] = field(default_factory=concurrent.futures.Future)
    # A caller on an event loop (write): its future there, resolved through the loop's
    # LoopCalls, so that the answers of a batch wake the loop once.
    waiter: asyncio.Future[Any] | None = None


class Writer:
    """A thread that runs queued functions in batches, each batch one transaction."""

    def __init__(self, using: str = DEFAULT_DB_ALIAS) -> None:
        self.using = using
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        # How many transactions committed, and how many functions they held (tests, metrics).
        self.commits = 0
        self.committed_jobs = 0

    def submit[T](
        self, work: Callable[[], T], waiter: asyncio.Future[T] | None = None
    ) -> concurrent.futures.Future[T]:
        """Queue `work`; the future is resolved once the transaction holding it committed
        (and `waiter`, on its loop, with the same outcome)."""
        job = _Job(work, waiter=waiter)
        self.start()
        self.jobs.put(job)
        return job.future

    def start(self) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="chat-writer", daemon=True)
                self.thread.start()

    def stop(self, timeout: float = 10) -> None:
        """Finish what is queued, close the connection and end the thread."""
        with self.lock:
            thread, self.thread = self.thread, None
        if thread is not None:
            self.jobs.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        try:
            while True:
                first = self.jobs.get()
                if first is None:
                    return
                batch = [first]
                stopping = False
                while len(batch) < MAX_BATCH_JOBS:
                    try:
                        job = self.jobs.get_nowait()
                    except queue.Empty:
                        break
                    if job is None:
                        stopping = True
                        break
                    batch.append(job)
                try:
                    self.run_batch(batch)
                except BaseException as exc:
                    # A bug here must not leave its callers waiting forever, nor end the
                    # thread (submit would start another, but these would hang).
                    logger.exception("writer: a batch failed outside its transaction")
                    _answer([(job, False, exc) for job in batch if not job.future.done()])
                if stopping:
                    return
        finally:
            connections[self.using].close()

    def run_batch(self, batch: list[_Job]) -> None:
        # A caller that gave up before its turn (the client went away) is not written.
        batch = [job for job in batch if job.future.set_running_or_notify_cancel()]
        if not batch:
            return
        again: list[_Job] = []
        answers: list[tuple[_Job, bool, Any]] = []
        for job, (ok, value) in zip(batch, self._transaction(batch), strict=True):
            if not ok and rolled_back_by_the_database(value):
                again.append(job)
            else:
                answers.append((job, ok, value))
        _answer(answers)
        # Each alone (no lock wait is cut short then), once the batch's locks are released.
        for job in again:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                [(ok, value)] = self._transaction([job])
                if ok or attempt == MAX_ATTEMPTS or not rolled_back_by_the_database(value):
                    break
            _answer([(job, ok, value)])

    def _transaction(self, batch: list[_Job]) -> list[tuple[bool, Any]]:
        """Run the jobs in one transaction, each in a savepoint; return their outcomes once
        it committed (those that had succeeded fail with the error if it did not)."""
        outcomes: list[tuple[bool, Any]] = []
        connection = connections[self.using]
        try:
            with transaction.atomic(using=self.using):
                for n, job in enumerate(batch):
                    if n == 1 and connection.vendor == "postgresql":
                        with connection.cursor() as cursor:
                            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")
                    try:
                        with transaction.atomic(using=self.using):
                            outcomes.append((True, job.work()))
                    except Exception as exc:
                        outcomes.append((False, exc))
                if connection.needs_rollback:
                    # A savepoint could not be rolled back (the connection broke): Django would
                    # roll the whole batch back on the way out, silently.
                    raise next(
                        (v for ok, v in outcomes if not ok and isinstance(v, Error)),
                        OperationalError("the transaction was aborted"),
                    )
        except Exception as exc:
            logger.warning("writer: a transaction of %d posts failed: %s", len(batch), exc)
            outcomes = [(False, exc) if ok else (ok, value) for ok, value in outcomes]
            outcomes += [(False, exc)] * (len(batch) - len(outcomes))
            connection.close()  # not known to be healthy: the next batch opens a new one
        else:
            self.commits += 1
            self.committed_jobs += sum(1 for ok, _ in outcomes if ok)
        return outcomes


def _answer(answers: list[tuple[_Job, bool, Any]]) -> None:
    """Hand each job its outcome; the callers on an event loop get theirs in one call per
    loop (one wake-up of it for the whole batch)."""
    waiting: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
    for job, ok, value in answers:
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)
        if job.waiter is not None:
            waiting.setdefault(job.waiter.get_loop(), []).append((job.waiter, ok, value))
    for loop, outcomes in waiting.items():
        loop_calls(loop).call(_resolve, outcomes)


def _resolve(outcomes: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    """On the callers' loop: hand each its outcome, unless it gave up meanwhile."""
    for waiter, ok, value in outcomes:
        if waiter.done():
            continue
        if ok:
            waiter.set_result(value)
        else:
            waiter.set_exception(value)


# PostgreSQL's SQLSTATEs of a transaction (or statement) it rolled back for another one's
# sake, where running the same work again may succeed: class 40 (serialization failure,
# deadlock detected) and lock_not_available (a lock_timeout ran out).
RETRYABLE_SQLSTATE_CLASS = "40"
LOCK_NOT_AVAILABLE = "55P03"


def rolled_back_by_the_database(exc: BaseException) -> bool:
    """Whether `exc` says the database undid the work for a lock's sake, not for its own
    fault: nothing of it was written, and running it again may succeed."""
    sqlstate = getattr(exc.__cause__, "sqlstate", None) if isinstance(exc, Error) else None
    return isinstance(sqlstate, str) and (
        sqlstate.startswith(RETRYABLE_SQLSTATE_CLASS) or sqlstate == LOCK_NOT_AVAILABLE
    )


def _run_alone[T](work: Callable[[], T]) -> T:
    with transaction.atomic():
        return work()


_writer: Writer | None = None
_writer_lock = threading.Lock()


def get_writer() -> Writer:
    global _writer
    with _writer_lock:
        if _writer is None:
            _writer = Writer()
        return _writer


async def write[T](work: Callable[[], T]) -> T:
    """Run `work` in a transaction of the writer's; return its result once that committed.

    `work` runs in another thread, on the writer's connection: it must not touch the event
    loop, and what it raises is raised here.
    """
    if settings.CHAT_WRITER == "inline":
        return await sync_to_async(_run_alone, thread_sensitive=True)(work)
    waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    future = get_writer().submit(work, waiter)
    try:
        return await waiter
    except asyncio.CancelledError:
        future.cancel()  # not begun: the writer skips it (begun: it is written all the same)
        raise
