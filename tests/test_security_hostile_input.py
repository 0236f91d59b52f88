"""Hostile input gets a 4xx, never a 5xx, and a rejected request writes nothing."""

import json

import pytest
from django.urls import resolve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rooms.models import Message, ModerationAction, Report, Restriction, Room, RoomEvent

pytestmark = pytest.mark.django_db

JSON_ENDPOINTS = [
    ("post", "/rooms/"),
    ("post", "/rooms/lobby/messages/"),
    ("patch", "/rooms/lobby/messages/{message}/"),
    ("delete", "/rooms/lobby/messages/{message}/"),
    ("post", "/rooms/lobby/join/"),
    ("post", "/rooms/lobby/leave/"),
    ("post", "/rooms/lobby/members/"),
    ("post", "/rooms/lobby/messages/{message}/report/"),
    ("post", "/rooms/lobby/messages/{message}/remove/"),
    ("post", "/rooms/lobby/messages/{message}/restore/"),
    ("post", "/rooms/lobby/mute/"),
    ("post", "/rooms/lobby/unmute/"),
    ("post", "/rooms/lobby/ban/"),
    ("post", "/rooms/lobby/unban/"),
    ("post", "/rooms/lobby/settings/"),
    ("post", "/rooms/lobby/moderators/"),
]
FIELDS = [
    "body",
    "client_id",
    "slug",
    "name",
    "private",
    "username",
    "reason",
    "minutes",
    "locked",
    "archived",
    "slow_mode_seconds",
    "moderator",
]

# Control characters (C0, DEL, C1), bidi overrides and invisible characters.
CONTROL_TEXT = ["\x07", "\x1b[31m", "a\r\nb", "\u202e", "\u200b", "\ufeff", "\x9b", "\x7f"]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(max_size=60)
    | st.sampled_from(["bob", "carol", "alice", "lobby", "", " ", "\x00", "<script>", "-1"])
    | st.sampled_from(CONTROL_TEXT).map(lambda c: f"name{c}x"),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
payloads = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4) | json_values


def nested(depth: int, opener: str) -> bytes:
    inner = '{"a":' * depth + "1" + "}" * depth if opener == "{" else "[" * depth + "]" * depth
    return f'{{"body":"x","z":{inner}}}'.encode()


raw_bodies = (
    st.binary(max_size=200)
    | st.sampled_from(
        [b"{", b"\xff\xfe\xfd", b'{"body": "\xed\xa0\x80"}', b"null", b"[]", b'"x"', b"1e999"]
    )
    # Deeply nested documents, closed or not, inside an object or bare.
    | st.builds(nested, st.integers(1, 5000), st.sampled_from("[{"))
    | st.integers(1, 30000).map(lambda depth: b"[" * depth + b"]" * depth)
    | st.integers(1, 30000).map(lambda depth: b'{"body":' + b"[" * depth)
)


def database_state():
    return (
        list(
            Message.objects.order_by("id").values_list(
                "id", "body", "edited_at", "deleted_at", "removed_at"
            )
        ),
        list(
            Room.objects.order_by("id").values_list(
                "id", "locked", "archived", "slow_mode_seconds", "private"
            )
        ),
        list(Restriction.objects.order_by("id").values_list("id", "kind", "expires_at")),
        RoomEvent.objects.count(),
        ModerationAction.objects.count(),
        Report.objects.count(),
    )


@pytest.fixture
def setting(alice, bob, carol, lobby):
    message, _ = lobby.post_message(bob, "a message")
    return message


