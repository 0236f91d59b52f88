"""Who moderates what: moderators of a room, the ranks that say who may undo whose actions,
reasons, and the moderation log every action writes."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from rooms.models import (
    MAX_REASON_LENGTH,
    Membership,
    Message,
    ModerationAction,
    NotAllowed,
    Report,
    Room,
)


def require_moderator(room: Room, actor: Any) -> None:
    if not room.can_moderate(actor):
        raise NotAllowed("you are not a moderator of this room")


# Who can undo whose actions: site moderators above the owner above room moderators above
# members. Nobody undoes (lifts, shortens, restores, unlocks, ...) what someone of a higher
# rank did; only someone of a higher rank acts on a person (removes their message); only
# the owner and site moderators archive a room or bring it back.
MEMBER, ROOM_MODERATOR, OWNER, SITE_MODERATOR = range(4)
RANK_NAMES = {ROOM_MODERATOR: "a room moderator", OWNER: "the owner", SITE_MODERATOR: "staff"}


def rank(room: Room, user: Any) -> int:
    if user is None or not user.is_authenticated:
        return MEMBER
    if user.is_active and user.has_perm("rooms.moderate_room"):
        return SITE_MODERATOR
    if user.pk == room.owner_id:
        return OWNER
    return ROOM_MODERATOR if room.role_of(user) == Membership.ROLE_MODERATOR else MEMBER


def require_rank_over(room: Room, actor: Any, done_by: Any, what: str) -> None:
    """Refuse to undo `what` if someone of a higher rank than the actor did it."""
    theirs = rank(room, done_by)
    if theirs > rank(room, actor):
        raise NotAllowed(f"{what} was set by {RANK_NAMES[theirs]}: you cannot undo it")


def clean_reason(reason: object) -> str:
    if reason is None:
        return ""
    if not isinstance(reason, str):
        raise NotAllowed("reason must be a string", status=400)
    reason = reason.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise NotAllowed(f"reason is longer than {MAX_REASON_LENGTH} characters", status=400)
    return reason


def log(actor: Any, action: str, room: Room | None, **fields: Any) -> ModerationAction:
    return ModerationAction.objects.create(actor=actor, action=action, room=room, **fields)


def log_about(actor: Any, action: str, message: Message, reason: str) -> ModerationAction:
    """Log an action on a message (and so on its author)."""
    return log(
        actor, action, message.room, message=message, target_user=message.author, reason=reason
    )


def messages_staff_may_read(user: Any) -> Q:
    """The one rule of which messages the admin shows a member of staff: direct messages are
    private to their people. Superusers see everything (they own the database anyway); other
    staff see a DM's message only once one of its people reported it, so that the report can
    be handled, and never the rest of the conversation (nor the DM's event log)."""
    if user.is_superuser:
        return Q()
    return ~Q(room__kind=Room.KIND_DM) | Q(pk__in=Report.objects.values("message_id"))


def may_read_whole_dms(user: Any) -> bool:
    return bool(user.is_superuser)
