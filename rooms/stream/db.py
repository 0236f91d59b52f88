"""The streams' and the hub's trips to the database: one worker thread, outside any request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import SyncToAsync
from django.db import close_old_connections, connections


class StreamDatabaseSyncToAsync(SyncToAsync[Any, Any]):
    """channels' database_sync_to_async, except that an SQLite connection stays open.

    Streams and the hub do their DB work in one worker thread (thread-sensitive, outside any
    request). channels closes the thread's connections around every call, which with
    CONN_MAX_AGE=0 means opening SQLite (and running its PRAGMAs) each time: most of the cost
    of opening a stream. An SQLite connection is a file handle, so this thread keeps one;
    PostgreSQL connections still go back to their pool after each call.
    """

    def thread_handler(self, loop: Any, *args: Any, **kwargs: Any) -> Any:
        _close_old_connections()
        try:
            return super().thread_handler(loop, *args, **kwargs)  # type: ignore[no-untyped-call]
        finally:
            _close_old_connections()


def _close_old_connections() -> None:
    for conn in connections.all(initialized_only=True):
        if conn.vendor != "sqlite":
            continue
        if conn.connection is not None and (conn.errors_occurred or conn.in_atomic_block):
            conn.close()  # not known to be healthy: start afresh next time
        # Keep it past CONN_MAX_AGE: close_old_connections() below would close it.
        conn.close_at = None
    close_old_connections()


def database_sync_to_async(func: Callable[..., Any]) -> Any:
    return StreamDatabaseSyncToAsync(func, thread_sensitive=True)
