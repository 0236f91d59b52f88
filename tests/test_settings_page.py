"""The settings page: a person's own choices, kept, and theirs only."""

import re

import pytest

from rooms.models import Notify, Preferences
from tests.conftest import client_for


@pytest.mark.django_db
def test_a_person_who_never_chose_has_the_defaults_and_no_row(bob):
    preferences = Preferences.of(bob)
    assert preferences.pk is None
    assert preferences.notify == Notify.MENTIONS
    assert preferences.email_notifications is True
    assert preferences.share_presence is True
    page = client_for(bob).get("/settings/")
    assert page.status_code == 200
    checked = re.findall(rb'<input[^>]*name="notify" value="(\w+)"[^>]*checked', page.content)
    assert checked == [b"mentions"]


@pytest.mark.django_db
def test_saving_the_form_keeps_the_choices_for_that_person_only(bob, alice):
    as_bob = client_for(bob)
    response = as_bob.post(
        "/settings/", {"notify": "nothing", "share_presence": "on"}
    )  # email_notifications unticked
    assert response.status_code == 302
    assert response["Location"] == "/settings/"
    saved = Preferences.of(bob)
    assert (saved.notify, saved.email_notifications, saved.share_presence) == (
        "nothing",
        False,
        True,
    )
    assert Preferences.of(alice).pk is None
    assert "Your settings are saved." in as_bob.get("/settings/").content.decode()


@pytest.mark.django_db
def test_a_choice_that_is_not_offered_is_refused_with_a_400_and_nothing_saved(bob):
    response = client_for(bob).post("/settings/", {"notify": "everything-loud"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert Preferences.of(bob).pk is None


@pytest.mark.django_db
def test_the_settings_page_asks_anonymous_people_to_log_in(client):
    response = client.get("/settings/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
