"""One full-text engine per database, each behind the same small interface (SearchBackend),
picked by the connection's vendor. What a backend does not decide: who may read what, and
the filters (rooms/search/__init__.py); it turns the query's words into its engine's query.
"""

from __future__ import annotations

from typing import Any, Protocol

from django.db import connection

from rooms.search.query import Query


class SearchBackend(Protocol):
    # A condition on rooms_message (aliased m) that holds when its text has a link.
    has_link_sql: str

    def matching_ids(self, query: Query) -> tuple[str, list[Any]]:
        """SQL selecting the ids of messages whose present text matches the query's terms
        and none of its exclusions, with its parameters. The query has terms."""
        ...

    def newest(
        self,
        query: Query,
        conditions: list[str],
        params: list[Any],
        limit: int,
        before: int | None = None,
    ) -> list[int]:
        """The ids of the newest `limit` messages (aliased m) that match the query's words
        and meet every condition, newest first. The conditions hold `m.id < before`."""
        ...


def backend() -> SearchBackend:
    """The backend of the default database."""
    if connection.vendor == "postgresql":
        from rooms.search.backends import postgresql

        return postgresql.BACKEND
    from rooms.search.backends import sqlite

    return sqlite.BACKEND


def phrase(words: tuple[str, ...]) -> str:
    """A term as a quoted phrase. Words are letters and digits only (query.WORD), so no
    quote or operator of either engine's syntax can be in it."""
    return '"' + " ".join(words) + '"'
