"""Accounts: signing up, the password change and reset pages, and how a CSRF failure is
answered. Logging in and out are Django's own views (django.contrib.auth.urls)."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import forms as auth_forms
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordChangeForm, UserCreationForm
from django.contrib.auth.models import User
from django.contrib.auth.validators import ASCIIUsernameValidator
from django.core import mail
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template import loader

from rooms import limits, signals
from rooms.http import json_error

logger = logging.getLogger(__name__)


class SignUpForm(UserCreationForm[User]):
    """Usernames are ASCII letters, digits and @ . + - _ (a script policy): no one can sign
    up as a look-alike of someone else spelt with letters of another script (a Cyrillic
    letter for a Latin one). Names that differ only in case Django refuses already.

    LIMITATION: look-alikes within ASCII (l and I, 0 and O, rn and m) are not refused."""

    def clean_username(self) -> str:
        username = super().clean_username()
        if username:
            ASCIIUsernameValidator()(username)
        return str(username)


@limits.rate_limited(limits.SIGNUPS, counts=lambda response: response.status_code == 302)
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("lobby")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("lobby")
    return render(request, "registration/signup.html", {"form": form})


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, in the site's style. The other sessions of the account end
    (their open streams with them); this one stays valid, and so do its open pages."""

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        signals.keep_streams_of_session(form.user, self.request.session)
        # One transaction: the revocation is sent at commit, once Django has given this
        # session its new key, which its streams then go by.
        with transaction.atomic():
            return super().form_valid(form)


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's, but a mail that cannot be sent raises (Django's logs it and goes on), and
    all of them go through one mailer, connected before anything is sent."""

    mailer: Any = None

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        body = loader.render_to_string(email_template_name, context)
        message = mail.EmailMultiAlternatives(subject, body, from_email, [to_email])
        if html_email_template_name is not None:
            html = loader.render_to_string(html_email_template_name, context)
            message.attach_alternative(html, "text/html")
        self.mailer.send_messages([message])


MAIL_FAILED = (
    "The email could not be sent: please try again later, and if it keeps failing, tell the "
    "site's administrator."
)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset form, in the site's style, that says so when the mail fails
    (Django's says "sent" whatever happened) and logs why."""

    form_class = PasswordResetForm

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:  # type: ignore[override]
        try:
            # Connect first, whatever the address: a mail server that is down or refuses us
            # fails alike for known and unknown addresses, so the answer does not tell which
            # addresses have an account.
            with mail.mailers.default as mailer:
                form.mailer = mailer
                return super().form_valid(form)
        except OSError as exc:  # smtplib's errors included
            logger.error("password reset: the mail could not be sent: %r", exc)
            form.add_error(None, MAIL_FAILED)
            return self.form_invalid(form)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF failures as JSON for API clients, Django's page for browsers."""
    if "text/html" in request.headers.get("Accept", ""):
        from django.views.csrf import csrf_failure as default_csrf_failure

        return default_csrf_failure(request, reason)
    return json_error(403, f"CSRF check failed: {reason}")
