"""Moderation from the site: room moderators and site moderators, and nobody else."""

from datetime import timedelta

import pytest
from django.utils import timezone

from rooms.models import Message, ModerationAction, Report, Restriction, Room, RoomEvent
from tests.conftest import client_for
from tests.helpers import post_json

pytestmark = pytest.mark.django_db


def say(client, body, slug="lobby"):
    return post_json(client, f"/rooms/{slug}/messages/", {"body": body})


def snapshot():
    """Everything a refused action must leave as it was."""
    return (
        list(Message.objects.values_list("id", "body", "removed_at", "deleted_at")),
        list(Restriction.objects.values_list("id", "kind", "expires_at")),
        list(Room.objects.values_list("locked", "archived", "slow_mode_seconds")),
        RoomEvent.objects.count(),
        ModerationAction.objects.count(),
    )


@pytest.fixture
def bobs_message(as_bob, lobby):
    return Message.objects.get(pk=say(as_bob, "rude words").json()["id"])


@pytest.fixture(params=["owner", "room moderator", "site moderator"])
def moderator(request, alice, dave, mod):
    """Each kind of person who may moderate the lobby."""
    return {"owner": alice, "room moderator": dave, "site moderator": mod}[request.param]


class TestRemovingMessages:
    def test_a_moderator_removes_and_restores_a_message(self, moderator, bobs_message):
        client = client_for(moderator)
        url = f"/rooms/lobby/messages/{bobs_message.pk}/"
        response = post_json(client, url + "remove/", {"reason": "insults"})
        assert response.status_code == 200
        assert response.json()["removed"] is True
        assert response.json()["body"] == ""
        bobs_message.refresh_from_db()
        assert bobs_message.removed_at is not None
        assert bobs_message.body == "rude words"  # kept, so it can be restored
        assert bobs_message.removal_reason == "insults"
        log = ModerationAction.objects.get()
        assert (log.actor, log.action, log.target_user, log.reason) == (
            moderator,
            "remove_message",
            bobs_message.author,
            "insults",
        )
        event = RoomEvent.objects.filter(room=bobs_message.room).latest("seq")
        assert event.type == "message_removed"
        assert "rude" not in event.data

        assert post_json(client, url + "restore/").status_code == 200
        bobs_message.refresh_from_db()
        assert bobs_message.removed_at is None
        assert RoomEvent.objects.filter(room=bobs_message.room).latest("seq").type == (
            "message_restored"
        )

    def test_history_shows_a_removed_message_without_its_text(self, alice, as_bob, bobs_message):
        post_json(client_for(alice), f"/rooms/lobby/messages/{bobs_message.pk}/remove/")
        [shown] = as_bob.get("/rooms/lobby/messages/").json()["messages"]
        assert (shown["id"], shown["removed"], shown["body"]) == (bobs_message.pk, True, "")

    def test_the_author_cannot_edit_a_removed_message(self, alice, as_bob, bobs_message):
        post_json(client_for(alice), f"/rooms/lobby/messages/{bobs_message.pk}/remove/")
        before = snapshot()
        url = f"/rooms/lobby/messages/{bobs_message.pk}/"
        assert as_bob.patch(url, {"body": "x"}, content_type="application/json").status_code == 409
        assert snapshot() == before

    def test_removing_twice_is_409(self, alice, bobs_message):
        client = client_for(alice)
        post_json(client, f"/rooms/lobby/messages/{bobs_message.pk}/remove/")
        assert (
            post_json(client, f"/rooms/lobby/messages/{bobs_message.pk}/remove/").status_code == 409
        )


