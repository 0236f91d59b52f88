"""Background work, run by the task worker (`manage.py run_worker`; Django's Tasks framework
with django-tasks-db's database backend).

Mutes and bans that end by time. A restriction with an expiry gets a task that runs at that
moment (`end_restriction`), written in the same transaction as the restriction, so it cannot
be lost: a worker that was down runs it when it starts again. A sweep
(`end_expired_restrictions`) runs when the worker starts and every SWEEP_INTERVAL_SECS after,
and ends whatever expired without its task (a task that failed, restrictions made before
this existed). Both end a restriction through rooms.moderation, like a moderator's unmute or
unban: the same event for open pages, the same moderation log entry, by the system.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.tasks import TaskResultStatus, task
from django.utils import timezone

if TYPE_CHECKING:
    from rooms.models import Restriction

SWEEP_INTERVAL_SECS = 60


@task
def end_restriction(restriction_id: int, created_at: str) -> bool:
    """End the mute or ban if it is still the one this task was made for, and its time ran out.

    `created_at` tells the restriction apart from the same user's later one in the same row:
    a moderator who mutes again (or lifts and mutes again) makes a new task for the new one.
    """
    from rooms import moderation

    return moderation.expire_restriction(restriction_id, datetime.fromisoformat(created_at))


def schedule_end_of_restriction(restriction: Restriction) -> None:
    """Run end_restriction at the restriction's expiry. Call it in the restriction's transaction."""
    assert restriction.expires_at is not None
    end_restriction.using(run_after=restriction.expires_at).enqueue(
        restriction.pk, restriction.created_at.isoformat()
    )


@task
def end_expired_restrictions() -> int:
    """End every mute and ban whose time ran out; run again in SWEEP_INTERVAL_SECS."""
    from rooms import moderation

    ended = moderation.end_expired_restrictions()
    schedule_sweep()
    return ended


def schedule_sweep() -> None:
    """Have one sweep waiting to run in SWEEP_INTERVAL_SECS, unless one is waiting already.

    Two workers starting at once may each schedule one; at its turn each finds the other
    waiting and does not schedule another, so they merge back into one.
    """
    from django_tasks_db.models import DBTaskResult

    waiting = DBTaskResult.objects.filter(
        task_path=end_expired_restrictions.module_path, status=TaskResultStatus.READY
    )
    if not waiting.exists():
        run_after = timezone.now() + timedelta(seconds=SWEEP_INTERVAL_SECS)
        end_expired_restrictions.using(run_after=run_after).enqueue()
