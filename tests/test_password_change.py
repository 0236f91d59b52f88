"""Changing one's password on the site: the other sessions end, this one and its pages live on.

bob is signed in twice: on his laptop (where he changes the password) and on his phone.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from tests.helpers import Stream

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "a-brand-new-passphrase-7"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def stream_of(client: Client, slug: str = "lobby") -> Stream:
    """A stream opened with this browser's session cookie."""
    stream = Stream(slug, None)
    stream.scope["headers"].append(
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())
    )
    return stream


def change_password(client: Client, old: str = "bob-password-1"):
    return client.post(
        "/accounts/password_change/",
        {"old_password": old, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )


async def test_the_changing_browsers_streams_stay_open_and_the_others_are_revoked(
    lobby, alice, bob
):
    laptop, phone = await sync_to_async(signed_in)(bob), await sync_to_async(signed_in)(bob)
    async with stream_of(laptop) as here, stream_of(phone) as there:
        assert here.status == there.status == 200

        response = await sync_to_async(change_password)(laptop)

        assert response.status_code == 302
        assert response["Location"] == "/accounts/password_change/done/"
        await there.read_to_end(timeout=2)
        assert there.events[-1].type == "revoked"
        await sync_to_async(lobby.post_message)(alice, "still with us, bob?")
        events = await here.read_events(1)
        assert events[0].json["body"] == "still with us, bob?"
        assert not here.ended

        # It is still that browser's stream, under the session's new key: logging out there
        # ends it, as logging out ends every stream of the session.
        assert (await sync_to_async(laptop.post)("/accounts/logout/")).status_code == 302
        await here.read_to_end(timeout=2)
        assert here.events[-1].type == "revoked"


async def test_the_changing_browser_stays_signed_in_and_the_others_are_signed_out(lobby, bob):
    laptop, phone = await sync_to_async(signed_in)(bob), await sync_to_async(signed_in)(bob)
    await sync_to_async(change_password)(laptop)
    assert (await sync_to_async(laptop.get)("/rooms/lobby/")).status_code == 200
    assert (await sync_to_async(phone.get)("/rooms/lobby/")).status_code == 302
    async with stream_of(laptop) as again:
        assert again.status == 200


async def test_a_refused_change_revokes_nothing(lobby, alice, bob):
    laptop, phone = await sync_to_async(signed_in)(bob), await sync_to_async(signed_in)(bob)
    async with stream_of(phone) as there:
        response = await sync_to_async(change_password)(laptop, old="not-the-password")
        assert response.status_code == 200
        assert b"Your old password was entered incorrectly" in response.content
        await sync_to_async(lobby.post_message)(alice, "hello")
        assert (await there.read_events(1))[0].type == "message"


def test_the_password_change_page_is_the_sites_and_the_header_links_to_it(bob):
    client = signed_in(bob)
    lobby = client.get("/")
    assert b'href="/settings/" aria-label="Settings"' in lobby.content
    settings_page = client.get("/settings/").content
    assert b'href="/accounts/password_change/">Change your password</a>' in settings_page
    form = client.get("/accounts/password_change/")
    assert form.status_code == 200
    html = form.content.decode()
    assert 'class="site-header"' in html
    assert "Django administration" not in html
    assert "Change your password" in html
    done = client.get("/accounts/password_change/done/")
    assert 'class="site-header"' in done.content.decode()
    assert "Password changed" in done.content.decode()


def test_the_password_change_page_needs_a_login():
    response = Client().get("/accounts/password_change/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
