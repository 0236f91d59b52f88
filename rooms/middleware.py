"""Request-level guards that run before any view."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse


def too_large() -> JsonResponse:
    limit = settings.CHAT_MAX_REQUEST_BYTES
    return JsonResponse({"error": f"request body larger than {limit} bytes"}, status=413)


class RequestBodyLimitMiddleware:
    """Refuse a request body over CHAT_MAX_REQUEST_BYTES with 413, before reading it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = request.META.get("CONTENT_LENGTH") or "0"
        try:
            too_big = int(length) > settings.CHAT_MAX_REQUEST_BYTES
        except ValueError:
            return JsonResponse({"error": "invalid Content-Length"}, status=400)
        if too_big:
            return too_large()
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # A body without a Content-Length that turns out too big once read.
        if isinstance(exception, RequestDataTooBig):
            return too_large()
        return None
