"""Search finds what one may read now, and nothing else: search reveals nothing the history
would not show that person now. Runs on both stacks (SQLite's FTS5, PostgreSQL's tsvector).

alice: owns the public lobby and the private secret; bob: a member of both;
carol: a member of nothing (she reads the lobby); mod: site staff in the Moderators group.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rooms import moderation
from rooms.models import Access, Message, Room
from rooms.search import matching_ids, search
from tests.conftest import client_for
from tests.helpers import patch_json, post_json, post_message

pytestmark = pytest.mark.django_db


def found(client, q, **params):
    """The bodies of the messages the search answers, newest first."""
    response = client.get("/search/", {"q": q, **params})
    assert response.status_code == 200, response.content
    return [result["message"]["body"] for result in response.json()["results"]]


def say(client, slug, body):
    response = post_message(client, slug, {"body": body})
    assert response.status_code == 201, response.content
    return response.json()


class TestWhoFindsWhat:
    def test_anyone_finds_a_public_rooms_messages(self, lobby, as_alice, as_carol):
        say(as_alice, "lobby", "the quarterly report is ready")
        assert found(as_carol, "quarterly") == ["the quarterly report is ready"]

    def test_only_members_find_a_private_rooms_messages(self, secret, as_alice, as_bob, as_carol):
        say(as_alice, "secret", "the launch date is friday")
        assert found(as_bob, "launch") == ["the launch date is friday"]
        assert found(as_carol, "launch") == []
        assert found(as_carol, "launch in:secret") == []

    def test_a_banned_member_finds_nothing_of_that_room(self, lobby, secret, alice, as_bob):
        say(client_for(alice), "lobby", "banana bread in the lobby")
        say(client_for(alice), "secret", "banana bread in secret")
        moderation.restrict(alice, lobby, lobby.memberships.get(user__username="bob").user, "ban")
        assert found(as_bob, "banana") == ["banana bread in secret"]
        # The banned room's results are skipped, not a short page: the page is still full.
        assert found(as_bob, "banana", limit=1) == ["banana bread in secret"]

    def test_leaving_a_private_room_takes_its_messages_out_of_ones_search(
        self, secret, as_alice, as_bob
    ):
        say(as_alice, "secret", "meet at the harbour")
        assert found(as_bob, "harbour") == ["meet at the harbour"]
        assert post_json(as_bob, "/rooms/secret/leave/").status_code == 200
        assert found(as_bob, "harbour") == []

    def test_a_member_the_owner_removed_finds_nothing_more(self, secret, alice, bob, as_bob):
        say(client_for(alice), "secret", "the harbour plan")
        moderation.remove_member(alice, secret, bob)
        assert found(as_bob, "harbour") == []

    @pytest.mark.parametrize("forced", [Access.HIDDEN, Access.BANNED])
    def test_it_asks_the_one_read_rule(self, lobby, as_alice, as_carol, monkeypatch, forced):
        say(as_alice, "lobby", "a perfectly public word")
        # The rule's answer for several rooms at once, which Room.access_for asks too.
        monkeypatch.setattr(
            Room, "access_for_rooms", lambda rooms, user: {room.pk: forced for room in rooms}
        )
        assert found(as_carol, "public") == []
        assert lobby.access_for(User.objects.get(username="carol")) is forced

    def test_anonymous_people_are_refused(self, lobby, as_alice):
        say(as_alice, "lobby", "hello")
        assert client_for(None).get("/search/", {"q": "hello"}).status_code == 401
        page = client_for(None).get("/search/", {"q": "hello"}, HTTP_ACCEPT="text/html")
        assert page.status_code == 302


class TestOnlyThePresentText:
    def test_an_edited_message_is_found_by_its_new_text_only(self, lobby, as_alice, as_carol):
        message = say(as_alice, "lobby", "the password is swordfish")
        url = f"/rooms/lobby/messages/{message['id']}/"
        assert patch_json(as_alice, url, {"body": "never mind"}).status_code == 200
        assert found(as_carol, "swordfish") == []
        assert found(as_carol, "never mind") == ["never mind"]

    def test_a_deleted_message_is_not_found(self, lobby, as_alice, as_carol):
        message = say(as_alice, "lobby", "oops my phone number")
        assert as_alice.delete(f"/rooms/lobby/messages/{message['id']}/").status_code == 200
        assert found(as_carol, "phone") == []
        # Not as a tombstone either, with a filter that needs no word.
        assert found(as_carol, "from:alice") == []
        assert found(as_alice, "phone") == []

    def test_a_removed_message_is_found_by_nobody_on_the_site(
        self, lobby, alice, as_alice, as_carol, mod
    ):
        message = say(client_for(alice), "lobby", "buy cheap pills")
        moderation.remove_message(mod, Message.objects.get(pk=message["id"]), "spam")
        for client in (as_alice, as_carol, client_for(mod)):  # the owner, a reader, staff
            assert found(client, "pills") == []
            assert found(client, "from:alice") == []
        moderation.restore_message(mod, Message.objects.get(pk=message["id"]))
        assert found(as_carol, "pills") == ["buy cheap pills"]

    def test_a_post_that_rolled_back_is_not_in_the_index(self, lobby, alice, as_carol):
        with pytest.raises(RuntimeError), transaction.atomic():
            lobby.post_message(alice, "a ghost of a message")
            raise RuntimeError("rolled back")
        assert found(as_carol, "ghost") == []


class TestTheQueryLanguage:
    @pytest.fixture
    def messages(self, lobby, secret, as_alice, as_bob):
        say(as_alice, "lobby", "red apples and green pears")
        say(as_bob, "lobby", "green apples, please")
        say(as_alice, "secret", "apples of a secret kind")
        say(as_bob, "lobby", "Crème brûlée at the Café")
        say(as_alice, "lobby", "the docs: https://example.com/apples")

    def test_every_word_must_match(self, messages, as_bob):
        assert found(as_bob, "green apples") == [
            "green apples, please",
            "red apples and green pears",
        ]
        assert found(as_bob, "APPLES Red") == ["red apples and green pears"]

    def test_a_phrase_matches_its_words_in_order(self, messages, as_bob):
        assert found(as_bob, '"green apples"') == ["green apples, please"]
        assert found(as_bob, '"apples green"') == []
        assert found(as_bob, '"green pears') == ["red apples and green pears"]  # unclosed

    def test_a_minus_excludes(self, messages, as_bob):
        assert found(as_bob, "apples -green") == [
            "the docs: https://example.com/apples",
            "apples of a secret kind",
        ]
        assert found(as_bob, 'apples -"green apples" -secret') == [
            "the docs: https://example.com/apples",
            "red apples and green pears",
        ]
        assert found(as_bob, "from:bob -apples") == ["Crème brûlée at the Café"]

    def test_in_a_room(self, messages, as_bob):
        assert found(as_bob, "apples in:secret") == ["apples of a secret kind"]
        assert found(as_bob, "apples in:nowhere") == []

    def test_from_a_person(self, messages, as_bob):
        assert found(as_bob, "apples from:bob") == ["green apples, please"]
        assert found(as_bob, "apples from:BOB") == ["green apples, please"]
        assert found(as_bob, "apples from:nobody") == []

    def test_before_and_after_a_day(self, messages, as_bob):
        old = Message.objects.get(body="red apples and green pears")
        old.created_at = old.created_at.replace(year=2020, month=3, day=10, hour=12)
        old.save(update_fields=["created_at"])
        assert found(as_bob, "pears before:2020-03-11") == ["red apples and green pears"]
        assert found(as_bob, "pears before:2020-03-10") == []
        assert found(as_bob, "pears after:2020-03-09") == ["red apples and green pears"]
        assert found(as_bob, "pears after:2020-03-10") == []
        assert found(as_bob, "apples after:2020-03-10 in:lobby") == [
            "the docs: https://example.com/apples",
            "green apples, please",
        ]

    def test_has_link(self, messages, as_bob):
        assert found(as_bob, "apples has:link") == ["the docs: https://example.com/apples"]
        assert found(as_bob, "has:link") == ["the docs: https://example.com/apples"]

    def test_words_of_a_link_are_words(self, messages, as_bob):
        assert found(as_bob, "example.com") == ["the docs: https://example.com/apples"]
        assert found(as_bob, "example") == ["the docs: https://example.com/apples"]

    def test_case_and_accents_do_not_matter(self, messages, as_bob):
        assert found(as_bob, "creme brulee cafe") == ["Crème brûlée at the Café"]
        assert found(as_bob, "CAFÉ") == ["Crème brûlée at the Café"]

    def test_an_unknown_operator_is_plain_words(self, lobby, as_alice, as_bob):
        say(as_alice, "lobby", "see note:important for details")
        say(as_alice, "lobby", "an important note")
        assert found(as_bob, "note:important") == ["see note:important for details"]

    def test_syntax_of_the_engines_is_just_text(self, lobby, as_alice, as_bob):
        say(as_alice, "lobby", "use NEAR and OR and NOT in (parens)* ^caret")
        for q in ["NEAR(a b)", "OR", "NOT", "(parens)*", "^caret", 'a" OR "b', "col:val", "*"]:
            response = as_bob.get("/search/", {"q": q})
            assert response.status_code in (200, 400), (q, response.content)
        assert found(as_bob, "near or not") == ["use NEAR and OR and NOT in (parens)* ^caret"]
        assert found(as_bob, "(parens)* ^caret") == ["use NEAR and OR and NOT in (parens)* ^caret"]


class TestResults:
    def test_a_result_carries_the_message_its_room_and_a_snippet(self, lobby, as_alice, as_bob):
        message = say(as_alice, "lobby", "lunch at noon?")
        (result,) = as_bob.get("/search/", {"q": "lunch"}).json()["results"]
        assert result["message"] == message
        assert result["room"] == {"slug": "lobby", "name": "Lobby", "private": False}
        assert result["snippet"] == "<mark>lunch</mark> at noon?"
        assert result["url"] == f"/rooms/lobby/?around={message['id']}"

    def test_snippets_escape_html(self, lobby, as_alice, as_bob):
        say(as_alice, "lobby", "look <script>alert('x')</script> & <b>bold</b> script")
        (result,) = as_bob.get("/search/", {"q": "script bold"}).json()["results"]
        assert result["snippet"] == (
            "look &lt;<mark>script</mark>&gt;alert(&#x27;x&#x27;)&lt;/<mark>script</mark>&gt;"
            " &amp; &lt;b&gt;<mark>bold</mark>&lt;/b&gt; <mark>script</mark>"
        )
        page = as_bob.get("/search/", {"q": "script bold"}, HTTP_ACCEPT="text/html")
        html = page.content.decode()
        assert "<script>alert" not in html
        assert "&lt;<mark>script</mark>&gt;alert(&#x27;x&#x27;)" in html

    def test_a_long_message_is_cut_around_what_was_found(self, lobby, as_alice, as_bob):
        say(as_alice, "lobby", "filler " * 100 + "needle " + "filler " * 100)
        (result,) = as_bob.get("/search/", {"q": "needle"}).json()["results"]
        snippet = result["snippet"]
        assert snippet.startswith("…") and snippet.endswith("…")
        assert "<mark>needle</mark>" in snippet and len(snippet) < 300

    def test_pages_go_from_newest_to_oldest_with_a_cursor(self, lobby, as_alice, as_bob):
        bodies = [say(as_alice, "lobby", f"counting {i}")["body"] for i in range(7)]
        seen, before = [], None
        for _ in range(5):
            params = {"q": "counting", "limit": 3, **({"before": before} if before else {})}
            page = as_bob.get("/search/", params).json()
            seen += [r["message"]["body"] for r in page["results"]]
            before = page["next"]
            if before is None:
                break
        assert seen == bodies[::-1]

    def test_pages_are_whole_however_far_apart_the_matches_are(
        self, lobby, as_alice, as_bob, monkeypatch
    ):
        # PostgreSQL walks the newest ids, then older and older ranges through its index:
        # make them tiny so that the matches of one page lie in many of them.
        from rooms.search.backends import postgresql

        monkeypatch.setattr(postgresql, "RECENT_WINDOW", 2)
        monkeypatch.setattr(postgresql, "INDEX_WINDOW", 3)
        expected: list[str] = []
        for i in range(40):
            body = f"sparse {i}" if i % 7 == 0 else f"dense {i}"
            say(as_alice, "lobby", body)
            if i % 7 == 0:
                expected.insert(0, body)
        seen, before = [], None
        for _ in range(10):
            params = {"q": "sparse", "limit": 4, **({"before": before} if before else {})}
            page = as_bob.get("/search/", params).json()
            seen += [r["message"]["body"] for r in page["results"]]
            before = page["next"]
            if before is None:
                break
        assert seen == expected
        assert found(as_bob, "dense", limit=3) == ["dense 39", "dense 38", "dense 37"]

    def test_the_page_shows_results_with_links_to_the_message(self, lobby, as_alice, as_bob):
        message = say(as_alice, "lobby", "the page of results")
        page = as_bob.get("/search/", {"q": "results"}, HTTP_ACCEPT="text/html")
        assert page.status_code == 200 and page["Vary"] and "Accept" in page["Vary"]
        html = page.content.decode()
        assert f'href="/rooms/lobby/?around={message["id"]}"' in html
        assert "<mark>results</mark>" in html and "alice" in html and "#lobby" in html
        bad = as_bob.get("/search/", {"q": " "}, HTTP_ACCEPT="text/html")
        assert bad.status_code == 400 and "the query is empty" in bad.content.decode()


class TestBadInput:
    @pytest.mark.parametrize(
        ("params", "error"),
        [
            ({}, "the query is empty"),
            ({"q": "   \t "}, "the query is empty"),
            ({"q": "x" * 501}, "longer than 500"),
            ({"q": "hello", "limit": "101"}, "limit must be between 1 and 100"),
            ({"q": "hello", "limit": "0"}, "limit must be between 1 and 100"),
            ({"q": "hello", "limit": "ten"}, "limit must be"),
            ({"q": "hello", "before": "abc"}, "before must be"),
            ({"q": "hello", "before": "-5"}, "before must be"),
            ({"q": "hello", "before": "9" * 40}, "before must be"),
            ({"q": "before:2026-02-30"}, "before: takes a date"),
            ({"q": "after:yesterday"}, "after: takes a date"),
            ({"q": "after:9999-12-31"}, "after: takes a date"),
            ({"q": "has:attachment"}, "has: takes link"),
            ({"q": "-only -exclusions"}, "nothing to search for"),
            ({"q": '"" * ( ^'}, "nothing to search for"),
            ({"q": "hello\x00"}, "NUL"),
        ],
    )
    def test_it_is_a_400_saying_why(self, lobby, as_bob, params, error):
        response = as_bob.get("/search/", params)
        assert response.status_code == 400
        assert error in response.json()["error"]

    def test_exactly_500_characters_is_fine(self, lobby, as_bob):
        assert as_bob.get("/search/", {"q": "x" * 500}).status_code == 200


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    q=st.text(
        alphabet=st.one_of(
            st.sampled_from(list("\"*:()^-+{}[]~NEARORAND \t\\'%_.")),
            st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
        ),
        max_size=60,
    )
)
def test_no_query_makes_the_engine_fail(q):
    """Whatever one types is searched or refused: the engine never sees its own syntax."""
    from django.contrib.auth.models import User

    user = User.objects.get_or_create(username="fuzzer")[0]
    room = Room.objects.get_or_create(slug="fuzz", defaults={"name": "Fuzz", "owner": user})[0]
    if not room.messages.exists():
        room.add_member(user, role="owner")
        room.post_message(user, 'NEAR "quoted" (parens) col:val a*b ^c -d')
    response = client_for(user).get("/search/", {"q": q})
    assert response.status_code in (200, 400), (q, response.content)


class TestOpeningAtAMessage:
    def test_the_history_opens_around_a_message(self, lobby, as_alice, as_bob):
        ids = [say(as_alice, "lobby", f"line {i}")["id"] for i in range(30)]
        page = as_bob.get(f"/rooms/lobby/messages/?around={ids[10]}&limit=9").json()
        assert [m["id"] for m in page["messages"]] == ids[6:15]
        assert page["has_more"] and page["has_newer"]
        assert page["last_event_id"] == Room.objects.get(slug="lobby").last_event_seq
        edge = as_bob.get(f"/rooms/lobby/messages/?around={ids[1]}&limit=9").json()
        assert [m["id"] for m in edge["messages"]] == ids[:6]
        assert not edge["has_more"] and edge["has_newer"]

    def test_around_a_message_of_another_room_is_a_404(self, lobby, secret, as_alice, as_bob):
        other = say(as_alice, "secret", "elsewhere")
        assert as_bob.get(f"/rooms/lobby/messages/?around={other['id']}").status_code == 404
        response = as_bob.get("/rooms/lobby/messages/?around=1&before=2")
        assert response.status_code == 400

    def test_the_room_page_opens_at_a_result(self, lobby, as_alice, as_bob):
        ids = [say(as_alice, "lobby", f"line {i}")["id"] for i in range(80)]
        (result,) = as_bob.get("/search/", {"q": '"line 20"'}).json()["results"]
        page = as_bob.get(result["url"])
        html = page.content.decode()
        assert f'data-around="{ids[20]}"' in html and 'data-has-newer="true"' in html
        shown = [int(i) for i in re.findall(r'<li class="message[^"]*" data-id="(\d+)"', html)]
        assert shown == ids[:46]  # the 21 up to it, 25 after it
        # An id that is not this room's opens the room as usual, at its newest messages.
        html = as_bob.get("/rooms/lobby/?around=999999").content.decode()
        assert 'data-around=""' in html


class TestAdmin:
    def test_site_moderators_find_removed_messages_in_the_admin(self, lobby, alice, mod):
        message = lobby.post_message(alice, "removed Crème brûlée recipe")[0]
        lobby.post_message(alice, "ordinary text")
        lobby.post_message(alice, "a deleted creme")[0].erase()
        moderation.remove_message(mod, message, "spam")
        # The index's words: accents do not matter, as on the site.
        page = client_for(mod).get("/admin/rooms/message/", {"q": "creme"})
        assert page.status_code == 200
        html = page.content.decode()
        assert "removed Crème brûlée recipe" in html
        assert "ordinary text" not in html and "a deleted creme" not in html
        # By name still works.
        assert (
            "ordinary text"
            in client_for(mod).get("/admin/rooms/message/", {"q": "alice"}).content.decode()
        )
        # Anything typed is searched or finds nothing: never an error.
        assert client_for(mod).get("/admin/rooms/message/", {"q": '"( *'}).status_code == 200

    def test_the_admins_search_is_the_index(self, lobby, alice):
        message = lobby.post_message(alice, "Crème brûlée")[0]
        sql, params = matching_ids('"creme brulee"')
        assert set(
            Message.objects.extra(
                where=[f"rooms_message.id IN ({sql})"], params=params
            ).values_list("pk", flat=True)
        ) == {message.pk}


def test_search_is_one_function_for_pages_and_json(lobby, alice, bob):
    # The endpoint and the page answer what rooms.search.search answers.
    lobby.post_message(alice, "shared words")
    page = search(bob, "shared")
    assert [r.message.body for r in page.results] == ["shared words"]
    assert page.next is None
