from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class RoomsConfig(AppConfig):
    name = "rooms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from rooms import signals  # noqa: F401  (connects the receivers)

        checks.register(check_fanout_backend, checks.Tags.compatibility, deploy=True)
        checks.register(check_security_middleware, checks.Tags.security, deploy=True)


def check_fanout_backend(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if (
        not settings.DEBUG
        and settings.CHAT_FANOUT_BACKEND == "rooms.stream.backends.local.LocalFanout"
    ):
        return [
            checks.Warning(
                "In-process fan-out only reaches streams of the process that committed the "
                "event; with more than one server process, live events go missing until "
                "clients reconnect.",
                hint="Set REDIS_URL to fan out through Redis.",
                id="rooms.W001",
            )
        ]
    return []


# Django's deploy checks security.W001-W003 look for these middleware by their dotted path;
# settings.MIDDLEWARE names subclasses of them that run on the event loop
# (rooms/middleware.py), so settings.py silences those three and this check stands in.
GUARDING_MIDDLEWARE = {
    "django.middleware.security.SecurityMiddleware": "security.W001",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": "security.W002",
    "django.middleware.csrf.CsrfViewMiddleware": "security.W003",
}


def check_security_middleware(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from django.utils.module_loading import import_string

    loaded = []
    for path in settings.MIDDLEWARE:
        try:
            loaded.append(import_string(path))
        except ImportError:
            continue
    problems: list[checks.CheckMessage] = []
    for path, stands_for in GUARDING_MIDDLEWARE.items():
        guard = import_string(path)
        if not any(isinstance(cls, type) and issubclass(cls, guard) for cls in loaded):
            problems.append(
                checks.Warning(
                    f"Neither {path} nor a subclass of it is in MIDDLEWARE (Django's "
                    f"{stands_for}, silenced in favour of this check).",
                    id="rooms.W002",
                )
            )
    return problems
