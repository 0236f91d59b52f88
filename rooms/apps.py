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
