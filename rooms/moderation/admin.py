"""Moderation in the Django admin: site moderators remove, restore and erase messages, mute
and ban, handle reports and read the moderation log, through the same actions as the site
(rooms/moderation/actions.py), so each is logged, is a room event and reaches open pages.
One job; it is long because each moderated model has its page here.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, Value
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from rooms import moderation
from rooms.models import (
    MAX_REASON_LENGTH,
    MAX_SLOW_MODE_SECONDS,
    Message,
    ModerationAction,
    NotAllowed,
    Report,
    Restriction,
)
from rooms.moderation.rules import may_read_whole_dms, messages_staff_may_read


class ModerationForm(forms.Form):
    reason = forms.CharField(max_length=MAX_REASON_LENGTH, required=False)
    minutes = forms.IntegerField(
        min_value=1,
        max_value=moderation.MAX_RESTRICTION_MINUTES,
        required=False,
        help_text="For mutes and bans: leave empty to last until lifted.",
    )
    seconds = forms.IntegerField(min_value=0, max_value=MAX_SLOW_MODE_SECONDS, required=False)


class ModeratorActionsMixin:
    """Admin actions that only site moderators may run, each asking for a reason first."""

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("rooms.moderate_room"))

    def moderate(
        self,
        request: HttpRequest,
        queryset: QuerySet[Any],
        title: str,
        apply: Any,
        fields: tuple[str, ...] = ("reason",),
        permission: Any = None,
    ) -> HttpResponse | None:
        """Show a form for the reason (and duration); on submit apply it to each object."""
        if not (permission or self.has_moderate_permission)(request):
            raise PermissionDenied
        form = ModerationForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            done = 0
            for obj in queryset:
                try:
                    apply(obj, form.cleaned_data)
                    done += 1
                except NotAllowed as exc:
                    self.message_user(request, f"{obj}: {exc}", messages.WARNING)  # type: ignore[attr-defined]
            self.message_user(request, f"{title}: {done} done.", messages.SUCCESS)  # type: ignore[attr-defined]
            return None
        for name in list(form.fields):
            if name not in fields:
                del form.fields[name]
        return TemplateResponse(
            request,
            "admin/rooms/moderation_form.html",
            {
                **admin.site.each_context(request),
                "title": title,
                "objects": queryset,
                "form": form,
                "action": request.POST.get("action"),
                "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                "opts": self.model._meta,  # type: ignore[attr-defined]
            },
        )


def admin_link(obj: Any, text: str | None = None) -> str:
    if obj is None:
        return "-"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text or str(obj))


def changelist_link(model: Any, text: str, **filters: Any) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    return format_html('<a href="{}?{}">{}</a>', url, query, text)


class RemovedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("visible", "visible"), ("removed", "removed"), ("deleted", "deleted")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "visible":
            return queryset.filter(removed_at__isnull=True, deleted_at__isnull=True)
        if self.value() == "removed":
            return queryset.filter(removed_at__isnull=False)
        if self.value() == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


@admin.register(Message)
class MessageAdmin(ModeratorActionsMixin, admin.ModelAdmin[Message]):
    list_display = ["id", "room", "author", "excerpt", "created_at", "state"]
    list_filter = [RemovedFilter]
    search_fields = ["body", "author__username", "room__slug"]
    list_select_related = ["room", "author"]
    raw_id_fields = ["room", "author", "removed_by"]
    readonly_fields = [
        "room",
        "author",
        "body",
        "client_id",
        "created_at",
        "edited_at",
        "deleted_at",
        "removed_at",
        "removed_by",
        "removal_reason",
        "moderation_buttons",
    ]
    fields = list(readonly_fields)
    # Counting 100,000 rows on every page is what makes big changelists slow.
    show_full_result_count = False
    actions = ["remove", "restore", "erase", "mute_authors", "ban_authors"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> Any:
        # Direct messages are private to their people (rules.messages_staff_may_read).
        return super().get_queryset(request).filter(messages_staff_may_read(request.user))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting the row would open a hole in the history behind the stream's back. The
        # "Erase" action deletes as the author does: a tombstone stays, the text goes.
        return False

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("rooms.delete_message"))

    @admin.action(
        description="Erase (delete for good, as the author can; a tombstone stays)",
        permissions=["erase"],
    )
    def erase(self, request: HttpRequest, queryset: QuerySet[Message]) -> HttpResponse | None:
        if not self.has_erase_permission(request):
            raise PermissionDenied
        return self.moderate(
            request,
            queryset,
            "Erase messages",
            lambda m, data: moderation.erase_message(request.user, m, data.get("reason")),
            permission=self.has_erase_permission,
        )

    @admin.display(description="text")
    def excerpt(self, message: Message) -> str:
        return Truncator(message.body).chars(80)

    @admin.display(description="state")
    def state(self, message: Message) -> str:
        if message.is_removed:
            return "removed by a moderator"
        if message.is_deleted:
            return "deleted by its author"
        return "visible"

    @admin.display(description="moderation")
    def moderation_buttons(self, message: Message) -> str:
        if message.pk is None:
            return "-"
        name = "restore" if message.is_removed else "remove"
        url = reverse(f"admin:rooms_message_{name}", args=[message.pk])
        return format_html('<a class="button" href="{}">{} this message</a>', url, name.title())

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:message_id>/remove/",
                self.admin_site.admin_view(self.remove_view),
                name="rooms_message_remove",
            ),
            path(
                "<int:message_id>/restore/",
                self.admin_site.admin_view(self.restore_view),
                name="rooms_message_restore",
            ),
            *super().get_urls(),
        ]

    def remove_view(self, request: HttpRequest, message_id: int) -> HttpResponse:
        return self._button(request, message_id, "Remove message", moderation.remove_message)

    def restore_view(self, request: HttpRequest, message_id: int) -> HttpResponse:
        return self._button(request, message_id, "Restore message", moderation.restore_message)

    def _button(
        self, request: HttpRequest, message_id: int, title: str, apply: Any
    ) -> HttpResponse:
        queryset = Message.objects.filter(pk=message_id).select_related("room", "author")
        response = self.moderate(
            request, queryset, title, lambda m, data: apply(request.user, m, data.get("reason"))
        )
        if response is not None:
            return response
        return HttpResponseRedirect(reverse("admin:rooms_message_change", args=[message_id]))

    @admin.action(description="Remove (hide, with a reason)", permissions=["moderate"])
    def remove(self, request: HttpRequest, queryset: QuerySet[Message]) -> HttpResponse | None:
        return self.moderate(
            request,
            queryset,
            "Remove messages",
            lambda m, data: moderation.remove_message(request.user, m, data.get("reason")),
        )

    @admin.action(description="Restore removed messages", permissions=["moderate"])
    def restore(self, request: HttpRequest, queryset: QuerySet[Message]) -> HttpResponse | None:
        return self.moderate(
            request,
            queryset,
            "Restore messages",
            lambda m, data: moderation.restore_message(request.user, m, data.get("reason")),
        )

    def _restrict_authors(
        self, request: HttpRequest, queryset: QuerySet[Message], kind: str
    ) -> HttpResponse | None:
        done: set[tuple[int, int]] = set()

        def apply(message: Message, data: dict[str, Any]) -> None:
            if (message.room_id, message.author_id) in done:
                return
            done.add((message.room_id, message.author_id))
            moderation.restrict(
                request.user,
                message.room,
                message.author,
                kind,
                data.get("minutes"),
                data.get("reason"),
            )

        return self.moderate(
            request,
            queryset.select_related("room", "author"),
            f"{kind.title()} the authors in these messages' rooms",
            apply,
            fields=("minutes", "reason"),
        )

    @admin.action(description="Mute their authors in the room", permissions=["moderate"])
    def mute_authors(
        self, request: HttpRequest, queryset: QuerySet[Message]
    ) -> HttpResponse | None:
        return self._restrict_authors(request, queryset, Restriction.MUTE)

    @admin.action(description="Ban their authors from the room", permissions=["moderate"])
    def ban_authors(self, request: HttpRequest, queryset: QuerySet[Message]) -> HttpResponse | None:
        return self._restrict_authors(request, queryset, Restriction.BAN)


class RestrictionForm(forms.ModelForm[Restriction]):
    minutes = forms.IntegerField(
        min_value=1,
        max_value=moderation.MAX_RESTRICTION_MINUTES,
        required=False,
        help_text="Leave empty to last until lifted.",
    )

    class Meta:
        model = Restriction
        fields = ["room", "user", "kind", "minutes", "reason"]


@admin.register(Restriction)
class RestrictionAdmin(admin.ModelAdmin[Restriction]):
    """Mutes and bans. Adding one mutes or bans; deleting one lifts it."""

    form = RestrictionForm
    list_display = ["user", "room", "kind", "expires_at", "active", "created_by", "reason"]
    list_filter = ["kind"]
    search_fields = ["user__username", "room__slug", "reason"]
    list_select_related = ["user", "room", "created_by"]
    raw_id_fields = ["room", "user"]

    @admin.display(boolean=True)
    def active(self, restriction: Restriction) -> bool:
        return restriction.is_active

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # change = lift and add again, so that both are logged

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("rooms.moderate_room"))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("rooms.moderate_room"))

    def save_model(self, request: HttpRequest, obj: Restriction, form: Any, change: bool) -> None:
        try:
            saved = moderation.restrict(
                request.user,
                obj.room,
                obj.user,
                obj.kind,
                form.cleaned_data.get("minutes"),
                obj.reason,
            )
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: Restriction) -> None:
        moderation.lift_restriction(request.user, obj.room, obj.user, obj.kind)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Restriction]) -> None:
        for restriction in queryset.select_related("room", "user"):
            self.delete_model(request, restriction)


@admin.register(Report)
class ReportAdmin(ModeratorActionsMixin, admin.ModelAdmin[Report]):
    list_display = ["id", "status", "room", "message_excerpt", "reason", "reporter", "created_at"]
    list_filter = ["status"]
    search_fields = ["reason", "message__body", "reporter__username"]
    list_select_related = ["message__room", "message__author", "reporter"]
    readonly_fields = [
        "message_link",
        "reporter",
        "reason",
        "status",
        "created_at",
        "handled_by",
        "handled_at",
        "context",
    ]
    fields = list(readonly_fields)
    actions = ["resolve", "dismiss", "remove_and_resolve"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="room")
    def room(self, report: Report) -> str:
        return report.message.room.slug

    @admin.display(description="message")
    def message_excerpt(self, report: Report) -> str:
        return f"{report.message.author}: {Truncator(report.message.body).chars(60)}"

    @admin.display(description="message")
    def message_link(self, report: Report) -> str:
        return admin_link(report.message, self.message_excerpt(report))

    @admin.display(description="in context")
    def context(self, report: Report) -> str:
        """The reported message with the three before and after it."""
        message = report.message
        if message.room.is_dm and not getattr(report, "whole_dms", False):
            around = [message]  # the rest of a direct message stays private
        else:
            around = self.around(message)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    m.created_at.strftime("%Y-%m-%d %H:%M"),
                    m.author,
                    format_html("<strong>{}</strong>", m.body) if m.pk == message.pk else m.body,
                )
                if not m.is_deleted
                else (m.created_at.strftime("%Y-%m-%d %H:%M"), m.author, "(deleted)")
                for m in around
            ),
        )
        return format_html("<table>{}</table>", rows)

    def get_queryset(self, request: HttpRequest) -> Any:
        # Whether this member of staff may read a DM around its reported message.
        whole_dms = may_read_whole_dms(request.user)
        return super().get_queryset(request).annotate(whole_dms=Value(whole_dms))

    @staticmethod
    def around(message: Message) -> list[Message]:
        around = list(
            Message.objects.filter(room=message.room, id__lt=message.pk)
            .select_related("author")
            .order_by("-id")[:3]
        )[::-1]
        around += [message]
        around += list(
            Message.objects.filter(room=message.room, id__gt=message.pk)
            .select_related("author")
            .order_by("id")[:3]
        )
        return around

    @admin.action(description="Resolve", permissions=["moderate"])
    def resolve(self, request: HttpRequest, queryset: QuerySet[Report]) -> HttpResponse | None:
        return self.moderate(
            request,
            queryset,
            "Resolve reports",
            lambda r, data: moderation.handle_report(
                request.user, r, Report.RESOLVED, data.get("reason")
            ),
        )

    @admin.action(description="Dismiss", permissions=["moderate"])
    def dismiss(self, request: HttpRequest, queryset: QuerySet[Report]) -> HttpResponse | None:
        return self.moderate(
            request,
            queryset,
            "Dismiss reports",
            lambda r, data: moderation.handle_report(
                request.user, r, Report.DISMISSED, data.get("reason")
            ),
        )

    @admin.action(description="Remove the messages and resolve", permissions=["moderate"])
    def remove_and_resolve(
        self, request: HttpRequest, queryset: QuerySet[Report]
    ) -> HttpResponse | None:
        def apply(report: Report, data: dict[str, Any]) -> None:
            if not report.message.is_removed:
                moderation.remove_message(request.user, report.message, data.get("reason"))
            moderation.handle_report(request.user, report, Report.RESOLVED, data.get("reason"))

        return self.moderate(request, queryset, "Remove reported messages", apply)


class ReadOnly:
    """For an admin or inline whose rows are only read here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnly, admin.ModelAdmin[Any]):
    pass


@admin.register(ModerationAction)
class ModerationActionAdmin(ReadOnlyAdmin):
    """The moderation log: visible and searchable, never editable."""

    list_display = ["created_at", "by", "action", "room", "target_user", "message", "reason"]
    list_filter = ["action"]
    search_fields = ["actor__username", "target_user__username", "room__slug", "reason"]
    list_select_related = ["actor", "room", "target_user", "message"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="actor", ordering="actor__username")
    def by(self, action: ModerationAction) -> str:
        return action.actor_name  # "system" for a mute or ban that ran out
