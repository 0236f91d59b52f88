"""Moderation actions, shared by the site's room moderators and the Django admin (one job:
every action a moderator takes, each a function).

Each action checks that the actor may moderate the room, then in one transaction makes
the change, appends its event to the room's log (so open pages apply it at once and a
client that reconnects later replays it) and writes the moderation log.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from rooms.event_types import EventType
from rooms.models import (
    MAX_SLOW_MODE_SECONDS,
    MAX_TOPIC_LENGTH,
    Membership,
    Message,
    ModerationAction,
    NotAllowed,
    Report,
    Restriction,
    Room,
    has_hidden_characters,
)
from rooms.moderation.expiry import end_restriction_now, schedule_end_of_restriction
from rooms.moderation.rules import (
    OWNER,
    RANK_NAMES,
    SITE_MODERATOR,
    clean_reason,
    log,
    log_about,
    rank,
    require_moderator,
    require_rank_over,
)

# Longest mute or ban with an expiry: a year. Without minutes it lasts until lifted.
MAX_RESTRICTION_MINUTES = 365 * 24 * 60


def remove_message(actor: Any, message: Message, reason: object = "") -> Message:
    """Hide a message from everyone; it stays in the database and can be restored."""
    room = message.room
    require_moderator(room, actor)
    reason = clean_reason(reason)
    mine = rank(room, actor)
    if message.author_id != actor.pk and mine < SITE_MODERATOR:
        theirs = rank(room, message.author)
        if theirs >= mine:
            raise NotAllowed(f"you cannot remove a message by {RANK_NAMES[theirs]}")
    if message.is_removed:
        raise NotAllowed("the message is already removed", status=409)
    with transaction.atomic():
        message.removed_at = timezone.now()
        message.removed_by = actor
        message.removal_reason = reason
        message.record_change(
            EventType.MESSAGE_REMOVED,
            ["removed_at", "removed_by", "removal_reason"],
            {"id": message.pk, "room": room.slug, "removed": True},
        )
        log_about(actor, ModerationAction.REMOVE_MESSAGE, message, reason)
    return message


def restore_message(actor: Any, message: Message, reason: object = "") -> Message:
    room = message.room
    require_moderator(room, actor)
    reason = clean_reason(reason)
    if not message.is_removed:
        raise NotAllowed("the message is not removed", status=409)
    require_rank_over(room, actor, message.removed_by, "the removal")
    with transaction.atomic():
        message.removed_at = None
        message.removed_by = None
        message.removal_reason = ""
        message.record_change(
            EventType.MESSAGE_RESTORED, ["removed_at", "removed_by", "removal_reason"]
        )
        log_about(actor, ModerationAction.RESTORE_MESSAGE, message, reason)
    return message


def erase_message(actor: Any, message: Message, reason: object = "") -> Message:
    """Delete a message for good, as its author can: a tombstone stays, the text is erased.

    For staff with the permission to delete messages (the admin), e.g. for a legal request.
    """
    reason = clean_reason(reason)
    if not actor.has_perm("rooms.delete_message"):
        raise NotAllowed("you may not delete messages")
    if message.is_deleted:
        raise NotAllowed("the message is already deleted", status=409)
    with transaction.atomic():
        message.erase()
        log_about(actor, ModerationAction.ERASE_MESSAGE, message, reason)
    return message


def restrict(
    actor: Any, room: Room, user: Any, kind: str, minutes: object = None, reason: object = ""
) -> Restriction:
    """Mute or ban a user in a room, until lifted or for `minutes`. A ban closes their streams."""
    require_moderator(room, actor)
    reason = clean_reason(reason)
    if kind not in (Restriction.MUTE, Restriction.BAN):
        raise NotAllowed("kind must be mute or ban", status=400)
    if minutes is not None and (
        isinstance(minutes, bool)
        or not isinstance(minutes, int)
        or not 1 <= minutes <= MAX_RESTRICTION_MINUTES
    ):
        raise NotAllowed(
            f"minutes must be an integer from 1 to {MAX_RESTRICTION_MINUTES}", status=400
        )
    if user.pk == actor.pk:
        raise NotAllowed(f"you cannot {kind} yourself", status=400)
    if room.can_moderate(user):
        raise NotAllowed(f"a moderator of this room cannot be given a {kind}", status=409)
    existing = Restriction.objects.filter(room=room, user=user, kind=kind).first()
    if existing is not None:
        require_rank_over(room, actor, existing.created_by, f"the {kind}")
    expires_at = timezone.now() + timedelta(minutes=minutes) if minutes else None
    with transaction.atomic():
        restriction, _ = Restriction.objects.update_or_create(
            room=room,
            user=user,
            kind=kind,
            defaults={
                "reason": reason,
                "created_by": actor,
                "created_at": timezone.now(),
                "expires_at": expires_at,
            },
        )
        event = EventType.USER_MUTED if kind == Restriction.MUTE else EventType.USER_BANNED
        room.append_event(
            event,
            {"room": room.slug, "user": user.get_username(), "until": expires_at},
            subject=user.pk,
        )
        action = ModerationAction.MUTE if kind == Restriction.MUTE else ModerationAction.BAN
        log(actor, action, room, target_user=user, reason=reason, details={"minutes": minutes})
        if expires_at is not None:
            # Written with the restriction: the worker ends it at its expiry (expiry.py).
            schedule_end_of_restriction(restriction)
    return restriction


def lift_restriction(actor: Any, room: Room, user: Any, kind: str, reason: object = "") -> None:
    require_moderator(room, actor)
    reason = clean_reason(reason)
    existing = Restriction.objects.filter(room=room, user=user, kind=kind).first()
    if existing is not None:
        require_rank_over(room, actor, existing.created_by, f"the {kind}")
    with transaction.atomic():
        if not end_restriction_now(actor, room, user, kind, reason):
            raise NotAllowed(f"{user.get_username()} has no {kind} in this room", status=409)


def update_room(
    actor: Any,
    room: Room,
    *,
    locked: bool | None = None,
    archived: bool | None = None,
    slow_mode_seconds: object = None,
    topic: object = None,
    reason: object = "",
) -> Room:
    """Lock or unlock, archive or unarchive, set slow mode or the topic. Log each change made."""
    require_moderator(room, actor)
    reason = clean_reason(reason)
    if slow_mode_seconds is not None and (
        isinstance(slow_mode_seconds, bool)
        or not isinstance(slow_mode_seconds, int)
        or not 0 <= slow_mode_seconds <= MAX_SLOW_MODE_SECONDS
    ):
        raise NotAllowed(
            f"slow_mode_seconds must be an integer from 0 to {MAX_SLOW_MODE_SECONDS}", status=400
        )
    if topic is not None:
        topic = clean_topic(topic)
    changes: list[tuple[str, dict[str, Any]]] = []
    if locked is not None and locked != room.locked:
        room.locked = locked
        changes.append((ModerationAction.LOCK if locked else ModerationAction.UNLOCK, {}))
    if archived is not None and archived != room.archived:
        room.archived = archived
        changes.append((ModerationAction.ARCHIVE if archived else ModerationAction.UNARCHIVE, {}))
    if slow_mode_seconds is not None and slow_mode_seconds != room.slow_mode_seconds:
        assert isinstance(slow_mode_seconds, int)
        room.slow_mode_seconds = slow_mode_seconds
        changes.append((ModerationAction.SLOW_MODE, {"seconds": slow_mode_seconds}))
    if topic is not None and topic != room.topic:
        assert isinstance(topic, str)
        room.topic = topic
        changes.append((ModerationAction.TOPIC, {"topic": topic}))
    if not changes:
        return room
    _require_rank_for_settings(actor, room, [action for action, _ in changes])
    with transaction.atomic():
        room.save(update_fields=["locked", "archived", "slow_mode_seconds", "topic"])
        room.append_event(EventType.ROOM_UPDATED, room.settings_data())
        for action, details in changes:
            log(actor, action, room, reason=reason, details=details)
    return room


def clean_topic(topic: object) -> str:
    """A topic as stored: one line of plain text (pages show it as text), or ""."""
    if not isinstance(topic, str):
        raise NotAllowed("topic must be a string", status=400)
    topic = " ".join(topic.split())
    if len(topic) > MAX_TOPIC_LENGTH:
        raise NotAllowed(f"topic is longer than {MAX_TOPIC_LENGTH} characters", status=400)
    if has_hidden_characters(topic):
        raise NotAllowed("topic must not contain control or invisible characters", status=400)
    return topic


def change_room(
    actor: Any, room: Room, *, name: str | None = None, private: bool | None = None
) -> Room:
    """Rename a room or change who may read it: its owner or a site moderator (the admin).

    Making a room private takes it away from everyone who is not a member: their open
    streams check their access again as soon as the change is delivered, and close.
    """
    if actor.pk != room.owner_id and not actor.has_perm("rooms.moderate_room"):
        raise NotAllowed("only the room's owner or a site moderator can change this")
    changes: list[tuple[str, dict[str, Any]]] = []
    became_private = private is True and not room.private
    if name is not None and name != room.name:
        changes.append((ModerationAction.RENAME, {"from": room.name, "to": name}))
        room.name = name
    if private is not None and private != room.private:
        room.private = private
        changes.append(
            (ModerationAction.MAKE_PRIVATE if private else ModerationAction.MAKE_PUBLIC, {})
        )
    if not changes:
        return room
    with transaction.atomic():
        room.save(update_fields=["name", "private"])
        room.append_event(
            EventType.ROOM_UPDATED, room.settings_data(), became_private=became_private
        )
        for action, details in changes:
            log(actor, action, room, details=details)
    return room


# Each setting, with the log actions that set it: the last of them says who set it last.
SETTING_ACTIONS = {
    ModerationAction.LOCK: ("the lock", (ModerationAction.LOCK, ModerationAction.UNLOCK)),
    ModerationAction.UNLOCK: ("the lock", (ModerationAction.LOCK, ModerationAction.UNLOCK)),
    ModerationAction.SLOW_MODE: ("slow mode", (ModerationAction.SLOW_MODE,)),
}


def _require_rank_for_settings(actor: Any, room: Room, actions: list[str]) -> None:
    mine = rank(room, actor)
    if mine < OWNER and {ModerationAction.ARCHIVE, ModerationAction.UNARCHIVE} & set(actions):
        room.refresh_from_db()  # forget the unsaved changes
        raise NotAllowed("only the owner and staff archive a room or bring it back")
    for action in actions:
        if action not in SETTING_ACTIONS:
            continue
        what, kinds = SETTING_ACTIONS[action]
        last = (
            ModerationAction.objects.filter(room=room, action__in=kinds)
            .order_by("-created_at", "-id")
            .select_related("actor")
            .first()
        )
        if last is not None and rank(room, last.actor) > mine:
            room.refresh_from_db()
            require_rank_over(room, actor, last.actor, what)


def set_room_moderator(actor: Any, room: Room, user: Any, moderator: bool) -> Membership:
    """The owner (or a site moderator) names or unnames a room moderator among its members."""
    if actor.pk != room.owner_id and not actor.has_perm("rooms.moderate_room"):
        raise NotAllowed("only the room's owner can name moderators")
    membership = Membership.objects.filter(room=room, user=user).first()
    if membership is None:
        raise NotAllowed(f"{user.get_username()} is not a member of this room", status=400)
    if membership.role == Membership.ROLE_OWNER:
        raise NotAllowed("the owner's role cannot change", status=409)
    role = Membership.ROLE_MODERATOR if moderator else Membership.ROLE_MEMBER
    if membership.role == role:
        return membership
    with transaction.atomic():
        membership.role = role
        membership.save(update_fields=["role"])
        room.append_event(
            EventType.MEMBER_ROLE_CHANGED,
            {"room": room.slug, "user": user.get_username(), "role": role},
            subject=user.pk,
        )
        action = ModerationAction.ADD_MODERATOR if moderator else ModerationAction.REMOVE_MODERATOR
        log(actor, action, room, target_user=user)
    return membership


def remove_member(actor: Any, room: Room, user: Any) -> None:
    """The owner takes someone out of the room: their streams of a private room close."""
    if actor.pk != room.owner_id:
        raise NotAllowed("only the room's owner can remove members")
    if user.pk == room.owner_id:
        raise NotAllowed("the owner cannot be removed from their own room", status=409)
    with transaction.atomic():
        if not room.remove_member(user):
            raise NotAllowed(f"{user.get_username()} is not a member of this room", status=404)
        log(actor, ModerationAction.REMOVE_MEMBER, room, target_user=user)


def report_message(reporter: Any, message: Message, reason: object) -> Report:
    """A member reports a message, once. The reported person never learns who reported it."""
    reason = clean_reason(reason)
    if not reason:
        raise NotAllowed("reason is required", status=400)
    if message.author_id == reporter.pk:
        raise NotAllowed("you cannot report your own message", status=400)
    if message.room.role_of(reporter) is None:
        raise NotAllowed("join the room first")
    with transaction.atomic():
        report, created = Report.objects.get_or_create(
            message=message, reporter=reporter, defaults={"reason": reason}
        )
    if not created:
        raise NotAllowed("you have already reported this message", status=409)
    return report


def handle_report(actor: Any, report: Report, status: str, reason: object = "") -> Report:
    room = report.message.room
    require_moderator(room, actor)
    reason = clean_reason(reason)
    if status not in (Report.RESOLVED, Report.DISMISSED):
        raise NotAllowed("status must be resolved or dismissed", status=400)
    with transaction.atomic():
        report.status = status
        report.handled_by = actor
        report.handled_at = timezone.now()
        report.save(update_fields=["status", "handled_by", "handled_at"])
        action = (
            ModerationAction.RESOLVE_REPORT
            if status == Report.RESOLVED
            else ModerationAction.DISMISS_REPORT
        )
        log(
            actor,
            action,
            room,
            message=report.message,
            reason=reason,
            details={"report": report.pk},
        )
    return report
