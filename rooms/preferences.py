"""The settings page: a person's own choices (rooms/models/people.py), and links to the
rest of their account."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render

from rooms.http import AuthenticatedRequest
from rooms.models import Membership, NotifyLevel, Preferences


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
    # The rooms where a level of their own overrides "Tell me about".
    own_levels = (
        Membership.objects.filter(user=request.user)
        .exclude(notify=NotifyLevel.DEFAULT)
        .select_related("room")
        .order_by("room__name")
    )
    context = {"form": form, "own_levels": own_levels}
    if request.method == "POST":
        if form.is_valid():
            form.save()
            messages.success(request, "Your settings are saved.")
            return redirect("settings")
        return render(request, "rooms/settings.html", context, status=400)
    return render(request, "rooms/settings.html", context)