def check(response, before):
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        assert database_state() == before, response.content[:300]
        assert "error" in response.json() or response.status_code == 405


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(endpoint=st.sampled_from(JSON_ENDPOINTS), data=st.data())
def test_random_json_never_breaks_an_endpoint(as_alice, setting, endpoint, data):
    method, path = endpoint
    # Mostly the fields the endpoint knows (so that its checks run), sometimes any field.
    view = resolve(path.format(message=1)).func
    known = sorted(view.payload_fields.get(method.upper(), ()))  # type: ignore[attr-defined]
    fields = st.sampled_from(known) if known else st.sampled_from(FIELDS)
    payload = data.draw(
        st.dictionaries(fields, json_values, max_size=4) | payloads, label="payload"
    )
    before = database_state()
    response = getattr(as_alice, method)(
        path.format(message=setting.pk), json.dumps(payload), content_type="application/json"
    )
    check(response, before)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(endpoint=st.sampled_from(JSON_ENDPOINTS), body=raw_bodies, form=st.booleans())
def test_random_bytes_never_break_an_endpoint(as_alice, setting, endpoint, body, form):
    method, path = endpoint
    content_type = "application/x-www-form-urlencoded" if form else "application/json"
    before = database_state()
    response = getattr(as_alice, method)(
        path.format(message=setting.pk), body, content_type=content_type
    )
    check(response, before)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(["before", "after", "limit", "x"]),
        st.text(max_size=30) | st.integers(min_value=-(10**40), max_value=10**40).map(str),
        max_size=3,
    )
)
def test_random_history_queries_never_break(as_alice, setting, params):
    response = as_alice.get("/rooms/lobby/messages/", params)
    assert response.status_code in (200, 400), response.content[:300]


@pytest.mark.parametrize(
    "body",
    [
        "a\x00b",
        "escape \x1b[31m",
        "bell\x07",
        "\x7f",
        "\ud800",  # a lone surrogate: not encodable as UTF-8
    ],
)
def test_control_characters_and_broken_unicode_are_refused(as_bob, setting, body):
    before = database_state()
    raw = json.dumps({"body": body}).encode()  # json escapes the surrogate as \ud800
    response = as_bob.post("/rooms/lobby/messages/", raw, content_type="application/json")
    assert response.status_code == 400
    assert database_state() == before


def test_tabs_and_newlines_are_kept(as_bob, setting):
    response = as_bob.post(
        "/rooms/lobby/messages/", json.dumps({"body": "a\tb\nc"}), content_type="application/json"
    )
    assert response.status_code == 201
    assert response.json()["body"] == "a\tb\nc"


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/rooms/lobby/messages/{message}/remove/", {"reason": "spam\x00"}),
        ("/rooms/", {"slug": "nul-room", "name": "a\x00b"}),
        ("/rooms/lobby/mute/", {"username": "bob", "reason": "\x00"}),
    ],
)
@pytest.mark.parametrize("as_form", [False, True])
def test_a_nul_character_in_any_field_is_refused(as_alice, setting, path, payload, as_form):
    # PostgreSQL cannot store NUL in text: this was a 500 there (found by the test above).
    before = database_state()
    url = path.format(message=setting.pk)
    if as_form:
        response = as_alice.post(url, payload)
    else:
        response = as_alice.post(url, json.dumps(payload), content_type="application/json")
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]
    assert database_state() == before


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 20000 + b"]" * 20000,
        b'{"body":"x","z":' + b"[" * 900 + b"]" * 900 + b"}",
        b'{"body":"x","z":' + b'{"a":' * 900 + b"1" + b"}" * 901,
        b'{"body":"x","z":' + b"[" * 30000,  # never closed
    ],
    ids=["bare", "lists-in-a-field", "objects-in-a-field", "unclosed"],
)
def test_deeply_nested_json_is_a_400(as_bob, setting, body):
    before = database_state()
    response = as_bob.post("/rooms/lobby/messages/", body, content_type="application/json")
    assert response.status_code == 400
    assert "nests deeper than" in response.json()["error"]
    assert database_state() == before


def test_brackets_inside_strings_do_not_count_as_nesting(as_bob, setting):
    body = json.dumps({"body": '[[[[[[[[[[[[[[[[[[[[[[[[[ {{{{{{{{{{{{{{{{{{{{ " [[[[[[[['})
    response = as_bob.post("/rooms/lobby/messages/", body, content_type="application/json")
    assert response.status_code == 201


