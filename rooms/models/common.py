"""What every model of the room app shares: text limits, validators, the rule error, and
how an event's data is encoded."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import RegexValidator
from django.db import DEFAULT_DB_ALIAS, connections, models

MAX_MESSAGE_LENGTH = 4000
MAX_ROOM_NAME_LENGTH = 80
MAX_TOPIC_LENGTH = 250
MAX_CLIENT_ID_LENGTH = 64

# Tab, newline and carriage return are the only control characters a message may hold.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

validate_room_slug = RegexValidator(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*\Z",
    "A room slug is 1-50 lowercase letters, digits and single hyphens, "
    "starting and ending with a letter or digit.",
)
validate_client_id = RegexValidator(
    r"^[A-Za-z0-9_.:-]{1,64}\Z",
    "client_id is 1-64 characters from A-Z, a-z, 0-9 and _ . : -",
)


class NotAllowed(Exception):
    """An action the rules forbid; says why, with the HTTP status that fits."""

    def __init__(
        self, message: str, status: int = 403, retry_after: int | None = None, reason: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        # Which rule said no, for pages that explain it in words of their own ("muted").
        self.reason = reason


MAX_REASON_LENGTH = 500
MAX_SLOW_MODE_SECONDS = 6 * 3600


def clean_message_body(body: object) -> str:
    """Return the body as stored, or raise ValidationError saying what is wrong."""
    if not isinstance(body, str):
        raise ValidationError("body must be a string")
    body = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not body:
        raise ValidationError("body must not be empty")
    if len(body) > MAX_MESSAGE_LENGTH:
        raise ValidationError(f"body is longer than {MAX_MESSAGE_LENGTH} characters")
    if CONTROL_CHARACTERS.search(body):
        raise ValidationError("body must not contain control characters")
    return body


def encode_event_data(data: dict[str, Any]) -> str:
    # Compact and on one line: it becomes a single `data:` line on the wire as it is.
    return json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


# Names (rooms, people) are shown to everyone: no character in them may be invisible or
# reorder the text around it. Refused: control characters (C0, DEL, C1, line and paragraph
# separators) and format characters (bidi overrides and isolates, zero-width space, BOM,
# ...), except the zero-width joiner and non-joiner that emoji and some scripts need.
NAME_FORMAT_CHARACTERS_ALLOWED = frozenset("\u200c\u200d")


def has_hidden_characters(name: str) -> bool:
    return any(
        unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp")
        and char not in NAME_FORMAT_CHARACTERS_ALLOWED
        for char in name
    )


# The INSERT statement of a model, built once per model and database (insert_new).
_INSERTS: dict[tuple[type[models.Model], str], tuple[str, list[Any], bool, str]] = {}


def insert_new(instance: models.Model, using: str = DEFAULT_DB_ALIAS) -> None:
    """Save a new `instance` as Model.save would (its defaults, `auto_now_add`, its foreign
    keys' ids), with one INSERT whose statement is built once per model, not on every call.

    For the rows every post writes (its message, its event): Django builds the INSERT anew
    each time, which took as long as SQLite ran it (docs/benchmark.md, round two). No signal
    is sent and no `save` override runs: use it only where none is needed (RoomEvent's
    refuses updates only).
    """
    model = type(instance)
    connection = connections[using]
    built = _INSERTS.get((model, using))
    if built is None:
        meta = model._meta
        fields = [
            field
            for field in meta.local_concrete_fields
            if not (field.primary_key and field.db_returning) and not field.generated
        ]
        placeholders = ("get_placeholder", "get_placeholder_sql")
        if any(any(hasattr(f, p) for p in placeholders) or f.has_db_default() for f in fields):
            raise TypeError(f"{model.__name__}: a field needs more than a value, use save()")
        quote = connection.ops.quote_name
        pk_column = meta.pk.column if meta.pk is not None else None
        assert pk_column is not None
        returning = connection.features.can_return_columns_from_insert
        columns = ", ".join(quote(str(f.column)) for f in fields)
        placeheld = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeheld})"
        if returning:
            sql += f" RETURNING {quote(pk_column)}"
        built = _INSERTS[(model, using)] = (sql, fields, returning, pk_column)
    sql, fields, returning, pk_column = built
    values = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        if returning:
            instance.pk = cursor.fetchone()[0]
        else:
            instance.pk = connection.ops.last_insert_id(cursor, model._meta.db_table, pk_column)
    instance._state.adding = False
    instance._state.db = using