class TestNobodyElseModerates:
    @pytest.mark.parametrize(
        ("url", "payload"),
        [
            ("/rooms/lobby/messages/{id}/remove/", {"reason": "x"}),
            ("/rooms/lobby/messages/{id}/restore/", {}),
            ("/rooms/lobby/mute/", {"username": "bob"}),
            ("/rooms/lobby/unmute/", {"username": "bob"}),
            ("/rooms/lobby/ban/", {"username": "bob"}),
            ("/rooms/lobby/unban/", {"username": "bob"}),
            ("/rooms/lobby/settings/", {"locked": True}),
            ("/rooms/lobby/settings/", {"archived": True}),
            ("/rooms/lobby/settings/", {"slow_mode_seconds": 30}),
        ],
    )
    def test_a_member_gets_403_and_nothing_changes(self, as_bob, bobs_message, carol, url, payload):
        before = snapshot()
        response = post_json(as_bob, url.format(id=bobs_message.pk), payload)
        assert response.status_code == 403
        assert "error" in response.json()
        assert snapshot() == before

    def test_a_room_moderator_cannot_moderate_another_room(self, dave, alice, bob):
        other = Room.objects.create(slug="other", name="Other", owner=alice)
        other.add_member(bob)
        other.add_member(dave)
        message, _ = other.post_message(bob, "hello")
        before = snapshot()
        response = post_json(client_for(dave), f"/rooms/other/messages/{message.pk}/remove/")
        assert response.status_code == 403
        assert snapshot() == before

    def test_only_the_owner_names_room_moderators(self, as_alice, as_bob, bob, carol, lobby):
        lobby.add_member(carol)
        response = post_json(as_bob, "/rooms/lobby/moderators/", {"username": "carol"})
        assert response.status_code == 403
        response = post_json(as_alice, "/rooms/lobby/moderators/", {"username": "bob"})
        assert response.status_code == 200
        assert response.json()["role"] == "moderator"
        assert lobby.can_moderate(bob)
        response = post_json(
            as_alice, "/rooms/lobby/moderators/", {"username": "bob", "moderator": False}
        )
        assert response.json()["role"] == "member"
        assert not lobby.can_moderate(bob)


class TestMutes:
    def test_a_muted_member_can_read_but_not_post(self, moderator, as_bob, lobby):
        response = post_json(client_for(moderator), "/rooms/lobby/mute/", {"username": "bob"})
        assert response.status_code == 200
        before = snapshot()
        refused = say(as_bob, "let me speak")
        assert refused.status_code == 403
        assert "muted" in refused.json()["error"]
        assert snapshot() == before
        assert as_bob.get("/rooms/lobby/messages/").status_code == 200

    def test_a_mute_expires(self, alice, as_bob, bob, lobby):
        post_json(client_for(alice), "/rooms/lobby/mute/", {"username": "bob", "minutes": 5})
        assert say(as_bob, "now?").status_code == 403
        Restriction.objects.filter(user=bob).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        assert say(as_bob, "now!").status_code == 201

    def test_unmute_lifts_it(self, alice, as_bob, lobby):
        client = client_for(alice)
        post_json(client, "/rooms/lobby/mute/", {"username": "bob"})
        assert post_json(client, "/rooms/lobby/unmute/", {"username": "bob"}).status_code == 200
        assert say(as_bob, "thanks").status_code == 201
        assert post_json(client, "/rooms/lobby/unmute/", {"username": "bob"}).status_code == 409

    @pytest.mark.parametrize(
        "payload",
        [
            {"username": "bob", "minutes": 0},
            {"username": "bob", "minutes": -5},
            {"username": "bob", "minutes": "soon"},
            {"username": "bob", "minutes": 10**9},
            {"username": "nobody"},
            {},
            {"username": "bob", "reason": "x" * 501},
        ],
    )
    def test_bad_input_is_400(self, as_alice, bob, lobby, payload):
        before = snapshot()
        assert post_json(as_alice, "/rooms/lobby/mute/", payload).status_code == 400
        assert snapshot() == before

    def test_a_moderator_cannot_be_muted(self, as_alice, dave, lobby):
        assert post_json(as_alice, "/rooms/lobby/mute/", {"username": "dave"}).status_code == 409


class TestBans:
    def test_a_banned_user_cannot_read_post_or_join(self, moderator, as_bob, lobby):
        response = post_json(client_for(moderator), "/rooms/lobby/ban/", {"username": "bob"})
        assert response.status_code == 200
        before = snapshot()
        for response in (
            say(as_bob, "hello?"),
            as_bob.get("/rooms/lobby/messages/"),
            as_bob.post("/rooms/lobby/join/"),
        ):
            assert response.status_code == 403
            assert response.json() == {"error": "you are banned from this room"}
        assert as_bob.get("/rooms/lobby/").status_code == 403
        assert snapshot() == before

    def test_a_ban_expires(self, as_alice, as_bob, bob, lobby):
        post_json(as_alice, "/rooms/lobby/ban/", {"username": "bob", "minutes": 60})
        assert as_bob.get("/rooms/lobby/messages/").status_code == 403
        Restriction.objects.filter(user=bob).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        assert as_bob.get("/rooms/lobby/messages/").status_code == 200

    def test_a_ban_from_a_private_room_hides_it_from_outsiders_still(
        self, as_alice, as_carol, secret
    ):
        post_json(as_alice, "/rooms/secret/ban/", {"username": "carol"})
        assert as_carol.get("/rooms/secret/messages/").status_code == 404


