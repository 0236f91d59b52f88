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
    path("<slug:slug>/people/", views.members_page, name="room-members-page"),
    path("<slug:slug>/messages/", views.room_messages, name="room-messages"),
    path("<slug:slug>/messages/<int:message_id>/", views.room_message, name="room-message"),
]
