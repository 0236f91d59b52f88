"""Named people, built once per test.

alice: owns the rooms below and is a member of both
bob:   a member of both rooms
carol: logged in, a member of nothing (she can read the public room, not the private one)
"""

from __future__ import annotations

import importlib
import uuid

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client

from rooms.models import Room
from rooms.stream.hub import hub
from rooms.stream.site import SiteChannel


@pytest.fixture(scope="session", autouse=True)
def close_database_pool(django_db_setup, django_db_blocker):
    """Close the connections that worker threads left open before the test database is dropped.

    Streams read the database from asgiref's worker thread, whose connection outlives a test.
    """
    yield
    with django_db_blocker.unblock():
        connection = connections["default"]
        if connection.vendor == "postgresql":
            from django.db.backends.postgresql.base import DatabaseWrapper

            assert isinstance(connection, DatabaseWrapper)
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            connection.close_pool()


@pytest.fixture(autouse=True)
def fresh_hub():
    """Each test runs on its own event loop: start with no open streams."""
    hub.loop = None
    hub.rooms = {}
    hub.site = SiteChannel()
    yield
    hub.loop = None
    hub.rooms = {}
    hub.site = SiteChannel()


@pytest.fixture
def alice(db) -> User:
    return User.objects.create_user("alice", password="alice-password-1")


@pytest.fixture
def bob(db) -> User:
    return User.objects.create_user("bob", password="bob-password-1")


@pytest.fixture
def carol(db) -> User:
    return User.objects.create_user("carol", password="carol-password-1")


@pytest.fixture
def lobby(alice, bob) -> Room:
    """A public room: alice owns it, bob is in it."""
    room = Room.objects.create(slug="lobby", name="Lobby", owner=alice)
    room.add_member(alice, role="owner")
    room.add_member(bob)
    return room


@pytest.fixture
def secret(alice, bob) -> Room:
    """A private room: alice owns it, bob is in it."""
    room = Room.objects.create(slug="secret", name="Secret", private=True, owner=alice)
    room.add_member(alice, role="owner")
    room.add_member(bob)
    return room


def client_for(user: User | None, *, enforce_csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=enforce_csrf)
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def as_alice(alice) -> Client:
    return client_for(alice)


@pytest.fixture
def as_bob(bob) -> Client:
    return client_for(bob)


@pytest.fixture
def as_carol(carol) -> Client:
    return client_for(carol)


@pytest.fixture(autouse=True)
def test_settings(settings, tmp_path):
    # Posts are written in the test's own transaction, not by a writer thread of their own
    # (rooms/writer.py; tests/test_writer.py tests the thread).
    settings.CHAT_WRITER = "inline"
    # Hashing passwords properly is slow on purpose; tests make many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests post hundreds of messages as one person; test_security_limits.py tests the limit.
    settings.CHAT_POSTS_PER_MINUTE = 0
    # The same for every other rate limit (rooms/limits.py); each has a test of its own.
    from rooms.limits import ALL_LIMITS

    for limit in ALL_LIMITS:
        setattr(settings, limit.setting, 0)
    # Uploaded files of this test's own, on the file system (the default storage).
    settings.STORAGES = {
        **settings.STORAGES,
        "uploads": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    # Counts of this test's own, whatever earlier tests (or runs, in Redis) counted.
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}:"}
    }


@pytest.fixture
def moderators_group(db):
    """The group its migration creates (transactional tests flush migration data away)."""
    from django.contrib.auth.models import Group, Permission

    migration = importlib.import_module("rooms.migrations.0003_moderators_group")
    group, _ = Group.objects.get_or_create(name=migration.GROUP_NAME)
    for app_label, codename in migration.PERMISSIONS:
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return group


@pytest.fixture
def mod(moderators_group) -> User:
    """Site staff in the Moderators group: moderates every room from the admin and the site."""
    user = User.objects.create_user("mod", password="mod-password-1", is_staff=True)
    user.groups.add(moderators_group)
    return user


@pytest.fixture
def dave(lobby, db) -> User:
    """A member of the lobby whom alice named a room moderator."""
    user = User.objects.create_user("dave", password="dave-password-1")
    lobby.add_member(user, role="moderator")
    return user


@pytest.fixture
def eve(db) -> User:
    """Staff without moderation rights (say, support staff who may only look at users)."""
    from django.contrib.auth.models import Permission

    user = User.objects.create_user("eve", password="eve-password-1", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_message", "view_room", "view_report"])
    )
    return user


@pytest.fixture
def live_database(tmp_path):
    """A fresh database (and Redis prefix) for real servers; see tests/live.py."""
    from tests.live import LiveDatabase

    database = LiveDatabase(tmp_path).create()
    yield database
    database.drop()
