from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rooms.export.load import BadExport, import_room


class Command(BaseCommand):
    help = (
        "Load a room exported by export_room into this site, where no room has its slug (or "
        "the --slug given): people missing here are created as inactive accounts with "
        "unusable passwords; messages keep their order, times, edits and tombstones; files' "
        "bytes are not in an export and are left out. One transaction: all or nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="the export file (JSON Lines)")
        parser.add_argument("--slug", help="import the room under this slug instead")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        try:
            with path.open(encoding="utf-8") as file:
                result = import_room(file, slug=options["slug"])
        except (BadExport, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: {exc}") from None
        left_out = result.files_left_out
        files = f"; {left_out} files' metadata left out (no bytes)" if left_out else ""
        self.stdout.write(
            f"imported {result.room.slug}: {result.members} members, {result.messages} messages,"
            f" {result.people_created} people created (inactive){files}"
        )
