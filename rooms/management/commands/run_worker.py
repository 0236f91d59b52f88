"""The task worker: django-tasks-db's `db_worker`, after a sweep of expired mutes and bans.

Takes all of db_worker's options (`--batch`, `--interval`, `--no-reload`, ...).
"""

from __future__ import annotations

import logging
from typing import Any

from django_tasks_db.management.commands import db_worker

from rooms.moderation import expiry

logger = logging.getLogger(__name__)


class Command(db_worker.Command):
    help = (
        "Run the background task worker (django-tasks-db's db_worker). First end the mutes and "
        "bans that expired while no worker ran, and keep the periodic sweep scheduled."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        ended = expiry.end_expired_restrictions_now()
        if ended:
            logger.info("ended %d expired mutes and bans at start-up", ended)
        expiry.schedule_sweep()
        super().handle(*args, **options)
