"""GET /api/openapi.json: the OpenAPI 3.1 document of the JSON API, built from the URLconf.

Each route of the URLconf is either a page for browsers (PAGES: left out) or described in
OPERATIONS by its name: a route that is neither makes document() fail, so the document
cannot miss one, and every path it lists is one the URLconf has (plus the two streams,
routed in chatsite/asgi.py: STREAMS). A write's body fields are read from the view itself
(json_endpoint's `payload_fields`), so they cannot drift either. Each operation carries an
`x-example` (a concrete request and the status it gets) that tests/test_openapi.py runs
against the site; that test also checks that every method not described answers 405.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, get_resolver
from django.views.decorators.http import require_GET

# Routes for browsers (pages, their forms, the admin, static files): not the JSON API.
PAGES = frozenset(
    {
        "lobby",
        "signup",
        "login",
        "logout",
        "password_change",
        "password_change_done",
        "password_reset",
        "password_reset_done",
        "password_reset_confirm",
        "password_reset_complete",
        "room",
        "room-members-page",
        "room-moderation",
        "room-webhooks",
        "settings",
        # One's own data as a download, from the settings page (tokens are refused there).
        "settings-export",
        # The mentions inbox, and the unsubscribe link of a notification email (a page).
        "mentions",
        "unsubscribe",
        "token-create",
        "token-revoke",
    }
)

# The schema of each body field a view takes (the fields themselves come from the view).
FIELDS: dict[str, dict[str, Any]] = {
    "slug": {"type": "string", "maxLength": 50, "pattern": "^[a-z0-9-]+$"},
    "name": {"type": "string"},
    "private": {"type": "boolean"},
    "up_to": {"type": "integer", "description": "a message id"},
    "username": {"type": "string"},
    "usernames": {"type": "array", "items": {"type": "string"}, "maxItems": 8},
    "body": {"type": "string"},
    "client_id": {"type": "string", "description": "makes the post idempotent"},
    "attachments": {"type": "array", "items": {"type": "integer"}, "maxItems": 10},
    "reason": {"type": "string"},
    "minutes": {"type": "integer", "minimum": 1},
    "locked": {"type": "boolean"},
    "archived": {"type": "boolean"},
    "slow_mode_seconds": {"type": "integer", "minimum": 0},
    "moderator": {"type": "boolean"},
    "bot": {"type": "string", "description": "a bot account's username"},
    "url": {"type": "string", "format": "uri", "description": "https, public host"},
    "mentions_only": {"type": "boolean"},
    "tab": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "description": "the page's id"},
    "here": {"type": "boolean"},
    "level": {"type": "string", "enum": ["default", "all", "mentions", "mute"]},
    "emoji": {"type": "string", "description": "one emoji, or a short name (+1, heart, ...)"},
    "reply_to": {"type": "integer", "description": "the id of a message of the same room"},
    "topic": {"type": "string", "maxLength": 250},
}

ERROR = {"$ref": "#/components/schemas/Error"}


def op(
    summary: str,
    status: int,
    schema: dict[str, Any] | None = None,
    *,
    example: dict[str, Any],
    required: tuple[str, ...] = (),
    refusals: tuple[int, ...] = (400, 401, 403, 404),
    auth: bool = True,
    content_type: str = "application/json",
) -> dict[str, Any]:
    """One operation: its success (status and schema), the refusals it may answer (each an
    Error), and the example tests/test_openapi.py runs (path, body, "as", status)."""
    success: dict[str, Any] = {"description": "success"}
    if schema is not None:
        success["content"] = {content_type: {"schema": schema}}
    responses: dict[str, Any] = {str(status): success}
    for refused in refusals:
        responses[str(refused)] = {
            "description": "refused",
            "content": {"application/json": {"schema": ERROR}},
        }
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": responses,
        "x-example": {"status": status, **example},
        "x-required": list(required),
    }
    if not auth:
        operation["security"] = []
    return operation


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


OBJECT = {"type": "object"}
M = "/rooms/lobby/messages/{message}/"

# What each API route does, by its URL name and method. The order is the examples' order.
OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "openapi": {
        "get": op("This document", 200, OBJECT, example={"path": "/api/openapi.json"}, auth=False)
    },
    "rooms": {
        "get": op(
            "Rooms you may see", 200, ref("RoomList"), example={"path": "/rooms/"}, refusals=(401,)
        ),
        "post": op(
            "Create a room",
            201,
            ref("Room"),
            required=("slug",),
            example={"path": "/rooms/", "body": {"slug": "new-room", "name": "New"}},
        ),
    },
    "room-join": {
        "post": op(
            "Join a room", 201, ref("Room"), example={"path": "/rooms/lobby/join/", "as": "carol"}
        )
    },
    "room-members": {
        "get": op("The room's members", 200, OBJECT, example={"path": "/rooms/lobby/members/"}),
        "post": op(
            "The owner adds a member",
            201,
            OBJECT,
            required=("username",),
            example={"path": "/rooms/lobby/members/", "body": {"username": "dave"}},
        ),
    },
    "room-messages": {
        "get": op(
            "A page of history (before=, after=, around=, limit=)",
            200,
            ref("MessagePage"),
            example={"path": "/rooms/lobby/messages/?limit=10"},
        ),
        "post": op(
            "Post a message",
            201,
            ref("Message"),
            example={
                "path": "/rooms/lobby/messages/",
                "body": {"body": "hello", "client_id": "c-1"},
            },
            refusals=(400, 401, 403, 404, 409, 429),
        ),
    },
    "room-message": {
        "get": op("One message", 200, ref("Message"), example={"path": M}),
        "patch": op(
            "Edit your message",
            200,
            ref("Message"),
            required=("body",),
            example={"path": M, "body": {"body": "edited"}},
        ),
        "delete": op(
            "Delete your message (its text is erased)",
            200,
            ref("Message"),
            example={"path": "/rooms/lobby/messages/{spare}/"},
        ),
    },
    "message-reactions": {
        "post": op(
            "React to a message (one emoji, or a short name such as +1); 200 if you had",
            201,
            ref("Message"),
            required=("emoji",),
            example={"path": M + "reactions/", "body": {"emoji": "👍"}},
            refusals=(400, 401, 403, 404, 409, 429),
        ),
        "delete": op(
            "Take your reaction back",
            200,
            ref("Message"),
            required=("emoji",),
            example={"path": M + "reactions/", "body": {"emoji": "👍"}},
            refusals=(400, 401, 403, 404, 409, 429),
        ),
    },
    "message-pin": {
        "post": op(
            "Moderators: pin a message (listed in the room's header)",
            200,
            ref("Message"),
            example={"path": M + "pin/"},
        ),
        "delete": op("Moderators: unpin it", 200, ref("Message"), example={"path": M + "pin/"}),
    },
    "room-read": {
        "post": op(
            "Move your read position",
            200,
            OBJECT,
            required=("up_to",),
            example={"path": "/rooms/lobby/read/", "body": {"up_to": "{message}"}},
        )
    },
    "room-typing": {
        "post": op(
            "Say you are typing (ephemeral: no id, never in a replay; at most one per 3 s)",
            204,
            example={"path": "/rooms/lobby/typing/"},
            refusals=(401, 403, 404, 429),
        )
    },
    "room-presence": {
        "get": op(
            "Who has the room open now, and who had it recently",
            200,
            OBJECT,
            example={"path": "/rooms/lobby/presence/"},
        ),
        "post": op(
            "This page shows the room (here: true, a heartbeat) or goes away (here: false)",
            200,
            OBJECT,
            required=("tab",),
            example={"path": "/rooms/lobby/presence/", "body": {"tab": "tab-1", "here": True}},
            refusals=(400, 401, 403, 404, 429),
        ),
    },
    "room-notifications": {
        "post": op(
            "What you are told about in this room (default, all, mentions or mute)",
            200,
            OBJECT,
            required=("level",),
            example={"path": "/rooms/lobby/notifications/", "body": {"level": "mentions"}},
            refusals=(400, 401, 403, 404, 429),
        )
    },
    "dms": {
        "post": op(
            "The direct message with these people (200 if it exists)",
            201,
            ref("Room"),
            required=("usernames",),
            example={"path": "/dms/", "body": {"usernames": ["bob"]}},
        )
    },
    "search": {
        "get": op(
            "Search the messages you may read (q=, limit=, before=)",
            200,
            OBJECT,
            example={"path": "/search/?q=hello"},
        )
    },
    "room-uploads": {
        "post": op(
            "Upload a file (multipart, field `file`)",
            201,
            OBJECT,
            # The example sends no file: the refusal says so.
            example={"path": "/rooms/lobby/uploads/", "body": {}, "status": 400},
            refusals=(400, 401, 403, 404, 413, 429),
        )
    },
    "room-file": {
        "get": op(
            "A file's bytes",
            200,
            {"type": "string", "format": "binary"},
            example={"path": "/rooms/lobby/files/{file}/"},
            refusals=(404,),
            content_type="application/octet-stream",
        )
    },
    "room-file-thumbnail": {
        "get": op(
            "An image's thumbnail",
            200,
            {"type": "string", "format": "binary"},
            example={"path": "/rooms/lobby/files/{file}/thumbnail/"},
            refusals=(404,),
            content_type="image/webp",
        )
    },
    "message-report": {
        "post": op(
            "Report a message",
            201,
            OBJECT,
            example={"path": "/rooms/lobby/messages/{bobs}/report/", "body": {"reason": "spam"}},
            refusals=(400, 401, 403, 404, 409),
        )
    },
    "message-remove": {
        "post": op(
            "Moderators: hide a message",
            200,
            ref("Message"),
            example={"path": "/rooms/lobby/messages/{bobs}/remove/", "body": {"reason": "spam"}},
        )
    },
    "message-restore": {
        "post": op(
            "Moderators: bring a removed message back",
            200,
            ref("Message"),
            example={"path": "/rooms/lobby/messages/{bobs}/restore/", "body": {}},
            refusals=(400, 401, 403, 404, 409),
        )
    },
    "room-mute": {
        "post": op(
            "Moderators: mute someone",
            200,
            OBJECT,
            required=("username",),
            example={"path": "/rooms/lobby/mute/", "body": {"username": "carol", "minutes": 5}},
        )
    },
    "room-unmute": {
        "post": op(
            "Moderators: lift a mute",
            200,
            OBJECT,
            required=("username",),
            example={"path": "/rooms/lobby/unmute/", "body": {"username": "carol"}},
        )
    },
    "room-ban": {
        "post": op(
            "Moderators: ban someone",
            200,
            OBJECT,
            required=("username",),
            example={"path": "/rooms/lobby/ban/", "body": {"username": "carol"}},
        )
    },
    "room-unban": {
        "post": op(
            "Moderators: lift a ban",
            200,
            OBJECT,
            required=("username",),
            example={"path": "/rooms/lobby/unban/", "body": {"username": "carol"}},
        )
    },
    "room-restrictions": {
        "get": op(
            "Moderators: mutes and bans",
            200,
            OBJECT,
            example={"path": "/rooms/lobby/restrictions/"},
        )
    },
    "room-settings": {
        "post": op(
            "Moderators: lock, archive, slow mode, the topic",
            200,
            OBJECT,
            example={"path": "/rooms/lobby/settings/", "body": {"slow_mode_seconds": 0}},
        )
    },
    "room-moderators": {
        "post": op(
            "The owner names or unnames a room moderator",
            200,
            OBJECT,
            required=("username",),
            example={
                "path": "/rooms/lobby/moderators/",
                "body": {"username": "bob", "moderator": True},
            },
        )
    },
    "room-incoming-hooks": {
        "get": op(
            "The owner: the room's webhooks",
            200,
            ref("Hooks"),
            example={"path": "/rooms/lobby/webhooks/incoming/"},
        ),
        "post": op(
            "The owner: a new incoming webhook for a bot",
            201,
            ref("IncomingHook"),
            required=("name", "bot"),
            example={
                "path": "/rooms/lobby/webhooks/incoming/",
                "body": {"name": "CI", "bot": "robo"},
            },
        ),
    },
    "hook-incoming": {
        "post": op(
            "Post as the hook's bot: {\"text\"} (or Slack's body); the URL is the credential",
            201,
            ref("Message"),
            example={"path": "{hook_path}", "body": {"text": "deployed"}, "as": None},
            refusals=(400, 403, 404, 413, 429),
            auth=False,
        )
    },
    "room-incoming-hook-rotate": {
        "post": op(
            "The owner: a new secret for the hook (the old URL is a 404)",
            200,
            ref("IncomingHook"),
            example={"path": "/rooms/lobby/webhooks/incoming/{hook}/rotate/", "body": {}},
        )
    },
    "room-incoming-hook-delete": {
        "post": op(
            "The owner: delete the hook",
            200,
            OBJECT,
            example={"path": "/rooms/lobby/webhooks/incoming/{hook}/delete/", "body": {}},
        )
    },
    "room-outgoing-hooks": {
        "get": op(
            "The owner: the room's webhooks",
            200,
            ref("Hooks"),
            example={"path": "/rooms/lobby/webhooks/outgoing/"},
        ),
        "post": op(
            "The owner: a new outgoing webhook (answers its signing secret)",
            201,
            OBJECT,
            required=("name", "bot", "url"),
            example={
                "path": "/rooms/lobby/webhooks/outgoing/",
                "body": {"name": "echo", "bot": "robo", "url": "https://hooks.example.com/chat"},
            },
        ),
    },
    "room-outgoing-hook-delete": {
        "post": op(
            "The owner: delete the hook",
            200,
            OBJECT,
            example={"path": "/rooms/lobby/webhooks/outgoing/{outgoing}/delete/", "body": {}},
        )
    },
    "room-member": {
        "delete": op(
            "The owner removes a member",
            200,
            OBJECT,
            example={"path": "/rooms/lobby/members/dave/"},
            refusals=(401, 403, 404, 409),
        )
    },
    "room-leave": {
        "post": op(
            "Leave a room (not its owner: 409)",
            200,
            ref("Room"),
            example={"path": "/rooms/lobby/leave/", "as": "bob"},
            refusals=(401, 403, 404, 409),
        )
    },
}

# The streams, routed around Django (chatsite/asgi.py).
STREAM = {"text/event-stream": {"schema": {"type": "string"}}}
STREAMS: dict[str, dict[str, Any]] = {
    "/rooms/{slug}/events/": {
        "get": {
            "operationId": "get-room-events",
            "summary": "A room's events as Server-Sent Events (Last-Event-ID resumes)",
            "parameters": [
                {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {"description": "the stream", "content": STREAM},
                "401": {"description": "no or bad credentials"},
                "403": {"description": "banned"},
                "404": {"description": "no such room, or a private one"},
            },
            "x-example": {"path": "/rooms/lobby/events/", "status": 200},
        }
    },
    "/events/": {
        "get": {
            "operationId": "get-user-events",
            "summary": "Every room you follow and your own events, as Server-Sent Events",
            "responses": {
                "200": {"description": "the stream", "content": STREAM},
                "401": {"description": "no or bad credentials"},
            },
            "x-example": {"path": "/events/", "status": 200},
        }
    },
}

NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
    },
    "Message": {
        "type": "object",
        "required": [
            *["id", "room", "author", "bot", "body", "created", "edited", "deleted"],
            *["removed", "client_id", "attachments", "mentions", "mentions_room"],
            *["html", "reply_to", "reactions", "pinned"],
        ],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer"},
            "room": {"type": "string"},
            "author": {"type": "string"},
            "bot": {"type": "boolean", "description": "posted by a bot account"},
            "body": {"type": "string"},
            "created": {"type": "string", "format": "date-time"},
            "edited": NULLABLE_TIME,
            "deleted": {"type": "boolean"},
            "removed": {"type": "boolean"},
            "client_id": {"type": ["string", "null"]},
            "attachments": {"type": "array", "items": {"type": "object"}},
            "mentions": {
                "type": "array",
                "items": {"type": "string"},
                "description": "usernames of the room's members it mentions",
            },
            "mentions_room": {"type": "boolean", "description": "an @room by someone allowed"},
            "html": {
                "type": "string",
                "description": "the body rendered once by the server (safe Markdown, sanitized)",
            },
            "reply_to": {
                "type": ["object", "null"],
                "description": "the message it answers, as that message is now",
                "required": ["id", "author", "excerpt", "deleted", "removed"],
                "properties": {
                    "id": {"type": "integer"},
                    "author": {"type": "string"},
                    "excerpt": {"type": "string"},
                    "deleted": {"type": "boolean"},
                    "removed": {"type": "boolean"},
                },
            },
            "reactions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["emoji", "count", "users"],
                    "properties": {
                        "emoji": {"type": "string"},
                        "count": {"type": "integer"},
                        "users": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
            "pinned": {"type": "boolean"},
        },
    },
    "MessagePage": {
        "type": "object",
        "required": ["messages", "has_more", "last_event_id"],
        "properties": {
            "messages": {"type": "array", "items": ref("Message")},
            "has_more": {"type": "boolean"},
            "has_newer": {"type": "boolean"},
            "has_more_before": {"type": "boolean"},
            "has_more_after": {"type": "boolean"},
            "last_event_id": {"type": "integer"},
        },
    },
    "Room": {
        "type": "object",
        "required": ["slug", "name", "private"],
        "properties": {
            "slug": {"type": "string"},
            "name": {"type": "string"},
            "private": {"type": "boolean"},
            "kind": {"type": "string", "enum": ["room", "dm"]},
        },
    },
    "RoomList": {
        "type": "object",
        "required": ["rooms"],
        "properties": {"rooms": {"type": "array", "items": ref("Room")}},
    },
    "IncomingHook": {
        "type": "object",
        "required": ["id", "name", "bot", "path", "created"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "bot": {"type": "string"},
            "path": {"type": "string", "description": "/hooks/<id>/<secret>/"},
            "created": {"type": "string", "format": "date-time"},
        },
    },
    "Hooks": {
        "type": "object",
        "required": ["incoming", "outgoing"],
        "properties": {
            "incoming": {"type": "array", "items": ref("IncomingHook")},
            "outgoing": {"type": "array", "items": {"type": "object"}},
        },
    },
}


def api_routes() -> Iterator[tuple[str, str | None, Any]]:
    """(route, name, view) of every route of the URLconf but the admin's and the pages'."""

    def walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, str | None, Any]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if getattr(pattern, "app_name", None) == "admin":
                    continue
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if pattern.name in PAGES or str(pattern.pattern).startswith("^static"):
                    continue
                yield route, pattern.name, pattern.callback

    yield from walk(get_resolver().url_patterns, "/")


CONVERTERS = {"slug": "string", "str": "string", "int": "integer"}


def openapi_path(route: str) -> tuple[str, list[dict[str, Any]]]:
    """`rooms/<slug:slug>/` as `/rooms/{slug}/`, with its path parameters."""
    parameters = []
    parts = []
    for piece in route.split("<"):
        if ">" in piece:
            spec, rest = piece.split(">", 1)
            converter, _, name = spec.rpartition(":")
            parameters.append(
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": {"type": CONVERTERS.get(converter or "str", "string")},
                }
            )
            parts.append("{" + name + "}" + rest)
        else:
            parts.append(piece)
    return "".join(parts), parameters


class Undocumented(Exception):
    """A route of the URLconf that is neither a page nor described in OPERATIONS."""


@functools.cache
def document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route, name, view in api_routes():
        if name not in OPERATIONS:
            raise Undocumented(f"{route} ({name}) is not described in rooms/programs/openapi.py")
        path, parameters = openapi_path(route)
        fields = getattr(view, "payload_fields", {})
        item: dict[str, Any] = {}
        if parameters:
            item["parameters"] = parameters
        for method, described in OPERATIONS[name].items():
            operation = {k: v for k, v in described.items() if k != "x-required"}
            operation["operationId"] = f"{method}-{name}"
            names = sorted(fields.get(method.upper(), ()))
            if name == "hook-incoming":
                names = ["text", "username", "icon_emoji", "icon_url", "channel", "mrkdwn"]
            if names:
                schema = {
                    "type": "object",
                    "properties": {n: FIELDS.get(n, {"type": "string"}) for n in names},
                    "additionalProperties": False,
                }
                if described["x-required"]:
                    schema["required"] = described["x-required"]
                if name == "hook-incoming":
                    schema["required"] = ["text"]
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": schema}},
                }
            item[method] = operation
        paths[path] = item
    paths.update(STREAMS)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Chat",
            "version": "1",
            "description": 'The JSON API and the streams; see "For programs" in the README.',
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (settings page); read tokens may GET only.",
                },
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "sessionid",
                    "description": "The site's session; writes then need X-CSRFToken.",
                },
            },
            "schemas": SCHEMAS,
        },
        "paths": paths,
    }


@require_GET
def openapi_json(request: HttpRequest) -> JsonResponse:
    """GET /api/openapi.json: public (it says what the API is, nothing of anyone's data)."""
    return JsonResponse(document())
