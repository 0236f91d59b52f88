import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a superuser named 'admin' with a random password if there is no superuser."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write(
                "  An admin account exists already "
                "(reset a password with: .venv/bin/python manage.py changepassword NAME)."
            )
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser("admin", password=password)
        self.stdout.write(
            f"  Created the admin account: user 'admin', password '{password}' (shown once;\n"
            "  change it with: .venv/bin/python manage.py changepassword admin)."
        )
