from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rooms import backup


class Command(BaseCommand):
    help = (
        "Load a backup made by `manage.py backup` into the configured database, which must be "
        "empty (a new SQLite file, or a new PostgreSQL database); then check that every room's "
        "event log is whole. Run `manage.py migrate` after it when the code is newer."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="the backup file")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        try:
            backup.restore(path)
            counts = backup.check_event_log()
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"restored {path}: {counts['rooms']} rooms, {counts['messages']} messages, "
            f"{counts['events']} events; every room's event log is whole"
        )
