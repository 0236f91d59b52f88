"""Password reset by email: the link arrives, and a mail that cannot be sent says so.

bob has an account with an email address; the mail goes through real backends: Django's
locmem outbox, and SMTP pointed at a port where nothing listens.
"""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client

from tests.live import ROOT, server_env


@pytest.fixture
def bob_with_email(bob) -> User:
    bob.email = "bob@example.org"
    bob.save()
    return bob


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def dead_smtp_server(settings, closed_port):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": closed_port, "timeout": 5},
        }
    }


def ask_for_a_reset(email: str):
    return Client().post("/accounts/password_reset/", {"email": email})


@pytest.mark.django_db
def test_the_reset_link_arrives_and_sets_a_new_password(bob_with_email, settings):
    assert settings.MAILERS["default"]["BACKEND"].endswith("locmem.EmailBackend")  # tests'

    response = ask_for_a_reset("bob@example.org")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_reset/done/"
    [message] = mail.outbox
    assert message.to == ["bob@example.org"]
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", str(message.body))
    assert link is not None, message.body
    browser = Client()
    form = browser.get(link.group(1), follow=True)
    assert form.status_code == 200
    assert "Choose a new password" in form.content.decode()
    new = "a-brand-new-passphrase-7"
    done = browser.post(
        form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new}, follow=True
    )
    assert "Your new password is set" in done.content.decode()
    logged_in = Client().post("/accounts/login/", {"username": "bob", "password": new})
    assert logged_in.status_code == 302


@pytest.mark.django_db
def test_a_mail_that_cannot_be_sent_is_not_called_sent(bob_with_email, dead_smtp_server, caplog):
    with caplog.at_level(logging.ERROR, logger="rooms"):
        response = ask_for_a_reset("bob@example.org")

    assert response.status_code == 200  # the form again, not "done"
    page = response.content.decode()
    assert "The email could not be sent: please try again later" in page
    assert 'role="alert"' in page
    assert "Check your email" not in page
    [record] = [r for r in caplog.records if r.name == "rooms.accounts"]
    assert record.levelno == logging.ERROR
    assert "password reset: the mail could not be sent" in record.getMessage()
    assert "Connection refused" in record.getMessage()


@pytest.mark.django_db
def test_a_dead_mail_server_fails_alike_for_unknown_addresses(bob_with_email, dead_smtp_server):
    # Otherwise the error would tell who has an account.
    known = ask_for_a_reset("bob@example.org")
    unknown = ask_for_a_reset("nobody@example.org")
    assert known.status_code == unknown.status_code == 200
    assert b"The email could not be sent" in unknown.content


@pytest.mark.django_db
def test_the_reset_pages_are_the_sites(bob_with_email):
    for path in [
        "/accounts/password_reset/",
        "/accounts/password_reset/done/",
        "/accounts/reset/MQ/not-a-token/",
        "/accounts/reset/done/",
    ]:
        page = Client().get(path)
        assert page.status_code == 200, path
        html = page.content.decode()
        assert 'class="site-header"' in html, path
        assert "Django administration" not in html, path
    assert b"does not work" in Client().get("/accounts/reset/MQ/not-a-token/").content
    login = Client().get("/accounts/login/").content.decode()
    assert 'href="/accounts/password_reset/">Forgot your password?</a>' in login


def mail_settings(**env: str) -> subprocess.CompletedProcess[str]:
    """The default mailer that the site makes from this environment."""
    code = (
        "import django; django.setup(); from django.core import mail; m = mail.mailers.default;"
        " print(type(m).__module__, *(getattr(m, name, '-') for name in"
        " ('host', 'port', 'use_tls', 'use_ssl', 'timeout')))"
    )
    environment = server_env(env)
    for name in [name for name in environment if name.startswith("EMAIL_")]:
        if name not in env:
            del environment[name]
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_mail_is_printed_in_development_when_nothing_is_set():
    result = mail_settings(DJANGO_DEBUG="1")
    assert result.stdout.split()[0] == "django.core.mail.backends.console", result.stderr


def test_mail_goes_to_the_smtp_server_of_the_environment():
    result = mail_settings(EMAIL_HOST="smtp.example.org", EMAIL_USE_TLS="1")
    assert result.stdout.split() == [
        "django.core.mail.backends.smtp", "smtp.example.org", "587", "True", "False", "10"
    ], result.stderr  # fmt: skip
    result = mail_settings(EMAIL_HOST="smtp.example.org", EMAIL_PORT="2525", EMAIL_TIMEOUT="3")
    assert result.stdout.split()[2:] == ["2525", "False", "False", "3"], result.stderr


def test_mail_goes_to_a_local_smtp_server_in_production_when_nothing_is_set():
    result = mail_settings(DJANGO_DEBUG="0", DJANGO_SECRET_KEY="x" * 50)
    assert result.stdout.split()[:3] == [
        "django.core.mail.backends.smtp", "localhost", "25"
    ], result.stderr  # fmt: skip


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"EMAIL_HOST": "mail", "EMAIL_USE_TLS": "1", "EMAIL_USE_SSL": "1"}, "EMAIL_USE_SSL"),
        ({"EMAIL_HOST": "mail", "EMAIL_PORT": "smtp"}, "EMAIL_PORT"),
        ({"EMAIL_HOST": "mail", "EMAIL_USE_TLS": "maybe"}, "EMAIL_USE_TLS"),
    ],
)
def test_bad_mail_settings_fail_naming_the_variable(env, named):
    result = mail_settings(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr
