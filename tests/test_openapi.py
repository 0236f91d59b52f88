"""GET /api/openapi.json: a valid OpenAPI 3.1 document that describes every route of the
JSON API (and only routes that exist, with the methods they take), whose examples all run
against the site, as a program with a token would, and answer as described.

alice: owns the lobby; bob: a member; carol, dave: members of nothing; robo: a bot.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import Client
from openapi_spec_validator import validate

from rooms.models import ApiToken, Bot
from rooms.programs import openapi, outgoing
from tests.conftest import client_for
from tests.helpers import Stream, image_bytes, upload_file

PARAMETERS = {
    "slug": "lobby",
    "message_id": "1",
    "key": "x",
    "username": "bob",
    "hook_id": "1",
    "secret": "x",
}


def doc() -> dict[str, Any]:
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db
def test_the_document_is_valid_openapi_3_1():
    document = doc()
    assert document["openapi"] == "3.1.0"
    validate(document)


@pytest.mark.django_db
def test_every_api_route_is_described_and_every_described_route_exists():
    from django.urls import Resolver404, resolve

    described = set(doc()["paths"])
    routes = {openapi.openapi_path(route)[0] for route, _, _ in openapi.api_routes()}
    assert described == routes | set(openapi.STREAMS)
    for path in described - set(openapi.STREAMS):
        concrete = re.sub(r"\{(\w+)\}", lambda m: PARAMETERS[m.group(1)], path)
        try:
            resolve(concrete)
        except Resolver404:
            pytest.fail(f"{path} is described but not routed")
    # The streams are routed in chatsite/asgi.py, around Django.
    from chatsite import asgi

    routed = {str(route.pattern) for route in asgi.routes.application_mapping["http"].routes}
    assert {"rooms/<slug:slug>/events/", "events/"} <= routed


@pytest.mark.django_db
def test_a_route_missing_from_the_document_fails_loudly(monkeypatch):
    monkeypatch.delitem(openapi.OPERATIONS, "dms")
    openapi.document.cache_clear()
    try:
        with pytest.raises(openapi.Undocumented):
            openapi.document()
    finally:
        openapi.document.cache_clear()


@pytest.mark.django_db
def test_every_method_not_described_answers_405(alice):
    client = client_for(alice)
    for path, item in doc()["paths"].items():
        if path in openapi.STREAMS:
            continue
        concrete = re.sub(r"\{(\w+)\}", lambda m: PARAMETERS[m.group(1)], path)
        for method in ("get", "post", "patch", "delete"):
            if method in item:
                continue
            response = client.generic(
                method.upper(), concrete, "{}", content_type="application/json"
            )
            assert response.status_code == 405, (method, path, response.status_code)


@pytest.mark.django_db
def test_the_request_fields_are_the_views_own():
    paths = doc()["paths"]
    body = paths["/rooms/{slug}/messages/"]["post"]["requestBody"]["content"]["application/json"]
    assert set(body["schema"]["properties"]) == {"body", "client_id", "attachments", "reply_to"}
    hook = paths["/rooms/{slug}/webhooks/outgoing/"]["post"]["requestBody"]["content"]
    assert hook["application/json"]["schema"]["required"] == ["name", "bot", "url"]


@pytest.fixture
def world(lobby, alice, bob, carol, monkeypatch):
    """What the examples name: messages, a file, a bot, and every person's token."""
    monkeypatch.setattr(outgoing, "resolve", lambda host, port: ["93.184.216.34"])
    User.objects.create_user("dave")
    robo = User.objects.create_user("robo")
    Bot.objects.create(user=robo)
    picture = upload_file(client_for(alice), "lobby", "a.png", image_bytes()).json()
    message, _ = lobby.post_message(alice, "hello world", attachments=[picture["id"]])
    spare, _ = lobby.post_message(alice, "to delete")
    bobs, _ = lobby.post_message(bob, "bob's")
    tokens = {
        user.username: ApiToken.objects.create_token(user, "t", "write")[1]
        for user in (alice, bob, carol)
    }
    names = {"message": message.pk, "spare": spare.pk, "bobs": bobs.pk}
    return tokens, {**names, "file": message.attachments.get().key}


def fill(value: Any, names: dict[str, Any]) -> Any:
    """The example with its {placeholders} replaced (a whole "{x}" keeps x's type)."""
    if isinstance(value, str):
        whole = re.fullmatch(r"\{(\w+)\}", value)
        if whole and whole.group(1) in names:
            return names[whole.group(1)]
        return re.sub(r"\{(\w+)\}", lambda m: str(names[m.group(1)]), value)
    if isinstance(value, dict):
        return {k: fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, names) for v in value]
    return value


def check_schema(document: dict[str, Any], schema: dict[str, Any], data: Any) -> None:
    root = {"components": document["components"], **schema}
    jsonschema.Draft202012Validator(root).validate(data)


def examples(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(name, method, operation) of every described operation, in the examples' order."""
    operations = {
        operation["operationId"]: operation
        for path, item in document["paths"].items()
        if path not in openapi.STREAMS
        for method, operation in item.items()
        if method != "parameters"
    }
    for name, methods in openapi.OPERATIONS.items():
        for method in methods:
            yield name, method, operations[f"{method}-{name}"]


def check_answer(
    document: dict[str, Any],
    name: str,
    method: str,
    operation: dict[str, Any],
    example: dict[str, Any],
    status: int,
    answer: Any,
    names: dict[str, Any],
) -> None:
    """The answer is the example's status, described, and fits its schema; remember ids."""
    assert status == example["status"], (name, method, status, answer)
    described = operation["responses"].get(str(status))
    assert described is not None, (name, method, status)
    content = described.get("content", {}).get("application/json")
    if content is not None:
        check_schema(document, content["schema"], answer)
    if name == "room-incoming-hooks" and method == "post":
        names.update(hook=answer["id"], hook_path=answer["path"])
    if name == "room-outgoing-hooks" and method == "post":
        names["outgoing"] = answer["id"]


def request_of(
    example: dict[str, Any], tokens: dict[str, str]
) -> tuple[dict[str, str], str | None]:
    who = example.get("as", "alice")
    headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
    body = json.dumps(example["body"]) if "body" in example else None
    if body is not None:
        headers["Content-Type"] = "application/json"
    return headers, body


@pytest.mark.django_db
def test_every_example_runs_against_the_site_with_a_token_and_answers_as_described(world):
    tokens, names = world
    document = doc()
    ran = 0
    for name, method, operation in examples(document):
        example = fill(operation["x-example"], names)
        headers, body = request_of(example, tokens)
        content_type = headers.pop("Content-Type", "application/octet-stream")
        client = Client(enforce_csrf_checks=True, headers=headers)
        response = client.generic(
            method.upper(), example["path"], body or "", content_type=content_type
        )
        answer = response.json() if response["Content-Type"] == "application/json" else None
        check_answer(
            document, name, method, operation, example, response.status_code, answer, names
        )
        ran += 1
    assert ran == sum(len(methods) for methods in openapi.OPERATIONS.values())


@pytest.mark.django_db(transaction=True)
async def test_every_example_runs_through_the_asgi_application_too(world):
    """The same, as an ASGI server (daphne, uvicorn) serves them (the middleware in async
    mode, the writer's path)."""
    from tests.asgi import asgi_client

    tokens, names = world
    document = await sync_to_async(doc)()
    async with asgi_client() as program:
        for name, method, operation in examples(document):
            example = fill(operation["x-example"], names)
            headers, body = request_of(example, tokens)
            response = await program.request(
                method.upper(), example["path"], content=body, headers=headers
            )
            json_answer = response.headers.get("content-type") == "application/json"
            answer = response.json() if json_answer else None
            check_answer(
                document, name, method, operation, example, response.status_code, answer, names
            )


@pytest.mark.django_db(transaction=True)
async def test_the_stream_examples_open_with_a_token(lobby, bob):
    _, text = await sync_to_async(ApiToken.objects.create_token)(bob, "t", "read")
    for path, item in openapi.STREAMS.items():
        example = item["get"]["x-example"]
        slug = example["path"].split("/")[2] if example["path"].startswith("/rooms/") else None
        async with Stream(slug, None, token=text) as stream:
            assert stream.status == example["status"], path
