"""Serving an export as a download that is never whole in memory.

Django under ASGI would read a plain (sync) iterator of a StreamingHttpResponse into one
list before sending it; an async iterator is sent as it goes. So the lines come from the
sync generator a batch at a time, each batch in the request's own thread (the ORM's).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from itertools import islice

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

# Lines handed from the database thread to the response at a time.
DOWNLOAD_BATCH_LINES = 500
NDJSON = "application/x-ndjson; charset=utf-8"


async def in_batches(
    lines: Iterator[str], size: int = DOWNLOAD_BATCH_LINES
) -> AsyncIterator[bytes]:
    """Each batch of `lines`, read in the sync thread, as one chunk of bytes."""
    read_batch = sync_to_async(lambda: "".join(islice(lines, size)), thread_sensitive=True)
    while True:
        batch = await read_batch()
        if not batch:
            return
        yield batch.encode()


def download(lines: Iterator[str], filename: str) -> StreamingHttpResponse:
    """A JSON Lines attachment, streamed."""
    response = StreamingHttpResponse(in_batches(lines), content_type=NDJSON)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    # Private data: never kept by a cache on the way.
    response["Cache-Control"] = "private, no-store"
    return response
