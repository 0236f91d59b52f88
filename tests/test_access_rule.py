"""One rule decides who may read a room (Room.access_for), and one who may lose access
through an event (event_types.who_may_lose_access). Every way in asks the first: the page,
the members page, the history, one message, the members list, the stream and its replay.

The people and rooms are those of the URL table (tests/test_security_authorization.py).
"""

import json

import pytest
from asgiref.sync import sync_to_async

from rooms.event_types import EventType, Recheck, who_may_lose_access
from rooms.models import Access, Room
from tests.conftest import client_for
from tests.helpers import Stream
from tests.test_security_authorization import USERNAMES, world  # noqa: F401 (a fixture)

ROLES = list(USERNAMES)
STATUS = {Access.READ: 200, Access.HIDDEN: 404, Access.BANNED: 403}
# Every way in to a room over HTTP that reads it (writes have rules of their own on top).
PAGES = ["/rooms/{room}/", "/rooms/{room}/people/"]
JSON = ["/rooms/{room}/messages/", "/rooms/{room}/messages/{message}/", "/rooms/{room}/members/"]


async def stream_and_replay(slug, user):
    """The stream's status, and the events a replay from the start carries."""
    async with Stream(slug, user, last_event_id="0") as stream:
        if stream.status != 200:
            await stream.read_to_end()
            return stream.status, []
        await stream.read_until(lambda events: events)
        return stream.status, stream.events


def answers(people, message, role, room):
    client = client_for(people[USERNAMES[role]])
    paths = [p.format(room=room.slug, message=message.pk) for p in PAGES + JSON]
    # One message lives in the public room only: elsewhere it is a 404 whatever the rule.
    if room.slug != "lobby":
        paths.remove(f"/rooms/{room.slug}/messages/{message.pk}/")
    return {path: client.get(path).status_code for path in paths}


@pytest.mark.parametrize("slug", ["lobby", "secret"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.django_db(transaction=True)
async def test_every_way_in_answers_what_the_one_rule_says(world, role, slug):  # noqa: F811
    people, message = world
    room = await sync_to_async(Room.objects.get)(slug=slug)
    user = people[USERNAMES[role]]
    expected = STATUS[await sync_to_async(room.access_for)(user)]
    got = await sync_to_async(answers)(people, message, role, room)
    assert set(got.values()) == {expected}, got
    status, replayed = await stream_and_replay(slug, user)
    assert status == expected
    assert bool(replayed) == (expected == 200)


@pytest.mark.parametrize("forced", [Access.HIDDEN, Access.BANNED])
@pytest.mark.django_db(transaction=True)
async def test_every_way_in_asks_that_rule(world, monkeypatch, forced):  # noqa: F811
    # Whatever the rule answers is what every way in does, for everyone: none decides alone.
    monkeypatch.setattr(Room, "access_for", lambda room, user: forced)
    people, message = world
    lobby = await sync_to_async(Room.objects.get)(slug="lobby")
    for role in ROLES:
        got = await sync_to_async(answers)(people, message, role, lobby)
        assert set(got.values()) == {STATUS[forced]}, (role, got)
        status, replayed = await stream_and_replay("lobby", people[USERNAMES[role]])
        assert (status, replayed) == (STATUS[forced], []), role


@pytest.mark.django_db
def test_anonymous_people_are_sent_to_log_in_everywhere(world):  # noqa: F811
    _, message = world
    client = client_for(None)
    for path in PAGES:
        assert client.get(path.format(room="lobby")).status_code == 302
    for path in JSON:
        response = client.get(path.format(room="lobby", message=message.pk))
        assert response.status_code == 401
        assert json.loads(response.content) == {"error": "authentication required"}


# The loses-access rule, for every event type: whose streams must ask the rule above again.
LOSES_ACCESS = {
    EventType.USER_BANNED: (Recheck.SUBJECT, Recheck.SUBJECT),
    EventType.MEMBER_LEFT: (Recheck.NOBODY, Recheck.SUBJECT),  # (public room, private room)
}


@pytest.mark.parametrize("type", list(EventType))
def test_which_events_may_take_access_away(type):
    public, private = LOSES_ACCESS.get(type, (Recheck.NOBODY, Recheck.NOBODY))
    assert who_may_lose_access(type, private=False) == public
    assert who_may_lose_access(type, private=True) == private
    made_private = Recheck.EVERYONE if type == EventType.ROOM_UPDATED else private
    assert who_may_lose_access(type, private=True, became_private=True) == made_private
