"""Walk the URL table of docs/security.md: every person, every URL, the documented answer."""

import json
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from rooms import moderation
from rooms.models import Restriction, Room, Upload
from tests.asgi import asgi_client
from tests.conftest import client_for
from tests.helpers import Stream, image_bytes, upload_file

TABLE = Path(__file__).resolve().parent.parent / "docs" / "security.md"
ROLES = ["anonymous", "non-member", "member", "muted", "banned", "room moderator", "staff"]
USERNAMES = {
    "non-member": "carol",
    "member": "bob",
    "muted": "mia",
    "banned": "ben",
    "room moderator": "dave",
    "staff": "mod",
}


def read_table():
    rows = []
    for line in TABLE.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 + len(ROLES) or not re.fullmatch(r"GET|POST|PATCH|DELETE", cells[0]):
            continue
        method, path, payload, *statuses = cells
        rows.append((method, path, payload, dict(zip(ROLES, map(int, statuses), strict=True))))
    return rows


ROWS = read_table()
CASES = [
    pytest.param(method, path, payload, role, statuses[role], id=f"{method} {path} as {role}")
    for method, path, payload, statuses in ROWS
    for role in ROLES
]


def test_the_table_covers_every_url_pattern():
    assert len(ROWS) > 30
    from django.urls import get_resolver

    from rooms import urls as room_urls

    documented = {path for _, path, _, _ in ROWS}
    for pattern in room_urls.urlpatterns:
        route = "/rooms/" + str(pattern.pattern)
        route = route.replace("<slug:slug>", "{room}").replace("<int:message_id>", "{message}")
        route = route.replace("<str:username>", "{username}").replace("<str:key>", "{file}")
        route = route.replace("<int:hook_id>", "{hook}")
        assert any(
            re.fullmatch(
                re.escape(route)
                .replace(r"\{room\}", "(lobby|secret)")
                .replace(r"\{message\}", r"\{message\}")
                .replace(r"\{username\}", "[a-z]+")
                .replace(r"\{file\}", r"\{(lobby|secret)_file\}"),
                path,
            )
            for path in documented
        ), f"{route} is not in docs/security.md"
    assert get_resolver()  # the project's URLconf loads


@pytest.fixture
def world(moderators_group):
    """The rooms and people of the table."""
    alice = User.objects.create_user("alice")
    people = {name: User.objects.create_user(name) for name in USERNAMES.values()}
    people["mod"].is_staff = True
    people["mod"].save()
    people["mod"].groups.add(moderators_group)
    lobby = Room.objects.create(slug="lobby", name="Lobby", owner=alice)
    secret = Room.objects.create(slug="secret", name="Secret", owner=alice, private=True)
    for room in (lobby, secret):
        room.add_member(alice, role="owner")
        for name in ("bob", "mia", "ben"):
            room.add_member(people[name])
        room.add_member(people["dave"], role="moderator")
        moderation.restrict(alice, room, people["mia"], Restriction.MUTE)
        moderation.restrict(alice, room, people["ben"], Restriction.BAN)
    # bob's picture in each room; the lobby's is on "the message".
    pictures = {}
    for room in (lobby, secret):
        upload = upload_file(client_for(people["bob"]), room.slug, "a.png", image_bytes())
        assert upload.status_code == 201, upload.content
        pictures[room.slug] = upload.json()["id"]
    message, _ = lobby.post_message(people["bob"], "the message", attachments=[pictures["lobby"]])
    secret.post_message(people["bob"], "a picture", attachments=[pictures["secret"]])
    return people, message


def file_keys():
    """{lobby_file} and {secret_file} of the table: bob's pictures."""
    return {f"{u.room.slug}_file": u.key for u in Upload.objects.select_related("room")}


def request(client, method, path, payload):
    if not payload:
        return getattr(client, method.lower())(path)
    return getattr(client, method.lower())(
        path, json.dumps(json.loads(payload)), content_type="application/json"
    )


# Routed before Django (chatsite/asgi.py): asked through the ASGI application.
OPERATIONS_PATHS = ("/healthz", "/readyz", "/metrics")


def through_django(path: str) -> bool:
    return not path.endswith("/events/") and path not in OPERATIONS_PATHS


@pytest.mark.parametrize(
    ("method", "path", "payload", "role", "expected"),
    [case for case in CASES if through_django(str(case.values[1]))],
)
@pytest.mark.django_db
def test_the_documented_answer(world, method, path, payload, role, expected):
    people, message = world
    user = people[USERNAMES[role]] if role != "anonymous" else None
    payload = payload.replace("{message}", str(message.pk))
    path = path.format(message=message.pk, hook=999999, **file_keys())
    response = request(client_for(user), method, path, payload)
    assert response.status_code == expected, getattr(response, "content", b"")[:300]


@pytest.mark.parametrize(
    ("method", "path", "payload", "role", "expected"),
    [case for case in CASES if str(case.values[1]).endswith("/events/")],
)
@pytest.mark.django_db(transaction=True)
async def test_the_documented_answer_for_streams(world, method, path, payload, role, expected):
    people, _ = world
    user = people[USERNAMES[role]] if role != "anonymous" else None
    # /rooms/<slug>/events/, or the user stream /events/.
    slug = path.split("/")[2] if path.startswith("/rooms/") else None
    async with Stream(slug, user) as stream:
        assert stream.status == expected


@pytest.mark.parametrize(
    ("method", "path", "payload", "role", "expected"),
    [case for case in CASES if case.values[1] in OPERATIONS_PATHS],
)
@pytest.mark.django_db(transaction=True)
async def test_the_documented_answer_for_operations(world, method, path, payload, role, expected):
    people, _ = world
    user = people[USERNAMES[role]] if role != "anonymous" else None
    async with asgi_client(user, address="203.0.113.7") as client:
        response = await client.request(method, path)
    assert response.status_code == expected, response.text[:300]


@pytest.mark.django_db
def test_a_private_room_answers_outsiders_exactly_like_a_missing_one(world):
    people, _ = world
    carol = client_for(people["carol"])
    for suffix in ["", "people/", "messages/", "members/", "join/", "messages/1/"]:
        method = "post" if suffix == "join/" else "get"
        hidden = getattr(carol, method)(f"/rooms/secret/{suffix}")
        missing = getattr(carol, method)(f"/rooms/no-such-room/{suffix}")
        assert hidden.status_code == missing.status_code == 404, suffix
        assert hidden.content == missing.content, suffix


@pytest.mark.django_db(transaction=True)
async def test_a_private_room_stream_looks_missing_to_outsiders(world):
    people, _ = world
    async with (
        Stream("secret", people["carol"]) as hidden,
        Stream("no-such-room", people["carol"]) as missing,
    ):
        await hidden.read_to_end()
        await missing.read_to_end()
        assert (hidden.status, hidden.body) == (missing.status, missing.body)
        assert hidden.status == 404
