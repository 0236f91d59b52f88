"""Limits that answer 429 or 413 with a reason and store nothing."""

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from rooms import moderation
from rooms.models import Message, Restriction, Room, RoomEvent
from tests.conftest import client_for
from tests.helpers import patch_json, post_json

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


def behind_proxies(settings, count):
    """The settings CHAT_TRUSTED_PROXIES=count makes (chatsite/settings.py)."""
    settings.AXES_IPWARE_PROXY_COUNT = count - 1
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")


def log_in_via(client, username, password, forwarded_for, proxy="127.0.0.1"):
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=proxy,
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


class TestClientAddress:
    def test_an_address_the_client_writes_cannot_dodge_the_lockout(self, bob, settings):
        # Behind nginx, which appends the address it saw (203.0.113.9) to what the client sent.
        behind_proxies(settings, 1)
        statuses = [
            log_in_via(Client(), f"x{i}", "wrong", f"198.51.100.{i}, 203.0.113.9").status_code
            for i in range(12)
        ]
        assert statuses == [200] * 4 + [429] * 8
        assert log_in_via(Client(), "bob", "bob-password-1", "203.0.113.9").status_code == 429

    def test_an_address_the_client_writes_cannot_lock_out_someone_else(self, carol, settings):
        behind_proxies(settings, 1)
        for i in range(5):
            log_in_via(Client(), f"x{i}", "wrong", "203.0.113.7, 198.51.100.1")
        # carol, really at 203.0.113.7, still logs in.
        assert log_in_via(Client(), "carol", "carol-password-1", "203.0.113.7").status_code == 302

    def test_two_proxies_count_from_the_right(self, carol, settings):
        behind_proxies(settings, 2)  # a load balancer (10.0.0.2) before nginx
        for i in range(5):
            log_in_via(Client(), f"x{i}", "wrong", f"203.0.113.{i}, 198.51.100.1, 10.0.0.2")
        assert (
            log_in_via(Client(), "carol", "carol-password-1", "203.0.113.7, 10.0.0.2").status_code
            == 302
        )
        locked = log_in_via(Client(), "carol", "carol-password-1", "198.51.100.1, 10.0.0.2")
        assert locked.status_code == 429

    def test_without_a_proxy_the_header_is_ignored(self, carol):
        for i in range(5):
            log_in_via(Client(), f"x{i}", "wrong", "203.0.113.7", proxy="198.51.100.1")
        assert (
            log_in_via(Client(), "carol", "carol-password-1", "198.51.100.1", proxy="203.0.113.7")
        ).status_code == 302

    def test_per_address_limits_use_the_same_address(self, db, settings):
        behind_proxies(settings, 1)
        settings.CHAT_SIGNUPS_PER_HOUR = 1

        def sign_up(username, forwarded_for):
            password = "a-long-passphrase-9"
            return Client().post(
                "/accounts/signup/",
                {"username": username, "password1": password, "password2": password},
                REMOTE_ADDR="127.0.0.1",
                HTTP_X_FORWARDED_FOR=forwarded_for,
            )

        assert sign_up("one", "198.51.100.1, 203.0.113.9").status_code == 302
        assert sign_up("two", "198.51.100.2, 203.0.113.9").status_code == 429
        assert sign_up("two", "203.0.113.10").status_code == 302


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


