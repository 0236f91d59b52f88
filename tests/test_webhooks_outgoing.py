"""Outgoing webhooks: each new message goes, signed, to the owner's URL through the task
queue; the reply posts as the hook's bot; failures retry with a growing wait, then pause
the hook; only https and public addresses, checked at save and at each send.

alice: owns the lobby; bob: a member; robo: a bot.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from rooms.models import Bot, Message, OutgoingWebhook
from rooms.programs import outgoing
from tests.conftest import client_for
from tests.helpers import post_json, post_message
from tests.receiver import receiver


@pytest.fixture
def robo(db) -> User:
    user = User.objects.create_user("robo")
    Bot.objects.create(user=user)
    return user


@pytest.fixture
def local_receiver_allowed(settings):
    """The tests' receiver listens on 127.0.0.1, over http: allowed as an intranet would be."""
    settings.CHAT_HOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.CHAT_HOOK_TIMEOUT_SECS = 2


@pytest.fixture
def resolver(monkeypatch):
    """A stub resolver: names map to what the test says."""
    names: dict[str, list[str]] = {}

    def resolve(host: str, port: int) -> list[str]:
        if host not in names:
            raise OSError("no such name")
        return names[host]

    monkeypatch.setattr(outgoing, "resolve", resolve)
    return names


def make_hook(alice, url: str, **fields) -> dict:
    response = post_json(
        client_for(alice),
        "/rooms/lobby/webhooks/outgoing/",
        {"name": "echo", "bot": "robo", "url": url, **fields},
    )
    assert response.status_code == 201, response.content
    return response.json()


def run_deliveries() -> list[str]:
    """Run the delivery tasks waiting, as the worker would (oldest first); return results."""
    results = []
    for row in DBTaskResult.objects.filter(task_path=outgoing.deliver.module_path).order_by("id"):
        args = row.args_kwargs["args"]
        row.delete()
        results.append(outgoing.deliver.call(*args))
    return results


