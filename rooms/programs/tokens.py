"""Authenticating a request by its API token, and the settings page's Tokens section.

`Authorization: Bearer <token>` authenticates any JSON endpoint (TokenAuthenticationMiddleware,
rooms/middleware.py) and both streams (rooms/stream/consumer.py). Rules, all here:

- a token is accepted in that header only: one in the query string is refused (400), since
  query strings end up in proxies' logs and browsers' history;
- an unknown, revoked or expired token, or another kind of Authorization, is a 401: never
  a fall-back to the session cookie, so a cookie plus a bad token is still checked for CSRF;
- a valid token stands in for the session: no CSRF check (a browser never sends it by
  itself), no session created or read;
- a "read" token may GET and HEAD (and open streams); anything else is a 403;
- tokens cannot reach the account's own pages (TOKEN_FREE_PATHS: the admin, log in, password,
  settings with its tokens): a leaked token must not make more tokens or change the password.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from rooms import limits
from rooms.http import AuthenticatedRequest
from rooms.models import ApiToken
from rooms.models.programs import MAX_TOKEN_NAME_LENGTH

# Query parameters that would carry a token: refused wherever they appear.
TOKEN_QUERY_PARAMETERS = frozenset({"access_token", "token", "api_token", "bearer"})
# Paths a token never authenticates (and the header is refused on): the account itself.
TOKEN_FREE_PATHS = ("/admin/", "/accounts/", "/settings/")
# Paths whose credential is elsewhere (an incoming webhook's is its URL): an Authorization
# header that a sending tool adds on its own is ignored there, neither used nor refused.
TOKENLESS_PATHS = ("/hooks/",)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

INVALID_TOKEN = "the token is not valid (unknown, revoked or expired)"
BEARER_ONLY = "use Authorization: Bearer <token>"
TOKEN_IN_QUERY = "send the token in the Authorization header, never in the URL"
TOKEN_NOT_HERE = "API tokens cannot be used on the account's pages"
READ_ONLY_TOKEN = "this token may only read: it needs the write scope"


class Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> JsonResponse:
        response = JsonResponse({"error": self.message}, status=self.status)
        if self.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="chat"'
        return response


def bearer_text(authorization: str | None, query_names: Iterable[str], path: str) -> str | None:
    """The token the request carries, if any; raise Refusal for one sent the wrong way.
    No I/O: runs on the event loop."""
    if path.startswith(TOKENLESS_PATHS):
        return None
    if any(name in TOKEN_QUERY_PARAMETERS for name in query_names):
        raise Refusal(400, TOKEN_IN_QUERY)
    if authorization is None:
        return None
    scheme, _, text = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not text.strip():
        raise Refusal(401, BEARER_ONLY)
    if path.startswith(TOKEN_FREE_PATHS):
        raise Refusal(403, TOKEN_NOT_HERE)
    return text.strip()


def authenticate(text: str, method: str) -> ApiToken:
    """The valid token this text is, its use noted; raise Refusal if it is not one or may
    not do `method`. Does I/O: a thread's work in async mode."""
    token = ApiToken.objects.of_text(text)
    if token is None or not token.is_valid():
        raise Refusal(401, INVALID_TOKEN)
    if method not in READ_METHODS and not token.can_write:
        raise Refusal(403, READ_ONLY_TOKEN)
    token.note_use()
    return token


# The settings page's Tokens section (templates/rooms/_tokens.html).

EXPIRY_CHOICES = [
    ("", "Never"),
    ("7", "In 7 days"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=MAX_TOKEN_NAME_LENGTH, label="Name")
    scope = forms.ChoiceField(
        choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ, label="Scope"
    )
    expires_in_days = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, label="Expires")

    def expires_at(self) -> datetime.datetime | None:
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + datetime.timedelta(days=int(days)) if days else None


def tokens_context(request: HttpRequest, form: TokenForm | None = None) -> dict[str, Any]:
    return {
        "tokens": ApiToken.objects.filter(user_id=request.user.pk or 0, revoked_at__isnull=True),
        "token_form": form or TokenForm(prefix="token"),
    }


@login_required
@require_POST
@limits.rate_limited(limits.ACTIONS)
def create_token(request: AuthenticatedRequest) -> HttpResponse:
    """POST /settings/tokens/: make a token and show it, once, on the settings page."""
    from rooms.preferences import render_settings

    form = TokenForm(request.POST, prefix="token")
    if not form.is_valid():
        return render_settings(request, token_form=form, status=400)
    _, text = ApiToken.objects.create_token(
        request.user, form.cleaned_data["name"], form.cleaned_data["scope"], form.expires_at()
    )
    # Shown on this answer only: not in a message or the session, where it would be stored.
    return render_settings(request, new_token=text)


@login_required
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    """POST /settings/tokens/<id>/revoke/: the token stops working, its streams close."""
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    token.revoke()
    messages.success(request, f"The token {token.name!r} is revoked.")
    return redirect("settings")
