"""Replies, reactions, pins and the room's topic (issue #17), through the JSON API.

alice owns the lobby, bob is a member, carol is not, dave is a room moderator, mod is site
staff.
"""

import json

import pytest
from django.test import Client

from rooms import moderation
from rooms.models import Message, Room, RoomEvent
from rooms.models.reactions import MAX_EMOJI_PER_MESSAGE
from tests.conftest import client_for
from tests.helpers import patch_json, post_json, post_message


def react(client: Client, message_id: int, emoji: object, method: str = "POST", slug="lobby"):
    url = f"/rooms/{slug}/messages/{message_id}/reactions/"
    body = json.dumps({"emoji": emoji})
    if method == "POST":
        return client.post(url, body, content_type="application/json")
    return client.delete(url, body, content_type="application/json")


def events_of(room: Room, type: str) -> list[dict]:
    rows = RoomEvent.objects.filter(room=room, type=type).order_by("seq")
    return [json.loads(data) for data in rows.values_list("data", flat=True)]


# Replies


def test_a_reply_carries_who_it_answers_and_the_start_of_their_text(lobby, alice, as_bob):
    original, _ = lobby.post_message(alice, "long " * 40)
    reply = post_message(as_bob, "lobby", {"body": "yes", "reply_to": original.pk})
    assert reply.status_code == 201
    quote = reply.json()["reply_to"]
    assert quote["id"] == original.pk
    assert quote["author"] == "alice"
    assert quote["excerpt"].startswith("long long")
    assert len(quote["excerpt"]) <= 100
    assert (quote["deleted"], quote["removed"]) == (False, False)
    assert post_message(as_bob, "lobby", {"body": "no reply"}).json()["reply_to"] is None


@pytest.mark.parametrize("reply_to", [10**9, -1, 2**70, "abc", True, [1]])
def test_a_reply_to_no_message_is_400(lobby, as_bob, reply_to):
    response = post_message(as_bob, "lobby", {"body": "hm", "reply_to": reply_to})
    assert response.status_code == 400
    assert response.json()["error"]


def test_a_reply_to_another_rooms_message_is_400(lobby, secret, alice, as_bob):
    elsewhere, _ = secret.post_message(alice, "in the secret room")
    response = post_message(as_bob, "lobby", {"body": "hm", "reply_to": elsewhere.pk})
    assert response.status_code == 400
    assert not Message.objects.filter(body="hm").exists()


def test_a_quote_follows_the_original_when_it_is_edited_deleted_removed_restored(
    lobby, alice, bob, mod, as_carol
):
    original, _ = lobby.post_message(alice, "first words")
    reply, _ = lobby.post_message(bob, "agreed", reply_to=original.pk)

    original.edit("second words")
    assert _quote(lobby, alice, reply) == ("second words", False, False)
    moderation.remove_message(mod, original)
    assert _quote(lobby, alice, reply) == ("", False, True)
    moderation.restore_message(mod, original)
    assert _quote(lobby, alice, reply) == ("second words", False, False)
    # Each change reached the reply as an event of its own, with the reply's new quote.
    updates = events_of(lobby, "message_quote_updated")
    assert [u["reply_to"]["excerpt"] for u in updates] == ["second words", "", "second words"]
    Message.objects.get(pk=original.pk).erase()
    assert _quote(lobby, alice, reply) == ("", True, False)
    # And no event of the log still quotes the deleted text: the reply's are redacted too.
    updates = events_of(lobby, "message_quote_updated")
    assert [u["reply_to"]["deleted"] for u in updates] == [True] * 4
    for data in RoomEvent.objects.filter(room=lobby).values_list("data", flat=True):
        assert "first words" not in data
        assert "second words" not in data


def _quote(room, user, reply):
    data = client_for(user).get(f"/rooms/{room.slug}/messages/{reply.pk}/").json()["reply_to"]
    history = client_for(user).get(f"/rooms/{room.slug}/messages/").json()["messages"]
    assert [m["reply_to"] for m in history if m["id"] == reply.pk] == [data]
    return data["excerpt"], data["deleted"], data["removed"]


def test_the_page_shows_a_reply_as_a_quote_that_opens_the_original(lobby, alice, bob, as_bob):
    original, _ = lobby.post_message(alice, "the question")
    lobby.post_message(bob, "the answer", reply_to=original.pk)
    page = as_bob.get("/rooms/lobby/").content.decode()
    assert f'href="?around={original.pk}"' in page
    assert '<span class="reply-excerpt">the question</span>' in page


