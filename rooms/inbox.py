"""The mentions inbox (/mentions/): the messages that mention the person, newest first, each
opening its room at that message (/rooms/<slug>/?around=<id>)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from rooms.http import AuthenticatedRequest
from rooms.models import Access, Mention, Room
from rooms.models.log import current_position

INBOX_PAGE_SIZE = 30
# A page reads at most this many batches of mentions looking for ones the person may still
# read: rooms they left or were banned from are skipped, not shown.
MAX_BATCHES_PER_PAGE = 5


def readable_mentions(user: Any, before: int | None, size: int) -> tuple[list[Mention], int | None]:
    """A page of the user's mentions by name or @room (not a DM's messages) whose message
    still shows its text, in rooms they may read now (Room.access_for_rooms: the one rule),
    newest first; and the cursor of the next page (None at the end)."""
    found: list[Mention] = []
    cursor = before
    exhausted = False
    for _ in range(MAX_BATCHES_PER_PAGE):
        batch_query = (
            Mention.objects.shown()
            .filter(user=user, direct=False)
            .select_related("message__author", "message__room")
            .order_by("-message_id")
        )
        if cursor is not None:
            batch_query = batch_query.filter(message_id__lt=cursor)
        batch = list(batch_query[: size * 2])
        rooms = list({mention.message.room.pk: mention.message.room for mention in batch}.values())
        access = Room.access_for_rooms(rooms, user)
        found += [mention for mention in batch if access[mention.room_id] is Access.READ]
        exhausted = len(batch) < size * 2
        if len(found) > size or exhausted:
            break
        cursor = batch[-1].message_id
    page = found[:size]
    if len(found) > size:
        return page, page[-1].message_id
    # Every batch read, too few readable: the next page goes on after the last one read.
    return page, None if exhausted else cursor


@login_required
def mentions_page(request: AuthenticatedRequest) -> HttpResponse:
    raw = request.GET.get("before", "")
    before = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None
    page, next_before = readable_mentions(request.user, before, INBOX_PAGE_SIZE)
    return render(
        request,
        "rooms/mentions.html",
        {"mentions": page, "next": next_before, "position": current_position()},
    )