def verify(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does (the README's recipe)."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256)
    fresh = abs(time.time() - int(fields["t"])) < 300
    return fresh and hmac.compare_digest(expected.hexdigest(), fields["v1"])


@pytest.mark.django_db
def test_urls_to_private_addresses_are_refused(resolver):
    resolver["inside.example"] = ["10.1.2.3"]
    resolver["mapped.example"] = ["::ffff:127.0.0.1"]
    resolver["fine.example"] = ["93.184.216.34"]
    refused = [
        "http://fine.example/",  # not https
        "https://127.0.0.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/",
        "https://192.168.0.10/",
        "https://[fd00:ec2::254]/",
        "https://inside.example/",
        "https://mapped.example/",
        "https://unknown.example/",
        "https://user:pw@fine.example/",
        "ftp://fine.example/",
    ]
    for url in refused:
        with pytest.raises(outgoing.UnsafeURL):
            outgoing.check_url(url)
    _, address = outgoing.check_url("https://fine.example/hook")
    assert address == "93.184.216.34"


@pytest.mark.django_db
def test_the_allow_list_lets_named_hosts_and_networks_through(resolver, settings):
    resolver["intranet.corp"] = ["10.0.0.7"]
    settings.CHAT_HOOK_ALLOWED_HOSTS = ["intranet.corp", "192.168.5.0/24"]
    assert outgoing.check_url("http://intranet.corp/x")[1] == "10.0.0.7"
    assert outgoing.check_url("https://192.168.5.9/")[1] == "192.168.5.9"
    with pytest.raises(outgoing.UnsafeURL):
        outgoing.check_url("https://192.168.6.9/")


@pytest.mark.django_db
def test_saving_a_hook_with_an_unsafe_url_is_a_400(lobby, alice, robo, resolver):
    resolver["rebind.example"] = ["127.0.0.1"]
    for url in ("https://127.0.0.1/", "https://rebind.example/", "http://example.com/"):
        response = post_json(
            client_for(alice),
            "/rooms/lobby/webhooks/outgoing/",
            {"name": "x", "bot": "robo", "url": url},
        )
        assert response.status_code == 400, url
        assert response.json()["error"].startswith("url: ")
    assert not OutgoingWebhook.objects.exists()


@pytest.mark.django_db
def test_a_name_that_resolves_elsewhere_at_send_time_is_refused_then(
    lobby, alice, bob, robo, resolver
):
    resolver["rebind.example"] = ["93.184.216.34"]
    make_hook(alice, "https://rebind.example/hook")
    resolver["rebind.example"] = ["127.0.0.1"]  # DNS rebinding
    post_message(client_for(bob), "lobby", {"body": "secret plans"})
    results = run_deliveries()
    assert len(results) == 1 and "not a public address" in results[0]
    assert "refused" in OutgoingWebhook.objects.get().last_error


@pytest.mark.django_db
def test_a_message_is_sent_signed_and_the_reply_posts_as_the_bot(
    lobby, alice, bob, robo, local_receiver_allowed
):
    with receiver(reply=json.dumps({"text": "echo: hello"}).encode()) as server:
        hook = make_hook(alice, server.url)
        posted = post_message(client_for(bob), "lobby", {"body": "hello"}).json()
        assert run_deliveries() == ["sent; replied"]
    [request] = server.received
    assert request.path == "/hook"
    assert verify(hook["secret"], request.headers["X-Chat-Signature"], request.body)
    assert not verify("another secret", request.headers["X-Chat-Signature"], request.body)
    sent = json.loads(request.body)
    assert sent["room"] == "lobby" and sent["hook"] == hook["id"]
    assert sent["message"]["id"] == posted["id"] and sent["message"]["body"] == "hello"
    reply = Message.objects.order_by("id").last()
    assert reply is not None
    assert (reply.author, reply.body, reply.from_bot) == (robo, "echo: hello", True)
    # The bot's reply is not sent on: no loop.
    assert run_deliveries() == []


@pytest.mark.django_db
def test_a_mentions_only_hook_gets_only_messages_that_mention_its_bot(
    lobby, alice, bob, robo, local_receiver_allowed
):
    with receiver() as server:
        make_hook(alice, server.url, mentions_only=True)
        post_message(client_for(bob), "lobby", {"body": "nothing for bots"})
        post_message(client_for(bob), "lobby", {"body": "@robomatic is another"})
        post_message(client_for(bob), "lobby", {"body": "hey @robo, status?"})
        assert run_deliveries() == ["sent"]
    assert json.loads(server.received[0].body)["message"]["body"] == "hey @robo, status?"


@pytest.mark.django_db
def test_a_deleted_message_is_not_sent(lobby, alice, bob, robo, local_receiver_allowed):
    with receiver() as server:
        make_hook(alice, server.url)
        posted = post_message(client_for(bob), "lobby", {"body": "oops"}).json()
        client_for(bob).delete(f"/rooms/lobby/messages/{posted['id']}/")
        assert run_deliveries() == ["the message is gone"]
    assert server.received == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "slow",
    [
        {"hang_secs": 5},  # no answer at all
        {"drip_secs": 0.2},  # an answer a byte at a time, each within the socket's timeout
    ],
    ids=["hangs", "drips"],
)
def test_a_receiver_that_hangs_or_drips_its_answer_is_cut_off_at_the_timeout(
    lobby, alice, bob, robo, local_receiver_allowed, settings, slow
):
    settings.CHAT_HOOK_TIMEOUT_SECS = 1
    with receiver(**slow) as server:
        make_hook(alice, server.url)
        post_message(client_for(bob), "lobby", {"body": "anyone?"})
        started = time.monotonic()
        [result] = run_deliveries()
        elapsed = time.monotonic() - started
    assert "no answer within 1 seconds" in result
    assert elapsed < 3


@pytest.mark.django_db
def test_failures_retry_with_a_doubling_wait_then_the_hook_pauses(
    lobby, alice, bob, robo, local_receiver_allowed, settings
):
    settings.CHAT_HOOK_RETRY_SECS = 10
    settings.CHAT_HOOK_MAX_ATTEMPTS = 3
    settings.CHAT_HOOK_FAILURES_TO_PAUSE = 4
    with receiver(status=500) as server:
        make_hook(alice, server.url)
        post_message(client_for(bob), "lobby", {"body": "one"})
        waits = []
        for attempt in (1, 2, 3):
            row = DBTaskResult.objects.get(task_path=outgoing.deliver.module_path)
            assert row.args_kwargs["args"][2] == attempt
            if attempt > 1:
                waits.append(round((row.run_after - row.enqueued_at).total_seconds()))
            assert run_deliveries()[0].startswith("failed (answered 500)")
        assert waits == [10, 20]
        assert not DBTaskResult.objects.filter(task_path=outgoing.deliver.module_path).exists()
        assert OutgoingWebhook.objects.get().failures == 3
        # The fourth failure in a row opens the circuit: the hook pauses, sends are skipped.
        post_message(client_for(bob), "lobby", {"body": "two"})
        assert "paused until" in run_deliveries()[0]
        hook = OutgoingWebhook.objects.get()
        assert hook.paused_until is not None
        assert hook.paused_until > timezone.now() + timedelta(minutes=10)
        post_message(client_for(bob), "lobby", {"body": "three"})
        assert run_deliveries() == ["paused"]
        assert len(server.received) == 4
        # Once the pause is over, a success closes the circuit again.
        OutgoingWebhook.objects.update(paused_until=timezone.now() - timedelta(seconds=1))
        server.status = 200
        post_message(client_for(bob), "lobby", {"body": "four"})
        assert run_deliveries() == ["sent"]
        hook = OutgoingWebhook.objects.get()
        assert (hook.failures, hook.paused_until, hook.last_error) == (0, None, "")


@pytest.mark.django_db
def test_a_room_without_hooks_writes_no_task(lobby, bob, django_assert_num_queries):
    post_message(client_for(bob), "lobby", {"body": "plain"})
    assert not DBTaskResult.objects.exists()
