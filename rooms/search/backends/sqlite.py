"""SQLite: FTS5 (the rooms_message_search table and its triggers, migration 0010)."""

from __future__ import annotations

from typing import Any

from django.db import connection

from rooms.search.backends import phrase
from rooms.search.query import Query

TABLE = "rooms_message_search"


def _any_of(terms: tuple[tuple[str, ...], ...]) -> str:
    return " OR ".join(phrase(term) for term in terms)


class SQLiteBackend:
    # GLOB is case-sensitive, as the page's links are (static/rooms/room/messages.js).
    has_link_sql = "(m.body GLOB '*http://*' OR m.body GLOB '*https://*')"

    def match_expression(self, query: Query) -> str:
        """The FTS5 query: every term, and none of the exclusions."""
        expression = " AND ".join(phrase(term) for term in query.terms)
        if query.excluded:
            expression = f"({expression}) NOT ({_any_of(query.excluded)})"
        return expression

    def matching_ids(self, query: Query) -> tuple[str, list[Any]]:
        return f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH %s", [self.match_expression(query)]

    def newest(
        self,
        query: Query,
        conditions: list[str],
        params: list[Any],
        limit: int,
        before: int | None = None,
    ) -> list[int]:
        where = " AND ".join(conditions) or "1"
        if query.terms:
            # The index walks its matches newest first (ORDER BY rowid DESC needs no sort)
            # and the message row is looked up by id: a page of a common word stops early.
            # CROSS JOIN keeps that order of the two tables.
            sql = (
                f"SELECT m.id FROM {TABLE} CROSS JOIN rooms_message m ON m.id = {TABLE}.rowid"
                f" WHERE {TABLE} MATCH %s AND {where}"
                f" ORDER BY {TABLE}.rowid DESC LIMIT %s"
            )
            args = [self.match_expression(query), *params, limit]
        else:
            # Filters only: the message table's own indexes, minus the excluded words.
            if query.excluded:
                where += f" AND m.id NOT IN (SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH %s)"
                params = [*params, _any_of(query.excluded)]
            sql = f"SELECT m.id FROM rooms_message m WHERE {where} ORDER BY m.id DESC LIMIT %s"
            args = [*params, limit]
        with connection.cursor() as cursor:
            cursor.execute(sql, args)
            return [row[0] for row in cursor.fetchall()]


BACKEND = SQLiteBackend()
