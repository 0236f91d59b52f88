"""Mutes and bans that end by time: the task worker ends them like a moderator would.

The tasks run for real: django-tasks-db's worker loop runs them from the database, in the
test. "Time passing" moves the restriction's expiry and its task's start into the past.

alice owns the lobby and moderates it; bob is a member; mod is site staff.
"""

from __future__ import annotations

import signal
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from rooms import moderation
from rooms.models import ModerationAction, Restriction, RoomEvent
from rooms.moderation import expiry
from tests.conftest import client_for
from tests.helpers import Stream

pytestmark = pytest.mark.django_db(transaction=True)


def run_tasks() -> None:
    """Run every task that is due, as `manage.py run_worker --batch` would, then stop."""
    Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    ).run()


def end_tasks(restriction: Restriction) -> list[DBTaskResult]:
    return [
        result
        for result in DBTaskResult.objects.filter(task_path=expiry.end_restriction.module_path)
        if result.args_kwargs["args"][0] == restriction.pk
    ]


def time_runs_out(restriction: Restriction) -> None:
    """As if the restriction's minutes had passed: its expiry and its tasks' start are past."""
    past = timezone.now() - timedelta(seconds=1)
    Restriction.objects.filter(pk=restriction.pk).update(expires_at=past)
    for result in end_tasks(restriction):
        DBTaskResult.objects.filter(pk=result.pk).update(run_after=past)


def types(room) -> list[str]:
    return list(room.events.order_by("seq").values_list("type", flat=True))


async def test_a_mute_ends_when_its_time_runs_out_and_open_pages_hear_it(lobby, alice, bob):
    async with Stream("lobby", bob) as stream:
        mute = await sync_to_async(moderation.restrict)(
            alice, lobby, bob, Restriction.MUTE, minutes=1
        )
        await stream.read_until(lambda events: any(e.type == "user_muted" for e in events))
        await sync_to_async(time_runs_out)(mute)

        await sync_to_async(run_tasks)()

        events = await stream.read_until(
            lambda events: any(e.type == "user_unmuted" for e in events)
        )
    assert events[-1].json == {"room": "lobby", "user": "bob"}

    def check() -> None:
        assert not Restriction.objects.filter(user=bob).exists()
        entry = ModerationAction.objects.get(action=ModerationAction.UNMUTE)
        assert (entry.actor, entry.actor_name, entry.target_user) == (None, "system", bob)
        assert entry.room == lobby
        assert entry.reason == "expired"
        _, created = lobby.post_message(bob, "free to talk again")
        assert created

    await sync_to_async(check)()


async def test_a_ban_ends_when_its_time_runs_out(lobby, alice, bob):
    async with Stream("lobby", alice) as moderator:
        ban = await sync_to_async(moderation.restrict)(
            alice, lobby, bob, Restriction.BAN, minutes=30
        )
        async with Stream("lobby", bob) as refused:
            assert refused.status == 403
        await sync_to_async(time_runs_out)(ban)

        await sync_to_async(run_tasks)()

        events = await moderator.read_until(
            lambda events: any(e.type == "user_unbanned" for e in events)
        )
        assert events[-1].json == {"room": "lobby", "user": "bob"}
        async with Stream("lobby", bob) as welcome:
            assert welcome.status == 200
    entry = await ModerationAction.objects.aget(action=ModerationAction.UNBAN)
    assert entry.actor_id is None


def test_the_moderation_log_shows_the_system_ending_it(lobby, alice, bob, mod):
    mute = moderation.restrict(alice, lobby, bob, Restriction.MUTE, minutes=5, reason="cool off")
    time_runs_out(mute)
    run_tasks()
    page = client_for(mod).get("/admin/rooms/moderationaction/")
    assert page.status_code == 200
    rows = [row for row in page.content.decode().split("<tr") if 'field-action">unmute<' in row]
    assert len(rows) == 1
    assert 'field-by">system<' in rows[0]
    assert 'field-reason">expired<' in rows[0]


def test_a_restriction_lifted_before_its_time_is_not_ended_again(lobby, alice, bob):
    mute = moderation.restrict(alice, lobby, bob, Restriction.MUTE, minutes=10)
    moderation.lift_restriction(alice, lobby, bob, Restriction.MUTE)
    time_runs_out(mute)

    run_tasks()

    assert types(lobby).count("user_unmuted") == 1
    assert ModerationAction.objects.filter(action=ModerationAction.UNMUTE).count() == 1
    assert ModerationAction.objects.get(action=ModerationAction.UNMUTE).actor == alice
    [result] = end_tasks(mute)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value is False


