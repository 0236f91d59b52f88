"""Limits that answer 429 or 413 with a reason and store nothing."""

import json

import pytest
from django.test import Client

from rooms.models import Message

pytestmark = pytest.mark.django_db


def log_in(client, username, password, ip="10.0.0.1"):
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip
    )


class TestLoginThrottling:
    def test_an_account_locks_after_five_failures_even_from_other_addresses(self, bob):
        client = Client()
        statuses = [log_in(client, "bob", "wrong", ip=f"10.0.0.{i}").status_code for i in range(5)]
        # The form again with an error four times; the fifth failure locks the account.
        assert statuses == [200, 200, 200, 200, 429]
        locked = log_in(client, "bob", "bob-password-1", ip="10.0.0.99")
        assert locked.status_code == 429
        assert b"Too many failed log-in attempts" in locked.content
        assert "_auth_user_id" not in client.session

    def test_an_address_locks_after_five_failures_on_any_accounts(self, bob, carol):
        client = Client()
        for attempt in range(5):
            log_in(client, f"someone{attempt}", "wrong", ip="10.9.9.9")
        locked = log_in(client, "carol", "carol-password-1", ip="10.9.9.9")
        assert locked.status_code == 429
        assert "_auth_user_id" not in client.session
        # Another address can still log carol in.
        assert log_in(Client(), "carol", "carol-password-1", ip="10.1.1.1").status_code == 302

    def test_a_success_resets_the_count(self, bob):
        client = Client()
        for _ in range(4):
            log_in(client, "bob", "wrong")
        assert log_in(client, "bob", "bob-password-1").status_code == 302
        for _ in range(4):
            log_in(Client(), "bob", "wrong")
        assert log_in(Client(), "bob", "bob-password-1").status_code == 302


class TestPostLimit:
    def test_posts_per_minute_are_limited(self, as_bob, lobby, settings):
        settings.CHAT_POSTS_PER_MINUTE = 3
        url = "/rooms/lobby/messages/"
        for i in range(3):
            assert as_bob.post(url, {"body": f"m{i}"}).status_code == 201
        refused = as_bob.post(url, {"body": "one too many"})
        assert refused.status_code == 429
        assert refused.json()["error"].startswith("too many messages: at most 3 a minute")
        assert 1 <= int(refused["Retry-After"]) <= 60
        assert Message.objects.count() == 3

    def test_a_retry_of_an_accepted_post_is_not_counted_again(self, as_bob, lobby, settings):
        settings.CHAT_POSTS_PER_MINUTE = 1
        payload = json.dumps({"body": "once", "client_id": "k1"})
        first = as_bob.post("/rooms/lobby/messages/", payload, content_type="application/json")
        again = as_bob.post("/rooms/lobby/messages/", payload, content_type="application/json")
        assert first.status_code == again.status_code == 201
        assert again.json()["id"] == first.json()["id"]


class TestBodySize:
    def test_a_body_over_the_limit_is_413_and_not_stored(self, as_bob, lobby, settings):
        body = json.dumps({"body": "x" * (settings.CHAT_MAX_REQUEST_BYTES + 1)})
        response = as_bob.post("/rooms/lobby/messages/", body, content_type="application/json")
        assert response.status_code == 413
        assert "larger than" in response.json()["error"]
        assert not Message.objects.exists()

    @pytest.mark.parametrize(
        "url", ["/rooms/", "/accounts/login/", "/accounts/signup/", "/rooms/lobby/join/"]
    )
    def test_every_endpoint_refuses_a_huge_body(self, as_bob, lobby, settings, url):
        huge = b"a" * (settings.CHAT_MAX_REQUEST_BYTES + 1)
        response = as_bob.post(url, huge, content_type="application/octet-stream")
        assert response.status_code == 413
