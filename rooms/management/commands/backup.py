from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rooms import backup


class Command(BaseCommand):
    help = (
        "Write a consistent backup of the database to PATH while the site runs: SQLite's "
        "online backup API, or pg_dump's custom format for PostgreSQL. Load it with "
        "`manage.py restore PATH` into an empty database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="the file to write (replaced if it exists)")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if not path.parent.is_dir():
            raise CommandError(f"no such directory: {path.parent}")
        try:
            kind = backup.backup(path)
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{kind} backup written to {path} ({path.stat().st_size} bytes)")
