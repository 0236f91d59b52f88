"""The session store (rooms/sessions.py): Django's database sessions, read by a written-out
statement, with Django's rules: what Django's store wrote is read back, an expired or unknown
session is empty and its key forgotten."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DjangoStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from rooms.sessions import SessionStore

pytestmark = pytest.mark.django_db


def test_the_site_uses_this_store():
    assert settings.SESSION_ENGINE == "rooms.sessions"


def test_a_session_written_by_django_s_store_is_read_back():
    written = DjangoStore()
    written["who"] = "alice"
    written["n"] = 3
    written.save()
    read = SessionStore(written.session_key)
    assert dict(read.items()) == {"who": "alice", "n": 3}
    assert read.session_key == written.session_key


def test_an_expired_session_is_empty_and_its_key_forgotten():
    written = DjangoStore()
    written["who"] = "alice"
    written.save()
    Session.objects.filter(pk=written.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    read = SessionStore(written.session_key)
    assert dict(read.items()) == {}
    assert read.session_key is None


@pytest.mark.parametrize("key", ["x" * 32, None, "short"])
def test_an_unknown_or_malformed_key_is_an_empty_session(key):
    read = SessionStore(key)
    assert dict(read.items()) == {}
    assert read.session_key is None
