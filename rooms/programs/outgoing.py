"""Outgoing webhooks: each new message of a room goes to the owner's URL, signed; the reply
`{"text": ...}` posts back as the hook's bot.

Enqueue: the post's transaction writes a task per hook that wants the message (a room
without hooks reads nothing more: Room.has_outgoing_hooks comes with the room). Messages
from bots are never sent (a bot's reply would be sent again, and two hooks could answer each
other for ever).
Send: the task worker (`manage.py run_worker`), never a web worker, POSTs the JSON
(`payload`) signed with HMAC-SHA256 (`signature`), within CHAT_HOOK_TIMEOUT_SECS in all
(a receiver that hangs or drips is cut off), following no redirect.
Retry: a failure (no answer, a status other than 2xx) is tried again after
CHAT_HOOK_RETRY_SECS, doubling each time, CHAT_HOOK_MAX_ATTEMPTS tries in all; after
CHAT_HOOK_FAILURES_TO_PAUSE failed sends in a row the hook pauses (the circuit breaker) for
CHAT_HOOK_PAUSE_MINUTES: sends meanwhile are dropped, the first one after it is a trial.
Safety: only https, and only hosts whose every address is public: not loopback, private,
link-local (169.254.169.254, the cloud metadata service), multicast or reserved, checked
when the hook is saved AND at each send, on the addresses the connection then uses (a name
that resolved to a public address at save and to 127.0.0.1 later cannot reach it: DNS
rebinding). CHAT_HOOK_ALLOWED_HOSTS lets named hosts or networks through (an intranet; the
tests' server). The message is sent only while the hook's bot may read the room.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import SplitResult, urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.tasks import task
from django.utils import timezone

from rooms.models import Message, NotAllowed, OutgoingWebhook, encode_event_data

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Chat-Signature"
MAX_REPLY_BYTES = 16 * 1024
USER_AGENT = "chat-webhooks/1"


class UnsafeURL(ValueError):
    """A URL an outgoing webhook may not be sent to; the message says why."""


class DeliveryFailed(Exception):
    pass


def system_resolve(host: str, port: int) -> list[str]:
    """The addresses of `host`, as the system's resolver gives them."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


# What check_url resolves names with: tests put a stub resolver here.
resolve: Callable[[str, int], list[str]] = system_resolve