def test_history_reads_a_page_of_replies_in_a_fixed_number_of_queries(
    lobby, alice, bob, as_bob, django_assert_max_num_queries
):
    for n in range(30):
        original, _ = lobby.post_message(alice, f"q{n}")
        reply, _ = lobby.post_message(bob, f"a{n}", reply_to=original.pk)
        reply.set_reaction(alice, "👍", True)
    with django_assert_max_num_queries(12):
        page = as_bob.get("/rooms/lobby/messages/?limit=60").json()["messages"]
    assert sum(1 for m in page if m["reply_to"]) == 30


# Reactions


def test_reacting_adds_one_reaction_per_person_per_emoji(lobby, alice, as_alice, as_bob):
    message, _ = lobby.post_message(alice, "news")
    assert react(as_bob, message.pk, "👍").status_code == 201
    assert react(as_bob, message.pk, "👍").status_code == 200  # already there: no change
    data = react(as_alice, message.pk, "+1").json()  # a short name is its emoji
    assert data["reactions"] == [{"emoji": "👍", "count": 2, "users": ["bob", "alice"]}]
    assert "me" not in json.dumps(data["reactions"])
    data = react(as_bob, message.pk, "👍", "DELETE").json()
    assert data["reactions"] == [{"emoji": "👍", "count": 1, "users": ["alice"]}]
    assert [e["reactions"] for e in events_of(lobby, "reaction_added")] == [
        [{"emoji": "👍", "count": 1, "users": ["bob"]}],
        [{"emoji": "👍", "count": 2, "users": ["bob", "alice"]}],
    ]
    assert len(events_of(lobby, "reaction_removed")) == 1


@pytest.mark.parametrize(
    "emoji", ["", "a", "👍👍", ":)", "<b>", "x" * 40, None, 7, ["👍"], "not-a-name"]
)
def test_a_reaction_must_be_one_emoji(lobby, alice, as_bob, emoji):
    message, _ = lobby.post_message(alice, "news")
    response = react(as_bob, message.pk, emoji)
    assert response.status_code == 400
    assert "emoji" in response.json()["error"]


@pytest.mark.parametrize("emoji", ["👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️"])
def test_one_emoji_may_be_made_of_several_code_points(lobby, alice, as_bob, emoji):
    message, _ = lobby.post_message(alice, "news")
    assert react(as_bob, message.pk, emoji).json()["reactions"][0]["emoji"] == emoji


def test_a_message_takes_at_most_twenty_different_emoji(lobby, alice, as_bob):
    message, _ = lobby.post_message(alice, "news")
    faces = [chr(0x1F600 + n) for n in range(MAX_EMOJI_PER_MESSAGE + 1)]
    for face in faces[:-1]:
        assert react(as_bob, message.pk, face).status_code == 201
    assert react(as_bob, message.pk, faces[-1]).status_code == 409
    assert react(client_for(alice), message.pk, faces[0]).status_code == 201  # not a new one


def test_reactions_on_a_deleted_or_removed_message_are_refused(lobby, alice, bob, mod, as_bob):
    gone, _ = lobby.post_message(alice, "gone")
    gone.erase()
    removed, _ = lobby.post_message(alice, "removed")
    moderation.remove_message(mod, removed)
    assert react(as_bob, gone.pk, "👍").status_code == 409
    assert react(as_bob, removed.pk, "👍").status_code == 409


def test_reacting_follows_the_rule_of_posting(lobby, alice, bob, carol, secret, as_bob, as_carol):
    message, _ = lobby.post_message(alice, "news")
    # Not a member: the same answer as a post.
    assert react(as_carol, message.pk, "👍").status_code == 403
    assert post_message(as_carol, "lobby", {"body": "x"}).status_code == 403
    # A private room's outsider: it does not exist.
    hidden, _ = secret.post_message(alice, "secret")
    assert react(as_carol, hidden.pk, "👍", slug="secret").status_code == 404
    # Muted, then locked, then archived: refused like a post.
    moderation.restrict(alice, lobby, bob, "mute")
    assert react(as_bob, message.pk, "👍").status_code == 403
    moderation.lift_restriction(alice, lobby, bob, "mute")
    moderation.update_room(alice, lobby, locked=True)
    assert react(as_bob, message.pk, "👍").status_code == 403
    assert react(client_for(alice), message.pk, "👍").status_code == 201  # moderators may
    moderation.update_room(alice, lobby, locked=False, archived=True)
    assert react(as_bob, message.pk, "👍").status_code == 403


