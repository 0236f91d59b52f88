"""The task worker: django-tasks-db's `db_worker`, after a sweep of expired mutes and bans
and of uploaded files that can no longer be shown; the sweep that emails unread mentions
(rooms/notifications.py) is scheduled too.

Takes all of db_worker's options (`--batch`, `--interval`, `--no-reload`, ...).
"""

from __future__ import annotations

import logging
from typing import Any

from django_tasks_db.management.commands import db_worker

from rooms import notifications
from rooms.models import uploads
from rooms.moderation import expiry

logger = logging.getLogger(__name__)


class Command(db_worker.Command):
    help = (
        "Run the background task worker (django-tasks-db's db_worker). First end the mutes and "
        "bans that expired while no worker ran, and the uploads that can no longer be shown; "
        "keep those periodic sweeps, and the one that emails unread mentions, scheduled."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        ended = expiry.end_expired_restrictions_now()
        if ended:
            logger.info("ended %d expired mutes and bans at start-up", ended)
        expiry.schedule_sweep()
        removed = uploads.sweep_uploads_now()
        if removed:
            logger.info("removed %d uploads never attached or of deleted messages", removed)
        uploads.schedule_upload_sweep()
        notifications.schedule_email_sweep()
        super().handle(*args, **options)
