"""Emails about unread mentions and DMs: the task worker's sweep sends one email per person
listing what is due, at most one per CHAT_NOTIFY_EMAIL_AFTER_MINUTES, and nothing that was
read, deleted, removed, muted, or of a room the person can no longer read.

The sweep runs for real: django-tasks-db's worker runs it from the database, in the test,
mails land in the locmem outbox. "Time passing" moves the mentions' (and the last email's)
times into the past.

alice owns the lobby and the secret room and writes; bob is a member of both and is emailed;
carol is a member of nothing.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from rooms import moderation, notifications
from rooms.models import Mention, Message, NotificationEmail, Preferences
from tests.conftest import client_for
from tests.helpers import post_json
from tests.test_restriction_expiry import run_tasks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def emails(settings, bob, alice):
    settings.CHAT_NOTIFY_EMAIL_AFTER_MINUTES = 10
    settings.CHAT_SITE_URL = "https://chat.example"
    bob.email = "bob@example.com"
    bob.save()
    alice.email = "alice@example.com"
    alice.save()


def minutes_pass(minutes: int = 11) -> None:
    """As if `minutes` had passed since every mention and email so far."""
    past = timedelta(minutes=minutes)
    for mention in Mention.objects.all():
        Mention.objects.filter(pk=mention.pk).update(created_at=mention.created_at - past)
    for email in NotificationEmail.objects.all():
        NotificationEmail.objects.filter(pk=email.pk).update(sent_at=email.sent_at - past)


def sweep() -> list[mail.EmailMessage]:
    """Run the email sweep as the worker does; return the mails it sent."""
    before = len(mail.outbox)
    notifications.send_notification_emails.enqueue()
    run_tasks()
    return mail.outbox[before:]


def test_unread_mentions_and_dms_are_emailed_once_in_one_email(lobby, alice, bob, carol):
    lobby.post_message(alice, "@bob the first thing")
    lobby.post_message(alice, "@bob the second thing")
    post_json(client_for(alice), "/dms/", {"usernames": ["bob"]})
    dm = bob.memberships.get(room__kind="dm").room
    dm.post_message(alice, "a direct word")
    assert sweep() == []  # not ten minutes yet
    minutes_pass()
    [email] = sweep()
    assert email.to == ["bob@example.com"]
    body = str(email.body)
    for text in ("the first thing", "the second thing", "a direct word", "https://chat.example/"):
        assert text in body
    first = Message.objects.first()
    assert first is not None
    assert f"https://chat.example/rooms/lobby/?around={first.pk}" in body
    assert "List-Unsubscribe" in email.extra_headers
    minutes_pass()
    assert sweep() == []  # each mention once


def test_at_most_one_email_per_person_per_delay(lobby, alice, bob):
    lobby.post_message(alice, "@bob one")
    minutes_pass()
    assert len(sweep()) == 1
    lobby.post_message(alice, "@bob two")
    minutes_pass(10)  # the mention is due, but the last email is only ten minutes old...
    NotificationEmail.objects.update(sent_at=timezone.now() - timedelta(minutes=5))
    assert sweep() == []
    NotificationEmail.objects.update(sent_at=timezone.now() - timedelta(minutes=11))
    [email] = sweep()  # ...until it is older than that
    assert "two" in email.body and "@bob one" not in email.body


def test_nothing_is_emailed_once_read(lobby, alice, bob):
    message, _ = lobby.post_message(alice, "@bob read me")
    lobby.mark_read(bob, message.pk)
    minutes_pass()
    assert sweep() == []


def test_nothing_of_a_deleted_or_removed_message_is_emailed(lobby, alice, bob, mod):
    deleted, _ = lobby.post_message(alice, "@bob deleted words")
    removed, _ = lobby.post_message(alice, "@bob removed words")
    deleted.erase()
    moderation.remove_message(alice, removed, "oops")
    minutes_pass()
    assert sweep() == []


def test_nothing_of_a_room_one_can_no_longer_read_is_emailed(secret, lobby, alice, bob):
    secret.post_message(alice, "@bob secret words")
    lobby.post_message(alice, "@bob public words")
    secret.remove_member(bob)
    minutes_pass()
    [email] = sweep()
    assert "public words" in email.body
    assert "secret words" not in email.body


def test_a_muted_room_never_emails(lobby, alice, bob):
    lobby.set_notify_level(bob, "mute")
    lobby.post_message(alice, "@bob in a muted room")
    minutes_pass()
    assert sweep() == []


def test_nobody_who_turned_emails_off_is_emailed(lobby, alice, bob):
    Preferences.objects.create(user=bob, email_notifications=False)
    lobby.post_message(alice, "@bob hello")
    minutes_pass()
    assert sweep() == []


def test_the_unsubscribe_link_works_without_logging_in(lobby, alice, bob):
    lobby.post_message(alice, "@bob hello")
    minutes_pass()
    [email] = sweep()
    [path] = re.findall(
        r"https://chat\.example(/notifications/unsubscribe/[^/\s]+/)", str(email.body)
    )
    anonymous = client_for(None)
    page = anonymous.get(path)
    assert page.status_code == 200
    assert Preferences.of(bob).email_notifications  # a GET (a mail scanner) changes nothing
    assert anonymous.post(path).status_code == 200
    assert not Preferences.of(bob).email_notifications
    lobby.post_message(alice, "@bob again")
    minutes_pass(30)
    assert sweep() == []


def test_a_forged_unsubscribe_link_is_refused(bob):
    token = notifications.unsubscribe_token(bob)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    anonymous = client_for(None)
    assert anonymous.get(f"/notifications/unsubscribe/{forged}/").status_code == 404
    assert anonymous.post(f"/notifications/unsubscribe/{forged}/").status_code == 404
    assert Preferences.of(bob).email_notifications


def test_nothing_of_a_room_one_is_banned_from_is_emailed(lobby, alice, bob):
    lobby.post_message(alice, "@bob before the ban")
    moderation.restrict(alice, lobby, bob, "ban")
    minutes_pass()
    assert sweep() == []


def test_the_worker_keeps_one_email_sweep_scheduled():
    from django_tasks_db.models import DBTaskResult

    notifications.schedule_email_sweep()
    notifications.schedule_email_sweep()
    path = notifications.send_notification_emails.module_path
    assert DBTaskResult.objects.filter(task_path=path).count() == 1


def test_no_email_goes_when_the_delay_is_zero(lobby, alice, bob, settings):
    settings.CHAT_NOTIFY_EMAIL_AFTER_MINUTES = 0
    lobby.post_message(alice, "@bob hello")
    minutes_pass(60)
    assert sweep() == []
