from django.contrib import admin

from rooms.models import Membership, Message, Room, RoomEvent


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "private", "owner", "created_at", "last_event_seq"]
    list_filter = ["private"]
    search_fields = ["slug", "name"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["room", "user", "role", "joined_at"]
    list_filter = ["role"]
    search_fields = ["room__slug", "user__username"]
    list_select_related = ["room", "user"]
    raw_id_fields = ["room", "user"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "room", "author", "created_at", "edited_at", "deleted_at"]
    list_filter = ["room"]
    search_fields = ["body", "author__username", "room__slug"]
    list_select_related = ["room", "author"]
    raw_id_fields = ["room", "author"]
    readonly_fields = ["client_id", "created_at", "edited_at", "deleted_at"]
    show_full_result_count = False


@admin.register(RoomEvent)
class RoomEventAdmin(admin.ModelAdmin):
    """The event log is append-only: it can be read here, never changed."""

    list_display = ["id", "room", "seq", "type", "created_at"]
    list_filter = ["type"]
    search_fields = ["room__slug"]
    list_select_related = ["room"]
    show_full_result_count = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
