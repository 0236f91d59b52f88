"""Typing and presence: who is typing in a room, who has it open now, who was there lately.

Ephemeral, all of it: nothing here writes to the database, and the events it publishes
(rooms.events.publish_ephemeral) carry no id, so no replay sends them and no client's resume
position moves past them. Their state lives in the fan-out backend's presence store
(rooms.events.PresenceStore: this process's memory, or Redis shared by every process), and
expires on its own.

Who is "here": a page that shows a room (each tab) reports it, POST /rooms/<slug>/presence/
with a tab id of its own, every CHAT_PRESENCE_HEARTBEAT_SECONDS; a report holds for
CHAT_PRESENCE_TTL_SECONDS. A page that goes away (pagehide) says so, and its report ends
CHAT_PRESENCE_GRACE_SECONDS later: a reload reports again within that time, and nobody sees
the person leave and come back. A person is here while one of their tabs' reports holds.
Pages report, rather than the server reading presence off open streams, because a member's
tabs share one user stream (static/rooms/live-worker.js) that carries every room they are in:
an open stream does not say which room is on screen. A browser that dies without a word drops
out when its last report ends.

When the list changes, a `presence` event with the whole list goes to the room's readers:
when someone's first report arrives (they came), and when a sweep of the reports that ended
finds people no longer here (they went). Every report and every GET sweeps, and a sweep is
atomic in the store, so each departure is published once, by whichever process sweeps first,
within a heartbeat of the others in the room. Each page also gets the list in the answer to
its own reports, so a lost event heals at the next heartbeat.

"Recently": people who reported or typed in the room in the last CHAT_PRESENCE_RECENT_SECONDS
and are not here now.

A person who turned off share_presence (Preferences, the /settings/ page) is never listed and
their typing is never published; the endpoints answer them as usual.

Only people who may read the room now are listed (Room.readers_among: the access rule):
someone banned or removed drops out of the list at once, for the next page that asks;
the others' pages see it at their next heartbeat.
"""

from __future__ import annotations

import re
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model

from rooms.events import get_backend, publish_ephemeral
from rooms.models import Preferences, Room

TYPING_EVENT = "typing"
PRESENCE_EVENT = "presence"
# A tab names itself with a random id (static/rooms/room/presence.js: a UUID).
TAB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def shares_presence(user: Any) -> bool:
    return Preferences.of(user).share_presence


def signal_typing(room: Room, user: Any) -> bool:
    """Tell the room's readers that the person is typing; return whether it was published.

    The caller checked that they may write and the rate of their signals.
    """
    if not shares_presence(user):
        return False
    get_backend().presence.mark_active(room.pk, user.pk, time.time())
    publish_ephemeral(
        room.pk,
        TYPING_EVENT,
        {"room": room.slug, "user": user.get_username(), "seconds": settings.CHAT_TYPING_SECONDS},
    )
    return True


def report(room: Room, user: Any, tab: str, here: bool) -> dict[str, Any]:
    """Record that the tab shows the room (`here`) or goes away; return who is here."""
    store = get_backend().presence
    now = time.time()
    came = False
    if not shares_presence(user):
        store.leave(room.pk, user.pk, tab, now)  # turned off meanwhile: their report ends now
    elif here:
        came = store.report(room.pk, user.pk, tab, now + settings.CHAT_PRESENCE_TTL_SECONDS, now)
        store.mark_active(room.pk, user.pk, now)
    else:
        store.leave(room.pk, user.pk, tab, now + settings.CHAT_PRESENCE_GRACE_SECONDS)
    return people_here(room, changed=came, now=now)


def people_here(room: Room, changed: bool = False, now: float | None = None) -> dict[str, Any]:
    """Who is here now and who was recently (usernames, sorted), after sweeping the reports
    that ended; publish the list if it changed (`changed`, or someone's report ended)."""
    store = get_backend().presence
    now = time.time() if now is None else now
    went = store.sweep(room.pk, now)
    here = store.here(room.pk, now)
    recent = store.active_since(room.pk, now - settings.CHAT_PRESENCE_RECENT_SECONDS) - here
    names = dict(
        get_user_model()
        .objects.filter(pk__in=room.readers_among(here | recent), is_active=True)
        .exclude(preferences__share_presence=False)
        .values_list("pk", "username")
    )
    data: dict[str, Any] = {
        "room": room.slug,
        "here": sorted(names[pk] for pk in here if pk in names),
        "recent": sorted(names[pk] for pk in recent if pk in names),
    }
    if changed or went:
        publish_ephemeral(room.pk, PRESENCE_EVENT, data)
    return data
