"""The wire format of the streams: Server-Sent Events frames as django-eventstream writes
them, the keep-alive comment, and the ids a client may resume from."""

from __future__ import annotations

import json
from typing import Any

# django-eventstream's name for a room's channel is this and the room's id: a client may
# resume with one of its composite ids, "room-5:17".
CHANNEL_PREFIX = "room-"
RETRY_MILLISECONDS = 2000
MAX_EVENT_ID_LENGTH = 200
HEARTBEAT_FRAME = b": keep-alive\n\n"

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-store"),
    # nginx and other proxies must pass each event on at once.
    (b"x-accel-buffering", b"no"),
]


def encode_frame(seq: int, type: str, data: str) -> bytes:
    """One SSE frame, as django-eventstream writes it; data is one line of JSON."""
    return f"event: {type}\nid: {seq}\ndata: {data}\n\n".encode()


def sse_event(type: str, data: dict[str, Any], event_id: int | None = None) -> bytes:
    head = f"event: {type}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class InvalidEventId(ValueError):
    pass


def parse_last_event_id(raw: str | None, channel: str) -> int | None:
    """Return the seq a client resumes after, None for a fresh connect.

    Accepts our plain ids ("17") and django-eventstream's composite ones ("room-5:17").
    """
    if raw is None:
        return None
    raw = raw.strip()
    if not raw:
        return None
    if len(raw) > MAX_EVENT_ID_LENGTH:
        raise InvalidEventId("the event id is too long")
    if raw.isascii() and raw.isdigit():
        if len(raw) > 18:
            raise InvalidEventId("the event id is out of range")
        return int(raw)
    for part in raw.split(","):
        name, sep, number = part.partition(":")
        if sep and name == channel:
            return parse_last_event_id(number, channel)
    raise InvalidEventId("the event id is not one this stream sent")
