"""Mentions: who a message tells (members only), what its JSON says, the counts in GET
/rooms/, edits that add or withdraw one, deletions and removals, @room, the notification
level of a room, the inbox, and history opened at a message.

alice owns the lobby (public) and the secret room (private); bob is a member of both;
carol is a member of nothing (she can read the lobby, not the secret room); mod is site staff.
"""

from __future__ import annotations

import string

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rooms import moderation
from rooms.models import Membership, Mention, Message, Room
from tests.helpers import patch_json, post_json
from tests.helpers import post_message as post

pytestmark = pytest.mark.django_db


def mentions_of(client, slug: str) -> int:
    rooms = {room["slug"]: room for room in client.get("/rooms/").json()["rooms"]}
    return rooms[slug]["mentions"]


def say(client, slug: str, body: str) -> dict:
    response = post(client, slug, {"body": body})
    assert response.status_code == 201, response.content
    return response.json()


def test_a_member_named_in_a_message_is_mentioned(as_alice, as_bob, lobby, bob):
    data = say(as_alice, "lobby", "hi @BOB, look")
    assert data["mentions"] == ["bob"]
    assert data["mentions_room"] is False
    assert Mention.objects.get().user == bob
    assert mentions_of(as_bob, "lobby") == 1
    assert mentions_of(as_alice, "lobby") == 0


def test_a_name_with_trailing_punctuation_is_still_a_mention(as_alice, lobby):
    assert say(as_alice, "lobby", "thanks @bob.")["mentions"] == ["bob"]


def test_a_non_member_named_is_not_mentioned_and_not_shown(as_alice, as_carol, lobby, carol):
    data = say(as_alice, "lobby", "hi @carol and @nobody")
    assert data["mentions"] == []
    assert not Mention.objects.exists()
    # She reads the public room, but is not told: no count, no inbox entry.
    assert as_carol.get("/mentions/").status_code == 200
    assert b"hi @carol" not in as_carol.get("/mentions/").content


def test_an_email_address_mentions_nobody(as_alice, lobby):
    assert say(as_alice, "lobby", "write to bob@example.com")["mentions"] == []


def test_a_mention_in_a_private_room_reaches_its_members_only(as_alice, as_bob, secret, carol):
    data = say(as_alice, "secret", "@bob @carol")
    assert data["mentions"] == ["bob"]
    assert list(Mention.objects.values_list("user__username", flat=True)) == ["bob"]
    assert mentions_of(as_bob, "secret") == 1


def test_one_mentions_oneself_without_being_told(as_alice, lobby):
    data = say(as_alice, "lobby", "note to @alice")
    assert data["mentions"] == ["alice"]
    assert not Mention.objects.exists()


def test_an_edit_that_adds_a_mention_tells_them_and_one_that_removes_it_withdraws_it(
    as_alice, as_bob, lobby
):
    data = say(as_alice, "lobby", "hello")
    assert mentions_of(as_bob, "lobby") == 0
    url = f"/rooms/lobby/messages/{data['id']}/"
    edited = patch_json(as_alice, url, {"body": "hello @bob"}).json()
    assert edited["mentions"] == ["bob"]
    assert mentions_of(as_bob, "lobby") == 1
    edited = patch_json(as_alice, url, {"body": "hello everyone"}).json()
    assert edited["mentions"] == []
    assert mentions_of(as_bob, "lobby") == 0
    assert not Mention.objects.exists()


def test_an_edit_of_a_read_message_that_adds_a_mention_counts_until_read(as_alice, as_bob, lobby):
    data = say(as_alice, "lobby", "hello")
    post_json(as_bob, "/rooms/lobby/read/", {"up_to": data["id"]})
    patch_json(as_alice, f"/rooms/lobby/messages/{data['id']}/", {"body": "hello @bob"})
    assert mentions_of(as_bob, "lobby") == 1
    post_json(as_bob, "/rooms/lobby/read/", {"up_to": data["id"]})
    assert mentions_of(as_bob, "lobby") == 0


def test_reading_the_room_clears_its_mentions(as_alice, as_bob, lobby):
    first = say(as_alice, "lobby", "@bob one")
    second = say(as_alice, "lobby", "@bob two")
    assert mentions_of(as_bob, "lobby") == 2
    answer = post_json(as_bob, "/rooms/lobby/read/", {"up_to": first["id"]}).json()
    assert answer["mentions"] == 1
    post_json(as_bob, "/rooms/lobby/read/", {"up_to": second["id"]})
    assert mentions_of(as_bob, "lobby") == 0


def test_deleting_a_message_withdraws_its_mentions(as_alice, as_bob, lobby):
    data = say(as_alice, "lobby", "@bob look")
    as_alice.delete(f"/rooms/lobby/messages/{data['id']}/")
    assert mentions_of(as_bob, "lobby") == 0
    assert not Mention.objects.exists()
    assert Message.objects.get().as_event_data()["mentions"] == []


