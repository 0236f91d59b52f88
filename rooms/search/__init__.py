"""Full-text search over the messages a person may read now.

search(user, text) reads the query (query.py), finds the newest matching messages with the
database's own engine (backends/), keeps those of rooms the one read rule lets the person
read (Room.access_for), and marks what was found (snippets.py). Deleted messages have no
text left; removed ones are found by site moderators in the admin only (matching_ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from rooms.models import Access, Message, Room
from rooms.search.backends import backend
from rooms.search.query import MAX_QUERY_LENGTH, Query, QueryError, parse
from rooms.search.snippets import Part, as_html, snippet_parts

__all__ = [
    "MAX_QUERY_LENGTH",
    "RESULTS_DEFAULT",
    "RESULTS_MAX",
    "Query",
    "QueryError",
    "Result",
    "ResultPage",
    "matching_ids",
    "parse",
    "search",
]

RESULTS_DEFAULT = 20
RESULTS_MAX = 100


@dataclass(frozen=True)
class Result:
    message: Message
    parts: list[Part]

    @property
    def snippet(self) -> str:
        return as_html(self.parts)

    def as_data(self) -> dict[str, Any]:
        room = self.message.room
        return {
            "message": self.message.as_event_data(),
            "room": {"slug": room.slug, "name": room.name, "private": room.private},
            "snippet": self.snippet,
            "url": f"{room.get_absolute_url()}?around={self.message.pk}",
        }


@dataclass(frozen=True)
class ResultPage:
    results: list[Result]
    # The cursor of the next (older) page: pass it as `before`.
    next: int | None


def search(
    user: Any, text: str, *, limit: int = RESULTS_DEFAULT, before: int | None = None
) -> ResultPage:
    """The newest messages matching `text` that `user` may read now, older than the
    message `before`. Raise QueryError for a query that cannot be searched."""
    query = parse(text)
    # Rooms that may be readable: public ones and those the person is a member of. This
    # only narrows the search; the rule itself (Room.access_for_rooms, which access_for
    # asks) is asked of every room a result comes from.
    rooms = Room.objects.visible_to(user)
    if query.rooms:
        rooms = rooms.filter(slug__in=query.rooms)
    room_ids = set(rooms.values_list("pk", flat=True))
    authors = _author_ids(query)
    checked: dict[int, bool] = {}
    while room_ids and authors != []:
        conditions, params = _conditions(query, room_ids, authors, before)
        ids = backend().newest(query, conditions, params, limit + 1, before)
        found = Message.objects.select_related("room", "author").in_bulk(ids)
        page = [found[pk] for pk in ids if pk in found]
        unchecked = {m.room_id: m.room for m in page if m.room_id not in checked}
        for room_id, access in Room.access_for_rooms(list(unchecked.values()), user).items():
            checked[room_id] = access is Access.READ
        unreadable = {m.room_id for m in page if not checked[m.room_id]}
        if not unreadable:
            results = [Result(m, snippet_parts(m.body, query)) for m in page[:limit]]
            more = len(page) > limit
            return ResultPage(results, page[limit - 1].pk if more else None)
        # Banned from a room that had results: search again without it.
        room_ids -= unreadable
    return ResultPage([], None)


def matching_ids(text: str) -> tuple[str, list[Any]]:
    """SQL selecting the ids of every message whose present text matches the query's words,
    removed ones included, in any room (the admin's search, for site moderators only).
    Filters (in:, from:, ...) are left to the admin's own."""
    query = parse(text)
    if not query.terms:
        raise QueryError("give a word or a phrase")
    return backend().matching_ids(query)


def _author_ids(query: Query) -> list[int] | None:
    """The ids of the from: people (an empty list if none exists); None without from:."""
    if not query.authors:
        return None
    match = Q()
    for name in query.authors:
        match |= Q(username__iexact=name)
    return list(get_user_model().objects.filter(match).values_list("pk", flat=True))


def _conditions(
    query: Query, room_ids: set[int], authors: list[int] | None, before: int | None
) -> tuple[list[str], list[Any]]:
    """The conditions on messages (aliased m) that the engine's match is combined with."""
    conditions = [
        "m.deleted_at IS NULL",
        "m.removed_at IS NULL",
        f"m.room_id IN ({', '.join(['%s'] * len(room_ids))})",
    ]
    params: list[Any] = sorted(room_ids)
    if authors is not None:
        conditions.append(f"m.author_id IN ({', '.join(['%s'] * len(authors))})")
        params += authors
    if query.before is not None:
        conditions.append("m.created_at < %s")
        params.append(_start_of(query.before))
    if query.after is not None:
        # after:<day> is after that day: from the start of the next.
        conditions.append("m.created_at >= %s")
        params.append(_start_of(query.after + timedelta(days=1)))
    if query.has_link:
        conditions.append(backend().has_link_sql)
    if before is not None:
        conditions.append("m.id < %s")
        params.append(before)
    return conditions, params


def _start_of(day: date) -> Any:
    """The first moment of a day in the site's time zone, as the database stores times."""
    moment = timezone.make_aware(datetime.combine(day, time.min))
    return connection.ops.adapt_datetimefield_value(moment)
