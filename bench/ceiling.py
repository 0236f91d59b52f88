"""The ceiling: a bare asyncio SSE broadcaster, no framework, no persistence.

It serves the paths the benchmark uses: GET /rooms/<slug>/events/ opens a stream,
POST /rooms/<slug>/messages/ numbers the message, encodes its frame once and writes the
same bytes to every open stream of the room. Anything else gets 404. Headers (cookies,
Last-Event-ID) are read and ignored: there is no history to replay.

    python -m bench.ceiling --port 8001
"""

import argparse
import asyncio
import json

HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\nconnection: close\r\n\r\nretry: 2000\n\n"
)
rooms: dict[str, set[asyncio.StreamWriter]] = {}
seqs: dict[str, int] = {}


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            method, path = head.split(b" ", 2)[:2]
            slug = path.split(b"/")[2].decode() if path.startswith(b"/rooms/") else ""
            if method == b"GET" and path.startswith(b"/rooms/") and b"/events/" in path:
                writer.write(HEAD)
                rooms.setdefault(slug, set()).add(writer)
                try:
                    await reader.read()  # until the client goes away
                finally:
                    rooms[slug].discard(writer)
                return
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = json.loads(await reader.readexactly(length)) if length else {}
            if method == b"POST" and path.endswith(b"/messages/"):
                seq = seqs[slug] = seqs.get(slug, 0) + 1
                data = {"id": seq, "room": slug, "author": "ceiling", "body": body.get("body")}
                text = json.dumps(data, separators=(",", ":"))
                frame = f"event: message\nid: {seq}\ndata: {text}\n\n".encode()
                for stream in rooms.get(slug, ()):
                    stream.write(frame)
                reply, status = text.encode(), b"201 Created"
            else:
                reply, status = b'{"error":"not found"}', b"404 Not Found"
            writer.write(
                b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
                b"content-length: " + str(len(reply)).encode() + b"\r\n\r\n" + reply
            )
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(host: str, port: int) -> None:
    # The same listen backlog as the site gets in bench/run.py.
    server = await asyncio.start_server(handle, host, port, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
