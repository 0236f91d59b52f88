"""Files and images in rooms: upload, what is stored, who may fetch them, and when they go.

alice owns lobby (public) and secret (private); bob is a member of both and uploads;
carol is a member of neither (she reads the lobby, not secret).
"""

from __future__ import annotations

import io
import json
import os
from datetime import timedelta

import pytest
from django.core.files.storage import storages
from django.utils import timezone
from PIL import Image

from rooms import moderation
from rooms.models import Message, Restriction, Upload
from rooms.models.uploads import remove_upload_files, sweep_uploads_now
from tests.conftest import client_for
from tests.helpers import PDF_BYTES, image_bytes, post_message, upload_file

pytestmark = pytest.mark.django_db


def stored(upload_id: int) -> Upload:
    return Upload.objects.get(pk=upload_id)


def exists(name: str) -> bool:
    return storages["uploads"].exists(name)


def content(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def post_with(client, slug, *ids, body=""):
    response = post_message(client, slug, {"body": body, "attachments": list(ids)})
    assert response.status_code == 201, response.content
    return response.json()


class TestUpload:
    def test_an_image_is_stored_re_encoded_with_a_thumbnail(self, as_bob, lobby):
        response = upload_file(as_bob, "lobby", "cat.png", image_bytes(size=(800, 600)))
        assert response.status_code == 201, response.content
        answer = response.json()
        upload = stored(answer["id"])
        assert answer == {
            "id": upload.pk,
            "name": "cat.png",
            "size": upload.size,
            "content_type": "image/png",
            "url": f"/rooms/lobby/files/{upload.key}/",
            "image": {
                "width": 800,
                "height": 600,
                "thumbnail_url": f"/rooms/lobby/files/{upload.key}/thumbnail/",
            },
        }
        assert exists(upload.stored_name) and exists(upload.thumbnail_name)
        with storages["uploads"].open(upload.thumbnail_name) as thumbnail:
            assert max(Image.open(thumbnail).size) == 320
        assert upload.key not in ("", None) and "cat" not in upload.stored_name

    def test_a_jpeg_loses_its_metadata_and_gps_position(self, as_bob, lobby):
        exif = Image.Exif()
        exif[0x010F] = "SpyCam"  # Make
        exif[0x8825] = {2: (52.0, 31.0, 12.0)}  # GPSInfo: a latitude
        photo = image_bytes("JPEG", exif=exif.tobytes())
        assert b"SpyCam" in photo
        response = upload_file(as_bob, "lobby", "holiday.jpg", photo, "image/jpeg")
        assert response.status_code == 201, response.content
        with storages["uploads"].open(stored(response.json()["id"]).stored_name) as file:
            data = file.read()
        assert b"SpyCam" not in data and b"Exif" not in data
        assert not Image.open(io.BytesIO(data)).getexif()

    @pytest.mark.parametrize("format", ["GIF", "WEBP"])
    def test_gif_and_webp_are_images_too(self, as_bob, lobby, format):
        response = upload_file(as_bob, "lobby", f"x.{format.lower()}", image_bytes(format))
        assert response.status_code == 201, response.content
        assert response.json()["content_type"] == f"image/{format.lower()}"

    def test_the_type_comes_from_the_content_not_the_name_or_the_claim(self, as_bob, lobby):
        answers = {
            name: upload_file(as_bob, "lobby", name, data, claimed).json()["content_type"]
            for name, data, claimed in [
                ("report", PDF_BYTES, "image/png"),
                ("notes.md", b"# plain words\n", "text/html"),
                ("page.html", b"<html><script>alert(1)</script></html>", "text/html"),
                ("drawing.svg", b"<svg onload='alert(1)'/>", "image/svg+xml"),
                ("blob.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00", "image/gif"),
            ]
        }
        assert answers == {
            "report": "application/pdf",
            "notes.md": "text/plain",
            "page.html": "text/plain",
            "drawing.svg": "text/plain",
            "blob.exe": "application/octet-stream",
        }

    @pytest.mark.parametrize(
        "name",
        [
            "../../etc/passwd",
            "..\\..\\windows\\win.ini",
            "a\x00b.png.txt",
            "bell\x07\x1b[31m.txt",
            "invoice\u202egnp.txt",
            "zero\u200bwidth.txt",
        ],
    )
    def test_a_file_name_is_stored_cleaned_and_never_as_a_path(self, as_bob, lobby, name):
        response = upload_file(as_bob, "lobby", name, b"some text")
        assert response.status_code == 201, response.content
        shown = response.json()["name"]
        assert not any(c in shown for c in "/\\\x00\x07\x1b\u202e\u200b"), shown
        upload = stored(response.json()["id"])
        assert upload.stored_name.startswith(f"uploads/{upload.key[:2]}/{upload.key}")

    @pytest.mark.parametrize(
        ("name", "shown"),
        [
            ("../../etc/passwd", "passwd"),
            ("C:\\Users\\me\\cat.png", "cat.png"),
            ("a\x00b\x1b[31m.txt", "ab[31m.txt"),
            ("invoice\u202egnp.exe", "invoicegnp.exe"),
            ("\u2066x\u2069 y\u200b.txt", "x y.txt"),
            ("  ...hidden  ", "hidden"),
            ("\x00/\x07", "file"),
        ],
    )
    def test_a_name_is_cleaned_even_if_the_multipart_parser_let_it_through(self, name, shown):
        # Django's parser drops most of these already; the site does not count on it.
        from rooms.files.inspect import clean_name

        assert clean_name(name) == shown

    def test_a_long_name_keeps_its_extension(self, as_bob, lobby):
        response = upload_file(as_bob, "lobby", "a" * 300 + ".txt", b"text")
        name = response.json()["name"]
        assert len(name) == 120 and name.endswith(".txt")


def refused(response, status, words):
    assert response.status_code == status, response.content
    assert words in response.json()["error"], response.json()
    assert not Upload.objects.exists()


class TestBadInput:
    def test_content_that_is_not_what_its_name_says_is_refused(self, as_bob, lobby):
        refused(upload_file(as_bob, "lobby", "cat.png", b"not a picture"), 400, "not what")
        refused(upload_file(as_bob, "lobby", "x.pdf", image_bytes()), 400, "not what")
        refused(upload_file(as_bob, "lobby", "x.JPEG", b"text", "image/jpeg"), 400, "not what")

    def test_a_truncated_image_is_refused(self, as_bob, lobby):
        data = image_bytes(size=(300, 300))[:200]
        refused(upload_file(as_bob, "lobby", "cut.png", data), 400, "not a valid one")

    @pytest.mark.parametrize(
        "tail",
        [
            b"<script>alert(document.cookie)</script>",
            b"<!DOCTYPE html><html><body onload=alert(1)>",
            b"<iframe srcdoc='<script>alert(1)</script>'>",
            b"javascript:alert(1)",
        ],
    )
    def test_a_polyglot_image_is_refused(self, as_bob, lobby, tail):
        refused(upload_file(as_bob, "lobby", "p.png", image_bytes() + tail), 400, "polyglot")

    @pytest.mark.parametrize(
        "markup", ["<html><script>alert(1)</script></html>", "<svg onload=alert(1)>"]
    )
    def test_markup_inside_an_images_metadata_is_refused(self, as_bob, lobby, markup):
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", markup)  # near the start, where a browser sniffs
        data = image_bytes(pnginfo=info)
        refused(upload_file(as_bob, "lobby", "p.png", data), 400, "polyglot")

    def test_a_large_photo_is_not_taken_for_a_polyglot(self, as_bob, lobby):
        # Noise compresses badly: megabytes of bytes that look random, as a big photo's do.
        noise = Image.frombytes("RGB", (1500, 1000), os.urandom(1500 * 1000 * 3))
        out = io.BytesIO()
        noise.save(out, "JPEG", quality=95)
        assert len(out.getvalue()) > 1_000_000
        response = upload_file(as_bob, "lobby", "noise.jpg", out.getvalue())
        assert response.status_code == 201, response.content

    def test_an_empty_file_is_refused(self, as_bob, lobby):
        refused(upload_file(as_bob, "lobby", "empty.txt", b""), 400, "empty")

    def test_a_file_over_the_size_limit_is_413(self, as_bob, lobby, settings):
        settings.CHAT_MAX_UPLOAD_BYTES = 1000
        refused(upload_file(as_bob, "lobby", "big.bin", b"x" * 1001), 413, "larger than")

    def test_a_decompression_bomb_is_refused_unread(self, as_bob, lobby):
        # 20,000 x 20,000 pixels of one colour: a few hundred KB that would take 1.2 GB.
        bomb = io.BytesIO()
        Image.new("1", (20_000, 20_000)).save(bomb, "PNG")
        assert len(bomb.getvalue()) < 2_000_000
        refused(upload_file(as_bob, "lobby", "bomb.png", bomb.getvalue()), 413, "pixels")

    def test_an_image_over_the_pixel_limit_is_refused(self, as_bob, lobby, settings):
        settings.CHAT_MAX_IMAGE_PIXELS = 100 * 100
        data = image_bytes(size=(101, 100))
        refused(upload_file(as_bob, "lobby", "wide.png", data), 413, "pixels")

    def test_no_file_two_files_or_another_field_is_400(self, as_bob, lobby):
        from django.core.files.uploadedfile import SimpleUploadedFile

        def two():
            return [SimpleUploadedFile(n, b"x") for n in ("a.txt", "b.txt")]

        for form in ({}, {"file": two()}, {"other": SimpleUploadedFile("a.txt", b"x")}):
            response = as_bob.post("/rooms/lobby/uploads/", form)
            assert response.status_code == 400, (form, response.content)
        response = as_bob.post(
            "/rooms/lobby/uploads/", {"file": SimpleUploadedFile("a.txt", b"x"), "name": "b"}
        )
        assert response.status_code == 400 and "unknown field" in response.json()["error"]
        refused(as_bob.post("/rooms/lobby/uploads/", {}), 400, "multipart")

    def test_a_broken_multipart_body_is_400_not_500(self, as_bob, lobby):
        response = as_bob.post(
            "/rooms/lobby/uploads/",
            b'--x\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n',
            content_type="multipart/form-data",  # no boundary
        )
        assert response.status_code == 400
        assert "error" in response.json()


class TestWhoMayUpload:
    @pytest.mark.parametrize("state", ["muted", "banned", "locked", "archived"])
    def test_uploads_are_refused_like_posts(self, as_bob, lobby, alice, bob, state):
        if state in ("muted", "banned"):
            kind = Restriction.MUTE if state == "muted" else Restriction.BAN
            moderation.restrict(alice, lobby, bob, kind)
        else:
            setattr(lobby, state, True)
            lobby.save()
        response = upload_file(as_bob, "lobby", "a.txt", b"hello")
        assert response.status_code == 403, response.content
        assert not Upload.objects.exists()

    def test_a_non_member_may_not_upload(self, as_carol, lobby, secret):
        assert upload_file(as_carol, "lobby", "a.txt", b"x").status_code == 403
        assert upload_file(as_carol, "secret", "a.txt", b"x").status_code == 404
        assert upload_file(client_for(None), "lobby", "a.txt", b"x").status_code == 401

    def test_an_upload_needs_the_csrf_token(self, bob, lobby):
        client = client_for(bob, enforce_csrf=True)
        assert upload_file(client, "lobby", "a.txt", b"x").status_code == 403

    def test_a_persons_files_are_limited_by_a_quota(self, as_bob, lobby, settings):
        settings.CHAT_UPLOAD_QUOTA_BYTES = 1000
        assert upload_file(as_bob, "lobby", "a.bin", b"\x01" * 600).status_code == 201
        response = upload_file(as_bob, "lobby", "b.bin", b"\x01" * 600)
        assert response.status_code == 413 and "quota" in response.json()["error"]
        assert Upload.objects.count() == 1

    def test_uploads_are_rate_limited(self, as_bob, lobby, settings):
        settings.CHAT_UPLOADS_PER_HOUR = 2
        for _ in range(2):
            assert upload_file(as_bob, "lobby", "a.txt", b"x").status_code == 201
        response = upload_file(as_bob, "lobby", "a.txt", b"x")
        assert response.status_code == 429 and response["Retry-After"]


class TestAttachments:
    def test_a_post_carries_its_files_in_history_and_in_its_event(self, as_bob, lobby):
        image = upload_file(as_bob, "lobby", "cat.png", image_bytes()).json()
        pdf = upload_file(as_bob, "lobby", "doc.pdf", PDF_BYTES).json()
        message = post_with(as_bob, "lobby", image["id"], pdf["id"], body="look")
        assert message["attachments"] == [image, pdf]
        reversed_order = [
            upload_file(as_bob, "lobby", f"{n}.txt", b"x").json() for n in ("first", "second")
        ]
        later = post_with(as_bob, "lobby", reversed_order[1]["id"], reversed_order[0]["id"])
        assert later["attachments"] == reversed_order[::-1]  # as the post lists them
        history = as_bob.get("/rooms/lobby/messages/").json()["messages"]
        assert history[-2]["attachments"] == [image, pdf]
        assert history[-1]["attachments"] == reversed_order[::-1]
        event = lobby.events.get(message_id=message["id"])
        assert json.loads(event.data)["attachments"] == [image, pdf]

    def test_a_post_of_files_only_needs_no_text(self, as_bob, lobby):
        image = upload_file(as_bob, "lobby", "cat.png", image_bytes()).json()
        response = post_message(as_bob, "lobby", {"attachments": [image["id"]]})
        assert response.status_code == 201 and response.json()["body"] == ""
        assert post_message(as_bob, "lobby", {"attachments": []}).status_code == 400

    def test_only_ones_own_unattached_uploads_of_the_room_can_be_attached(
        self, as_alice, as_bob, lobby, secret
    ):
        alices = upload_file(as_alice, "lobby", "a.txt", b"alice's").json()["id"]
        in_secret = upload_file(as_bob, "secret", "s.txt", b"secret").json()["id"]
        used = upload_file(as_bob, "lobby", "u.txt", b"used").json()["id"]
        post_with(as_bob, "lobby", used)
        for ids in ([alices], [in_secret], [used], [999_999], ["x"], list(range(11))):
            response = post_message(as_bob, "lobby", {"body": "hi", "attachments": ids})
            assert response.status_code == 400, (ids, response.content)
        assert Message.objects.filter(body="hi").count() == 0

    def test_the_room_page_shows_thumbnails_and_download_links(self, as_bob, lobby):
        image = upload_file(as_bob, "lobby", "cat.png", image_bytes()).json()
        pdf = upload_file(as_bob, "lobby", "<img src=x onerror=alert(1)>.pdf", PDF_BYTES).json()
        post_with(as_bob, "lobby", image["id"], pdf["id"])
        page = as_bob.get("/rooms/lobby/").content.decode()
        assert f'src="{image["image"]["thumbnail_url"]}"' in page
        assert f'href="{pdf["url"]}"' in page
        assert "&lt;img src=x onerror=alert(1)&gt;.pdf" in page and "<img src=x" not in page


class TestServing:
    def test_an_image_is_served_inline_with_headers_that_let_nothing_run(self, as_bob, lobby):
        image = upload_file(as_bob, "lobby", "cat.png", image_bytes()).json()
        post_with(as_bob, "lobby", image["id"])
        response = as_bob.get(image["url"])
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        assert response["Content-Disposition"].startswith("inline")
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert Image.open(io.BytesIO(content(response))).size == (64, 48)
        thumbnail = as_bob.get(image["image"]["thumbnail_url"])
        assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/jpeg"

    @pytest.mark.parametrize(
        ("name", "data"),
        [
            ("doc.pdf", PDF_BYTES),
            ("page.html", b"<html><script>alert(1)</script></html>"),
            ("d.svg", b"<svg onload='alert(1)'/>"),
        ],
    )
    def test_everything_but_an_image_is_a_download(self, as_bob, lobby, name, data):
        upload = upload_file(as_bob, "lobby", name, data).json()
        post_with(as_bob, "lobby", upload["id"])
        response = as_bob.get(upload["url"])
        assert response.status_code == 200
        assert response["Content-Disposition"] == f'attachment; filename="{name}"'
        assert response["Content-Type"] in ("application/pdf", "text/plain")
        assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert content(response) == data

    def test_a_client_that_has_the_file_gets_304_after_the_check(self, as_bob, as_carol, lobby):
        upload = upload_file(as_bob, "lobby", "a.txt", b"text").json()
        post_with(as_bob, "lobby", upload["id"])
        etag = as_bob.get(upload["url"])["ETag"]
        assert as_carol.get(upload["url"], HTTP_IF_NONE_MATCH=etag).status_code == 304
        lobby.private = True
        lobby.save()
        assert as_carol.get(upload["url"], HTTP_IF_NONE_MATCH=etag).status_code == 404

    def test_behind_nginx_the_site_only_names_the_file(self, as_bob, lobby, settings):
        settings.CHAT_FILES_ACCEL_REDIRECT = "/_files/"
        upload = upload_file(as_bob, "lobby", "doc.pdf", PDF_BYTES).json()
        post_with(as_bob, "lobby", upload["id"])
        response = as_bob.get(upload["url"])
        name = stored(upload["id"]).stored_name
        assert response["X-Accel-Redirect"] == f"/_files/{name}"
        assert response.content == b""
        assert response["Content-Disposition"].startswith("attachment")


class TestWhoMayFetch:
    def test_readers_of_the_room_fetch_its_files_and_nobody_else(
        self, as_alice, as_bob, as_carol, secret, lobby
    ):
        in_secret = upload_file(as_bob, "secret", "s.txt", b"secret").json()
        in_lobby = upload_file(as_bob, "lobby", "l.txt", b"public").json()
        post_with(as_bob, "secret", in_secret["id"])
        post_with(as_bob, "lobby", in_lobby["id"])
        assert as_alice.get(in_secret["url"]).status_code == 200
        assert as_carol.get(in_lobby["url"]).status_code == 200
        assert as_carol.get(in_secret["url"]).status_code == 404
        assert client_for(None).get(in_lobby["url"]).status_code == 404
        # The key alone is not enough: under another room's slug it is missing.
        assert as_bob.get(in_secret["url"].replace("secret", "lobby")).status_code == 404

    def test_someone_removed_from_a_private_room_loses_a_file_they_fetched(
        self, as_bob, secret, bob
    ):
        upload = upload_file(as_bob, "secret", "s.txt", b"secret").json()
        post_with(as_bob, "secret", upload["id"])
        assert as_bob.get(upload["url"]).status_code == 200
        secret.remove_member(bob)
        assert as_bob.get(upload["url"]).status_code == 404

    def test_a_banned_person_gets_404_for_a_file_they_fetched(self, as_alice, as_bob, lobby, bob):
        upload = upload_file(as_alice, "lobby", "l.txt", b"text").json()
        post_with(as_alice, "lobby", upload["id"])
        assert as_bob.get(upload["url"]).status_code == 200
        moderation.restrict(lobby.owner, lobby, bob, Restriction.BAN)
        assert as_bob.get(upload["url"]).status_code == 404

    def test_an_unattached_upload_is_its_uploaders_only(self, as_alice, as_bob, lobby):
        upload = upload_file(as_bob, "lobby", "l.txt", b"draft").json()
        assert as_bob.get(upload["url"]).status_code == 200
        assert as_alice.get(upload["url"]).status_code == 404

    def test_a_deleted_messages_files_are_gone_for_everyone_and_their_bytes_removed(
        self, as_alice, as_bob, lobby, django_capture_on_commit_callbacks
    ):
        image = upload_file(as_bob, "lobby", "cat.png", image_bytes()).json()
        message = post_with(as_bob, "lobby", image["id"])
        upload = stored(image["id"])
        assert as_bob.delete(f"/rooms/lobby/messages/{message['id']}/").status_code == 200
        for client in (as_alice, as_bob):
            assert client.get(image["url"]).status_code == 404
            assert client.get(image["image"]["thumbnail_url"]).status_code == 404
        # The deleting transaction scheduled the removal; the worker runs it.
        from django_tasks_db.models import DBTaskResult

        task = DBTaskResult.objects.get(task_path=remove_upload_files.module_path)
        assert task.args_kwargs["args"] == [[upload.pk]]
        remove_upload_files.call(*task.args_kwargs["args"])
        assert not exists(upload.stored_name) and not exists(upload.thumbnail_name)
        assert not Upload.objects.filter(pk=upload.pk).exists()
        deleted = as_alice.get(f"/rooms/lobby/messages/{message['id']}/").json()
        assert deleted["attachments"] == []

    def test_a_removed_messages_files_are_hidden_until_it_is_restored(
        self, as_alice, as_bob, lobby, mod
    ):
        upload = upload_file(as_bob, "lobby", "l.txt", b"text").json()
        message = Message.objects.get(pk=post_with(as_bob, "lobby", upload["id"])["id"])
        moderation.remove_message(mod, message, "spam")
        assert as_alice.get(upload["url"]).status_code == 404
        assert as_bob.get(upload["url"]).status_code == 404
        history = as_alice.get("/rooms/lobby/messages/").json()["messages"]
        assert history[-1]["attachments"] == []
        moderation.restore_message(mod, Message.objects.get(pk=message.pk), "fine")
        assert as_alice.get(upload["url"]).status_code == 200


class TestCleanUp:
    def test_the_sweep_removes_uploads_never_attached_within_a_day(self, as_bob, lobby):
        old = stored(upload_file(as_bob, "lobby", "old.txt", b"old").json()["id"])
        new = stored(upload_file(as_bob, "lobby", "new.txt", b"new").json()["id"])
        kept = stored(upload_file(as_bob, "lobby", "kept.txt", b"kept").json()["id"])
        post_with(as_bob, "lobby", kept.pk)
        Upload.objects.filter(pk__in=[old.pk, kept.pk]).update(
            created_at=timezone.now() - timedelta(hours=25)
        )
        assert sweep_uploads_now() == 1
        assert not exists(old.stored_name) and exists(new.stored_name) and exists(kept.stored_name)
        assert set(Upload.objects.values_list("pk", flat=True)) == {new.pk, kept.pk}

    def test_the_sweep_finishes_a_removal_whose_task_failed(self, as_bob, lobby):
        upload = upload_file(as_bob, "lobby", "a.txt", b"text").json()
        message = Message.objects.get(pk=post_with(as_bob, "lobby", upload["id"])["id"])
        message.erase()
        assert sweep_uploads_now() == 1
        assert not Upload.objects.exists()

    @pytest.mark.django_db(transaction=True)
    def test_the_worker_sweeps_at_start_and_runs_the_removal_tasks(self, as_bob, lobby):
        from django.core.management import call_command

        old = stored(upload_file(as_bob, "lobby", "old.txt", b"old").json()["id"])
        Upload.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
        message = Message.objects.get(
            pk=post_with(as_bob, "lobby", upload_file(as_bob, "lobby", "a.txt", b"a").json()["id"])[
                "id"
            ]
        )
        attached = message.attachments.get()
        message.erase()
        call_command("run_worker", batch=True, reload=False, startup_delay=False, verbosity=0)
        assert not Upload.objects.exists()
        assert not exists(old.stored_name) and not exists(attached.stored_name)

    def test_the_worker_keeps_one_upload_sweep_scheduled(self, db):
        from django_tasks_db.models import DBTaskResult

        from rooms.models.uploads import schedule_upload_sweep, sweep_uploads

        schedule_upload_sweep()
        schedule_upload_sweep()
        assert DBTaskResult.objects.filter(task_path=sweep_uploads.module_path).count() == 1


class TestUploadBodyAtTheASGILayer:
    """The upload path may carry a file's body; no more, and no other path may."""

    async def test_a_declared_gigabyte_is_refused_before_any_body(self):
        from channels.testing import ApplicationCommunicator

        from chatsite.asgi import application
        from tests.test_security_limits import post_scope

        scope = post_scope("/rooms/lobby/uploads/", [(b"content-length", b"1073741824")])
        communicator = ApplicationCommunicator(application, scope)
        start = await communicator.receive_output(timeout=5)
        assert start["status"] == 413
        await communicator.receive_output(timeout=5)
        await communicator.wait(timeout=5)

    async def test_a_chunked_upload_is_cut_off_past_the_file_limit(self, settings):
        from channels.testing import ApplicationCommunicator

        from chatsite.asgi import application
        from rooms.middleware import body_limit
        from tests.test_security_limits import post_scope

        settings.CHAT_MAX_UPLOAD_BYTES = 100_000
        limit = body_limit("/rooms/lobby/uploads/")
        assert limit > settings.CHAT_MAX_REQUEST_BYTES
        communicator = ApplicationCommunicator(application, post_scope("/rooms/lobby/uploads/", []))
        chunk = b"x" * 16384
        for _ in range(limit // len(chunk) + 1):
            await communicator.send_input(
                {"type": "http.request", "body": chunk, "more_body": True}
            )
        start = await communicator.receive_output(timeout=5)
        assert start["status"] == 413
        await communicator.receive_output(timeout=5)
        await communicator.wait(timeout=5)

    def test_only_the_upload_path_has_the_larger_limit(self, settings):
        from rooms.middleware import body_limit

        assert body_limit("/rooms/lobby/uploads/") > settings.CHAT_MAX_UPLOAD_BYTES
        for path in ("/rooms/lobby/messages/", "/rooms/lobby/uploads/x/", "/rooms/uploads/"):
            assert body_limit(path) == settings.CHAT_MAX_REQUEST_BYTES


@pytest.mark.server
class TestUploadsUnderTheServer:
    """The server itself (daphne or uvicorn, tests/live.py): an upload bigger than the body
    limit of other requests goes through; a declared gigabyte is answered at once, and a
    chunked stream is cut off past the limit."""

    @pytest.fixture
    def server(self, live_database):
        from tests.live import LiveServer

        server = LiveServer(live_database, CHAT_MAX_UPLOAD_BYTES="2000000").start()
        yield server
        server.stop()

    def test_a_megabyte_goes_through_and_a_gigabyte_does_not(self, server):
        from tests.live import read_raw_answer, send_raw, sign_up_sync

        alice = sign_up_sync(server.url, "alice")
        assert alice.post("/rooms/", json={"slug": "general", "name": "G"}).status_code == 201
        data = image_bytes("PNG", size=(1500, 1500), color="white")
        noise = bytes(range(256)) * 4096  # a megabyte that compresses badly
        big = alice.post("/rooms/general/uploads/", files={"file": ("n.bin", noise)})
        assert big.status_code == 201, big.text
        assert alice.post("/rooms/general/uploads/", files={"file": ("w.png", data)}).is_success

        sock = send_raw(
            server.port,
            b"POST /rooms/general/uploads/ HTTP/1.1\nHost: 127.0.0.1\n"
            b"Content-Type: multipart/form-data; boundary=x\nContent-Length: 1073741824\n",
        )
        status, headers = read_raw_answer(sock)  # answered before any of the body is sent
        assert status == 413 and headers[b"x-content-type-options"] == b"nosniff"

        sock = send_raw(
            server.port,
            b"POST /rooms/general/uploads/ HTTP/1.1\nHost: 127.0.0.1\n"
            b"Content-Type: multipart/form-data; boundary=x\nTransfer-Encoding: chunked\n",
        )
        chunk = b"x" * 65536
        try:
            for _ in range(2_100_000 // len(chunk) + 1):
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        except OSError:
            pass  # the server closed the connection: it stopped reading
        status, _ = read_raw_answer(sock)
        assert status == 413
        # The other paths keep their limit.
        too_big = alice.post("/rooms/general/messages/", json={"body": "x" * 70_000})
        assert too_big.status_code == 413


def test_a_bucket_is_configured_from_the_environment():
    import subprocess
    import sys

    from tests.live import ROOT, server_env

    show = "from django.conf import settings; print(settings.STORAGES['uploads'])"
    env = server_env({"CHAT_S3_BUCKET": "chat-files", "CHAT_S3_ENDPOINT_URL": "https://s3.test"})
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {show}"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "storages.backends.s3.S3Storage" in out and "'chat-files'" in out
    assert "https://s3.test" in out and "'default_acl': 'private'" in out


def s3_storage():
    """The bucket of CHAT_TEST_S3_BUCKET (an S3-compatible service), if the run has one."""
    import os

    bucket = os.environ.get("CHAT_TEST_S3_BUCKET", "")
    if not bucket:
        pytest.skip("set CHAT_TEST_S3_BUCKET (and CHAT_S3_ENDPOINT_URL, AWS_*) to test a bucket")
    pytest.importorskip("storages.backends.s3", reason='pip install -e ".[s3]"')
    options = {
        "bucket_name": bucket,
        "endpoint_url": os.environ.get("CHAT_S3_ENDPOINT_URL") or None,
        "location": f"test-{os.getpid()}",
        "default_acl": "private",
        "file_overwrite": False,
    }
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


@pytest.fixture(params=["file system", "memory", "s3"])
def storage_backend(request, settings, tmp_path):
    """Each storage the site may keep files in, behind STORAGES["uploads"]."""
    backends = {
        "file system": lambda: {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "contract")},
        },
        "memory": lambda: {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "s3": s3_storage,
    }
    settings.STORAGES = {**settings.STORAGES, "uploads": backends[request.param]()}
    return storages["uploads"]


def test_every_storage_keeps_serves_and_removes_files_alike(storage_backend, as_bob, lobby):
    """The storage contract: what the site asks of a backend, through Django's storage API."""
    image = upload_file(as_bob, "lobby", "cat.png", image_bytes()).json()
    pdf = upload_file(as_bob, "lobby", "doc.pdf", PDF_BYTES).json()
    message = post_with(as_bob, "lobby", image["id"], pdf["id"])
    uploads = [stored(image["id"]), stored(pdf["id"])]
    names = [uploads[0].stored_name, uploads[0].thumbnail_name, uploads[1].stored_name]
    assert all(storage_backend.exists(name) for name in names)
    assert content(as_bob.get(pdf["url"])) == PDF_BYTES
    assert Image.open(io.BytesIO(content(as_bob.get(image["url"])))).size == (64, 48)
    assert content(as_bob.get(image["image"]["thumbnail_url"]))[:2] == b"\xff\xd8"

    assert as_bob.delete(f"/rooms/lobby/messages/{message['id']}/").status_code == 200
    remove_upload_files.call([upload.pk for upload in uploads])
    assert not any(storage_backend.exists(name) for name in names)
