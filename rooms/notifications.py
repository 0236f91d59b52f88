"""Emails about mentions and direct messages still unread CHAT_NOTIFY_EMAIL_AFTER_MINUTES
after they came: one email per person listing them all, at most one per that many minutes.

A sweep (`send_notification_emails`, run by the task worker when it starts and every
SWEEP_INTERVAL_SECS after, like rooms/moderation/expiry.py's) finds the mentions due. It
tells nothing of a message deleted or removed since, read since, of a room the person can
no longer read (Room.access_for_rooms: the one rule), muted there, or when they turned the
emails (or all notifications) off. Each mention is emailed at most once.

The email's link to stop them carries a signed token (django.core.signing): it works
without logging in, and its page asks before it changes anything (mail scanners follow
links).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import EmailMessage
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.tasks import task
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from rooms import sweeps
from rooms.models import Access, Membership, Mention, Notify, NotifyLevel, Preferences, Room
from rooms.models.mentions import NotificationEmail

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_SECS = 60
UNSUBSCRIBE_SALT = "rooms.notifications.unsubscribe"
# The most mentions one email lists; the rest are counted ("and 12 more").
MAX_MENTIONS_LISTED = 20


def unsubscribe_token(user: Any) -> str:
    return signing.dumps({"user": user.pk}, salt=UNSUBSCRIBE_SALT)


def unsubscribe_url(user: Any) -> str:
    return f"{settings.CHAT_SITE_URL}/notifications/unsubscribe/{unsubscribe_token(user)}/"


def send_notification_emails_now(now: datetime | None = None) -> int:
    """Email everyone whose mentions are due and who may get an email now. Return how many
    emails went."""
    minutes = settings.CHAT_NOTIFY_EMAIL_AFTER_MINUTES
    if not minutes:
        return 0
    now = now or timezone.now()
    due = _due(now - timedelta(minutes=minutes))
    people = get_user_model().objects.filter(
        pk__in=due.values("user_id").distinct(), is_active=True
    )
    sent = 0
    for person in people:
        try:
            sent += _email(person, now, minutes)
        except Exception:
            # One person's failure (their mail server) must not stop everyone else's.
            logger.warning("could not email %s about mentions", person.pk, exc_info=True)
    return sent


def _due(cutoff: datetime) -> Any:
    return Mention.objects.shown().unread().filter(emailed_at__isnull=True, created_at__lte=cutoff)


def _email(person: Any, now: datetime, minutes: int) -> int:
    """Email `person` what is due for them, unless they had one in the last `minutes`."""
    last = (
        NotificationEmail.objects.filter(user=person)
        .order_by("-sent_at")
        .values_list("sent_at", flat=True)
        .first()
    )
    if last is not None and last > now - timedelta(minutes=minutes):
        return 0  # the next sweep after it sends them all, in one email
    mentions = list(
        _due(now - timedelta(minutes=minutes))
        .filter(user=person)
        .select_related("message__author", "message__room")
        .order_by("message_id")
    )
    preferences = Preferences.of(person)
    levels = dict(
        Membership.objects.filter(
            user=person, room_id__in={m.room_id for m in mentions}
        ).values_list("room_id", "notify")
    )
    rooms = list({m.room_id: m.message.room for m in mentions}.values())
    access = Room.access_for_rooms(rooms, person)
    told = [
        m
        for m in mentions
        if access[m.room_id] is Access.READ
        and _wants_email(preferences, levels.get(m.room_id))
        and person.email
    ]
    with transaction.atomic():
        # Those not told now never will be: the sweep does not look at them again.
        Mention.objects.filter(pk__in=[m.pk for m in mentions]).update(emailed_at=now)
        if not told:
            return 0
        NotificationEmail.objects.create(user=person, sent_at=now, mentions=len(told))
    context = {
        "person": person,
        "mentions": told[:MAX_MENTIONS_LISTED],
        "more": max(0, len(told) - MAX_MENTIONS_LISTED),
        "site_url": settings.CHAT_SITE_URL,
        "unsubscribe_url": unsubscribe_url(person),
    }
    count = len(told)
    email = EmailMessage(
        subject=f"Unread mentions and direct messages ({count})",
        body=render_to_string("rooms/notification_email.txt", context),
        to=[person.email],
        headers={"List-Unsubscribe": f"<{context['unsubscribe_url']}>"},
    )
    email.send()
    return 1


def _wants_email(preferences: Preferences, level: str | None) -> bool:
    """Whether the person is emailed about a mention in a room where their level is `level`
    (None: no longer a member)."""
    if level is None or level == NotifyLevel.MUTE:
        return False
    if not preferences.email_notifications:
        return False
    return level != NotifyLevel.DEFAULT or preferences.notify != Notify.NOTHING


@task
def send_notification_emails() -> int:
    """send_notification_emails_now, then again in SWEEP_INTERVAL_SECS."""
    sent = send_notification_emails_now()
    schedule_email_sweep()
    return sent


def schedule_email_sweep() -> None:
    """Have one email sweep waiting (rooms/sweeps.py)."""
    sweeps.schedule_once(send_notification_emails, SWEEP_INTERVAL_SECS)


@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: ask whether to stop the emails; POST: stop them. No login: the signed token
    names the person (it never expires: an old email's link still works)."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        person = get_user_model().objects.get(pk=data["user"])
    except (signing.BadSignature, KeyError, TypeError, get_user_model().DoesNotExist):
        raise Http404("this link is not valid") from None
    done = False
    if request.method == "POST":
        preferences = Preferences.of(person)
        preferences.email_notifications = False
        preferences.save()
        done = True
    return render(
        request, "rooms/unsubscribe.html", {"person": person, "done": done, "token": token}
    )
