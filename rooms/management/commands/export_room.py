from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from rooms.export.room import room_lines
from rooms.models import Room


@contextmanager
def one_snapshot() -> Iterator[None]:
    """Read everything as of one moment: a read-only transaction (a snapshot on SQLite in
    WAL mode; REPEATABLE READ on PostgreSQL, whose default sees each query's own moment)."""
    outermost = not connection.in_atomic_block  # else it is the caller's transaction
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


class Command(BaseCommand):
    help = (
        "Write a room's history as JSON Lines (rooms/export/room.py): the room, its members, "
        "then every message oldest first, read a chunk at a time. Removed messages' text is "
        "included (a staff export) unless --without-removed-text. Load it with import_room."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the room's slug")
        parser.add_argument(
            "--output", type=Path, help="the file to write (replaced if it exists); stdout if not"
        )
        parser.add_argument(
            "--without-removed-text",
            action="store_true",
            help="leave removed messages' text out (deleted messages never have any)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        room = Room.objects.select_related("owner").filter(slug=options["slug"]).first()
        if room is None:
            raise CommandError(f"no room {options['slug']!r}")
        output: Path | None = options["output"]
        if output is not None and not output.parent.is_dir():
            raise CommandError(f"no such directory: {output.parent}")
        lines = room_lines(room, removed_text=not options["without_removed_text"])
        if output is None:
            with one_snapshot():
                for line in lines:
                    self.stdout.write(line, ending="")
            return
        # Whole or not at all: a file that is there is a finished export.
        partial = output.with_name(output.name + ".partial")
        try:
            with one_snapshot(), partial.open("w", encoding="utf-8") as file:
                file.writelines(lines)
            partial.rename(output)
        finally:
            partial.unlink(missing_ok=True)
        if options["verbosity"] > 0:
            sys.stderr.write(f"{room.slug} exported to {output}\n")