def test_removing_a_message_withdraws_its_mentions_until_restored(alice, as_alice, as_bob, lobby):
    data = say(as_alice, "lobby", "@bob look")
    message = Message.objects.get(pk=data["id"])
    moderation.remove_message(alice, message, "spam")
    assert mentions_of(as_bob, "lobby") == 0
    assert as_alice.get(f"/rooms/lobby/messages/{data['id']}/").json()["mentions"] == []
    moderation.restore_message(alice, Message.objects.get(pk=data["id"]))
    assert mentions_of(as_bob, "lobby") == 1


def test_at_room_mentions_every_member_of_a_small_room(as_bob, lobby, alice, bob):
    data = say(as_bob, "lobby", "@room meeting now")
    assert data["mentions_room"] is True
    assert set(Mention.objects.values_list("user__username", flat=True)) == {"alice"}


def make_members(room: Room, count: int, names: list[str] | None = None) -> list[User]:
    usernames = names or [f"person{i}" for i in range(count)]
    people = User.objects.bulk_create(
        [User(username=name, password="!") for name in usernames[:count]]
    )
    Membership.objects.bulk_create([Membership(room=room, user=user) for user in people])
    return people


def test_at_room_in_a_big_room_is_plain_text_for_a_member(as_bob, lobby):
    make_members(lobby, 20)
    data = say(as_bob, "lobby", "@room hello and @alice")
    assert data["mentions_room"] is False
    assert data["mentions"] == ["alice"]
    assert list(Mention.objects.values_list("user__username", flat=True)) == ["alice"]


def test_at_room_in_a_big_room_tells_everyone_when_the_owner_says_it(as_alice, lobby):
    make_members(lobby, 30)
    data = say(as_alice, "lobby", "@room hello")
    assert data["mentions_room"] is True
    assert Mention.objects.count() == 31  # bob and the 30, not alice


def test_a_thousand_mentions_cost_one_query_and_notify_at_most_fifty(as_alice, lobby):
    # Two-letter names (aa, ab, ...): 1,000 "@" tokens fit in one message.
    names = [a + b for a in string.ascii_lowercase for b in string.ascii_lowercase][:60]
    people = make_members(lobby, 60, names)
    body = " ".join(f"@{names[i % 60]}" for i in range(1000))
    with CaptureQueriesContext(connection) as queries:
        data = say(as_alice, "lobby", body)
    names = [q["sql"] for q in queries.captured_queries if "LOWER" in q["sql"].upper()]
    assert len(names) == 1
    assert len(data["mentions"]) == 50
    assert Mention.objects.count() == 50
    assert len(people) == 60


def test_the_names_are_found_by_name_not_by_reading_the_room_s_members(as_alice, lobby):
    """The statement goes from the names (an index on the lowercased usernames) to each
    one's membership: a big room's members are not read on every mention."""
    with CaptureQueriesContext(connection) as queries:
        say(as_alice, "lobby", "hi @Bob")
    (sql,) = [q["sql"] for q in queries.captured_queries if "LOWER" in q["sql"].upper()]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
        else:
            # PostgreSQL reads a table this small whole whatever the indexes: force the choice.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}")
            plan = " ".join(row[0] for row in cursor.fetchall())
    assert "rooms_user_username_lower" in plan, plan


def test_a_post_without_at_costs_no_extra_query(as_alice, lobby):
    say(as_alice, "lobby", "warm up")
    with CaptureQueriesContext(connection) as plain:
        say(as_alice, "lobby", "no mention here")
    with CaptureQueriesContext(connection) as mentioning:
        say(as_alice, "lobby", "hi @bob")
    # The names and the rows: two more, no more.
    assert len(mentioning.captured_queries) - len(plain.captured_queries) <= 2
    assert not any("rooms_mention" in q["sql"].lower() for q in plain.captured_queries)


def test_every_unread_message_of_a_dm_counts_as_a_mention(alice, bob, as_alice, as_bob):
    dm = post_json(as_alice, "/dms/", {"usernames": ["bob"]}).json()
    say(as_alice, dm["slug"], "hello")
    say(as_alice, dm["slug"], "are you there?")
    assert mentions_of(as_bob, dm["slug"]) == 2
    assert mentions_of(as_alice, dm["slug"]) == 0


def test_a_muted_room_still_counts_mentions_and_says_it_is_muted(as_alice, as_bob, lobby):
    response = post_json(as_bob, "/rooms/lobby/notifications/", {"level": "mute"})
    assert response.status_code == 200
    assert response.json()["notify"] == "mute"
    say(as_alice, "lobby", "@bob hi")
    room = {room["slug"]: room for room in as_bob.get("/rooms/").json()["rooms"]}["lobby"]
    assert room["notify"] == "mute"
    assert room["mentions"] == 1


