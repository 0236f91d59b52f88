"""The event log's seqs stay 1, 2, 3, ... with no hole and no duplicate when edits, joins,
leaves and moderation run at the same time in one room (most telling on PostgreSQL, where
the transactions really run in parallel; SQLite serializes writers)."""

import threading

import pytest
from django.contrib.auth.models import User
from django.db import connections

from rooms import moderation
from rooms.models import Message, Restriction, Room, RoomEvent

pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = 6
ROUNDS = 8


@pytest.mark.skipif(
    connections["default"].vendor != "postgresql",
    reason="SQLite serializes writers (and the in-memory test database's shared cache answers "
    "concurrent writers 'table is locked'); this is about PostgreSQL's parallel transactions",
)
def test_concurrent_non_post_events_get_distinct_gapless_seqs(lobby, alice, bob):
    people = [
        User.objects.create_user(f"p{k}", password="pw-long-enough-1") for k in range(WORKERS)
    ]
    messages = [lobby.post_message(alice, f"m{k}")[0] for k in range(WORKERS)]
    start = lobby.current_event_seq()
    barrier = threading.Barrier(WORKERS)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            room = Room.objects.get(pk=lobby.pk)
            person = User.objects.get(pk=people[k].pk)
            message = Message.objects.select_related("room", "author").get(pk=messages[k].pk)
            moderator = User.objects.get(pk=alice.pk)
            barrier.wait()
            for round in range(ROUNDS):
                message.edit(f"m{k} edit {round}")
                room.add_member(person)
                moderation.restrict(moderator, room, person, Restriction.MUTE, 5)
                moderation.lift_restriction(moderator, room, person, Restriction.MUTE)
                room.remove_member(person)
        except BaseException as exc:  # collected: the test fails naming it
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    seqs = list(
        RoomEvent.objects.filter(room=lobby, seq__gt=start)
        .order_by("seq")
        .values_list("seq", flat=True)
    )
    expected = WORKERS * ROUNDS * 5
    assert seqs == list(range(start + 1, start + expected + 1))
    assert lobby.current_event_seq() == start + expected