class TestRoomSettings:
    def test_a_locked_room_is_read_only_but_for_moderators(self, moderator, as_bob, lobby):
        client = client_for(moderator)
        response = post_json(client, "/rooms/lobby/settings/", {"locked": True})
        assert response.json()["locked"] is True
        refused = say(as_bob, "hi")
        assert refused.status_code == 403
        assert refused.json() == {"error": "the room is locked"}
        if moderator.username == "mod":
            # A site moderator who never joined the room moderates it, but does not chat in it.
            assert say(client, "hi").json() == {"error": "join the room first"}
        else:
            assert say(client, "moderators may still speak").status_code == 201
        post_json(client, "/rooms/lobby/settings/", {"locked": False})
        assert say(as_bob, "hi again").status_code == 201

    def test_moderators_post_in_a_locked_room(self, as_alice, lobby):
        post_json(as_alice, "/rooms/lobby/settings/", {"locked": True})
        assert say(as_alice, "announcement").status_code == 201

    def test_an_archived_room_is_read_only_for_everyone(self, as_alice, as_bob, lobby):
        post_json(as_alice, "/rooms/lobby/settings/", {"archived": True})
        assert say(as_alice, "hello").status_code == 403
        assert say(as_bob, "hello").json() == {"error": "the room is archived"}
        assert as_bob.get("/rooms/lobby/messages/").status_code == 200

    def test_slow_mode_answers_429_with_the_seconds_left(self, as_alice, as_bob, lobby):
        post_json(as_alice, "/rooms/lobby/settings/", {"slow_mode_seconds": 30})
        assert say(as_bob, "first").status_code == 201
        before = snapshot()
        refused = say(as_bob, "second")
        assert refused.status_code == 429
        assert refused.json()["error"].startswith("slow mode: wait ")
        assert 1 <= int(refused["Retry-After"]) <= 30
        assert snapshot() == before
        assert say(as_alice, "moderators are exempt").status_code == 201
        assert say(as_alice, "twice").status_code == 201

    def test_slow_mode_lets_you_post_once_the_time_is_up(self, as_alice, as_bob, bob, lobby):
        post_json(as_alice, "/rooms/lobby/settings/", {"slow_mode_seconds": 30})
        say(as_bob, "first")
        Message.objects.filter(author=bob).update(created_at=timezone.now() - timedelta(seconds=31))
        assert say(as_bob, "second").status_code == 201

    @pytest.mark.parametrize(
        "payload", [{"slow_mode_seconds": -1}, {"slow_mode_seconds": 10**7}, {"locked": "perhaps"}]
    )
    def test_bad_settings_are_400(self, as_alice, lobby, payload):
        before = snapshot()
        assert post_json(as_alice, "/rooms/lobby/settings/", payload).status_code == 400
        assert snapshot() == before

    def test_each_change_is_logged(self, as_alice, alice, lobby):
        post_json(
            as_alice,
            "/rooms/lobby/settings/",
            {"locked": True, "slow_mode_seconds": 10, "reason": "raid"},
        )
        actions = set(ModerationAction.objects.values_list("action", "reason", "actor"))
        assert actions == {("lock", "raid", alice.pk), ("slow_mode", "raid", alice.pk)}


class TestReports:
    def test_a_member_reports_a_message_once(self, as_alice, alice, bobs_message):
        url = f"/rooms/lobby/messages/{bobs_message.pk}/report/"
        response = post_json(as_alice, url, {"reason": "harassment"})
        assert response.status_code == 201
        report = Report.objects.get()
        assert (report.reporter, report.reason, report.status) == (alice, "harassment", "open")
        again = post_json(as_alice, url, {"reason": "really"})
        assert again.status_code == 409
        assert "already reported" in again.json()["error"]
        assert Report.objects.count() == 1

    def test_a_report_needs_a_reason(self, as_alice, bobs_message):
        url = f"/rooms/lobby/messages/{bobs_message.pk}/report/"
        assert post_json(as_alice, url, {"reason": "  "}).status_code == 400
        assert not Report.objects.exists()

    def test_the_reported_person_does_not_learn_who_reported(self, as_alice, as_bob, bobs_message):
        history_before = as_bob.get("/rooms/lobby/messages/").json()
        events_before = RoomEvent.objects.count()
        post_json(as_alice, f"/rooms/lobby/messages/{bobs_message.pk}/report/", {"reason": "rude"})
        # A report is for moderators only: no event, nothing in what bob can read.
        assert RoomEvent.objects.count() == events_before
        assert as_bob.get("/rooms/lobby/messages/").json() == history_before


