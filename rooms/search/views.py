"""GET /search/: the search page for a browser, JSON for everyone else (the same URL, so a
result page's address is what the JSON answers for it)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from rooms.http import UNSTORABLE_TEXT, AuthenticatedRequest, BadRequest, int_param, json_endpoint
from rooms.search import (
    MAX_QUERY_LENGTH,
    RESULTS_DEFAULT,
    RESULTS_MAX,
    QueryError,
    ResultPage,
    search,
)


@require_GET
def search_view(request: AuthenticatedRequest) -> HttpResponseBase:
    accept = request.headers.get("Accept", "")
    wants_page = "text/html" in accept and "application/json" not in accept
    response = search_page(request) if wants_page else search_json(request)
    patch_vary_headers(response, ["Accept"])
    return response


def _results(request: AuthenticatedRequest) -> ResultPage:
    """The page of results the request asks for; BadRequest for bad input."""
    text = request.GET.get("q", "")
    if UNSTORABLE_TEXT.search(text):
        raise BadRequest("the query contains NUL characters or invalid Unicode")
    limit = int_param(request, "limit", RESULTS_DEFAULT)
    assert limit is not None
    if not 1 <= limit <= RESULTS_MAX:
        raise BadRequest(f"limit must be between 1 and {RESULTS_MAX}")
    # The cursor is the id of the last result shown: the next page is older than it.
    before = int_param(request, "before")
    try:
        return search(request.user, text, limit=limit, before=before)
    except QueryError as exc:
        raise BadRequest(str(exc)) from None


@json_endpoint()
def search_json(request: AuthenticatedRequest) -> JsonResponse:
    page = _results(request)
    return JsonResponse({"results": [r.as_data() for r in page.results], "next": page.next})


@login_required
def search_page(request: AuthenticatedRequest) -> HttpResponse:
    q = request.GET.get("q", "")
    context: dict[str, object] = {"q": q, "search_query": q, "max_length": MAX_QUERY_LENGTH}
    status = 200
    if "q" in request.GET:
        try:
            page = _results(request)
        except BadRequest as exc:
            context["error"] = str(exc)
            status = 400
        else:
            context["results"] = page.results
            context["next"] = page.next
    return render(request, "rooms/search.html", context, status=status)
