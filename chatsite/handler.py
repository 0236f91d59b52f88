"""Django's ASGI handler, without a thread for a request that runs no sync code.

Django's handler gives every request a thread of its own (asgiref's ThreadSensitiveContext)
and a first and a last hop into it: `request_started` goes to its sync receivers there, and
the response is closed there (which sends `request_finished`). The thread is created for the
request and joined after it. A sync view needs that thread (its database connection lives
in it, and is closed in it at the end). The message post does not: it is an async view whose
middleware runs on the event loop and whose write runs in the writer's own thread
(rooms/writer.py). For it, starting and joining a thread was about a tenth of the CPU of a
post (docs/benchmark.md, round two).

Two changes, nothing else:

- Django's two receivers of `request_started` are not connected: under ASGI they are no-ops.
  `close_old_connections` closes the connections of the current thread, and a request's
  thread is new; `reset_queries` empties the query logs of those same connections. Any other
  sync receiver still runs, in the request's thread, as before.
- The response is closed (and `request_finished` sent) in the request's thread if the
  request had one; else on the loop, where the request opened no connection to close.

`handle` is Django 6.1's, with those two lines changed (pyproject.toml pins Django to 6.1.x).
"""

from __future__ import annotations

import asyncio
from contextlib import closing
from typing import Any

from asgiref.sync import SyncToAsync, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.db import close_old_connections, reset_queries
from django.urls import set_script_prefix


def ran_in_a_thread() -> bool:
    """Whether this request's sync code ran in a thread of its own (then its connections,
    if any, are in that thread)."""
    try:
        context = SyncToAsync.thread_sensitive_context.get()
    except LookupError:
        return True  # not in Django's handler: do as Django does
    return context in SyncToAsync.context_to_thread_executor


class ChatASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        signals.request_started.disconnect(close_old_connections)
        signals.request_started.disconnect(reset_queries)

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return

        with closing(body_file):
            set_script_prefix(get_script_prefix(scope))
            await signals.request_started.asend(sender=self.__class__, scope=scope)
            request, error_response = self.create_request(scope, body_file)
            if request is None:
                assert error_response is not None
                body_file.close()
                await self.send_response(error_response, send)
                await sync_to_async(error_response.close)()
                return

            class RequestProcessed(Exception):
                pass

            response = None
            try:
                try:
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self.listen_for_disconnect(receive))
                        response = await self.run_get_response(request)
                        await self.send_response(response, send)
                        raise RequestProcessed
                except* (RequestProcessed, RequestAborted):
                    pass
            except BaseExceptionGroup as exception_group:
                if len(exception_group.exceptions) == 1:
                    raise exception_group.exceptions[0] from None
                raise

            if response is None:
                await signals.request_finished.asend(sender=self.__class__)
            elif ran_in_a_thread():
                await sync_to_async(response.close)()
            else:
                response.close()


def get_asgi_application() -> ChatASGIHandler:
    """django.core.asgi.get_asgi_application, with this handler."""
    import django

    django.setup(set_prefix=False)
    return ChatASGIHandler()
