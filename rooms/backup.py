"""Backups of the whole database, taken while the site runs, and their restore.

SQLite: the online backup API copies the database as of one moment (the site goes on
writing meanwhile: WAL mode). PostgreSQL: pg_dump's custom format, which reads everything in
one transaction's snapshot; pg_restore loads it. Either way a backup holds every committed
message with its events, and the event log has no hole (check_event_log).
Used by `manage.py backup` and `manage.py restore`.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Count, Max

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"


class BackupError(Exception):
    pass


def _connection() -> Any:
    return connections[DEFAULT_DB_ALIAS]


def vendor() -> str:
    vendor: str = _connection().vendor
    if vendor not in ("sqlite", "postgresql"):
        raise BackupError(f"backups of {vendor} databases are not supported")
    return vendor


def _pg_command(program: str, *options: str) -> tuple[list[str], dict[str, str]]:
    """`program` with the connection's host, port, user and database, as Django's dbshell
    would pass them; the password and TLS options go in the environment, not the arguments."""
    connection = _connection()
    args, env = connection.client.settings_to_cmd_args_env(connection.settings_dict, list(options))
    return [program, *args[1:]], {**os.environ, **(env or {})}


def _run(command: list[str], env: dict[str, str]) -> None:
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True)
    except FileNotFoundError:
        raise BackupError(
            f"{command[0]} is not installed (Debian: apt-get install postgresql-client)"
        ) from None
    if result.returncode != 0:
        raise BackupError(f"{command[0]} failed: {result.stderr.strip()}")


def backup(path: Path) -> str:
    """Write a backup of the database to `path` (whole or not at all); return its kind."""
    kind = vendor()
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        if kind == "sqlite":
            source = sqlite3.connect(_connection().settings_dict["NAME"])
            target = sqlite3.connect(partial)
            try:
                with target:
                    source.backup(target)  # all pages in one step: one moment's database
            finally:
                target.close()
                source.close()
        else:
            command, env = _pg_command("pg_dump", "--format=custom", f"--file={partial}")
            _run(command, env)
        partial.rename(path)
    finally:
        partial.unlink(missing_ok=True)
    return kind


def backup_kind(path: Path) -> str:
    with path.open("rb") as file:
        start = file.read(len(SQLITE_MAGIC))
    if start == SQLITE_MAGIC:
        return "sqlite"
    if start.startswith(PG_DUMP_MAGIC):
        return "postgresql"
    raise BackupError(f"{path} is neither an SQLite backup nor a pg_dump custom-format file")


def restore(path: Path) -> None:
    """Load the backup at `path` into the configured database, which must be empty."""
    kind = vendor()
    if backup_kind(path) != kind:
        raise BackupError(f"{path} is a {backup_kind(path)} backup; the database is {kind}")
    connection = _connection()
    tables = connection.introspection.table_names()
    connection.close()
    if tables:
        raise BackupError(
            f"the database is not empty ({len(tables)} tables): restore into a new, empty one"
        )
    if kind == "sqlite":
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        target = sqlite3.connect(connection.settings_dict["NAME"])
        try:
            with target:
                source.backup(target)
        finally:
            target.close()
            source.close()
    else:
        # The last option takes the database name that follows it.
        options = ("--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction")
        command, env = _pg_command("pg_restore", *options, "--dbname")
        _run([*command, str(path)], env)


def check_event_log() -> dict[str, int]:
    """Count rooms, messages and events; raise BackupError if a room's log has a hole."""
    from rooms.models import Message, Room

    rooms = list(
        Room.objects.annotate(count=Count("events"), newest=Max("events__seq")).values_list(
            "slug", "count", "newest", "last_event_seq"
        )
    )
    broken = [
        f"{slug} ({count} events, newest {newest}, expected {expected})"
        for slug, count, newest, expected in rooms
        if not count == (newest or 0) == expected
    ]
    if broken:
        raise BackupError("the event log has holes in: " + ", ".join(broken))
    return {
        "rooms": len(rooms),
        "messages": Message.objects.count(),
        "events": sum(count for _, count, _, _ in rooms),
    }
