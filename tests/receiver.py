"""A local HTTP server that plays an outgoing webhook's receiver: it records each request and
answers what the test says (a status and a body, or hanging). Shared by the webhook tests
and the README's examples."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    status: int = 200
    reply: bytes = b""
    hang_secs: float = 0.0
    drip_secs: float = 0.0  # answer at once, then one byte of the body this often
    received: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@contextlib.contextmanager
def receiver(
    status: int = 200, reply: bytes = b"", hang_secs: float = 0.0, drip_secs: float = 0.0
) -> Iterator[Receiver]:
    state = Receiver(status, reply, hang_secs, drip_secs)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.received.append(Received(self.path, dict(self.headers.items()), body))
            if state.hang_secs:
                time.sleep(state.hang_secs)
            with contextlib.suppress(OSError):  # the sender may have hung up (a timeout)
                if state.drip_secs:
                    self.send_response(state.status)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    for _ in range(1000):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(state.drip_secs)
                    return
                self.send_response(state.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(state.reply)))
                self.end_headers()
                self.wfile.write(state.reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
