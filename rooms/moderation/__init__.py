"""Moderation: who moderates what (rules.py), the actions (actions.py), mutes and bans that
end by time (expiry.py, run by the task worker), the site's endpoints and page (views.py)
and the admin's (admin.py). The site and the admin call the same actions, imported here.
"""

from rooms.moderation.actions import (
    MAX_RESTRICTION_MINUTES,
    change_room,
    erase_message,
    handle_report,
    lift_restriction,
    remove_member,
    remove_message,
    report_message,
    restore_message,
    restrict,
    set_room_moderator,
    update_room,
)
from rooms.moderation.expiry import EXPIRED_REASON, expire_restriction
from rooms.moderation.rules import rank, require_moderator

__all__ = [
    "EXPIRED_REASON",
    "MAX_RESTRICTION_MINUTES",
    "change_room",
    "erase_message",
    "expire_restriction",
    "handle_report",
    "lift_restriction",
    "rank",
    "remove_member",
    "remove_message",
    "report_message",
    "require_moderator",
    "restore_message",
    "restrict",
    "set_room_moderator",
    "update_room",
]
