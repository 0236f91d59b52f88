"""Message formatting: a small, safe Markdown, rendered once when a message is posted or
edited and stored beside its text (Message.html). Pages and events carry that HTML as it
is; no browser parses Markdown.

Two layers, so that a mistake in one is caught by the other: the parser (markdown-it-py)
knows only the few rules a chat needs and never passes raw HTML through, and the sanitizer
(nh3) keeps only the tags and attributes of ALLOWED_TAGS, links to http, https and mailto.
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt

# What a message may contain once rendered: emphasis, code (inline and blocks), links,
# quotes, lists and line breaks. Everything else is dropped with its markup (its text stays).
ALLOWED_TAGS = frozenset(
    {"p", "br", "em", "strong", "s", "code", "pre", "a", "blockquote", "ul", "ol", "li"}
)
ALLOWED_ATTRIBUTES = {"a": {"href"}, "ol": {"start"}}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"
# Quotes in quotes in lists...: deeper than this is shown as text (it also bounds the work).
MAX_NESTING = 12

_LINK_SCHEME = re.compile(r"^(?:https?://|mailto:)", re.IGNORECASE)


def _build_parser() -> MarkdownIt:
    parser = MarkdownIt(
        "commonmark",
        {"html": False, "linkify": True, "breaks": True, "maxNesting": MAX_NESTING},
    )
    # A chat message has no headings, rules, images or reference definitions: "# 1" and
    # "---" stay the text they were typed as.
    parser.disable(["heading", "lheading", "hr", "image", "reference", "html_block"])
    parser.disable(["html_inline", "entity"])
    parser.enable(["linkify", "strikethrough"])
    # Only absolute http(s) and mailto links become links; anything else ([x](javascript:..),
    # relative paths, data: URIs) stays text. nh3 checks the schemes again.
    parser.validateLink = lambda url: bool(_LINK_SCHEME.match(url.strip()))  # type: ignore[method-assign]
    return parser


_parser = _build_parser()


def render_message(body: str) -> str:
    """The message's text as safe HTML (an empty text renders as "")."""
    if not body:
        return ""
    html = _parser.render(body)
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel=LINK_REL,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    ).strip()