def _allowed(host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
    for entry in settings.CHAT_HOOK_ALLOWED_HOSTS:
        if entry.lower() == host:
            return True
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def check_url(url: str) -> tuple[SplitResult, str]:
    """Raise UnsafeURL unless the URL may be sent to now; return it split and the address
    to connect to (one of those just checked)."""
    if len(url) > 500:
        raise UnsafeURL("the URL is longer than 500 characters")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeURL("not a valid URL") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise UnsafeURL("must be an https:// URL")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("must not carry a user name or password")
    literal = _ip(host)
    if parts.scheme != "https" and not _allowed(host, literal):
        raise UnsafeURL("must be an https:// URL")
    try:
        addresses = [literal] if literal is not None else [_ip(a) for a in resolve(host, port)]
    except (OSError, UnicodeError):
        raise UnsafeURL(f"the host {host!r} does not resolve") from None
    if not addresses or None in addresses:
        raise UnsafeURL(f"the host {host!r} does not resolve")
    for address in addresses:
        assert address is not None
        if not address.is_global and not _allowed(host, address):
            raise UnsafeURL(
                f"the host {host!r} is (or resolves to) {address}: not a public address"
            )
    return parts, str(addresses[0])


# Sending


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Chat-Signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def payload(hook: OutgoingWebhook, message: Message) -> bytes:
    """What the receiver gets: the hook, the room and the message as the JSON API shows it."""
    data = {"hook": hook.pk, "room": message.room.slug, "message": message.as_event_data()}
    return encode_event_data(data).encode()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address check_url checked, whatever the name resolves to now."""

    # The socket, kept here: http.client hands it over to the response (and forgets it)
    # when the receiver closes after answering, but the deadline must still reach it.
    tcp: socket.socket | None = None

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = self.tcp = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    tcp: socket.socket | None = None

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        self.tcp = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(self.tcp, server_hostname=self.host)  # type: ignore[attr-defined]


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST to the URL once it passed check_url; return the status and at most
    MAX_REPLY_BYTES of the reply. The whole exchange takes at most CHAT_HOOK_TIMEOUT_SECS:
    then the socket is shut, whatever the receiver is doing."""
    try:
        parts, address = check_url(url)
    except UnsafeURL as exc:
        raise DeliveryFailed(f"refused: {exc}") from None
    timeout = float(settings.CHAT_HOOK_TIMEOUT_SECS)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    connection: _PinnedHTTPConnection | _PinnedHTTPSConnection = (
        _PinnedHTTPSConnection(host, port, address, timeout)
        if parts.scheme == "https"
        else _PinnedHTTPConnection(host, port, address, timeout)
    )
    timed_out = threading.Event()

    def cut_off() -> None:
        timed_out.set()
        sock = connection.tcp
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(timeout, cut_off)
    timer.start()
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        reply = response.read(MAX_REPLY_BYTES)
        if timed_out.is_set():  # cut off mid-answer: what came is not the whole of it
            raise DeliveryFailed(f"no answer within {timeout:g} seconds")
        return response.status, reply
    except (OSError, http.client.HTTPException) as exc:
        if timed_out.is_set() or isinstance(exc, TimeoutError):
            raise DeliveryFailed(f"no answer within {timeout:g} seconds") from None
        raise DeliveryFailed(f"could not send: {exc.__class__.__name__}") from None
    finally:
        timer.cancel()
        connection.close()
        if connection.tcp is not None:
            connection.tcp.close()


def reply_text(body: bytes) -> str | None:
    """The text of a receiver's reply `{"text": ...}`, if it has one."""
    if not body.strip():
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    text = data.get("text") if isinstance(data, dict) else None
    return text if isinstance(text, str) and text.strip() else None


def mentions(body: str, username: str) -> bool:
    return re.search(rf"(?<![\w@])@{re.escape(username)}(?![\w-])", body, re.IGNORECASE) is not None


def enqueue_for(message: Message) -> None:
    """Write a delivery task for each hook of the room that wants the message, in the
    post's transaction (Room.post_message, when the room has hooks)."""
    if message.from_bot:
        return
    for hook in OutgoingWebhook.objects.filter(room_id=message.room_id).select_related("bot"):
        if hook.mentions_only and not mentions(message.body, hook.bot.get_username()):
            continue
        deliver.enqueue(hook.pk, message.pk, 1)


def retry_delay(attempt: int) -> timedelta:
    """The wait before try `attempt + 1`: CHAT_HOOK_RETRY_SECS, doubled at each try."""
    return timedelta(seconds=settings.CHAT_HOOK_RETRY_SECS * 2 ** (attempt - 1))


@task
def deliver(hook_id: int, message_id: int, attempt: int) -> str:
    """Send the message to the hook (try `attempt`); post the reply as its bot. Return
    what happened (the task's result, for the admin)."""
    hook = (
        OutgoingWebhook.objects.select_related("room", "bot", "bot__bot").filter(pk=hook_id).first()
    )
    message = Message.objects.select_related("room", "author").filter(pk=message_id).first()
    if hook is None or message is None:
        return "gone"
    if message.is_deleted or message.is_removed:
        return "the message is gone"  # its text must not leave now
    if not hook.bot.is_active or not hook.room.can_read(hook.bot):
        return "the bot may not read the room"
    now = timezone.now()
    if hook.paused_until is not None and hook.paused_until > now:
        # LIMITATION: messages posted while the hook is paused are not sent later.
        return "paused"
    body = payload(hook, message)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature(hook.secret, str(int(time.time())), body),
    }
    try:
        status, reply = post(hook.url, body, headers)
        if not 200 <= status < 300:
            raise DeliveryFailed(f"answered {status}")
    except DeliveryFailed as exc:
        return _failed(hook, message_id, attempt, str(exc))
    OutgoingWebhook.objects.filter(pk=hook.pk).update(failures=0, paused_until=None, last_error="")
    text = reply_text(reply)
    if text is None:
        return "sent"
    try:
        hook.room.post_message(hook.bot, text)
    except (NotAllowed, ValueError) as exc:
        # The reply is the receiver's: a bad one (too long, the bot muted) is its problem.
        OutgoingWebhook.objects.filter(pk=hook.pk).update(last_error=f"reply refused: {exc}"[:200])
        return "sent; reply refused"
    return "sent; replied"


def _failed(hook: OutgoingWebhook, message_id: int, attempt: int, error: str) -> str:
    logger.info("outgoing webhook %s: try %d failed: %s", hook.pk, attempt, error)
    with transaction.atomic():
        OutgoingWebhook.objects.filter(pk=hook.pk).update(
            failures=F("failures") + 1, last_error=error[:200]
        )
        failures = OutgoingWebhook.objects.values_list("failures", flat=True).get(pk=hook.pk)
        if failures >= settings.CHAT_HOOK_FAILURES_TO_PAUSE:
            until = timezone.now() + timedelta(minutes=settings.CHAT_HOOK_PAUSE_MINUTES)
            OutgoingWebhook.objects.filter(pk=hook.pk).update(paused_until=until, failures=0)
            return f"failed ({error}); paused until {until.isoformat()}"
        if attempt < settings.CHAT_HOOK_MAX_ATTEMPTS:
            deliver.using(run_after=timezone.now() + retry_delay(attempt)).enqueue(
                hook.pk, message_id, attempt + 1
            )
            return f"failed ({error}); retrying"
    return f"failed ({error}); gave up"
