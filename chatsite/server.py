"""daphne, made to refuse an oversized request body before it reads it.

daphne (through Twisted) reads a whole request body, spooling it to a temporary file,
before the ASGI application sees the request: a declared 300 MB upload was read to the end
before its 413, and a Content-Length with no body behind it was never answered at all. Here
the request refuses as soon as its headers declare too much, or as soon as a body sent
without a length (chunked) passes the limit, and closes the connection instead of reading
the rest. The proxy in front has a limit of its own (deploy/nginx.conf); this covers daphne
run directly (runserver, bin/serve without nginx).

install() swaps daphne's request class; chatsite/asgi.py calls it, so every daphne that
loads this site (python -m daphne, manage.py runserver) refuses early. Other servers (uvicorn,
what bin/serve runs) call the application at once and RequestBodyLimitASGIMiddleware refuses
there, with Connection: close, so that uvicorn reads no more of the body.
LIMITATION: HTTP/2 requests (daphne with TLS and the h2 extra) take another path, not this.
"""

from __future__ import annotations

import io
import json
from typing import Any

from daphne import http_protocol
from django.conf import settings

from rooms.middleware import body_limit, security_headers, too_large_message


class BodyLimitedRequest(http_protocol.WebRequest):
    refused = False
    received_bytes = 0
    body_limit_bytes = 0

    def gotLength(self, length: int | None) -> None:
        # The request line is read, the request not made yet: its path is the channel's.
        raw_path = getattr(self.channel, "_path", b"") or b""
        path = raw_path.split(b"?", 1)[0].decode("latin-1")
        self.body_limit_bytes = body_limit(path)
        if length is not None and length > self.body_limit_bytes:
            self.refuse()
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.refused:
            return
        self.received_bytes += len(data)
        if self.received_bytes > (self.body_limit_bytes or settings.CHAT_MAX_REQUEST_BYTES):
            self.refuse()
            return
        super().handleContentChunk(data)

    def process(self) -> Any:
        if self.refused:
            return None
        return super().process()

    def refuse(self) -> None:
        """Answer 413 at once and close the connection, reading no more of the body."""
        self.refused = True
        self.content = io.BytesIO()
        limit = self.body_limit_bytes or settings.CHAT_MAX_REQUEST_BYTES
        body = json.dumps({"error": too_large_message(limit)}).encode()
        secure = self.isSecure() or self.getHeader(b"x-forwarded-proto") == b"https"
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *security_headers(secure),
        ]
        head = b"HTTP/1.1 413 Content Too Large\r\n" + b"".join(
            name + b": " + value + b"\r\n" for name, value in headers
        )
        transport = self.channel.transport
        transport.write(head + b"\r\n" + body)
        transport.loseConnection()


def install() -> None:
    # HTTPFactory.buildProtocol reads the module's WebRequest each time it makes a channel.
    http_protocol.WebRequest = BodyLimitedRequest
