"""Replay survives a server restart: the log is in the database, not in the process."""

import asyncio
import signal
import time

import pytest

from tests.live import LiveServer, RawStream, sign_up

pytestmark = pytest.mark.server


async def test_a_client_resumes_after_the_server_was_killed(live_database):
    server = LiveServer(live_database).start()
    try:
        alice = await sign_up(server.url, "alice")
        await alice.post("/rooms/", json={"slug": "general", "name": "General"})
        page = (await alice.get("/rooms/general/messages/")).json()
        stream = await RawStream(
            server.port,
            "/rooms/general/events/",
            alice.cookies["sessionid"],
            last_event_id=str(page["last_event_id"]),
        ).open()
        first = await alice.post("/rooms/general/messages/", json={"body": "before"})
        events = await stream.read_until(lambda evs: len(evs) >= 1)
        seen = events[-1].seq

        server.kill()
        stream.close()
        server.start()

        bodies = []
        for i in range(3):
            response = await alice.post("/rooms/general/messages/", json={"body": f"after {i}"})
            assert response.status_code == 201
            bodies.append(response.json()["body"])
        await alice.patch(f"/rooms/general/messages/{first.json()['id']}/", json={"body": "edited"})

        resumed = await RawStream(
            server.port, "/rooms/general/events/", alice.cookies["sessionid"], last_event_id=seen
        ).open()
        events = await resumed.read_until(lambda evs: len(evs) >= 4)
        assert [e.type for e in events] == ["message"] * 3 + ["message_edited"]
        assert [e.json["body"] for e in events] == [*bodies, "edited"]
        assert [e.seq for e in events] == list(range(seen + 1, seen + 5))
        resumed.close()
        await alice.aclose()
    finally:
        server.stop()


async def test_a_stopped_server_ends_its_open_streams_and_exits(live_database):
    """SIGTERM (systemctl stop, a rolling restart) with a stream open: a stream never ends on
    its own, yet the server ends it, properly, and exits within seconds, so that its client
    resumes elsewhere and the restart goes on (rooms/stream/shutdown.py)."""
    server = LiveServer(live_database).start()
    try:
        alice = await sign_up(server.url, "alice")
        await alice.post("/rooms/", json={"slug": "general", "name": "General"})
        stream = await RawStream(
            server.port, "/rooms/general/events/", alice.cookies["sessionid"]
        ).open()
        await stream.read_retry()
        await alice.aclose()
        assert server.process is not None
        stopped = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        await stream.read_to_end(10)
        # Ended properly, not cut off (nginx would count a cut-off against the process): an
        # answer in chunks (uvicorn's) got its last chunk. (daphne answers HTTP/1.0 whole.)
        assert stream.dechunk is None or stream.dechunk.done
        await asyncio.to_thread(server.process.wait, 10)
        assert time.monotonic() - stopped < 10
    finally:
        server.stop()
