"""Background work, run by the task worker (`manage.py run_worker`; Django's Tasks framework
with django-tasks-db's database backend).

Mutes and bans that end by time. A restriction with an expiry gets a task that runs at that
moment (`end_restriction`), written in the same transaction as the restriction, so it cannot
be lost: a worker that was down runs it when it starts again. A sweep
(`end_expired_restrictions`) runs when the worker starts and every SWEEP_INTERVAL_SECS after,
and ends whatever expired without its task (a task that failed, restrictions made before
this existed). Both end a restriction the one way a mute or ban ends (end_restriction_now),
like a moderator's unmute or unban: the same event for open pages, the same moderation log
entry, by the system.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.tasks import task
from django.utils import timezone

from rooms import sweeps
from rooms.event_types import EventType
from rooms.models import ModerationAction, Restriction, Room
from rooms.moderation.rules import log

# The moderation log's reason for a mute or ban that the system ended.
EXPIRED_REASON = "expired"
SWEEP_INTERVAL_SECS = 60


@task
def end_restriction(restriction_id: int, created_at: str) -> bool:
    """End the mute or ban if it is still the one this task was made for, and its time ran out.

    `created_at` tells the restriction apart from the same user's later one in the same row:
    a moderator who mutes again (or lifts and mutes again) makes a new task for the new one.
    """
    return expire_restriction(restriction_id, datetime.fromisoformat(created_at))


def schedule_end_of_restriction(restriction: Restriction) -> None:
    """Run end_restriction at the restriction's expiry. Call it in the restriction's transaction."""
    assert restriction.expires_at is not None
    end_restriction.using(run_after=restriction.expires_at).enqueue(
        restriction.pk, restriction.created_at.isoformat()
    )


@task
def end_expired_restrictions() -> int:
    """End every mute and ban whose time ran out; run again in SWEEP_INTERVAL_SECS."""
    ended = end_expired_restrictions_now()
    schedule_sweep()
    return ended


def schedule_sweep() -> None:
    """Have one sweep waiting to run in SWEEP_INTERVAL_SECS (rooms/sweeps.py)."""
    sweeps.schedule_once(end_expired_restrictions, SWEEP_INTERVAL_SECS)


def end_restriction_now(
    actor: Any | None, room: Room, user: Any, kind: str, reason: str, **match: Any
) -> bool:
    """Delete the restriction (only if it also matches `match`), write its event and the log.

    The one way a mute or ban ends, lifted by a moderator or by the system (actor None) when
    its time ran out. Return False if there was no such restriction. Run inside a transaction.
    """
    deleted, _ = Restriction.objects.filter(room=room, user=user, kind=kind, **match).delete()
    if not deleted:
        return False
    event = EventType.USER_UNMUTED if kind == Restriction.MUTE else EventType.USER_UNBANNED
    room.append_event(event, {"room": room.slug, "user": user.get_username()}, subject=user.pk)
    action = ModerationAction.UNMUTE if kind == Restriction.MUTE else ModerationAction.UNBAN
    log(actor, action, room, target_user=user, reason=reason)
    return True


def expire_restriction(restriction_id: int, created_at: datetime) -> bool:
    """End, as the system, a mute or ban whose time ran out. Return whether it did.

    Only the restriction made at `created_at` (the one a task was scheduled for): one that a
    moderator lifted, or made again with another expiry, is left as it is.
    """
    restriction = (
        Restriction.objects.filter(pk=restriction_id, created_at=created_at)
        .select_related("room", "user")
        .first()
    )
    if restriction is None or restriction.is_active:
        return False
    with transaction.atomic():
        # The DELETE re-checks the row: whoever changes it first (a moderator, another
        # worker) wins, and the others find nothing to end.
        return end_restriction_now(
            None,
            restriction.room,
            restriction.user,
            restriction.kind,
            EXPIRED_REASON,
            pk=restriction.pk,
            created_at=created_at,
            expires_at__lte=timezone.now(),
        )


def end_expired_restrictions_now() -> int:
    """End every mute and ban whose time ran out, as the system. Return how many."""
    expired = Restriction.objects.filter(expires_at__lte=timezone.now()).values_list(
        "pk", "created_at"
    )
    return sum(expire_restriction(pk, created_at) for pk, created_at in expired)
