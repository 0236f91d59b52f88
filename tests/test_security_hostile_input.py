"""Hostile input gets a 4xx, never a 5xx, and a rejected request writes nothing."""

import json

import pytest
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

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(max_size=60)
    | st.sampled_from(["bob", "carol", "alice", "lobby", "", " ", "\x00", "<script>", "-1"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
payloads = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4) | json_values
raw_bodies = st.binary(max_size=200) | st.sampled_from(
    [b"{", b"\xff\xfe\xfd", b'{"body": "\xed\xa0\x80"}', b"null", b"[]", b'"x"', b"1e999"]
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
@given(endpoint=st.sampled_from(JSON_ENDPOINTS), payload=payloads)
def test_random_json_never_breaks_an_endpoint(as_alice, setting, endpoint, payload):
    method, path = endpoint
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