def test_a_notification_level_must_be_known_and_the_room_joined(as_bob, as_carol, lobby):
    response = post_json(as_bob, "/rooms/lobby/notifications/", {"level": "loud"})
    assert response.status_code == 400
    assert "level" in response.json()["error"]
    response = post_json(as_carol, "/rooms/lobby/notifications/", {"level": "mute"})
    assert response.status_code == 403
    assert post_json(as_carol, "/rooms/secret/notifications/", {"level": "mute"}).status_code in (
        404,
    )


def test_the_inbox_lists_mentions_newest_first_with_links_to_the_message(as_alice, as_bob, lobby):
    first = say(as_alice, "lobby", "@bob zebra")
    second = say(as_alice, "lobby", "@bob yak")
    page = as_bob.get("/mentions/").content.decode()
    assert page.index("yak") < page.index("zebra")
    assert f"/rooms/lobby/?around={first['id']}" in page
    assert f"/rooms/lobby/?around={second['id']}" in page


def test_the_inbox_pages(as_alice, as_bob, lobby, settings):
    from rooms import inbox

    ids = [say(as_alice, "lobby", f"@bob number {i}")["id"] for i in range(5)]
    old, inbox.INBOX_PAGE_SIZE = inbox.INBOX_PAGE_SIZE, 2
    try:
        page = as_bob.get("/mentions/").content.decode()
        assert "number 4" in page and "number 3" in page and "number 2" not in page
        page = as_bob.get(f"/mentions/?before={ids[3]}").content.decode()
        assert "number 2" in page and "number 1" in page and "number 4" not in page
    finally:
        inbox.INBOX_PAGE_SIZE = old


def test_the_inbox_shows_nothing_of_a_room_one_left_or_a_removed_message(
    alice, as_alice, as_bob, bob, secret
):
    say(as_alice, "secret", "@bob private words")
    removed = say(as_alice, "secret", "@bob removed words")
    moderation.remove_message(alice, Message.objects.get(pk=removed["id"]), "")
    page = as_bob.get("/mentions/").content.decode()
    assert "private words" in page and "removed words" not in page
    secret.remove_member(bob)
    assert "private words" not in as_bob.get("/mentions/").content.decode()


def test_history_around_a_message_says_what_is_before_and_after(as_alice, as_bob, lobby):
    ids = [say(as_alice, "lobby", f"m{i}")["id"] for i in range(9)]
    answer = as_bob.get(f"/rooms/lobby/messages/?around={ids[4]}&limit=3").json()
    assert [m["id"] for m in answer["messages"]] == ids[3:6]
    assert answer["has_more_before"] is True and answer["has_more_after"] is True
    answer = as_bob.get(f"/rooms/lobby/messages/?around={ids[8]}&limit=3").json()
    assert answer["has_more_before"] is True and answer["has_more_after"] is False


@pytest.mark.django_db(transaction=True)
def test_a_replay_carries_each_message_s_mentions_as_they_are_now(lobby, alice, bob, as_bob):
    from tests.test_replay_privacy import apply, history, replay, state_of

    dropped, _ = lobby.post_message(alice, "hi @bob")
    dropped.edit("hi all")
    added, _ = lobby.post_message(alice, "hello")
    added.edit("hello @bob")
    gone, _ = lobby.post_message(alice, "@bob bye")
    gone.erase()
    events = async_to_sync(replay)("lobby", bob, 0, lobby.current_event_seq())
    present, _ = history(as_bob, "lobby")
    assert present[added.pk]["mentions"] == ["bob"]
    assert present[dropped.pk]["mentions"] == []
    assert state_of(apply({}, events)) == state_of(present)


def test_the_settings_page_lists_the_rooms_with_a_level_of_their_own(as_bob, lobby, secret):
    post_json(as_bob, "/rooms/lobby/notifications/", {"level": "mute"})
    page = as_bob.get("/settings/").content.decode()
    assert "Lobby</a>: Nothing (muted)" in page
    assert "Secret</a>" not in page
    assert "Turn on desktop notifications" in page


def test_a_room_page_offers_its_member_the_level_and_a_reader_nothing(as_bob, as_carol, lobby):
    post_json(as_bob, "/rooms/lobby/notifications/", {"level": "mentions"})
    page = as_bob.get("/rooms/lobby/").content.decode()
    assert '<option value="mentions" selected>' in page
    assert 'id="notify-level"' not in as_carol.get("/rooms/lobby/").content.decode()


def test_a_level_chosen_by_a_form_without_javascript_goes_back_to_the_room(as_bob, lobby):
    response = as_bob.post("/rooms/lobby/notifications/", {"level": "all"}, HTTP_ACCEPT="text/html")
    assert response.status_code == 303
    assert response["Location"] == "/rooms/lobby/"
    assert lobby.memberships.get(user__username="bob").notify == "all"
