"""Uploaded files: stored through Django's storage API (settings.STORAGES["uploads"]),
attached to at most one message, served only while whoever asks may read the room and the
message still shows them.

The bytes live in the storage under names of our own (a random key), never the uploader's
file name; the row keeps that name, cleaned, for display only. Bytes go when they can no
longer be shown: the message was deleted (its author's or the admin's Erase), or the upload
was never attached within UNATTACHED_UPLOAD_HOURS. Both are the task worker's job
(remove_upload_files, written in the same transaction as the deletion, and the periodic
sweep_uploads). A message a moderator removed keeps its files, unserved, until it is restored.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import Storage, storages
from django.db import models
from django.db.models import Case, Q, Sum, When
from django.tasks import task
from django.utils import timezone

from rooms import sweeps

logger = logging.getLogger(__name__)

MAX_ATTACHMENTS_PER_MESSAGE = 10
MAX_UPLOAD_NAME_LENGTH = 120
# An upload not attached to a message by then is deleted by the sweep.
UNATTACHED_UPLOAD_HOURS = 24
UPLOAD_SWEEP_INTERVAL_SECS = 15 * 60


def upload_storage() -> Storage:
    """The storage that holds uploaded files (settings.STORAGES["uploads"])."""
    return storages["uploads"]


def new_upload_key() -> str:
    return secrets.token_urlsafe(18)  # 24 URL-safe characters, 144 random bits


class UploadQuerySet(models.QuerySet["Upload"]):
    def stored_bytes_of(self, user: Any) -> int:
        """What the user's uploads take in the storage now (the quota counts it)."""
        total = self.filter(uploader=user, discarded_at__isnull=True).aggregate(Sum("size"))
        return int(total["size__sum"] or 0)

    def attach(self, message: Any, ids: list[int]) -> None:
        """Attach the author's own unattached uploads of the message's room, by id, in the
        caller's transaction; raise ValidationError naming what cannot be attached."""
        if len(ids) > MAX_ATTACHMENTS_PER_MESSAGE:
            raise ValidationError(f"at most {MAX_ATTACHMENTS_PER_MESSAGE} attachments per message")
        if len(set(ids)) != len(ids):
            raise ValidationError("an attachment is listed twice")
        attached = (
            self.select_for_update()
            .filter(
                pk__in=ids,
                room_id=message.room_id,
                uploader_id=message.author_id,
                message__isnull=True,
                discarded_at__isnull=True,
            )
            .update(
                message=message,
                # Shown in the order the post lists them, not the order they finished uploading.
                position=Case(*(When(pk=pk, then=n) for n, pk in enumerate(ids)), default=0),
            )
        )
        if attached != len(ids):
            raise ValidationError("an attachment is not an unattached upload of yours in this room")

    def discard_of(self, message: Any) -> None:
        """The message is gone for good: stop serving its files and have the worker remove
        their bytes. Run in the message's deleting transaction."""
        ids = list(
            self.filter(message=message, discarded_at__isnull=True).values_list("pk", flat=True)
        )
        if ids:
            self.filter(pk__in=ids).update(discarded_at=timezone.now())
            remove_upload_files.enqueue(ids)


class Upload(models.Model):
    # The public name of the file in its URL and in the storage: random, so a URL cannot be
    # guessed (access is still checked on every request).
    key = models.CharField(max_length=32, unique=True, default=new_upload_key, editable=False)
    room = models.ForeignKey("rooms.Room", on_delete=models.PROTECT, related_name="uploads")
    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="uploads"
    )
    message = models.ForeignKey(
        "rooms.Message",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="attachments",
    )
    # The uploader's file name, cleaned (rooms/files/inspect.py): shown as text, never a path.
    name = models.CharField(max_length=MAX_UPLOAD_NAME_LENGTH)
    size = models.PositiveBigIntegerField()
    # Detected from the content (rooms/files/inspect.py), never the client's claim.
    content_type = models.CharField(max_length=100)
    # Names in upload_storage().
    stored_name = models.CharField(max_length=200)
    thumbnail_name = models.CharField(max_length=200, blank=True, default="")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    # Its place among its message's files.
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    # Its message was deleted: no longer served; the worker removes bytes and row.
    discarded_at = models.DateTimeField(null=True, blank=True)

    objects = UploadQuerySet.as_manager()

    class Meta:
        ordering = ["position", "id"]
        indexes = [
            # Serves the sweep: uploads never attached, older than a day.
            models.Index(
                fields=["created_at"],
                condition=Q(message__isnull=True),
                name="upload_unattached_created",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    @property
    def is_image(self) -> bool:
        return self.width is not None

    def url_in(self, room_slug: str) -> str:
        return f"/rooms/{room_slug}/files/{self.key}/"

    def as_data(self, room_slug: str) -> dict[str, Any]:
        """The upload as clients see it (the upload's answer, a message's attachments).

        `room_slug` is its room's, which the caller has at hand."""
        url = self.url_in(room_slug)
        image = None
        if self.is_image:
            thumbnail_url = f"{url}thumbnail/"
            image = {"width": self.width, "height": self.height, "thumbnail_url": thumbnail_url}
        return {
            "id": self.pk,
            "name": self.name,
            "size": self.size,
            "content_type": self.content_type,
            "url": url,
            "image": image,
        }

    def may_be_read_by(self, user: Any) -> bool:
        """Whether `user` may fetch this file now: whoever may read the room (the room's one
        read rule, Room.access_for) while its message shows it; before it is attached, only
        its uploader (the preview in their composer)."""
        if self.discarded_at is not None or not self.room.can_read(user):
            return False
        message = self.message
        if message is None:
            return bool(self.uploader_id == user.pk)
        return message.deleted_at is None and message.removed_at is None

    def remove_files(self) -> None:
        """Delete the bytes from the storage (a missing file is not an error)."""
        storage = upload_storage()
        for name in (self.stored_name, self.thumbnail_name):
            if name:
                storage.delete(name)


def remove_uploads(uploads: models.QuerySet[Upload]) -> int:
    """Delete the bytes, then the rows, of these uploads. Return how many went.

    A row goes only once its bytes are gone, so a storage that fails leaves the row for the
    next sweep to try again.
    """
    removed = 0
    for upload in uploads:
        try:
            upload.remove_files()
        except Exception:
            logger.warning("could not delete the files of upload %s", upload.pk, exc_info=True)
            continue
        upload.delete()
        removed += 1
    return removed


@task
def remove_upload_files(upload_ids: list[int]) -> int:
    """Remove the bytes and rows of discarded uploads (their message was deleted)."""
    return remove_uploads(Upload.objects.filter(pk__in=upload_ids, discarded_at__isnull=False))


def sweep_uploads_now() -> int:
    """Remove what may never be shown again: uploads discarded (a task that failed) and
    uploads not attached within UNATTACHED_UPLOAD_HOURS. Return how many went."""
    too_old = timezone.now() - timedelta(hours=UNATTACHED_UPLOAD_HOURS)
    return remove_uploads(
        Upload.objects.filter(
            Q(discarded_at__isnull=False) | Q(message__isnull=True, created_at__lt=too_old)
        )
    )


@task
def sweep_uploads() -> int:
    """sweep_uploads_now, then again in UPLOAD_SWEEP_INTERVAL_SECS."""
    removed = sweep_uploads_now()
    schedule_upload_sweep()
    return removed


def schedule_upload_sweep() -> None:
    """Have one upload sweep waiting (rooms/sweeps.py)."""
    sweeps.schedule_once(sweep_uploads, UPLOAD_SWEEP_INTERVAL_SECS)
