from django.urls import path

from rooms import views

# GET rooms/<slug>/events/ (the stream) is routed in chatsite/asgi.py, outside Django's
# request handler: see rooms/streaming.py.
urlpatterns = [
    path("", views.rooms_collection, name="rooms"),
    path("<slug:slug>/", views.room_page, name="room"),
    path("<slug:slug>/join/", views.join_room, name="room-join"),
    path("<slug:slug>/leave/", views.leave_room, name="room-leave"),
    path("<slug:slug>/members/", views.room_members, name="room-members"),
    path("<slug:slug>/members/<str:username>/", views.room_member, name="room-member"),
    path("<slug:slug>/people/", views.members_page, name="room-members-page"),
    path("<slug:slug>/messages/", views.room_messages, name="room-messages"),
    path("<slug:slug>/messages/<int:message_id>/", views.room_message, name="room-message"),
    # Moderation
    path(
        "<slug:slug>/messages/<int:message_id>/remove/",
        views.remove_message,
        name="message-remove",
    ),
    path(
        "<slug:slug>/messages/<int:message_id>/restore/",
        views.restore_message,
        name="message-restore",
    ),
    path(
        "<slug:slug>/messages/<int:message_id>/report/",
        views.report_message,
        name="message-report",
    ),
    path("<slug:slug>/mute/", views.mute, name="room-mute"),
    path("<slug:slug>/unmute/", views.unmute, name="room-unmute"),
    path("<slug:slug>/ban/", views.ban, name="room-ban"),
    path("<slug:slug>/unban/", views.unban, name="room-unban"),
    path("<slug:slug>/settings/", views.room_settings, name="room-settings"),
    path("<slug:slug>/moderators/", views.room_moderators, name="room-moderators"),
    path("<slug:slug>/restrictions/", views.room_restrictions, name="room-restrictions"),
    path("<slug:slug>/moderation/", views.moderation_page, name="room-moderation"),
]
