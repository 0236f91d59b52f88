"""The search language, read into plain values that every backend turns into its own query.

    words            every word must match (case and accents do not matter)
    "exact phrase"   these words, in this order (an unclosed quote runs to the end)
    -word -"phrase"  must not match
    in:<room slug>   from:<username>   before:<YYYY-MM-DD>   after:<YYYY-MM-DD>   has:link

Anything else is a word, `foo:bar` included. Punctuation never reaches a database as
syntax: a term is the words it holds, and a term without any letter or digit is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

MAX_QUERY_LENGTH = 500
# A term is words: runs of letters and digits, as both engines' tokenizers cut them.
WORD = re.compile(r"[^\W_]+")
# A quoted phrase (maybe negated; unclosed runs to the end), or a run of non-space.
TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
OPERATOR = re.compile(r"^(in|from|before|after|has):(.+)$", re.IGNORECASE)
HAS_VALUES = frozenset({"link"})
FIRST_YEAR, LAST_YEAR = 1000, 9000


class QueryError(ValueError):
    """A query that cannot be searched: answered with 400 and the message."""


@dataclass(frozen=True)
class Query:
    # Each term is a tuple of words that must appear in order (one word, or a phrase).
    terms: tuple[tuple[str, ...], ...] = ()
    excluded: tuple[tuple[str, ...], ...] = ()
    rooms: frozenset[str] = field(default_factory=frozenset)
    authors: frozenset[str] = field(default_factory=frozenset)
    before: date | None = None
    after: date | None = None
    has_link: bool = False

    @property
    def has_filters(self) -> bool:
        return bool(self.rooms or self.authors or self.before or self.after or self.has_link)


def words_of(text: str) -> tuple[str, ...]:
    return tuple(WORD.findall(text))


def parse(text: str) -> Query:
    """Read a query; raise QueryError for one that is empty, too long or malformed."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"the query is longer than {MAX_QUERY_LENGTH} characters")
    if not text.strip():
        raise QueryError("the query is empty")
    terms: list[tuple[str, ...]] = []
    excluded: list[tuple[str, ...]] = []
    rooms: set[str] = set()
    authors: set[str] = set()
    dates: dict[str, date] = {}
    has_link = False
    for match in TOKEN.finditer(text):
        negated, phrase, bare = match.groups()
        if phrase is not None:
            (excluded if negated else terms).append(words_of(phrase))
            continue
        operator = OPERATOR.match(bare)
        if operator is not None:
            name, value = operator.group(1).lower(), operator.group(2)
            if name == "in":
                rooms.add(value.lower())
            elif name == "from":
                authors.add(value)
            elif name == "has":
                if value.lower() not in HAS_VALUES:
                    raise QueryError("has: takes link (has:link)")
                has_link = True
            else:
                dates[name] = _date(name, value)
            continue
        if bare.startswith("-") and len(bare) > 1:
            excluded.append(words_of(bare[1:]))
        else:
            terms.append(words_of(bare))
    query = Query(
        terms=tuple(dict.fromkeys(t for t in terms if t)),
        excluded=tuple(dict.fromkeys(t for t in excluded if t)),
        rooms=frozenset(rooms),
        authors=frozenset(authors),
        before=dates.get("before"),
        after=dates.get("after"),
        has_link=has_link,
    )
    if not query.terms and not query.has_filters:
        raise QueryError("nothing to search for: give a word, a phrase or a filter")
    return query


def _date(name: str, value: str) -> date:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        day = date.fromisoformat(value)
        # Far from the calendar's ends: after: looks at the next day, time zones shift it.
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise ValueError
        return day
    except ValueError:
        raise QueryError(f"{name}: takes a date as YYYY-MM-DD") from None
