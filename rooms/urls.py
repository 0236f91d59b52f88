from django.urls import path

from rooms import api, views
from rooms.files import views as files
from rooms.moderation import views as moderation
from rooms.programs import hooks

# GET rooms/<slug>/events/ (the stream) is routed in chatsite/asgi.py, outside Django's
# request handler: see rooms/stream/consumer.py.
urlpatterns = [
    path("", api.rooms_collection, name="rooms"),
    path("<slug:slug>/", views.room_page, name="room"),
    path("<slug:slug>/people/", views.members_page, name="room-members-page"),
    path("<slug:slug>/join/", api.join_room, name="room-join"),
    path("<slug:slug>/leave/", api.leave_room, name="room-leave"),
    path("<slug:slug>/read/", api.mark_read, name="room-read"),
    path("<slug:slug>/typing/", api.typing, name="room-typing"),
    path("<slug:slug>/presence/", api.room_presence, name="room-presence"),
    path("<slug:slug>/notifications/", api.notification_level, name="room-notifications"),
    path("<slug:slug>/members/", api.room_members, name="room-members"),
    path("<slug:slug>/messages/", api.room_messages, name="room-messages"),
    path("<slug:slug>/messages/<int:message_id>/", api.room_message, name="room-message"),
    path(
        "<slug:slug>/messages/<int:message_id>/reactions/",
        api.message_reactions,
        name="message-reactions",
    ),
    path("<slug:slug>/messages/<int:message_id>/pin/", api.message_pin, name="message-pin"),
    # Files
    path("<slug:slug>/uploads/", files.upload, name="room-uploads"),
    path("<slug:slug>/files/<str:key>/", files.download, name="room-file"),
    path("<slug:slug>/files/<str:key>/thumbnail/", files.thumbnail, name="room-file-thumbnail"),
    # Moderation
    path("<slug:slug>/moderation/", moderation.moderation_page, name="room-moderation"),
    path("<slug:slug>/members/<str:username>/", moderation.room_member, name="room-member"),
    path(
        "<slug:slug>/messages/<int:message_id>/remove/",
        moderation.remove_message,
        name="message-remove",
    ),
    path(
        "<slug:slug>/messages/<int:message_id>/restore/",
        moderation.restore_message,
        name="message-restore",
    ),
    path(
        "<slug:slug>/messages/<int:message_id>/report/",
        moderation.report_message,
        name="message-report",
    ),
    path("<slug:slug>/mute/", moderation.mute, name="room-mute"),
    path("<slug:slug>/unmute/", moderation.unmute, name="room-unmute"),
    path("<slug:slug>/ban/", moderation.ban, name="room-ban"),
    path("<slug:slug>/unban/", moderation.unban, name="room-unban"),
    path("<slug:slug>/settings/", moderation.room_settings, name="room-settings"),
    path("<slug:slug>/moderators/", moderation.room_moderators, name="room-moderators"),
    path("<slug:slug>/restrictions/", moderation.room_restrictions, name="room-restrictions"),
    # Webhooks (the room's owner): rooms/programs/hooks.py
    path("<slug:slug>/webhooks/", hooks.webhooks_page, name="room-webhooks"),
    path("<slug:slug>/webhooks/incoming/", hooks.incoming_hooks, name="room-incoming-hooks"),
    path(
        "<slug:slug>/webhooks/incoming/<int:hook_id>/rotate/",
        hooks.rotate_incoming_hook,
        name="room-incoming-hook-rotate",
    ),
    path(
        "<slug:slug>/webhooks/incoming/<int:hook_id>/delete/",
        hooks.delete_incoming_hook,
        name="room-incoming-hook-delete",
    ),
    path("<slug:slug>/webhooks/outgoing/", hooks.outgoing_hooks, name="room-outgoing-hooks"),
    path(
        "<slug:slug>/webhooks/outgoing/<int:hook_id>/delete/",
        hooks.delete_outgoing_hook,
        name="room-outgoing-hook-delete",
    ),
]
