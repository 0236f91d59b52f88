"""PostgreSQL: the generated search_vector column and its GIN index (migration 0008), with
websearch_to_tsquery in the chat_search configuration ('simple', accents removed)."""

from __future__ import annotations

from typing import Any

from django.db import connection

from rooms.search.backends import phrase
from rooms.search.query import Query

CONFIG = "chat_search"
TSQUERY = f"websearch_to_tsquery('{CONFIG}', %s)"


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
        self, query: Query, conditions: list[str], params: list[Any], limit: int
    ) -> list[int]:
        match, match_params = self.match_condition(query)
        where = " AND ".join([*conditions, match] if match else conditions) or "TRUE"
        sql = f"SELECT m.id FROM rooms_message m WHERE {where} ORDER BY m.id DESC LIMIT %s"
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, *match_params, limit])
            return [row[0] for row in cursor.fetchall()]


BACKEND = PostgreSQLBackend()
