"""Direct messages: POST /dms/ and what a DM is (a private room of kind "dm", no owner)."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from rooms.models import Room
from tests.conftest import client_for
from tests.helpers import Stream, post_json, post_message, wait_for_user_streams


@pytest.mark.django_db
def test_a_dm_is_created_once_per_set_of_people(alice, bob, carol, as_alice, as_bob):
    response = post_json(as_alice, "/dms/", {"usernames": ["bob"]})
    assert response.status_code == 201
    dm = response.json()
    assert dm["kind"] == "dm"
    assert dm["owner"] is None
    assert dm["private"] is True
    assert dm["members"] == ["alice", "bob"]
    assert dm["unread"] == 0
    # The same people, whoever asks and in whatever order: the same DM.
    again = post_json(as_bob, "/dms/", {"usernames": ["alice", "bob"]})
    assert again.status_code == 200
    assert again.json()["slug"] == dm["slug"]
    group = post_json(as_alice, "/dms/", {"usernames": ["carol", "bob"]})
    assert group.status_code == 201
    assert group.json()["slug"] != dm["slug"]
    assert group.json()["members"] == ["alice", "bob", "carol"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("usernames", "error"),
    [
        (["nobody", "bob", "ghost"], "no such user: ghost, nobody"),
        (["alice"], "name at least one other person"),
        ([], "name at least one other person"),
        ("bob", "usernames must be a list of usernames"),
        ([1], "usernames must be a list of usernames"),
        ([f"u{i}" for i in range(9)], "a direct message is with at most 8 other people"),
    ],
)
def test_bad_dm_requests_are_400(alice, bob, as_alice, usernames, error):
    response = post_json(as_alice, "/dms/", {"usernames": usernames})
    assert (response.status_code, response.json()["error"]) == (400, error)


@pytest.mark.django_db
def test_a_deactivated_person_cannot_be_put_in_a_dm(alice, bob, as_alice):
    bob.is_active = False
    bob.save()
    response = post_json(as_alice, "/dms/", {"usernames": ["bob"]})
    assert (response.status_code, response.json()["error"]) == (400, "no such user: bob")


@pytest.mark.django_db
def test_every_room_endpoint_works_on_a_dm_and_outsiders_see_nothing(alice, bob, carol, as_alice):
    slug = post_json(as_alice, "/dms/", {"usernames": ["bob"]}).json()["slug"]
    as_bob, as_carol = client_for(bob), client_for(carol)
    posted = post_message(as_bob, slug, {"body": "hi alice"})
    assert posted.status_code == 201
    assert [m["body"] for m in as_alice.get(f"/rooms/{slug}/messages/").json()["messages"]] == [
        "hi alice"
    ]
    assert (
        post_json(as_alice, f"/rooms/{slug}/read/", {"up_to": posted.json()["id"]}).status_code
        == 200
    )
    # Outsiders: as if it did not exist; nobody can join it or be added to it.
    assert as_carol.get(f"/rooms/{slug}/messages/").status_code == 404
    assert post_json(as_carol, f"/rooms/{slug}/join/").status_code == 404
    added = post_json(as_alice, f"/rooms/{slug}/members/", {"username": "carol"})
    assert added.status_code == 409
    assert slug not in {room["slug"] for room in as_carol.get("/rooms/").json()["rooms"]}
    assert Room.objects.get(slug=slug).memberships.count() == 2


@pytest.mark.django_db
def test_a_dm_lists_with_its_people_and_unread(alice, bob, as_alice, as_bob):
    slug = post_json(as_alice, "/dms/", {"usernames": ["bob"]}).json()["slug"]
    post_message(as_alice, slug, {"body": "ping"})
    rooms = {room["slug"]: room for room in as_bob.get("/rooms/").json()["rooms"]}
    assert rooms[slug]["members"] == ["alice", "bob"]
    assert rooms[slug]["unread"] == 1
    assert rooms[slug]["member"] is True


@pytest.mark.django_db(transaction=True)
async def test_being_put_in_a_dm_reaches_the_user_stream_and_its_messages_flow(alice, bob):
    alices = await sync_to_async(client_for)(alice)
    async with Stream(None, bob) as bobs, Stream(None, alice) as alice_stream:
        await wait_for_user_streams(bob.pk)
        await wait_for_user_streams(alice.pk)
        response = await sync_to_async(post_json)(alices, "/dms/", {"usernames": ["bob"]})
        slug = response.json()["slug"]
        await sync_to_async(post_message)(alices, slug, {"body": "psst"})
        for stream in (bobs, alice_stream):
            events = await stream.read_until(
                lambda events: any(e.type == "message" for e in events)
            )
            # Each of them, the first added as much as the last, learns the whole DM.
            joined = [e.json for e in events if e.type == "room_joined"]
            assert [(j["room"], j["kind"], j["members"]) for j in joined] == [
                (slug, "dm", ["alice", "bob"])
            ]
            assert events[-1].json["data"]["body"] == "psst"


@pytest.mark.django_db
def test_dms_are_rate_limited(alice, bob, as_alice, settings):
    settings.CHAT_DMS_PER_HOUR = 2
    for name in ("u1", "u2", "u3"):
        User.objects.create_user(name)
    statuses = [
        post_json(as_alice, "/dms/", {"usernames": [name]}).status_code
        for name in ("u1", "u2", "u3")
    ]
    assert statuses == [201, 201, 429]


@pytest.mark.django_db
def test_staff_read_a_dm_only_where_it_was_reported(alice, bob, mod, as_alice, lobby):
    slug = post_json(as_alice, "/dms/", {"usernames": ["bob"]}).json()["slug"]
    post_message(as_alice, slug, {"body": "private words"})
    reported = post_message(client_for(bob), slug, {"body": "rude words"}).json()
    post_message(as_alice, slug, {"body": "more private words"})
    lobby.post_message(alice, "public words")
    as_mod = client_for(mod)

    def admin_text(url: str) -> str:
        response = as_mod.get(url)
        assert response.status_code == 200
        return response.content.decode()

    messages = admin_text("/admin/rooms/message/")
    assert "public words" in messages and "private words" not in messages
    # Staff who may read the event log read no DM's part of it.
    from django.contrib.auth.models import Permission

    mod.user_permissions.add(Permission.objects.get(codename="view_roomevent"))
    events = admin_text("/admin/rooms/roomevent/")
    assert "lobby" in events and slug not in events
    assert as_mod.get(f"/admin/rooms/message/{reported['id']}/change/").status_code == 302

    report = post_json(
        as_alice, f"/rooms/{slug}/messages/{reported['id']}/report/", {"reason": "rude"}
    )
    assert report.status_code == 201
    messages = admin_text("/admin/rooms/message/")
    assert "rude words" in messages and "private words" not in messages
    reports = admin_text(f"/admin/rooms/report/{report.json()['id']}/change/")
    assert "rude words" in reports and "private words" not in reports

    superuser = User.objects.create_superuser("root", password="root-password-1")
    assert "private words" in client_for(superuser).get("/admin/rooms/message/").content.decode()
