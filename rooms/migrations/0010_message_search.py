"""The full-text index of messages (rooms/search/), one per database engine.

SQLite: an FTS5 table over rooms_message.body (external content: the text is not stored
twice), kept in step by triggers, so every write that changes a body (post, edit, erase,
the admin, a bulk update) updates it in its own transaction, whatever code made it.
PostgreSQL: a stored generated tsvector column with a GIN index; the database computes it
on every insert and update of the body.

Both index the present text of every message, removed ones included (site moderators
search those in the admin); a deleted message's body is empty, so nothing of it is left.

LIMITATION (SQLite): a later migration that makes Django rebuild rooms_message (its
"remake table" path: some column changes) drops the triggers with the old table. Such a
migration must create them again (CREATE_TRIGGERS below); tests/test_search.py would fail
without them.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

SQLITE_TABLE = "rooms_message_search"

SQLITE_CREATE = [
    # unicode61 with diacritics removed: "cafe" finds "Café"; case is folded too.
    f"""CREATE VIRTUAL TABLE {SQLITE_TABLE} USING fts5(
        body, content='rooms_message', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2')""",
]
CREATE_TRIGGERS = [
    f"""CREATE TRIGGER {SQLITE_TABLE}_insert AFTER INSERT ON rooms_message BEGIN
        INSERT INTO {SQLITE_TABLE}(rowid, body) VALUES (new.id, new.body);
    END""",
    # An external-content index forgets a row by being told its old text.
    f"""CREATE TRIGGER {SQLITE_TABLE}_delete AFTER DELETE ON rooms_message BEGIN
        INSERT INTO {SQLITE_TABLE}({SQLITE_TABLE}, rowid, body) VALUES ('delete', old.id, old.body);
    END""",
    f"""CREATE TRIGGER {SQLITE_TABLE}_update AFTER UPDATE OF body ON rooms_message BEGIN
        INSERT INTO {SQLITE_TABLE}({SQLITE_TABLE}, rowid, body) VALUES ('delete', old.id, old.body);
        INSERT INTO {SQLITE_TABLE}(rowid, body) VALUES (new.id, new.body);
    END""",
]
SQLITE_BUILD = [f"INSERT INTO {SQLITE_TABLE}({SQLITE_TABLE}) VALUES ('rebuild')"]
SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {SQLITE_TABLE}_insert",
    f"DROP TRIGGER IF EXISTS {SQLITE_TABLE}_delete",
    f"DROP TRIGGER IF EXISTS {SQLITE_TABLE}_update",
    f"DROP TABLE IF EXISTS {SQLITE_TABLE}",
]

# The 'simple' configuration (no stemming, no stop words: every word is findable, in any
# language), with accents removed like SQLite's unicode61 does. The text is cut into runs of
# letters and digits first, as unicode61 cuts it (PostgreSQL's parser would keep
# "example.com" or "a@b.com" as one token), so that both stacks find the same messages for
# the same words.
POSTGRES_CONFIG = "chat_search"
POSTGRES_CREATE = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    f"CREATE TEXT SEARCH CONFIGURATION {POSTGRES_CONFIG} (COPY = simple)",
    f"""ALTER TEXT SEARCH CONFIGURATION {POSTGRES_CONFIG}
        ALTER MAPPING FOR asciiword, word, numword, asciihword, hword, numhword,
            hword_asciipart, hword_part, hword_numpart
        WITH unaccent, simple""",
]
POSTGRES_BUILD = [
    # Computed by the database on every insert and update of body; the GIN index serves
    # search_vector @@ <query> (rooms/search/backends/postgresql.py).
    f"""ALTER TABLE rooms_message ADD COLUMN search_vector tsvector
        GENERATED ALWAYS AS (to_tsvector('{POSTGRES_CONFIG}'::regconfig,
            regexp_replace(body, '[^[:alnum:]]+', ' ', 'g'))) STORED""",
    "CREATE INDEX message_search_vector ON rooms_message USING gin (search_vector)",
]
POSTGRES_DROP = [
    "DROP INDEX IF EXISTS message_search_vector",
    "ALTER TABLE rooms_message DROP COLUMN IF EXISTS search_vector",
    f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {POSTGRES_CONFIG}",
]

FORWARD = {
    "sqlite": SQLITE_CREATE + CREATE_TRIGGERS + SQLITE_BUILD,
    "postgresql": POSTGRES_CREATE + POSTGRES_BUILD,
}
BACKWARD = {"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}


def _run(statements: dict[str, list[str]]) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        vendor = schema_editor.connection.vendor
        if vendor not in statements:
            raise RuntimeError(f"search has no index for the {vendor} database")
        for sql in statements[vendor]:
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0009_uploads"),
    ]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
