"""Log formats: plain text by default, one JSON object per line with CHAT_LOG_FORMAT=json.

A record may carry `fields` (`logger.info("request", extra={"fields": {...}})`): the plain
format appends them as key=value (a value with spaces, quotes or control characters in JSON
quotes, so that a line stays one line), the JSON format as keys of the object. What goes in
the fields is the caller's choice: rooms/access_log.py puts no message text, cookie or token
in them.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

_BARE = re.compile(r"[^\s\"'=\\\x00-\x1f\x7f]*")


def _plain(value: Any) -> str:
    text = "-" if value is None else str(value)
    return text if text and _BARE.fullmatch(text) else json.dumps(text)


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class PlainFormatter(logging.Formatter):
    """`2026-01-02T03:04:05.678+00:00 INFO rooms.access request method=GET status=200 ...`"""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_time(record)} {record.levelname} {record.name} {record.getMessage()}"
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{key}={_plain(value)}" for key, value in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class JSONFormatter(logging.Formatter):
    """`{"time": "...", "level": "INFO", "logger": "rooms.access", "message": "request", ...}`"""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)