@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
@pytest.mark.parametrize("as_form", [False, True])
def test_every_endpoint_names_a_field_it_does_not_know(as_alice, setting, method, path, as_form):
    before = database_state()
    url = path.format(message=setting.pk)
    payload = {"flavour": "x"}
    if as_form and method == "post":
        response = as_alice.post(url, payload)
    elif as_form:
        response = getattr(as_alice, method)(
            url, "flavour=x", content_type="application/x-www-form-urlencoded"
        )
    else:
        response = getattr(as_alice, method)(
            url, json.dumps(payload), content_type="application/json"
        )
    assert response.status_code == 400
    assert response.json() == {"error": "unknown field: 'flavour'"}
    assert database_state() == before


def test_a_settings_change_with_a_misspelt_field_changes_nothing(as_alice, setting):
    # It answered 200 and changed nothing: the moderator believed the room was locked.
    response = as_alice.post(
        "/rooms/lobby/settings/", json.dumps({"lock": True}), content_type="application/json"
    )
    assert response.status_code == 400
    assert "'lock'" in response.json()["error"]
    assert Room.objects.get(slug="lobby").locked is False


def test_known_fields_and_the_csrf_token_of_a_form_are_accepted(as_bob, setting):
    response = as_bob.post(
        "/rooms/lobby/messages/", {"body": "hi", "client_id": "k", "csrfmiddlewaretoken": "t"}
    )
    assert response.status_code == 201


class TestNames:
    @pytest.mark.parametrize(
        "character",
        ["\x07", "\x1b", "\r", "\n", "\u202e", "\u2066", "\u200b", "\ufeff", "\x9b", "\u2028"],
    )
    def test_a_room_name_with_a_hidden_character_is_refused(self, as_bob, setting, character):
        before = database_state()
        payload = {"slug": "new-room", "name": f"Ne{character}ws"}
        response = as_bob.post("/rooms/", json.dumps(payload), content_type="application/json")
        assert response.status_code == 400
        assert "invisible" in response.json()["error"]
        assert database_state() == before

    def test_a_room_name_may_hold_emoji_with_joiners_and_any_script(self, as_bob, setting):
        family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # joined by zero-width joiners
        name = f"\u0421\u0435\u043c\u044c\u044f {family} \u0634\u0628\u200c\u0647\u0627"
        payload = {"slug": "family", "name": name}
        response = as_bob.post("/rooms/", json.dumps(payload), content_type="application/json")
        assert response.status_code == 201
        assert response.json()["name"] == name

    @pytest.mark.parametrize(
        "username",
        ["b\u0435nch1", "adm\u0456n", "bob\u200b", "\u202ebob", "bob\x07", "BOB"],
        ids=["cyrillic-e", "ukrainian-i", "zero-width", "bidi", "bell", "case"],
    )
    def test_a_username_that_looks_like_another_is_refused(self, setting, username):
        from django.contrib.auth.models import User
        from django.test import Client

        User.objects.create_user("bench1")
        User.objects.create_user("admin")
        password = "a-long-passphrase-9"
        response = Client().post(
            "/accounts/signup/",
            {"username": username, "password1": password, "password2": password},
        )
        assert response.status_code == 200  # the form again, with the error
        assert not User.objects.filter(username=username).exists()


class TestTakenSlugs:
    def test_a_private_rooms_slug_looks_like_a_reserved_one_to_outsiders(self, as_carol, setting):
        Room.objects.create(slug="secret", name="Secret", owner=setting.author, private=True)

        def create(slug):
            payload = json.dumps({"slug": slug})
            return as_carol.post("/rooms/", payload, content_type="application/json")

        private, reserved = create("secret"), create("admin")
        assert private.status_code == reserved.status_code == 409
        assert private.content == reserved.content
        # A room one can see may be named as taken.
        assert create("lobby").json()["error"] == "a room with this slug already exists"
