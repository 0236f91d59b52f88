"""insert_new (rooms/models/common.py): a post's message and event rows, inserted with a
statement built once, are the rows Model.save writes."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from rooms.models import Message, Room, RoomEvent
from rooms.models.common import insert_new


def fields_of(model: type[Message] | type[RoomEvent], pk: int) -> dict[str, object]:
    row: dict[str, object] = dict(model.objects.filter(pk=pk).values().get())
    row.pop("id")
    return row


def test_a_message_inserted_once_built_is_the_row_save_writes(lobby: Room, alice, bob):
    quoted = Message.objects.create(room=lobby, author=bob, body="first")
    when = timezone.now() - timedelta(minutes=5)
    values = dict(
        room=lobby,
        author=alice,
        body="hi @bob, *you*",
        html="<p>hi @bob, <em>you</em></p>",
        reply_to=quoted,
        mentions=["bob"],
        mentions_room=True,
        from_bot=False,
        state_seq=7,
        created_at=when,
    )
    saved = Message.objects.create(client_id="a", **values)
    inserted = Message(client_id="b", **values)
    insert_new(inserted)
    assert inserted.pk is not None and inserted.pk != saved.pk
    assert not inserted._state.adding and inserted._state.db == "default"
    expected = fields_of(Message, saved.pk) | {"client_id": "b"}
    assert fields_of(Message, inserted.pk) == expected
    # The defaults (created_at's timezone.now among them) are filled in as by save().
    plain = Message(room=lobby, author=alice, body="x")
    insert_new(plain)
    assert Message.objects.get(pk=plain.pk).created_at == plain.created_at
    # Saved again, it is an update of its row, not another row.
    plain.body = "y"
    plain.save()
    assert Message.objects.filter(body__in=["x", "y"]).count() == 1


def test_an_event_inserted_once_built_is_the_row_save_writes(lobby: Room):
    values = dict(room=lobby, type="message", data='{"a":1}', message_id=None, recheck="")
    saved = RoomEvent.objects.create(seq=1001, position=10**9, **values)
    inserted = RoomEvent(seq=1002, position=10**9 + 1, **values)
    insert_new(inserted)
    expected = fields_of(RoomEvent, saved.pk) | {"seq": 1002, "position": 10**9 + 1}
    assert fields_of(RoomEvent, inserted.pk) | {"created_at": None} == expected | {
        "created_at": None
    }
