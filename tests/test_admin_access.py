"""Every change made in the admin that affects who can read what goes through the same
model methods as the site: it writes the same events and closes the same streams.

root is a superuser; alice owns both rooms, bob is in both; carol reads the public one.
"""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User

from rooms.models import Membership, Message, ModerationAction, Room, RoomEvent
from tests.conftest import client_for
from tests.helpers import Stream

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def root(db):
    return User.objects.create_superuser("root", password="root-password-1")


@pytest.fixture
def as_root(root):
    return client_for(root)


# What the admin's room form posts besides its fields: the (read-only) members inline.
MEMBERS_INLINE = {"memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"}


def membership(room, user):
    return Membership.objects.get(room=room, user=user)


async def test_deleting_a_membership_of_a_private_room_closes_the_members_stream(
    secret, bob, alice, as_root
):
    url = f"/admin/rooms/membership/{(await sync_to_async(membership)(secret, bob)).pk}/delete/"
    async with Stream("secret", bob) as bobs, Stream("secret", alice) as alices:
        response = await sync_to_async(as_root.post)(url, {"post": "yes"})
        assert response.status_code == 302
        await sync_to_async(secret.post_message)(alice, "after bob is out")
        await bobs.read_to_end()
        assert [e.type for e in bobs.events] == ["member_left", "revoked"]
        events = await alices.read_events(2)
        assert [e.type for e in events] == ["member_left", "message"]


async def test_the_owners_membership_cannot_be_deleted_in_the_admin(secret, alice, as_root):
    url = f"/admin/rooms/membership/{(await sync_to_async(membership)(secret, alice)).pk}/delete/"
    response = await sync_to_async(as_root.post)(url, {"post": "yes"})
    assert response.status_code == 403
    assert await sync_to_async(Membership.objects.filter(room=secret, user=alice).exists)()


async def test_deleting_memberships_in_bulk_skips_the_owner_and_closes_the_others(
    secret, bob, alice, as_root
):
    ids = await sync_to_async(lambda: [str(m.pk) for m in Membership.objects.filter(room=secret)])()
    async with Stream("secret", bob) as bobs:
        response = await sync_to_async(as_root.post)(
            "/admin/rooms/membership/",
            {"action": "delete_selected", ACTION_CHECKBOX_NAME: ids, "post": "yes"},
        )
        assert response.status_code == 302
        await bobs.read_to_end()
        assert bobs.events[-1].type == "revoked"
    members = await sync_to_async(
        lambda: list(Membership.objects.filter(room=secret).values_list("user__username"))
    )()
    assert members == [("alice",)]


async def test_adding_a_membership_in_the_admin_is_a_join(secret, carol, as_root):
    async with Stream("secret", carol) as outside:
        await outside.read_to_end()
        assert outside.status == 404
    response = await sync_to_async(as_root.post)(
        "/admin/rooms/membership/add/",
        {"room": secret.pk, "user": carol.pk, "role": "member"},
    )
    assert response.status_code == 302
    types = await sync_to_async(
        lambda: list(RoomEvent.objects.filter(room=secret).values_list("type", flat=True))
    )()
    assert types[-1] == "member_joined"
    async with Stream("secret", carol) as inside:
        assert inside.status == 200


async def test_making_a_public_room_private_closes_the_streams_of_non_members_only(
    lobby, alice, bob, carol, as_root
):
    async with Stream("lobby", carol) as carols, Stream("lobby", bob) as bobs:
        response = await sync_to_async(as_root.post)(
            f"/admin/rooms/room/{lobby.pk}/change/",
            {"name": "Lobby", "private": "on", "_save": "Save", **MEMBERS_INLINE},
        )
        assert response.status_code == 302, response.content[:2000]
        await carols.read_to_end()
        assert [e.type for e in carols.events] == ["room_updated", "revoked"]
        assert carols.events[0].json["private"] is True
        await sync_to_async(lobby.post_message)(alice, "members only now")
        events = await bobs.read_events(2)
        assert [e.type for e in events] == ["room_updated", "message"]
        assert not bobs.ended
    logged = await sync_to_async(
        lambda: list(ModerationAction.objects.values_list("action", flat=True))
    )()
    assert logged == [ModerationAction.MAKE_PRIVATE]


