"""An open stream costs memory only: no thread and no database connection each.

Measured on a real server process (daphne or uvicorn, tests/live.py), with real logged-in
streams over sockets.
"""

import asyncio

import pytest

from tests.live import LiveServer, RawStream, sign_up

pytestmark = pytest.mark.server


@pytest.fixture
def server(live_database):
    server = LiveServer(live_database).start()
    yield server
    server.stop()


async def open_streams(server, session, count, path="/rooms/general/events/"):
    streams = [RawStream(server.port, path, session) for _ in range(count)]
    for batch in range(0, count, 50):
        await asyncio.gather(*(s.open() for s in streams[batch : batch + 50]))
    # Every stream has been checked and subscribed once its retry line came back.
    await asyncio.gather(*(s.read_retry() for s in streams))
    assert {s.status for s in streams} == {200}
    return streams


async def test_500_streams_hold_no_more_threads_or_db_connections_than_5(server):
    alice = await sign_up(server.url, "alice")
    assert (
        await alice.post("/rooms/", json={"slug": "general", "name": "General"})
    ).status_code == 201
    session = alice.cookies["sessionid"]

    few = await open_streams(server, session, 5)
    await asyncio.sleep(0.5)
    threads_at_5, connections_at_5 = server.threads(), server.db_connections()

    many = await open_streams(server, session, 495)
    await asyncio.sleep(0.5)
    threads_at_500, connections_at_500 = server.threads(), server.db_connections()

    # They are live streams, not idle sockets: a post reaches all 500.
    response = await alice.post("/rooms/general/messages/", json={"body": "to everyone"})
    assert response.status_code == 201
    streams = few + many
    await asyncio.gather(
        *(s.read_until(lambda events: any(e.type == "message" for e in events)) for s in streams)
    )

    print(
        f"threads: {threads_at_5} at 5 streams, {threads_at_500} at 500; "
        f"db connections: {connections_at_5} at 5, {connections_at_500} at 500"
    )
    assert threads_at_500 <= threads_at_5
    assert connections_at_500 <= connections_at_5
    for stream in streams:
        stream.close()
    await alice.aclose()