class TestWhoUndoesWhom:
    """Site moderators above the owner above room moderators: nobody undoes what a higher
    rank did, and only a higher rank removes someone's messages."""

    def test_a_room_moderator_cannot_lift_a_ban_a_site_moderator_set(self, mod, dave, carol, lobby):
        post_json(client_for(mod), "/rooms/lobby/ban/", {"username": "carol"})
        before = snapshot()
        lift = post_json(client_for(dave), "/rooms/lobby/unban/", {"username": "carol"})
        # Nor replace it with a shorter one.
        shorten = post_json(
            client_for(dave), "/rooms/lobby/ban/", {"username": "carol", "minutes": 1}
        )
        for response in (lift, shorten):
            assert response.status_code == 403
            assert response.json()["error"] == "the ban was set by staff: you cannot undo it"
        assert snapshot() == before

    def test_a_room_moderator_cannot_lift_the_owners_mute(self, alice, dave, carol, lobby):
        post_json(client_for(alice), "/rooms/lobby/mute/", {"username": "carol"})
        before = snapshot()
        response = post_json(client_for(dave), "/rooms/lobby/unmute/", {"username": "carol"})
        assert response.status_code == 403
        assert response.json()["error"] == "the mute was set by the owner: you cannot undo it"
        assert snapshot() == before

    def test_the_owner_lifts_a_room_moderators_mute(self, alice, dave, carol, lobby):
        post_json(client_for(dave), "/rooms/lobby/mute/", {"username": "carol"})
        response = post_json(client_for(alice), "/rooms/lobby/unmute/", {"username": "carol"})
        assert response.status_code == 200

    def test_a_room_moderator_cannot_remove_the_owners_messages(self, alice, dave, lobby):
        message, _ = lobby.post_message(alice, "house rules")
        before = snapshot()
        response = post_json(client_for(dave), f"/rooms/lobby/messages/{message.pk}/remove/")
        assert response.status_code == 403
        assert response.json()["error"] == "you cannot remove a message by the owner"
        assert snapshot() == before

    def test_a_room_moderator_cannot_remove_another_room_moderators_message(
        self, alice, dave, lobby
    ):
        from django.contrib.auth.models import User

        erin = User.objects.create_user("erin")
        lobby.add_member(erin, role="moderator")
        message, _ = lobby.post_message(erin, "hello")
        response = post_json(client_for(dave), f"/rooms/lobby/messages/{message.pk}/remove/")
        assert response.status_code == 403

    def test_a_site_moderator_removes_the_owners_message(self, alice, mod, lobby):
        message, _ = lobby.post_message(alice, "oops")
        response = post_json(client_for(mod), f"/rooms/lobby/messages/{message.pk}/remove/")
        assert response.status_code == 200

    def test_a_room_moderator_cannot_restore_what_the_owner_removed(
        self, alice, dave, bobs_message
    ):
        url = f"/rooms/lobby/messages/{bobs_message.pk}/"
        post_json(client_for(alice), url + "remove/")
        before = snapshot()
        response = post_json(client_for(dave), url + "restore/")
        assert response.status_code == 403
        assert snapshot() == before

    def test_a_room_moderator_cannot_archive_the_room(self, dave, lobby):
        before = snapshot()
        response = post_json(client_for(dave), "/rooms/lobby/settings/", {"archived": True})
        assert response.status_code == 403
        assert snapshot() == before
        assert Room.objects.get(slug="lobby").archived is False

    def test_a_room_moderator_cannot_undo_the_owners_lock_or_slow_mode(self, alice, dave, lobby):
        owner = client_for(alice)
        post_json(owner, "/rooms/lobby/settings/", {"locked": True, "slow_mode_seconds": 60})
        before = snapshot()
        for payload in ({"locked": False}, {"slow_mode_seconds": 0}):
            response = post_json(client_for(dave), "/rooms/lobby/settings/", payload)
            assert response.status_code == 403
        assert snapshot() == before
        # What a room moderator set, another room moderator or the owner may change.
        post_json(owner, "/rooms/lobby/settings/", {"locked": False})

    def test_a_room_moderator_changes_what_a_room_moderator_set(self, alice, dave, lobby):
        dave_client = client_for(dave)
        assert post_json(dave_client, "/rooms/lobby/settings/", {"locked": True}).status_code == 200
        assert (
            post_json(dave_client, "/rooms/lobby/settings/", {"locked": False}).status_code == 200
        )