class TestEditLimits:
    def test_edits_and_deletions_are_limited_per_person(self, as_bob, lobby, bob, settings):
        settings.CHAT_EDITS_PER_MINUTE = 3
        first, _ = lobby.post_message(bob, "first")
        second, _ = lobby.post_message(bob, "second")
        url = f"/rooms/lobby/messages/{first.pk}/"
        for i in range(3):
            assert patch_json(as_bob, url, {"body": f"edit {i}"}).status_code == 200
        events = RoomEvent.objects.count()
        refused = patch_json(as_bob, url, {"body": "x" * 3900})
        assert refused.status_code == 429
        assert refused.json()["error"].startswith("too many edits and deletions: at most 3")
        assert 1 <= int(refused["Retry-After"]) <= 60
        # Deleting counts against the same limit.
        assert as_bob.delete(f"/rooms/lobby/messages/{second.pk}/").status_code == 429
        assert RoomEvent.objects.count() == events
        assert Message.objects.get(pk=first.pk).body == "edit 2"
        assert Message.objects.get(pk=second.pk).deleted_at is None

    def test_a_refused_edit_does_not_count(self, as_bob, lobby, bob, settings):
        settings.CHAT_EDITS_PER_MINUTE = 1
        message, _ = lobby.post_message(bob, "first")
        url = f"/rooms/lobby/messages/{message.pk}/"
        assert patch_json(as_bob, url, {"body": ""}).status_code == 400
        assert patch_json(as_bob, url, {"body": "fixed"}).status_code == 200

    def test_in_slow_mode_an_edit_waits_like_a_post(self, as_bob, lobby, bob):
        lobby.slow_mode_seconds = 60
        lobby.save()
        posted = post_json(as_bob, "/rooms/lobby/messages/", {"body": "helo"})
        assert posted.status_code == 201
        url = f"/rooms/lobby/messages/{posted.json()['id']}/"
        # One fix of the post goes through: edits keep a clock of their own.
        assert patch_json(as_bob, url, {"body": "hello"}).status_code == 200
        events = RoomEvent.objects.count()
        refused = patch_json(as_bob, url, {"body": "hello!"})
        assert refused.status_code == 429
        assert refused.json()["error"].startswith("slow mode: wait")
        assert 1 <= int(refused["Retry-After"]) <= 60
        assert RoomEvent.objects.count() == events

    def test_the_owner_edits_freely_in_slow_mode(self, as_alice, lobby, alice):
        lobby.slow_mode_seconds = 60
        lobby.save()
        message, _ = lobby.post_message(alice, "rules")
        url = f"/rooms/lobby/messages/{message.pk}/"
        for i in range(3):
            assert patch_json(as_alice, url, {"body": f"rules v{i}"}).status_code == 200


class TestEveryWriteIsLimited:
    def test_every_endpoint_that_writes_counts_against_a_limit(self, as_alice, lobby, alice):
        """A new endpoint that writes (reactions, typing, ...) must name its limit."""
        from django.urls import URLPattern

        from rooms import urls

        message, _ = lobby.post_message(alice, "hello")
        # Posts count in the database, under the room's lock (Room.check_can_post).
        limited_elsewhere = {("room-messages", "POST")}
        checked = 0
        for pattern in urls.urlpatterns:
            assert isinstance(pattern, URLPattern)
            url = "/rooms/" + str(pattern.pattern).replace("<slug:slug>", "lobby")
            url = url.replace("<int:message_id>", str(message.pk))
            for method in ("POST", "PUT", "PATCH", "DELETE"):
                response = as_alice.generic(method, url, "{}", content_type="application/json")
                if response.status_code == 405 or response["Content-Type"].startswith("text/html"):
                    continue  # not accepted, or a page (pages write nothing)
                checked += 1
                if (pattern.name, method) in limited_elsewhere:
                    continue
                limits = getattr(pattern.callback, "rate_limits", {})
                assert limits.get(method), f"{method} {url} writes without a rate limit"
        assert checked >= 15


class TestMembershipLimits:
    def test_joins_and_leaves_are_limited_per_person_and_room(self, as_carol, lobby, settings):
        settings.CHAT_MEMBERSHIP_CHANGES_PER_HOUR = 4
        for _ in range(2):
            assert post_json(as_carol, "/rooms/lobby/join/").status_code == 201
            assert post_json(as_carol, "/rooms/lobby/leave/").status_code == 200
        events = RoomEvent.objects.count()
        refused = post_json(as_carol, "/rooms/lobby/join/")
        assert refused.status_code == 429
        assert "too many joins and leaves" in refused.json()["error"]
        assert int(refused["Retry-After"]) >= 1
        assert RoomEvent.objects.count() == events
        # Another room is counted apart.
        other = Room.objects.create(slug="other", name="Other", owner=lobby.owner)
        assert post_json(as_carol, f"/rooms/{other.slug}/join/").status_code == 201

    def test_a_muted_person_may_leave_but_not_join_again(self, as_bob, lobby, alice, bob):
        moderation.restrict(alice, lobby, bob, Restriction.MUTE)
        events = RoomEvent.objects.count()
        assert post_json(as_bob, "/rooms/lobby/leave/").status_code == 200
        for _ in range(3):
            refused = post_json(as_bob, "/rooms/lobby/join/")
            assert refused.status_code == 403
            assert refused.json()["error"] == "you are muted in this room"
            assert post_json(as_bob, "/rooms/lobby/leave/").status_code == 200  # not a member
        assert RoomEvent.objects.count() == events + 1  # the one member_left
        assert not lobby.is_member(bob)

    def test_other_writes_are_limited_per_person(self, as_alice, lobby, carol, settings):
        settings.CHAT_ACTIONS_PER_MINUTE = 2
        assert post_json(as_alice, "/rooms/lobby/mute/", {"username": "carol"}).status_code == 200
        assert post_json(as_alice, "/rooms/lobby/unmute/", {"username": "carol"}).status_code == 200
        events = RoomEvent.objects.count()
        refused = post_json(as_alice, "/rooms/lobby/mute/", {"username": "carol"})
        assert refused.status_code == 429
        assert "too many actions" in refused.json()["error"]
        assert RoomEvent.objects.count() == events


