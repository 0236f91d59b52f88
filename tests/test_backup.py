"""`manage.py backup` while posts are being made, then `manage.py restore` into an empty
database: every message acknowledged before the backup began is there, with its id, and
every room's event log runs 1, 2, 3, ... with no hole. On each stack (SQLite's online backup
API; pg_dump and pg_restore)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from tests.helpers import Poster, wait_until
from tests.live import ROOT, LiveDatabase, LiveServer, server_env, sign_up

pytestmark = [pytest.mark.server, pytest.mark.timeout(180)]

RESTORED = """
import json
from rooms.models import Message, Room, RoomEvent
print(json.dumps({
    "messages": {m.client_id: [m.pk, m.body] for m in Message.objects.exclude(client_id="")},
    "rooms": {
        room.slug: [list(room.events.order_by("seq").values_list("seq", flat=True)),
                    room.last_event_seq]
        for room in Room.objects.all()
    },
    "message_events": list(
        RoomEvent.objects.filter(type="message").values_list("message_id", flat=True)
    ),
}))
"""


def empty_database(directory) -> LiveDatabase:
    """A database with no table at all: a new SQLite file, or a new PostgreSQL database."""
    directory.mkdir()
    database = LiveDatabase(directory)
    if database.pg_name:
        database._pg(f'CREATE DATABASE "{database.pg_name}"')
    return database


def manage(database: LiveDatabase, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=server_env(database.env),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_a_backup_taken_while_posting_restores_every_acknowledged_message(tmp_path):
    database = LiveDatabase(tmp_path).create()
    restored = empty_database(tmp_path / "restored")
    server = LiveServer(database).start()
    path = tmp_path / "chat.backup"
    try:
        alice = await sign_up(server.url, "alice")
        for slug in ("general", "random"):
            created = await alice.post("/rooms/", json={"slug": slug, "name": slug})
            assert created.status_code == 201
        posters = [
            Poster([alice], f"/rooms/{slug}/messages/", slug) for slug in ("general", "random")
        ]
        burst = asyncio.gather(*(poster.run(120, 0.005) for poster in posters))
        await wait_until(lambda: sum(len(p.acked) for p in posters) >= 60, 30, "no posts")
        acked_before = {cid: id for poster in posters for cid, id in poster.acked.items()}
        made = await asyncio.to_thread(manage, database, "backup", str(path))
        acked_after = {cid for poster in posters for cid in poster.acked}
        await burst
        await alice.aclose()
    finally:
        server.stop()
    assert made.returncode == 0, made.stderr
    assert not (tmp_path / "chat.backup.partial").exists()
    posted = {cid: id for poster in posters for cid, id in poster.acked.items()}
    assert len(posted) == 240 and all(not poster.unacked for poster in posters)

    loaded = manage(restored, "restore", str(path))
    assert loaded.returncode == 0, loaded.stderr
    assert "every room's event log is whole" in loaded.stdout
    state = json.loads(manage(restored, "shell", "-c", RESTORED).stdout.strip().splitlines()[-1])

    messages = state["messages"]
    for client_id, message_id in acked_before.items():
        assert messages.get(client_id, [None])[0] == message_id, client_id
    assert set(messages) <= set(posted), "a message nobody posted"
    assert set(posted) - acked_after - set(messages), "the backup was taken after the burst"
    for slug, (seqs, newest) in state["rooms"].items():
        assert seqs == list(range(1, newest + 1)), f"{slug}: a hole in the event log"
    assert sorted(state["message_events"]) == sorted(id for id, _ in messages.values())

    # Only into an empty database: a second restore is refused and changes nothing.
    again = manage(restored, "restore", str(path))
    assert again.returncode != 0
    assert "not empty" in again.stderr
    database.drop()
    restored.drop()


def test_a_restore_refuses_a_file_that_is_no_backup(tmp_path):
    restored = empty_database(tmp_path / "restored")
    junk = tmp_path / "junk"
    junk.write_text("hello")
    try:
        result = manage(restored, "restore", str(junk))
        assert result.returncode != 0
        assert "neither an SQLite backup nor a pg_dump" in result.stderr
    finally:
        restored.drop()


@pytest.mark.django_db
def test_the_check_after_a_restore_finds_a_hole_in_an_event_log(lobby):
    from rooms import backup
    from rooms.models import RoomEvent

    assert backup.check_event_log()["events"] == lobby.last_event_seq
    RoomEvent.objects.filter(room=lobby, seq=1).delete()
    with pytest.raises(backup.BackupError, match="holes in: lobby"):
        backup.check_event_log()