def test_a_restriction_made_again_is_not_ended_by_the_first_ones_task(lobby, alice, bob):
    first = moderation.restrict(alice, lobby, bob, Restriction.MUTE, minutes=1)
    again = moderation.restrict(alice, lobby, bob, Restriction.MUTE, minutes=60)
    assert again.pk == first.pk  # the same row, made again
    # The first mute's minute passes: its task runs, the second mute stands.
    past = timezone.now() - timedelta(seconds=1)
    first_task, _ = sorted(end_tasks(first), key=lambda result: result.run_after)
    DBTaskResult.objects.filter(pk=first_task.pk).update(run_after=past)

    run_tasks()

    assert lobby.restriction_for(bob, Restriction.MUTE) is not None
    assert "user_unmuted" not in types(lobby)
    # Its own hour passes: it ends, once.
    time_runs_out(again)
    run_tasks()
    assert lobby.restriction_for(bob, Restriction.MUTE) is None
    assert types(lobby).count("user_unmuted") == 1


def test_each_task_ends_only_the_restriction_it_was_made_for(lobby, alice, bob):
    first = moderation.restrict(alice, lobby, bob, Restriction.MUTE, minutes=10)
    again = moderation.restrict(alice, lobby, bob, Restriction.MUTE, minutes=1)
    time_runs_out(again)  # both tasks are due; the first one's restriction is gone

    run_tasks()

    assert types(lobby).count("user_unmuted") == 1
    results = {result.args_kwargs["args"][1]: result for result in end_tasks(first)}
    assert results[first.created_at.isoformat()].return_value is False
    assert results[again.created_at.isoformat()].return_value is True


def test_a_task_that_runs_early_ends_nothing(lobby, alice, bob):
    # A worker whose clock runs ahead of the web process's picks the task up early.
    mute = moderation.restrict(alice, lobby, bob, Restriction.MUTE, minutes=5)
    past = timezone.now() - timedelta(seconds=1)
    DBTaskResult.objects.filter(pk=end_tasks(mute)[0].pk).update(run_after=past)

    run_tasks()

    assert lobby.restriction_for(bob, Restriction.MUTE) is not None
    assert "user_unmuted" not in types(lobby)


def test_a_restriction_until_lifted_schedules_nothing(lobby, alice, bob):
    moderation.restrict(alice, lobby, bob, Restriction.MUTE)
    assert not DBTaskResult.objects.exists()


def test_a_lost_task_is_made_up_by_the_sweep_when_the_worker_starts(lobby, alice, bob):
    mute = moderation.restrict(alice, lobby, bob, Restriction.MUTE, minutes=1)
    time_runs_out(mute)
    DBTaskResult.objects.all().delete()  # the task is gone (failed and pruned, say)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        call_command("run_worker", batch=True, reload=False, startup_delay=False, verbosity=0)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

    assert lobby.restriction_for(bob, Restriction.MUTE) is None
    assert types(lobby).count("user_unmuted") == 1
    assert ModerationAction.objects.get(action=ModerationAction.UNMUTE).actor is None
    # And the sweep stays scheduled, once.
    [sweep] = DBTaskResult.objects.filter(task_path=expiry.end_expired_restrictions.module_path)
    assert sweep.status == TaskResultStatus.READY
    assert sweep.run_after > timezone.now()


def test_the_sweep_ends_what_expired_and_schedules_itself_once(lobby, alice, bob, carol):
    # Restrictions from before expiries had tasks: rows with an expiry and no task.
    past = timezone.now() - timedelta(minutes=1)
    Restriction.objects.create(room=lobby, user=bob, kind=Restriction.BAN, expires_at=past)
    Restriction.objects.create(
        room=lobby, user=carol, kind=Restriction.MUTE, expires_at=timezone.now() + timedelta(days=1)
    )
    expiry.end_expired_restrictions.enqueue()

    run_tasks()

    assert list(Restriction.objects.values_list("user__username", flat=True)) == ["carol"]
    assert types(lobby)[-1] == "user_unbanned"
    assert RoomEvent.objects.filter(type="user_unmuted").count() == 0
    sweeps = DBTaskResult.objects.filter(task_path=expiry.end_expired_restrictions.module_path)
    assert sorted(sweeps.values_list("status", flat=True)) == ["READY", "SUCCESSFUL"]
    expiry.schedule_sweep()  # a second worker starting: still one waiting
    assert sweeps.filter(status=TaskResultStatus.READY).count() == 1