def test_reactions_are_rate_limited(lobby, alice, as_bob, settings):
    settings.CHAT_REACTIONS_PER_MINUTE = 2
    message, _ = lobby.post_message(alice, "news")
    assert react(as_bob, message.pk, "👍").status_code == 201
    assert react(as_bob, message.pk, "👍", "DELETE").status_code == 200
    refused = react(as_bob, message.pk, "👍")
    assert refused.status_code == 429
    assert refused["Retry-After"]


def test_the_page_shows_reactions_as_chips_pressed_for_ones_own(lobby, alice, bob, as_bob):
    message, _ = lobby.post_message(alice, "news")
    message.set_reaction(bob, "🎉", True)
    message.set_reaction(alice, "👀", True)
    page = as_bob.get("/rooms/lobby/").content.decode()
    assert 'data-emoji="🎉" aria-pressed="true" title="bob"' in page
    assert 'data-emoji="👀" aria-pressed="false" title="alice"' in page


# Pins


def test_moderators_pin_and_unpin_and_the_header_lists_the_pins(lobby, alice, bob, dave, as_bob):
    message, _ = lobby.post_message(bob, "house rules")
    url = f"/rooms/lobby/messages/{message.pk}/pin/"
    assert post_json(as_bob, url).status_code == 403  # a member does not pin
    pinned = post_json(client_for(dave), url)
    assert pinned.status_code == 200
    assert pinned.json()["pinned"] is True
    assert [e["id"] for e in events_of(lobby, "message_pinned")] == [message.pk]
    page = as_bob.get("/rooms/lobby/").content.decode()
    assert f'<li data-id="{message.pk}"><a href="?around={message.pk}">' in page
    unpinned = client_for(alice).delete(url)
    assert unpinned.json()["pinned"] is False
    assert len(events_of(lobby, "message_unpinned")) == 1


def test_a_deleted_message_is_no_longer_pinned(lobby, alice, bob, as_bob):
    message, _ = lobby.post_message(bob, "pinned then deleted")
    message.set_pinned(alice, True)
    Message.objects.get(pk=message.pk).erase()
    assert as_bob.get(f"/rooms/lobby/messages/{message.pk}/").json()["pinned"] is False
    assert "pinned then deleted" not in as_bob.get("/rooms/lobby/").content.decode()
    url = f"/rooms/lobby/messages/{message.pk}/pin/"
    assert post_json(client_for(alice), url).status_code == 409


# Topic


def test_owners_and_moderators_set_the_topic_which_everyone_sees(lobby, alice, dave, as_bob):
    assert post_json(as_bob, "/rooms/lobby/settings/", {"topic": "mine"}).status_code == 403
    response = post_json(
        client_for(dave), "/rooms/lobby/settings/", {"topic": "  Plans\nfor Friday "}
    )
    assert response.status_code == 200
    assert response.json()["topic"] == "Plans for Friday"
    assert events_of(lobby, "room_updated")[-1]["topic"] == "Plans for Friday"
    assert "Plans for Friday" in as_bob.get("/rooms/lobby/").content.decode()
    assert as_bob.get("/rooms/").json()["rooms"][0]["topic"] == "Plans for Friday"


@pytest.mark.parametrize("topic", ["x" * 251, 5, "a\u202eb"])
def test_a_bad_topic_is_400(lobby, alice, topic):
    response = post_json(client_for(alice), "/rooms/lobby/settings/", {"topic": topic})
    assert response.status_code == 400
    assert Room.objects.get(pk=lobby.pk).topic == ""


def test_a_topic_is_text_not_markup(lobby, alice, as_bob):
    post_json(client_for(alice), "/rooms/lobby/settings/", {"topic": "<b>bold</b>"})
    assert "&lt;b&gt;bold&lt;/b&gt;" in as_bob.get("/rooms/lobby/").content.decode()


def test_an_edit_of_a_reply_keeps_its_quote(lobby, alice, bob, as_bob):
    original, _ = lobby.post_message(alice, "q")
    reply = post_message(as_bob, "lobby", {"body": "a", "reply_to": original.pk}).json()
    edited = patch_json(as_bob, f"/rooms/lobby/messages/{reply['id']}/", {"body": "b"}).json()
    assert edited["reply_to"]["id"] == original.pk


def test_the_user_stream_script_listens_to_every_room_event_type():
    """An EventSource hands a named event only to its listeners: a type missing from
    static/rooms/user-stream.js would never reach a member's page."""
    import re
    from pathlib import Path

    from rooms.event_types import EventType

    script = (Path(__file__).parent.parent / "static/rooms/user-stream.js").read_text()
    listed = set(re.findall(r'"([a-z_]+)"', script.split("const EVENT_TYPES")[1].split("];")[0]))
    assert {str(t) for t in EventType} <= listed
