from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path

from rooms import accounts, api, inbox, notifications, preferences, views
from rooms.limits import PASSWORD_RESETS, rate_limited
from rooms.programs import hooks, openapi, tokens
from rooms.search.views import search_view

urlpatterns = [
    path("", views.lobby, name="lobby"),
    path("accounts/signup/", accounts.signup, name="signup"),
    path(
        "accounts/password_change/",
        accounts.PasswordChangeView.as_view(),
        name="password_change",
    ),
    # Each request may send a mail: limited per address. Before auth's own route for it.
    path(
        "accounts/password_reset/",
        rate_limited(PASSWORD_RESETS)(accounts.PasswordResetView.as_view()),
        name="password_reset",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("rooms/", include("rooms.urls")),
    path("dms/", api.direct_messages, name="dms"),
    path("search/", search_view, name="search"),
    path("settings/", preferences.settings_page, name="settings"),
    path("settings/export/", preferences.export_data, name="settings-export"),
    path("settings/tokens/", tokens.create_token, name="token-create"),
    path("settings/tokens/<int:token_id>/revoke/", tokens.revoke_token, name="token-revoke"),
    # An incoming webhook: the secret in the URL is its credential (rooms/programs/hooks.py).
    path("hooks/<int:hook_id>/<str:secret>/", hooks.incoming, name="hook-incoming"),
    path("api/openapi.json", openapi.openapi_json, name="openapi"),
    path("mentions/", inbox.mentions_page, name="mentions"),
    path(
        "notifications/unsubscribe/<str:token>/",
        notifications.unsubscribe,
        name="unsubscribe",
    ),
]

# With DEBUG on, serve static files from daphne run directly too (as `runserver` does), so
# that the pages work under `daphne chatsite.asgi:application` and in the browser tests.
# With DEBUG off this adds nothing: serve STATIC_ROOT (collectstatic) from the proxy.
urlpatterns += staticfiles_urlpatterns()