class TestSignUpAndRoomCreation:
    def sign_up(self, username, ip, password="a-long-passphrase-9"):
        client = Client()
        return client.post(
            "/accounts/signup/",
            {"username": username, "password1": password, "password2": password},
            REMOTE_ADDR=ip,
            HTTP_ACCEPT="text/html",
        )

    def test_sign_ups_are_limited_per_address(self, db, settings):
        settings.CHAT_SIGNUPS_PER_HOUR = 2
        assert self.sign_up("one", "10.0.0.1").status_code == 302
        # A form with an error does not count.
        assert self.sign_up("two", "10.0.0.1", password="short").status_code == 200
        assert self.sign_up("two", "10.0.0.1").status_code == 302
        refused = self.sign_up("three", "10.0.0.1")
        assert refused.status_code == 429
        assert b"too many sign-ups" in refused.content.lower()
        assert int(refused["Retry-After"]) >= 1
        assert not User.objects.filter(username="three").exists()
        assert self.sign_up("three", "10.0.0.2").status_code == 302

    def test_new_rooms_are_limited_per_person(self, as_bob, db, settings):
        settings.CHAT_ROOMS_PER_HOUR = 3
        # A refused attempt does not count.
        assert post_json(as_bob, "/rooms/", {"slug": "Bad Slug"}).status_code == 400
        for i in range(3):
            assert post_json(as_bob, "/rooms/", {"slug": f"room-{i}"}).status_code == 201
        refused = post_json(as_bob, "/rooms/", {"slug": "room-3"})
        assert refused.status_code == 429
        assert "too many new rooms" in refused.json()["error"]
        assert int(refused["Retry-After"]) >= 1
        assert Room.objects.count() == 3

    def test_new_rooms_are_limited_per_address(self, alice, bob, carol, settings):
        settings.CHAT_ROOMS_PER_HOUR_PER_ADDRESS = 2
        for i, user in enumerate([alice, bob]):
            client = client_for(user)
            response = post_json(client, "/rooms/", {"slug": f"room-{i}"})
            assert response.status_code == 201
        refused = client_for(carol).post(
            "/rooms/",
            json.dumps({"slug": "room-3"}),
            content_type="application/json",
        )
        assert refused.status_code == 429
        assert "from this address" in refused.json()["error"]
        assert Room.objects.count() == 2


class TestPasswordReset:
    def test_password_reset_requests_are_limited_per_address(self, bob, settings, mailoutbox):
        settings.CHAT_PASSWORD_RESETS_PER_HOUR = 2
        bob.email = "bob@example.org"
        bob.save()
        client = Client()
        for _ in range(2):
            response = client.post(
                "/accounts/password_reset/", {"email": "bob@example.org"}, REMOTE_ADDR="10.0.0.1"
            )
            assert response.status_code == 302
        refused = client.post(
            "/accounts/password_reset/", {"email": "bob@example.org"}, REMOTE_ADDR="10.0.0.1"
        )
        assert refused.status_code == 429
        assert int(refused["Retry-After"]) >= 1
        assert len(mailoutbox) == 2


