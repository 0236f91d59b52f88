"""PostgreSQL: the generated search_vector column and its GIN index (migration 0010), with
websearch_to_tsquery in the chat_search configuration ('simple', accents removed)."""

from __future__ import annotations

from typing import Any

from django.db import connection

from rooms.search.backends import phrase
from rooms.search.query import Query

CONFIG = "chat_search"
TSQUERY = f"websearch_to_tsquery('{CONFIG}', %s)"
# The newest messages walked by id before the index is asked, and the first range of ids
# the index is asked for (see newest()).
RECENT_WINDOW = 20_000
INDEX_WINDOW = 100_000


def _tsquery(terms: tuple[tuple[str, ...], ...], operator: str) -> tuple[str, list[Any]]:
    sql = f" {operator} ".join(TSQUERY for _ in terms)
    return f"({sql})", [phrase(term) for term in terms]


class PostgreSQLBackend:
    has_link_sql = "(strpos(m.body, 'http://') > 0 OR strpos(m.body, 'https://') > 0)"

    def match_condition(self, query: Query) -> tuple[str, list[Any]]:
        """A condition on m: every term, and none of the exclusions."""
        conditions, params = [], []
        if query.terms:
            sql, args = _tsquery(query.terms, "&&")
            conditions.append(f"m.search_vector @@ {sql}")
            params += args
        if query.excluded:
            sql, args = _tsquery(query.excluded, "||")
            conditions.append(f"NOT (m.search_vector @@ {sql})")
            params += args
        return " AND ".join(conditions), params

    def matching_ids(self, query: Query) -> tuple[str, list[Any]]:
        condition, params = self.match_condition(query)
        return f"SELECT m.id FROM rooms_message m WHERE {condition}", params

    def newest(
        self,
        query: Query,
        conditions: list[str],
        params: list[Any],
        limit: int,
        before: int | None = None,
    ) -> list[int]:
        match, match_params = self.match_condition(query)
        where = " AND ".join([*conditions, match] if match else conditions) or "TRUE"
        args = [*params, *match_params]
        # Newest first, whatever the planner would guess: a word's or a phrase's frequency
        # is often misjudged (a phrase of two common words is taken for common), and then
        # walking the primary key backwards for a rare one reads the whole table, or the
        # index's every match of a common one is fetched and sorted. So: first the newest
        # RECENT_WINDOW messages by id, a bounded walk that fills a page of a common word;
        # then older and older ranges of ids (each twice the last) through the GIN index,
        # each range's matches sorted at once, until the page is full.
        with connection.cursor() as cursor:
            if before is None:
                cursor.execute("SELECT COALESCE(MAX(id), 0) FROM rooms_message")
            else:
                sql = "SELECT COALESCE(MAX(id), 0) FROM rooms_message WHERE id < %s"
                cursor.execute(sql, [before])
            top = cursor.fetchone()[0]
            low = top - RECENT_WINDOW
            cursor.execute(
                f"SELECT m.id FROM rooms_message m WHERE {where} AND m.id > %s"
                " ORDER BY m.id DESC LIMIT %s",
                [*args, low, limit],
            )
            ids = [row[0] for row in cursor.fetchall()]
            window = INDEX_WINDOW
            while len(ids) < limit and low > 0:
                high, low = low, low - window
                cursor.execute(
                    "WITH hits AS MATERIALIZED (SELECT m.id FROM rooms_message m"
                    f" WHERE {where} AND m.id <= %s AND m.id > %s)"
                    " SELECT id FROM hits ORDER BY id DESC LIMIT %s",
                    [*args, high, low, limit - len(ids)],
                )
                ids += [row[0] for row in cursor.fetchall()]
                window *= 2
            return ids


BACKEND = PostgreSQLBackend()
