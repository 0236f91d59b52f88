"""Snippets: the part of a message around what a query found, its words marked.

Made here rather than by each engine (FTS5's snippet(), PostgreSQL's ts_headline), so that
both stacks show the same, and escaped here: the only markup in a snippet is <mark>.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from html import escape

from rooms.search.query import WORD, Query

SNIPPET_CHARS = 200  # a longer message is cut around its first match
CONTEXT_CHARS = 60  # shown before the first match
ELLIPSIS = "…"


@dataclass(frozen=True)
class Part:
    text: str
    marked: bool


def fold(word: str) -> str:
    """A word as both engines compare it: case and accents removed."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def marked_spans(body: str, query: Query) -> list[tuple[int, int]]:
    """The (start, end) of every word of the body that a term of the query matched."""
    words = list(WORD.finditer(body))
    folded = [fold(w.group()) for w in words]
    hits: set[int] = set()
    for term in query.terms:
        wanted = [fold(w) for w in term]
        for i in range(len(words) - len(wanted) + 1):
            if folded[i : i + len(wanted)] == wanted:
                hits.update(range(i, i + len(wanted)))
    return [(words[i].start(), words[i].end()) for i in sorted(hits)]


def snippet_parts(body: str, query: Query) -> list[Part]:
    spans = marked_spans(body, query)
    start, end = 0, len(body)
    if len(body) > SNIPPET_CHARS:
        first = spans[0][0] if spans else 0
        start = max(0, first - CONTEXT_CHARS)
        # Cut at a space where there is one near, not inside a word.
        space = body.rfind(" ", 0, start + 1)
        if start and space > start - 20:
            start = space + 1
        end = min(len(body), start + SNIPPET_CHARS)
        space = body.find(" ", end)
        if end < len(body) and 0 <= space < end + 20:
            end = space
    parts: list[Part] = []
    if start > 0:
        parts.append(Part(ELLIPSIS, False))
    at = start
    for span_start, span_end in spans:
        if span_end <= start or span_start >= end:
            continue
        span_start, span_end = max(span_start, start), min(span_end, end)
        if span_start > at:
            parts.append(Part(body[at:span_start], False))
        parts.append(Part(body[span_start:span_end], True))
        at = span_end
    if at < end:
        parts.append(Part(body[at:end], False))
    if end < len(body):
        parts.append(Part(ELLIPSIS, False))
    return parts


def as_html(parts: list[Part]) -> str:
    return "".join(
        f"<mark>{escape(part.text)}</mark>" if part.marked else escape(part.text) for part in parts
    )
