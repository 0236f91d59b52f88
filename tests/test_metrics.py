"""GET /metrics: Prometheus's text format, for allowed addresses or the bearer token only;
a scrape while a stream is open and a post is made shows both."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from prometheus_client.parser import text_string_to_metric_families

from tests.asgi import asgi_client
from tests.helpers import Stream, wait_until_live

pytestmark = pytest.mark.django_db(transaction=True)

OUTSIDER = "203.0.113.7"  # an address from the documentation range: not allowed


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    async with asgi_client() as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


def value(scraped, name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


async def test_a_scrape_shows_an_open_stream_and_a_post(bob, lobby):
    before = await scrape()
    async with Stream("lobby", bob) as stream, asgi_client(bob) as client:
        opened = await scrape()
        posted = await client.post("/rooms/lobby/messages/", json={"body": "hi"})
        assert posted.status_code == 201
        await stream.read_events(1)
        during = await scrape()
    after = await scrape()

    assert value(opened, "chat_streams_open") == value(before, "chat_streams_open") + 1
    assert value(after, "chat_streams_open") == value(before, "chat_streams_open")
    for name in ("chat_streams_opened_total",):
        assert value(during, name) == value(before, name) + 1
    assert value(after, "chat_streams_closed_total", reason="client") == (
        value(before, "chat_streams_closed_total", reason="client") + 1
    )
    assert value(during, "chat_events_delivered_total") >= (
        value(before, "chat_events_delivered_total") + 1
    )
    post = {"method": "POST", "view": "room-messages"}
    assert value(during, "chat_http_requests_total", **post, status="201") == (
        value(before, "chat_http_requests_total", **post, status="201") + 1
    )
    assert value(during, "chat_http_request_duration_seconds_count", **post) == (
        value(before, "chat_http_request_duration_seconds_count", **post) + 1
    )
    # Every documented series is there, at zero if nothing happened yet.
    for name, labels in [
        ("chat_events_replayed_total", {"source": "log"}),
        ("chat_events_replayed_total", {"source": "memory"}),
        ("chat_stream_overflows_total", {}),
        ("chat_fanout_catch_ups_total", {}),
        ("chat_database_errors_total", {"where": "request"}),
        ("chat_redis_errors_total", {"operation": "publish"}),
        ("chat_streams_closed_total", {"reason": "overflow"}),
    ]:
        assert (name, frozenset(labels.items())) in during, name


async def test_a_replay_counts_its_events(bob, lobby):
    for i in range(3):
        await sync_to_async(lobby.post_message)(bob, f"m{i}")
    before = await scrape()
    async with Stream("lobby", bob, last_event_id="0") as stream:
        await stream.read_until(lambda events: len(events) >= 5)  # joins and the three
    after = await scrape()
    replayed = sum(
        value(after, "chat_events_replayed_total", source=source)
        - value(before, "chat_events_replayed_total", source=source)
        for source in ("memory", "log")
    )
    assert replayed == 5


async def test_an_overflow_is_counted(bob, lobby, monkeypatch):
    from rooms.stream import subscriber

    monkeypatch.setattr(subscriber, "MAX_QUEUED_FRAMES", 0)
    before = await scrape()
    # Bob reads nothing yet: the first event's send waits, and the second finds no room
    # in his queue, which ends the stream.
    async with Stream("lobby", bob, read_ahead=1) as stream:
        await wait_until_live(lobby.pk)
        await sync_to_async(lobby.post_message)(bob, "the first waits")
        await sync_to_async(lobby.post_message)(bob, "one too many")
        await stream.read_to_end()
    after = await scrape()
    assert value(after, "chat_stream_overflows_total") == (
        value(before, "chat_stream_overflows_total") + 1
    )
    assert value(after, "chat_streams_closed_total", reason="overflow") == (
        value(before, "chat_streams_closed_total", reason="overflow") + 1
    )


async def test_only_allowed_addresses_may_scrape():
    async with asgi_client(address=OUTSIDER) as outsider:
        refused = await outsider.get("/metrics")
    assert refused.status_code == 403
    assert "chat_" not in refused.text
    async with asgi_client(address="127.0.0.1") as local:
        assert (await local.get("/metrics")).status_code == 200


async def test_a_network_in_the_allow_list_admits_its_addresses(settings):
    settings.CHAT_METRICS_ALLOWED_ADDRESSES = ["10.0.0.0/8"]
    async with asgi_client(address="10.20.30.40") as inside:
        assert (await inside.get("/metrics")).status_code == 200
    async with asgi_client(address="127.0.0.1") as local:
        assert (await local.get("/metrics")).status_code == 403


async def test_the_bearer_token_admits_any_address(settings):
    settings.CHAT_METRICS_TOKEN = "s3cret-token"
    async with asgi_client(address=OUTSIDER) as scraper:
        right = await scraper.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
        wrong = await scraper.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        none = await scraper.get("/metrics")
    assert right.status_code == 200 and "chat_streams_open" in right.text
    assert (wrong.status_code, none.status_code) == (403, 403)


async def test_behind_the_proxy_the_address_is_the_one_the_proxy_saw(settings):
    """nginx connects from 127.0.0.1 for everyone: its X-Forwarded-For decides."""
    settings.AXES_IPWARE_PROXY_COUNT = 0
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    async with asgi_client(address="127.0.0.1") as proxy:
        outside = await proxy.get("/metrics", headers={"X-Forwarded-For": OUTSIDER})
        local = await proxy.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert (outside.status_code, local.status_code) == (403, 200)
