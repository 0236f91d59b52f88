"""Every Prometheus metric of the site, defined here and nowhere else (prometheus-client).

Code that does something calls one of these where it happens (`metrics.STREAMS_OPENED.inc()`);
GET /metrics (rooms/health.py) renders them.

One process (bin/run, tests): the values live in this process's memory. Several processes
(bin/serve N, the systemd units): PROMETHEUS_MULTIPROC_DIR names a directory that every
process of the site writes its values to (prometheus-client's multi-process mode), and a
scrape of any one process reports them all: counters and histograms summed over the
processes, including those that exited since the directory was made, and the open streams
of each live process (a `pid` label). The directory must be empty when the site starts
(bin/serve empties it; the systemd units keep it under /run, which a reboot empties).
"""

from __future__ import annotations

import glob
import os
import re

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

# No `_created` series beside each counter and histogram: Prometheus does not need them.
disable_created_metrics()  # type: ignore[no-untyped-call]

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROCESS_DIR:
    # A new process may have the pid of one that died: its live gauges start from zero.
    multiprocess.mark_process_dead(os.getpid(), MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]

# The stream (rooms/stream/).
STREAMS_OPEN = Gauge(
    "chat_streams_open", "Event streams open in this process.", multiprocess_mode="liveall"
)
STREAMS_OPENED = Counter("chat_streams_opened", "Event streams opened (answered 200).")
STREAMS_CLOSED = Counter(
    "chat_streams_closed",
    "Event streams ended, by why: client (it went away), revoked (lost access), overflow "
    "(fell too far behind), error (the server ended it; the client resumes), shutdown (the "
    "process stopped; the client resumes on another).",
    ["reason"],
)
STREAMS_REFUSED = Counter(
    "chat_streams_refused", "Stream requests answered with an error, by status.", ["status"]
)
EVENTS_DELIVERED = Counter(
    "chat_events_delivered", "Live events handed to open streams (one per stream per event)."
)
EVENTS_REPLAYED = Counter(
    "chat_events_replayed",
    "Events sent by replays after a Last-Event-ID, by where they came from (memory: the "
    "recent frames; log: the event log).",
    ["source"],
)
STREAM_OVERFLOWS = Counter(
    "chat_stream_overflows",
    "Streams whose queue overflowed (they fell MAX_QUEUED_FRAMES behind) and that were "
    "disconnected for it; they resume from their last id.",
)
FANOUT_CATCH_UPS = Counter(
    "chat_fanout_catch_ups",
    "Runs of the fan-out's catch-up from the event log (after a Redis reconnect, and "
    "periodically while streams are open).",
)

# Requests (Django's views; the stream and /healthz, /readyz, /metrics are not counted here).
HTTP_REQUESTS = Counter(
    "chat_http_requests",
    "Requests answered, by method, view and status.",
    ["method", "view", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "chat_http_request_duration_seconds",
    "Time from a request's arrival at the process to the end of its answer, by method and view.",
    ["method", "view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# Failures of what the site depends on.
DATABASE_ERRORS = Counter(
    "chat_database_errors",
    "Database calls that failed for want of the database (answered 503), by where: request "
    "or stream.",
    ["where"],
)
REDIS_ERRORS = Counter(
    "chat_redis_errors",
    "Failed Redis calls, by operation: publish, subscribe, connection (the fan-out's "
    "listener), cache (the rate-limit counts).",
    ["operation"],
)

# Every label value known in advance, so that a series exists (at 0) before its first event.
for _reason in ("client", "revoked", "overflow", "error", "shutdown"):
    STREAMS_CLOSED.labels(_reason)
for _source in ("memory", "log"):
    EVENTS_REPLAYED.labels(_source)
for _where in ("request", "stream"):
    DATABASE_ERRORS.labels(_where)
for _operation in ("publish", "subscribe", "connection", "cache"):
    REDIS_ERRORS.labels(_operation)

_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db$")


def forget_dead_processes() -> None:
    """Drop the live gauges (open streams) of processes that are gone: a process killed
    or restarted by its supervisor never says so itself."""
    for path in glob.glob(os.path.join(MULTIPROCESS_DIR, "gauge_live*_*.db")):
        match = _LIVE_GAUGE_FILE.search(path)
        if match is None:
            continue
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass  # alive, as another user


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus's text format, and its content type."""
    if not MULTIPROCESS_DIR:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    forget_dead_processes()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST
