"""The Django admin: where site staff run the site. Users, rooms, memberships and the event
log are here; moderation (messages, mutes and bans, reports, the moderation log) is in
rooms/moderation/admin.py. Every change that affects who may read what goes through the
site's own methods, so it is a room event and closes the streams of whoever loses access.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from rooms import moderation
from rooms.export.room import export_filename, room_lines
from rooms.export.stream import download
from rooms.models import (
    Membership,
    Message,
    NotAllowed,
    Room,
    RoomEvent,
)
from rooms.moderation.admin import (
    ModeratorActionsMixin,
    ReadOnly,
    ReadOnlyAdmin,
    changelist_link,
)
from rooms.moderation.rules import may_read_whole_dms

User = get_user_model()


admin.site.unregister(User)


@admin.register(User)
class ChatUserAdmin(UserAdmin[Any]):
    list_display = [
        "username",
        "email",
        "is_active",
        "is_staff",
        "date_joined",
        "last_login",
        "messages_link",
    ]

    @admin.display(description="messages")
    def messages_link(self, user: Any) -> str:
        return changelist_link(Message, "messages", author__id__exact=user.pk)


class MembershipInline(ReadOnly, admin.TabularInline[Membership, Room]):
    """The room's members, to read. Adding, removing and roles go through the Membership
    pages, which write the room's events (and close the streams of whoever loses access)."""

    model = Membership
    extra = 0
    fields = ["user", "role", "joined_at"]
    readonly_fields = ["user", "role", "joined_at"]


