"""Message formatting: a small Markdown rendered once on the server (rooms/formatting.py),
stored beside the text and sent as `html`. Whatever the input, the HTML holds only the
allow-listed tags and attributes, links only to http, https and mailto, and renders fast.

alice posts and edits; bob reads.
"""

import importlib
import re
import time
from html.parser import HTMLParser

import pytest
from django.apps import apps
from hypothesis import given, settings
from hypothesis import strategies as st

from rooms.formatting import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, render_message
from rooms.models import MAX_MESSAGE_LENGTH, Message
from tests.helpers import patch_json, post_message


class _Walk(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


LINK_ATTRIBUTES = {"href", "rel", "target"}


def assert_safe(html: str) -> None:
    """Only allow-listed tags and attributes; every link http(s) or mailto, rel set."""
    walk = _Walk()
    walk.feed(html)
    for tag, attrs in walk.tags:
        assert tag in ALLOWED_TAGS, (tag, html)
        allowed = LINK_ATTRIBUTES if tag == "a" else ALLOWED_ATTRIBUTES.get(tag, set())
        for name, value in attrs:
            assert name in allowed, (tag, name, html)
            if name == "href":
                assert re.match(r"^(https?://|mailto:)", value or "", re.I), (value, html)
        if tag == "a":
            assert ("rel", "noopener noreferrer nofollow") in attrs, html


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("*it* **bold** `code`", "<p><em>it</em> <strong>bold</strong> <code>code</code></p>"),
        ("```\nx < 1\n```", "<pre><code>x &lt; 1\n</code></pre>"),
        ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>"),
        ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
        ("1. one\n2. two", "<ol>\n<li>one</li>\n<li>two</li>\n</ol>"),
        ("line one\nline two", "<p>line one<br>\nline two</p>"),
        ("# not a heading", "<p># not a heading</p>"),
    ],
)
def test_it_renders_the_small_markdown_of_a_chat(source, html):
    assert render_message(source) == html


def test_it_makes_links_of_urls_and_markdown_links_with_a_safe_rel():
    html = render_message("see https://example.com/a?b=1 or [docs](https://docs.example.com)")
    assert 'href="https://example.com/a?b=1"' in html
    assert 'href="https://docs.example.com"' in html
    assert html.count('rel="noopener noreferrer nofollow"') == 2
    assert_safe(html)


# Known ways in, from the usual cheat sheets: none may leave a tag or attribute outside the
# allow-list, or a link to anything but http(s) and mailto.
XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](  javascript:alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    "[x](file:///etc/passwd)",
    "[x](/admin/)",
    "[x](//evil.example/)",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml,<svg onload=alert(1)>)",
    "<iframe src=https://evil.example></iframe>",
    "<style>*{display:none}</style>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '[x](https://example.com" onmouseover="alert(1))',
    '[x](https://example.com "title" onclick="alert(1)")',
    "<a href=https://example.com onclick=alert(1)>x</a>",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
    "<!-- <script>alert(1)</script> -->",
    "<details open ontoggle=alert(1)>",
    "javascript:alert(1)",
    "www.example.com/<script>",
    'https://example.com/"><script>alert(1)</script>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
]


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_known_xss_payloads_render_as_harmless_text(payload):
    html = render_message(payload)
    assert_safe(html)
    assert "<script" not in html


HOSTILE = [
    ("deep quotes", lambda n: ">" * n + " deep"),
    ("deep lists", lambda n: "".join("  " * i + "- x\n" for i in range(int(n**0.5)))),
    ("many list items", lambda n: "- item\n" * (n // 7)),
    ("a long code block", lambda n: "```\n" + "x = 1 # <b>\n" * (n // 12) + "```"),
    ("unclosed brackets", lambda n: "[" * n),
    ("unclosed emphasis", lambda n: "*a " * (n // 3)),
    ("backticks", lambda n: "`" * n),
    ("many links", lambda n: "https://example.com/ " * (n // 21)),
]


@pytest.mark.parametrize(("name", "make"), HOSTILE)
def test_hostile_input_of_a_messages_size_renders_safely_and_fast(name, make):
    source = make(MAX_MESSAGE_LENGTH)
    started = time.perf_counter()
    html = render_message(source)
    # About 30 ms on a quiet machine: a second is a wide margin under load.
    assert time.perf_counter() - started < 1, name
    assert_safe(html)


@pytest.mark.parametrize(("name", "make"), HOSTILE)
def test_hostile_input_far_beyond_a_message_renders_safely_in_linear_time(name, make):
    """64 KB and more (10,000 list items, a 64 KB code block, deep nesting): no blow-up."""
    source = make(65_536)
    started = time.perf_counter()
    html = render_message(source)
    # Under 0.4 s on a quiet machine; a generous bound, as the machine may be busy.
    assert time.perf_counter() - started < 10, name
    assert_safe(html)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "*",
                "**",
                "_",
                "`",
                "```",
                "\n",
                "> ",
                "- ",
                "1. ",
                "[",
                "]",
                "(",
                ")",
                "<",
                ">",
                "javascript:",
                "https://x.example/",
                "mailto:a@b.example",
                "data:",
                '"',
                "'",
                "&",
                "#",
                "&#106;",
                "<a href=",
                "onerror=",
                "<img ",
                "www.",
                " ",
                "text",
            ]
        )
        | st.text(max_size=8),
        max_size=60,
    ).map("".join)
)
def test_any_markdown_renders_to_allow_listed_html_only(source):
    assert_safe(render_message(source))


def test_a_post_carries_its_html_beside_its_text_and_an_edit_renders_it_again(
    lobby, alice, as_alice, as_bob
):
    posted = post_message(as_alice, "lobby", {"body": "**hi** <b>there</b>"}).json()
    assert posted["body"] == "**hi** <b>there</b>"
    assert posted["html"] == "<p><strong>hi</strong> &lt;b&gt;there&lt;/b&gt;</p>"
    edited = patch_json(as_alice, f"/rooms/lobby/messages/{posted['id']}/", {"body": "_now_"})
    assert edited.json()["html"] == "<p><em>now</em></p>"
    seen = as_bob.get("/rooms/lobby/messages/").json()["messages"][-1]
    assert (seen["body"], seen["html"]) == ("_now_", "<p><em>now</em></p>")
    page = as_bob.get("/rooms/lobby/").content.decode()
    assert "<p><em>now</em></p>" in page
    assert 'data-source="_now_"' in page


def test_a_deleted_message_has_no_html_anywhere(lobby, alice, as_alice):
    message, _ = lobby.post_message(alice, "**secret**")
    message.erase()
    assert Message.objects.get(pk=message.pk).html == ""
    data = as_alice.get(f"/rooms/lobby/messages/{message.pk}/").json()
    assert (data["body"], data["html"]) == ("", "")


def test_the_migration_renders_the_messages_written_before_formatting(lobby, alice, bob):
    old, _ = lobby.post_message(alice, "`old` text")
    gone, _ = lobby.post_message(bob, "gone")
    gone.erase()
    Message.objects.update(html="")
    migration = importlib.import_module("rooms.migrations.0014_conversation")
    migration.render_existing(apps, None)
    assert Message.objects.get(pk=old.pk).html == "<p><code>old</code> text</p>"
    assert Message.objects.get(pk=gone.pk).html == ""
