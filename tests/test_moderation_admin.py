"""Moderation from the Django admin, as a site moderator and as staff who may not moderate."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group

from rooms.models import Message, ModerationAction, Report, Restriction, Room
from tests.conftest import client_for
from tests.test_moderation import snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def bobs_message(lobby, bob):
    message, _ = lobby.post_message(bob, "spam spam spam")
    return message


def run_action(client, model, action, objects, **form):
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(o.pk) for o in objects], **form}
    if form:
        data["apply"] = "1"
    return client.post(f"/admin/rooms/{model}/", data)


def test_the_moderators_group_has_exactly_the_moderation_permissions():
    codenames = set(
        Group.objects.get(name="Moderators").permissions.values_list("codename", flat=True)
    )
    assert "moderate_room" in codenames
    assert "delete_message" not in codenames  # history is permanent
    assert not any(
        c.startswith(("add_", "change_", "delete_")) and "moderationaction" in c for c in codenames
    )
    assert "change_user" not in codenames


def test_a_moderator_sees_every_moderation_page(mod, bobs_message):
    client = client_for(mod)
    for url in [
        "/admin/",
        "/admin/auth/user/",
        "/admin/rooms/room/",
        "/admin/rooms/membership/",
        "/admin/rooms/message/",
        f"/admin/rooms/message/{bobs_message.pk}/change/",
        "/admin/rooms/restriction/",
        "/admin/rooms/report/",
        "/admin/rooms/moderationaction/",
    ]:
        assert client.get(url).status_code == 200, url


class TestAsModerator:
    def test_remove_asks_for_a_reason_then_removes(self, mod, bobs_message):
        client = client_for(mod)
        form = run_action(client, "message", "remove", [bobs_message])
        assert form.status_code == 200
        assert b"reason" in form.content
        assert Message.objects.get(pk=bobs_message.pk).removed_at is None
        done = run_action(client, "message", "remove", [bobs_message], reason="spam")
        assert done.status_code == 302
        bobs_message.refresh_from_db()
        assert bobs_message.is_removed
        assert bobs_message.removal_reason == "spam"
        assert ModerationAction.objects.get().actor == mod

    def test_the_remove_button_on_a_message(self, mod, bobs_message):
        client = client_for(mod)
        url = f"/admin/rooms/message/{bobs_message.pk}/remove/"
        assert client.get(url).status_code == 200
        response = client.post(url, {"apply": "1", "reason": "off-topic"})
        assert response.status_code == 302
        bobs_message.refresh_from_db()
        assert bobs_message.removal_reason == "off-topic"
        response = client.post(f"/admin/rooms/message/{bobs_message.pk}/restore/", {"apply": "1"})
        bobs_message.refresh_from_db()
        assert not bobs_message.is_removed

    def test_restore(self, mod, alice, bobs_message):
        from rooms import moderation

        moderation.remove_message(alice, bobs_message, "oops")
        run_action(client_for(mod), "message", "restore", [bobs_message], reason="mistake")
        bobs_message.refresh_from_db()
        assert not bobs_message.is_removed

    def test_mute_and_ban_authors_with_an_expiry(self, mod, bob, bobs_message):
        client = client_for(mod)
        run_action(client, "message", "mute_authors", [bobs_message], minutes="30", reason="flood")
        mute = Restriction.objects.get(kind="mute")
        assert (mute.user, mute.expires_at is not None, mute.reason) == (bob, True, "flood")
        run_action(client, "message", "ban_authors", [bobs_message], minutes="", reason="spam")
        ban = Restriction.objects.get(kind="ban")
        assert (ban.user, ban.expires_at) == (bob, None)

    def test_adding_and_deleting_a_restriction_bans_and_unbans(self, mod, bob, lobby):
        client = client_for(mod)
        response = client.post(
            "/admin/rooms/restriction/add/",
            {"room": lobby.pk, "user": bob.pk, "kind": "ban", "minutes": "", "reason": "abuse"},
        )
        assert response.status_code == 302
        assert not lobby.can_read(bob)
        restriction = Restriction.objects.get()
        client.post(f"/admin/rooms/restriction/{restriction.pk}/delete/", {"post": "yes"})
        assert lobby.can_read(bob)
        assert list(ModerationAction.objects.values_list("action", flat=True).order_by("id")) == [
            "ban",
            "unban",
        ]

    @pytest.mark.parametrize(
        ("action", "form", "expected"),
        [
            ("lock", {}, {"locked": True}),
            ("archive", {}, {"archived": True}),
            ("set_slow_mode", {"seconds": "20"}, {"slow_mode_seconds": 20}),
        ],
    )
    def test_room_actions(self, mod, lobby, action, form, expected):
        run_action(client_for(mod), "room", action, [lobby], reason="calm down", **form)
        room = Room.objects.filter(pk=lobby.pk).values(*expected).get()
        assert room == expected

    def test_reports_show_the_message_in_context_and_resolve(self, mod, alice, bobs_message):
        report = Report.objects.create(message=bobs_message, reporter=alice, reason="spam")
        client = client_for(mod)
        page = client.get(f"/admin/rooms/report/{report.pk}/change/").content.decode()
        assert "spam spam spam" in page
        run_action(client, "report", "remove_and_resolve", [report], reason="spam")
        report.refresh_from_db()
        bobs_message.refresh_from_db()
        assert report.status == "resolved"
        assert report.handled_by == mod
        assert bobs_message.is_removed

    def test_dismiss(self, mod, alice, bobs_message):
        report = Report.objects.create(message=bobs_message, reporter=alice, reason="meh")
        run_action(client_for(mod), "report", "dismiss", [report], reason="fine")
        report.refresh_from_db()
        assert report.status == "dismissed"

    def test_the_moderation_log_cannot_be_edited(self, mod, alice, bobs_message):
        from rooms import moderation

        moderation.remove_message(alice, bobs_message, "x")
        entry = ModerationAction.objects.get()
        client = client_for(mod)
        assert client.get("/admin/rooms/moderationaction/?q=alice").status_code == 200
        assert (
            client.post(
                f"/admin/rooms/moderationaction/{entry.pk}/delete/", {"post": "yes"}
            ).status_code
            == 403
        )
        assert (
            client.post(
                f"/admin/rooms/moderationaction/{entry.pk}/change/", {"reason": "y"}
            ).status_code
            == 403
        )
        entry.refresh_from_db()
        assert entry.reason == "x"


class TestAsStaffWhoMayNotModerate:
    def test_actions_change_nothing(self, eve, bobs_message, lobby, alice):
        client = client_for(eve)
        report = Report.objects.create(message=bobs_message, reporter=alice, reason="spam")
        before = snapshot()
        run_action(client, "message", "remove", [bobs_message], reason="x")
        run_action(client, "room", "lock", [lobby], reason="x")
        run_action(client, "report", "resolve", [report], reason="x")
        assert snapshot() == before
        report.refresh_from_db()
        assert report.status == "open"

    def test_moderation_pages_are_403(self, eve, bobs_message, lobby, bob):
        client = client_for(eve)
        before = snapshot()
        assert (
            client.post(
                f"/admin/rooms/message/{bobs_message.pk}/remove/", {"apply": "1"}
            ).status_code
            == 403
        )
        assert client.get("/admin/rooms/restriction/add/").status_code == 403
        response = client.post(
            "/admin/rooms/restriction/add/",
            {"room": lobby.pk, "user": bob.pk, "kind": "ban", "reason": "x"},
        )
        assert response.status_code == 403
        assert snapshot() == before

    def test_a_member_cannot_reach_the_admin(self, bob, bobs_message):
        client = client_for(bob)
        before = snapshot()
        response = client.post(f"/admin/rooms/message/{bobs_message.pk}/remove/", {"apply": "1"})
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]
        assert snapshot() == before