@admin.register(Room)
class RoomAdmin(ModeratorActionsMixin, admin.ModelAdmin[Room]):
    list_display = [
        "slug",
        "name",
        "kind",
        "private",
        "owner",
        "locked",
        "archived",
        "slow_mode_seconds",
        "created_at",
        "messages_link",
    ]
    list_filter = ["kind", "private", "locked", "archived"]
    search_fields = ["slug", "name"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    fields = [
        "slug",
        "name",
        "private",
        "owner",
        "created_at",
        "locked",
        "archived",
        "slow_mode_seconds",
        "last_event_seq",
    ]
    readonly_fields = ["created_at", "locked", "archived", "slow_mode_seconds", "last_event_seq"]
    inlines = [MembershipInline]
    actions = ["lock", "unlock", "archive", "unarchive", "set_slow_mode", "export"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The slug names the room in URLs and events; the owner is its first member.
        return [*self.readonly_fields, "slug", "owner"] if obj is not None else self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A room's history is permanent: archive it instead (read-only for everyone).
        return False

    def save_model(self, request: HttpRequest, obj: Room, form: Any, change: bool) -> None:
        if not change:
            fields = {name: form.cleaned_data[name] for name in ("slug", "name", "private")}
            obj.pk = Room.objects.create_with_owner(form.cleaned_data["owner"], **fields).pk
            return
        # Through the same rule as the site, so the change is an event and whoever may no
        # longer read the room loses their open streams.
        current = Room.objects.get(pk=obj.pk)
        try:
            moderation.change_room(request.user, current, name=obj.name, private=obj.private)
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc

    @admin.display(description="messages")
    def messages_link(self, room: Room) -> str:
        return changelist_link(Message, "messages", room__id__exact=room.pk)

    def _update(
        self, request: HttpRequest, queryset: QuerySet[Room], title: str, **changes: Any
    ) -> HttpResponse | None:
        return self.moderate(
            request,
            queryset,
            title,
            lambda room, data: moderation.update_room(
                request.user, room, reason=data.get("reason"), **changes
            ),
        )

    @admin.action(description="Lock (read-only but for moderators)", permissions=["moderate"])
    def lock(self, request: HttpRequest, queryset: QuerySet[Room]) -> HttpResponse | None:
        return self._update(request, queryset, "Lock rooms", locked=True)

    @admin.action(description="Unlock", permissions=["moderate"])
    def unlock(self, request: HttpRequest, queryset: QuerySet[Room]) -> HttpResponse | None:
        return self._update(request, queryset, "Unlock rooms", locked=False)

    @admin.action(description="Archive (read-only for everyone)", permissions=["moderate"])
    def archive(self, request: HttpRequest, queryset: QuerySet[Room]) -> HttpResponse | None:
        return self._update(request, queryset, "Archive rooms", archived=True)

    @admin.action(description="Unarchive", permissions=["moderate"])
    def unarchive(self, request: HttpRequest, queryset: QuerySet[Room]) -> HttpResponse | None:
        return self._update(request, queryset, "Unarchive rooms", archived=False)

    @admin.action(description="Set slow mode", permissions=["moderate"])
    def set_slow_mode(self, request: HttpRequest, queryset: QuerySet[Room]) -> HttpResponse | None:
        return self.moderate(
            request,
            queryset,
            "Set slow mode (seconds between two posts by one person; 0 turns it off)",
            lambda room, data: moderation.update_room(
                request.user,
                room,
                slow_mode_seconds=data.get("seconds") or 0,
                reason=data.get("reason"),
            ),
            fields=("seconds", "reason"),
        )

    @admin.action(
        description="Export the history (JSON Lines, removed text included)",
        permissions=["moderate"],
    )
    def export(
        self, request: HttpRequest, queryset: QuerySet[Room]
    ) -> StreamingHttpResponse | None:
        """Download one room's history as `manage.py export_room` writes it. Site moderators
        only: it holds removed messages' text, which only they read in the admin; and a
        direct message's only for those who may read whole DMs (rules.may_read_whole_dms)."""
        if not self.has_moderate_permission(request):
            raise PermissionDenied
        rooms = list(queryset[:2])
        if len(rooms) != 1:
            self.message_user(request, "Export one room at a time.", messages.WARNING)
            return None
        room = rooms[0]
        if room.is_dm and not may_read_whole_dms(request.user):
            self.message_user(
                request, f"{room}: a direct message is private to its people.", messages.WARNING
            )
            return None
        return download(room_lines(room, removed_text=True), export_filename(room))


class MembershipForm(forms.ModelForm[Membership]):
    role = forms.ChoiceField(
        choices=[(Membership.ROLE_MEMBER, "member"), (Membership.ROLE_MODERATOR, "moderator")]
    )

    class Meta:
        model = Membership
        fields = ["room", "user", "role"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    """Who is in which room. Adding, removing and role changes are the site's own actions,
    so each is a room event and a removal from a private room closes that person's streams."""

    form = MembershipForm
    list_display = ["room", "user", "role", "joined_at"]
    list_filter = ["role"]
    search_fields = ["room__slug", "user__username"]
    list_select_related = ["room", "user"]
    raw_id_fields = ["room", "user"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["room", "user", "joined_at"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        if not change:
            membership, _ = obj.room.add_member(obj.user, role=obj.role)
            obj.pk = membership.pk
            return
        try:
            moderation.set_room_moderator(
                request.user, obj.room, obj.user, obj.role == Membership.ROLE_MODERATOR
            )
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        if obj.role == Membership.ROLE_OWNER:
            raise PermissionDenied("the owner's membership cannot be removed")
        obj.room.remove_member(obj.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset.select_related("room", "user"):
            if membership.role == Membership.ROLE_OWNER:
                self.message_user(
                    request,
                    f"{membership}: the owner's membership cannot be removed.",
                    messages.WARNING,
                )
                continue
            membership.room.remove_member(membership.user)


@admin.register(RoomEvent)
class RoomEventAdmin(ReadOnlyAdmin):
    """The event log is append-only: it can be read here, never changed."""

    list_display = ["id", "room", "seq", "type", "created_at"]
    list_filter = ["type"]
    search_fields = ["room__slug"]
    list_select_related = ["room"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> Any:
        # A DM's log carries its text: private to its people (rules.messages_staff_may_read).
        events = super().get_queryset(request)
        if may_read_whole_dms(request.user):
            return events
        return events.exclude(room__kind=Room.KIND_DM)


# Bots, tokens and webhooks (rooms/programs/admin.py).
from rooms.programs import admin as programs_admin  # noqa: E402, F401