async def test_banning_in_the_admin_closes_the_stream(lobby, bob, as_root):
    async with Stream("lobby", bob) as bobs:
        response = await sync_to_async(as_root.post)(
            "/admin/rooms/restriction/add/",
            {"room": lobby.pk, "user": bob.pk, "kind": "ban", "reason": "abuse"},
        )
        assert response.status_code == 302
        await bobs.read_to_end()
        assert [e.type for e in bobs.events] == ["user_banned", "revoked"]


async def test_deactivating_a_user_in_the_admin_closes_their_streams(lobby, bob, root, as_root):
    form = await sync_to_async(lambda: as_root.get(f"/admin/auth/user/{bob.pk}/change/"))()
    assert form.status_code == 200
    async with Stream("lobby", bob) as bobs:
        response = await sync_to_async(as_root.post)(
            f"/admin/auth/user/{bob.pk}/change/",
            {
                "username": "bob",
                "is_active": "",
                "date_joined_0": "2026-01-01",
                "date_joined_1": "00:00:00",
                "_save": "Save",
            },
        )
        assert response.status_code == 302, response.content[:2000]
        await bobs.read_to_end()
        assert bobs.events[-1].type == "revoked"


async def test_deleting_a_user_in_the_admin_leaves_their_rooms_and_closes_their_streams(
    secret, carol, alice, as_root
):
    await sync_to_async(secret.add_member)(carol)
    async with Stream("secret", carol) as carols, Stream("secret", alice) as alices:
        response = await sync_to_async(as_root.post)(
            f"/admin/auth/user/{carol.pk}/delete/", {"post": "yes"}
        )
        assert response.status_code == 302
        await carols.read_to_end()
        assert carols.events[-1].type == "revoked"
        events = await alices.read_events(1)
        assert [(e.type, e.json["user"]) for e in events] == [("member_left", "carol")]


async def test_a_user_who_wrote_messages_cannot_be_deleted_in_the_admin(lobby, bob, as_root):
    await sync_to_async(lobby.post_message)(bob, "permanent history")
    response = await sync_to_async(as_root.post)(
        f"/admin/auth/user/{bob.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 200  # Django's page naming what protects the account
    assert b"Cannot delete" in response.content
    assert await sync_to_async(User.objects.filter(pk=bob.pk).exists)()


async def test_erasing_a_message_in_the_admin_is_the_authors_deletion(lobby, bob, carol, as_root):
    message, _ = await sync_to_async(lobby.post_message)(bob, "regrettable words")
    async with Stream("lobby", carol) as carols:
        response = await sync_to_async(as_root.post)(
            "/admin/rooms/message/",
            {
                "action": "erase",
                ACTION_CHECKBOX_NAME: [str(message.pk)],
                "apply": "1",
                "reason": "legal request",
            },
        )
        assert response.status_code == 302
        events = await carols.read_events(1)
        assert [e.type for e in events] == ["message_deleted"]
    erased = await sync_to_async(Message.objects.get)(pk=message.pk)
    assert erased.is_deleted and erased.body == ""
    async with Stream("lobby", carol, last_event_id="0") as replay:
        await replay.read_until(lambda evs: any(e.type == "message_deleted" for e in evs))
        assert b"regrettable" not in replay.body


async def test_messages_and_rooms_cannot_be_deleted_as_rows_in_the_admin(lobby, bob, as_root):
    message, _ = await sync_to_async(lobby.post_message)(bob, "stays")
    for url in (
        f"/admin/rooms/message/{message.pk}/delete/",
        f"/admin/rooms/room/{lobby.pk}/delete/",
    ):
        response = await sync_to_async(as_root.post)(url, {"post": "yes"})
        assert response.status_code == 403, url
    assert await sync_to_async(Message.objects.filter(pk=message.pk).exists)()
    assert await sync_to_async(Room.objects.filter(pk=lobby.pk).exists)()


async def test_a_room_added_in_the_admin_has_its_owner_as_a_member(alice, as_root):
    response = await sync_to_async(as_root.post)(
        "/admin/rooms/room/add/",
        {
            "slug": "made-here",
            "name": "Made here",
            "owner": alice.pk,
            "_save": "Save",
            **MEMBERS_INLINE,
        },
    )
    assert response.status_code == 302, response.content[:2000]
    room = await sync_to_async(Room.objects.get)(slug="made-here")
    assert await sync_to_async(lambda: room.role_of(alice))() == "owner"
