"""The room's moderation page and the endpoints only it needed: the current restrictions,
and the owner removing a member.

alice owns the lobby and the private room secret; bob is in both; dave moderates the lobby;
carol is in neither; mod is site staff.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from rooms import moderation
from rooms.models import ModerationAction, Restriction
from tests.conftest import client_for
from tests.helpers import Stream


def delete(client, path):
    response = client.delete(path)
    return response.status_code, json.loads(response.content)


@pytest.mark.django_db
def test_the_owner_sees_every_power(as_alice, lobby):
    page = as_alice.get("/rooms/lobby/moderation/")
    assert page.status_code == 200
    html = page.content.decode()
    for part in [
        'id="room-settings"',
        'id="restrict"',
        'id="restrictions"',
        "Make moderator",
        "Remove from room",
        "rooms/moderation.js",
    ]:
        assert part in html, part
    assert "<script>" not in html  # no inline script: the CSP forbids it


@pytest.mark.django_db
def test_a_room_moderator_cannot_name_moderators_or_remove_members(lobby, dave):
    html = client_for(dave).get("/rooms/lobby/moderation/").content.decode()
    assert 'id="restrict"' in html
    assert "Make moderator" not in html
    assert "Remove from room" not in html


@pytest.mark.django_db
def test_site_staff_name_moderators_but_do_not_remove_members(lobby, mod):
    html = client_for(mod).get("/rooms/lobby/moderation/").content.decode()
    assert "Make moderator" in html
    assert "Remove from room" not in html


@pytest.mark.django_db
def test_the_room_page_links_moderators_to_it(as_alice, as_bob, lobby):
    assert b'href="/rooms/lobby/moderation/"' in as_alice.get("/rooms/lobby/").content
    assert b'href="/rooms/lobby/moderation/"' not in as_bob.get("/rooms/lobby/").content
    assert b'href="/rooms/lobby/moderation/"' in as_alice.get("/rooms/lobby/people/").content


@pytest.mark.django_db
def test_current_mutes_and_bans_are_listed_with_their_expiry(as_alice, lobby, alice, bob, carol):
    mute = moderation.restrict(alice, lobby, bob, Restriction.MUTE, minutes=30, reason="calm down")
    moderation.restrict(alice, lobby, carol, Restriction.BAN)
    # One whose time ran out (its end not written yet) is not current any more.
    Restriction.objects.create(
        room=lobby, user=alice, kind=Restriction.MUTE, expires_at=timezone.now() - timedelta(1)
    )

    answer = as_alice.get("/rooms/lobby/restrictions/").json()

    listed = [{k: v for k, v in r.items() if k != "created"} for r in answer["restrictions"]]
    assert listed == [
        {"username": "carol", "kind": "ban", "until": None, "reason": "", "by": "alice"},
        {
            "username": "bob",
            "kind": "mute",
            "until": answer["restrictions"][1]["until"],
            "reason": "calm down",
            "by": "alice",
        },
    ]
    until = datetime.fromisoformat(answer["restrictions"][1]["until"])
    assert mute.expires_at is not None
    assert abs(until - mute.expires_at) < timedelta(milliseconds=1)
    html = as_alice.get("/rooms/lobby/moderation/").content.decode()
    assert "Lift the mute of bob" in html
    assert "Lift the ban of carol" in html
    assert f'datetime="{mute.expires_at.isoformat()}"' in html
    assert "Lift the mute of alice" not in html


@pytest.mark.django_db
def test_the_owner_removes_a_member(as_alice, lobby, bob):
    status, answer = delete(as_alice, "/rooms/lobby/members/bob/")
    assert (status, answer) == (200, {"username": "bob", "member": False})
    assert not lobby.is_member(bob)
    assert lobby.events.order_by("-seq").first().type == "member_left"
    entry = ModerationAction.objects.get(action=ModerationAction.REMOVE_MEMBER)
    assert entry.actor is not None
    assert (entry.actor.username, entry.target_user, entry.room) == ("alice", bob, lobby)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/rooms/lobby/members/carol/", 404, "carol is not a member of this room"),
        ("/rooms/lobby/members/nobody/", 404, "nobody is not a member of this room"),
        ("/rooms/lobby/members/alice/", 409, "the owner cannot be removed from their own room"),
        ("/rooms/no-room/members/bob/", 404, "no such room"),
    ],
)
def test_removing_someone_who_is_not_removable(as_alice, lobby, carol, path, status, error):
    assert delete(as_alice, path) == (status, {"error": error})
    assert ModerationAction.objects.count() == 0


@pytest.mark.django_db
def test_only_the_owner_removes_members(lobby, bob, dave, mod, as_bob):
    for client in (client_for(dave), client_for(mod), as_bob):
        status, answer = delete(client, "/rooms/lobby/members/bob/")
        assert (status, answer) == (403, {"error": "only the room's owner can remove members"})
    assert lobby.is_member(bob)
    assert as_bob.post("/rooms/lobby/members/bob/").status_code == 405


@pytest.mark.django_db(transaction=True)
async def test_removing_a_member_of_a_private_room_closes_their_streams(secret, alice, bob):
    async with Stream("secret", bob) as stream, Stream("secret", alice) as owners:
        owner = await sync_to_async(client_for)(alice)
        status, _ = await sync_to_async(delete)(owner, "/rooms/secret/members/bob/")
        assert status == 200
        await stream.read_to_end(timeout=2)
        assert stream.events[-1].type == "revoked"
        events = await owners.read_until(lambda e: any(x.type == "member_left" for x in e))
        assert events[-1].json == {"room": "secret", "user": "bob"}
