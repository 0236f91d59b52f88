"""The session store: Django's database sessions, with the row read by a written-out
statement.

Every request of a logged-in person reads their session (every post, in the writer's
transaction; every stream's connect): the ORM took several times as long to build the
SELECT as the database to run it (docs/benchmark.md, round two). Same table, same rows, same
expiry rule; only the read is written out. SESSION_ENGINE names this module.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def _get_session_from_db(self) -> Any:
        model = self.model
        key = self.session_key
        if key is None:  # no cookie, or one that is not a session key: nothing to read
            return None
        connection = connections[router.db_for_read(model)]
        quote = connection.ops.quote_name
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {quote('session_data')} FROM {quote(model._meta.db_table)}"
                f" WHERE {quote('session_key')} = %s AND {quote('expire_date')} > %s",
                [key, now],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None  # as Django's: a key that is not stored is forgotten
            return None
        return model(session_key=key, session_data=row[0])