class TestCacheOutage:
    def test_limits_let_requests_through_while_the_cache_is_down(
        self, as_bob, lobby, bob, settings, monkeypatch
    ):
        from django.core.cache import caches

        settings.CHAT_EDITS_PER_MINUTE = 1
        cache = caches["default"]

        def down(*args, **kwargs):
            raise ConnectionError("the cache is restarting")

        for method in ("get_many", "add", "incr", "get"):
            monkeypatch.setattr(cache, method, down)
        message, _ = lobby.post_message(bob, "first")
        url = f"/rooms/lobby/messages/{message.pk}/"
        for i in range(3):
            assert patch_json(as_bob, url, {"body": f"edit {i}"}).status_code == 200


def post_scope(path, headers):
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


class TestBodySizeAtTheASGILayer:
    """Under any ASGI server: the answer comes before the body is read."""

    async def test_a_declared_length_over_the_limit_is_refused_before_any_body(self):
        from channels.testing import ApplicationCommunicator

        from chatsite.asgi import application

        scope = post_scope("/rooms/lobby/messages/", [(b"content-length", b"300000000")])
        communicator = ApplicationCommunicator(application, scope)
        # No body is sent at all: the answer must not wait for one.
        start = await communicator.receive_output(timeout=5)
        assert start["status"] == 413
        assert dict(start["headers"])[b"x-frame-options"] == b"DENY"
        body = await communicator.receive_output(timeout=5)
        assert b"larger than" in body["body"]
        await communicator.wait(timeout=5)

    async def test_a_body_without_a_length_is_cut_off_once_it_passes_the_limit(self, settings):
        from channels.testing import ApplicationCommunicator

        from chatsite.asgi import application

        communicator = ApplicationCommunicator(application, post_scope("/rooms/", []))
        chunk = b"x" * 16384
        for _ in range(settings.CHAT_MAX_REQUEST_BYTES // len(chunk) + 1):
            await communicator.send_input(
                {"type": "http.request", "body": chunk, "more_body": True}
            )
        # The rest of the body never comes: the answer does not wait for it.
        start = await communicator.receive_output(timeout=5)
        assert start["status"] == 413
        await communicator.receive_output(timeout=5)
        await communicator.wait(timeout=5)


@pytest.mark.server
class TestBodySizeUnderTheServer:
    """The server itself stops reading, without nginx in front: daphne (runserver), with
    chatsite/server.py's request, or uvicorn (bin/serve), with RequestBodyLimitASGIMiddleware
    (tests/live.py runs the one CHAT_TEST_SERVER names)."""

    @pytest.fixture
    def server(self, live_database):
        from tests.live import LiveServer

        server = LiveServer(live_database).start()
        yield server
        server.stop()

    def send(self, server, head, body=b""):
        from tests.live import send_raw

        return send_raw(server.port, head, body)

    def read_answer(self, sock):
        from tests.live import read_raw_answer

        return read_raw_answer(sock)

    def test_a_declared_length_without_a_body_is_answered_at_once(self, server):
        sock = self.send(
            server,
            b"POST /rooms/lobby/messages/ HTTP/1.1\nHost: 127.0.0.1\n"
            b"Content-Type: application/json\nContent-Length: 100000000\n",
        )
        status, headers = self.read_answer(sock)
        assert status == 413
        # As it is, not in chunks (an HTTP/1.0 client could not read those).
        assert int(headers[b"content-length"]) > 0 and b"transfer-encoding" not in headers
        assert headers[b"x-frame-options"] == b"DENY"
        assert headers[b"x-content-type-options"] == b"nosniff"
        # daphne runs with --no-server-name, uvicorn with --no-server-header (bin/serve).
        assert b"server" not in headers

    def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(self, server, settings):
        sock = self.send(
            server, b"POST /rooms/ HTTP/1.1\nHost: 127.0.0.1\nTransfer-Encoding: chunked\n"
        )
        # Exactly the limit, then one byte more; the body's end (a 0-size chunk) never comes.
        sock.sendall(b"%x\r\n" % settings.CHAT_MAX_REQUEST_BYTES)
        sock.sendall(b"x" * settings.CHAT_MAX_REQUEST_BYTES + b"\r\n")
        sock.sendall(b"1\r\nx\r\n")
        status, _ = self.read_answer(sock)
        assert status == 413
