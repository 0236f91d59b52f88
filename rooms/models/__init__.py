"""The room app's data: rooms and members (rooms.py), messages (messages.py), each room's
event log (log.py), moderation (moderation.py), uploaded files (uploads.py), mentions
(mentions.py), a person's own choices (people.py), what programs use (programs.py: tokens,
bots, webhooks), and what they share (common.py).

Import models from here. The modules depend on each other in one direction only:
common <- moderation <- log <- uploads <- mentions <- messages <- rooms; people and programs stand
alone.
"""

from rooms.models.common import (
    MAX_CLIENT_ID_LENGTH,
    MAX_MESSAGE_LENGTH,
    MAX_REASON_LENGTH,
    MAX_ROOM_NAME_LENGTH,
    MAX_SLOW_MODE_SECONDS,
    MAX_TOPIC_LENGTH,
    NotAllowed,
    clean_message_body,
    encode_event_data,
    has_hidden_characters,
    validate_client_id,
    validate_room_slug,
)
from rooms.models.log import EventCounter, RoomEvent, UserEvent
from rooms.models.mentions import Mention, NotificationEmail
from rooms.models.messages import Message
from rooms.models.moderation import (
    SYSTEM_ACTOR_NAME,
    ModerationAction,
    Report,
    Restriction,
)
from rooms.models.people import Notify, Preferences
from rooms.models.programs import ApiToken, Bot, IncomingWebhook, OutgoingWebhook, is_bot
from rooms.models.reactions import Reaction
from rooms.models.rooms import Access, Membership, NotifyLevel, Room
from rooms.models.uploads import MAX_ATTACHMENTS_PER_MESSAGE, Upload

__all__ = [
    "MAX_ATTACHMENTS_PER_MESSAGE",
    "MAX_CLIENT_ID_LENGTH",
    "MAX_MESSAGE_LENGTH",
    "MAX_REASON_LENGTH",
    "MAX_ROOM_NAME_LENGTH",
    "MAX_SLOW_MODE_SECONDS",
    "MAX_TOPIC_LENGTH",
    "SYSTEM_ACTOR_NAME",
    "Access",
    "ApiToken",
    "Bot",
    "EventCounter",
    "IncomingWebhook",
    "Membership",
    "Mention",
    "Message",
    "ModerationAction",
    "NotAllowed",
    "NotificationEmail",
    "Notify",
    "NotifyLevel",
    "OutgoingWebhook",
    "Preferences",
    "Reaction",
    "Report",
    "Restriction",
    "Room",
    "RoomEvent",
    "Upload",
    "UserEvent",
    "clean_message_body",
    "encode_event_data",
    "has_hidden_characters",
    "is_bot",
    "validate_client_id",
    "validate_room_slug",
]
