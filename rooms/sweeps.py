"""Work the task worker repeats: a sweep is a task that, each time it ran, schedules its
next run. `manage.py run_worker` schedules each sweep when it starts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.tasks import TaskResultStatus
from django.utils import timezone


def schedule_once(sweep: Any, interval_secs: float) -> None:
    """Have one run of the sweep waiting to run in interval_secs, unless one is waiting.

    Two workers starting at once may each schedule one; at its turn each finds the other
    waiting and does not schedule another, so they merge back into one.
    """
    from django_tasks_db.models import DBTaskResult

    waiting = DBTaskResult.objects.filter(
        task_path=sweep.module_path, status=TaskResultStatus.READY
    )
    if not waiting.exists():
        run_after = timezone.now() + timedelta(seconds=interval_secs)
        sweep.using(run_after=run_after).enqueue()
