"""The settings page: a person's own choices (rooms/models/people.py), links to the rest
of their account, and the download of their own data."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from rooms.export.person import person_lines
from rooms.export.stream import download
from rooms.http import AuthenticatedRequest
from rooms.limits import EXPORTS, rate_limited
from rooms.models import Membership, NotifyLevel, Preferences
from rooms.programs import tokens


class PreferencesForm(forms.ModelForm[Preferences]):
    class Meta:
        model = Preferences
        fields = ["notify", "email_notifications", "share_presence"]
        widgets = {"notify": forms.RadioSelect}
        labels = {
            "notify": "Tell me about",
            "email_notifications": "Email me about what I have not read",
            "share_presence": "Share that I am here and typing",
        }


@login_required
def settings_page(request: AuthenticatedRequest) -> HttpResponse:
    preferences = Preferences.of(request.user)
    form = PreferencesForm(request.POST or None, instance=preferences)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            messages.success(request, "Your settings are saved.")
            return redirect("settings")
        return render_settings(request, form=form, status=400)
    return render_settings(request, form=form)


def render_settings(
    request: AuthenticatedRequest,
    *,
    form: PreferencesForm | None = None,
    token_form: tokens.TokenForm | None = None,
    new_token: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """The settings page, with its Tokens section (rooms/programs/tokens.py)."""
    if form is None:
        form = PreferencesForm(instance=Preferences.of(request.user))
    # The rooms where a level of their own overrides "Tell me about".
    own_levels = (
        Membership.objects.filter(user=request.user)
        .exclude(notify=NotifyLevel.DEFAULT)
        .select_related("room")
        .order_by("room__name")
    )
    context = {
        "form": form,
        "own_levels": own_levels,
        "new_token": new_token,
        **tokens.tokens_context(request, token_form),
    }
    return render(request, "rooms/settings.html", context, status=status)


@login_required
@require_GET
@rate_limited(EXPORTS, methods=("GET",))
def export_data(request: AuthenticatedRequest) -> StreamingHttpResponse:
    """Their account, settings, memberships and messages as JSON Lines (rooms/export/person.py)."""
    return download(person_lines(request.user), f"{request.user.get_username()}-data.jsonl")
