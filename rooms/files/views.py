"""Upload a file to a room, and fetch one.

POST /rooms/<slug>/uploads/ stores one file (multipart, field `file`) for its uploader to
attach to a message (rooms/models/uploads.py); GET /rooms/<slug>/files/<key>/ (and
.../thumbnail/) serves it to whoever may read it now (Upload.may_be_read_by: the room's read
rule, on every request). Served files carry their own headers: a download for everything but
images, never sniffed, a Content-Security-Policy that lets nothing run. Behind nginx
(CHAT_FILES_ACCEL_REDIRECT) the site only says which file, and nginx sends its bytes.
"""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotModified,
    JsonResponse,
)
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_http_methods, require_POST

from rooms import limits
from rooms.files.inspect import IMAGE_TYPES, RefusedFile, clean_name, inspect
from rooms.http import (
    AuthenticatedRequest,
    BadRequest,
    json_endpoint,
    json_error,
    readable_room,
    readable_upload,
)
from rooms.models import Upload
from rooms.models.uploads import new_upload_key, upload_storage

# What a served file may do once a browser has it: nothing (no script, no style, no frame,
# no form, no plug-in), in a sandbox of its own origin.
FILE_CSP = "default-src 'none'; sandbox"
THUMBNAIL_TYPES = {"png": "image/png", "jpg": "image/jpeg"}


@require_POST
@json_endpoint(fields={"POST": ()})
@limits.rate_limited(limits.UPLOADS)
def upload(request: AuthenticatedRequest, slug: str) -> JsonResponse:
    room = readable_room(request, slug)
    # Refused like a post: not a member, muted, banned, a locked or archived room.
    room.check_can_write(request.user)
    files = request.FILES.getlist("file")
    if len(files) != 1 or set(request.FILES) != {"file"}:
        raise BadRequest("send one file as multipart/form-data, in the field 'file'")
    file = files[0]
    size = file.size or 0
    limit = settings.CHAT_MAX_UPLOAD_BYTES
    if size > limit:
        return json_error(413, f"the file is larger than {_megabytes(limit)}")
    quota = settings.CHAT_UPLOAD_QUOTA_BYTES
    if quota and Upload.objects.stored_bytes_of(request.user) + size > quota:
        return json_error(413, f"your files would take more than your quota of {_megabytes(quota)}")
    name = clean_name(file.name or "")
    try:
        inspected = inspect(file, size, name)
    except RefusedFile as exc:
        return json_error(exc.status, str(exc))

    key = new_upload_key()
    storage = upload_storage()
    prefix = f"uploads/{key[:2]}/{key}"
    content = ContentFile(inspected.data) if inspected.data is not None else file
    stored = storage.save(f"{prefix}.{inspected.extension}", content)
    thumbnail = ""
    try:
        if inspected.thumbnail is not None:
            extension = "png" if inspected.thumbnail.startswith(b"\x89PNG") else "jpg"
            thumbnail = storage.save(
                f"{prefix}-thumbnail.{extension}", ContentFile(inspected.thumbnail)
            )
        upload = Upload.objects.create(
            key=key,
            room=room,
            uploader=request.user,
            name=name,
            size=len(inspected.data) if inspected.data is not None else size,
            content_type=inspected.content_type,
            stored_name=stored,
            thumbnail_name=thumbnail,
            width=inspected.width,
            height=inspected.height,
        )
    except BaseException:
        for written in (stored, thumbnail):
            if written:
                storage.delete(written)
        raise
    return JsonResponse(upload.as_data(room.slug), status=201)


def _megabytes(size: int) -> str:
    """25 MB, 64 KB, 900 bytes."""
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} bytes"


@require_http_methods(["GET", "HEAD"])
def download(request: HttpRequest, slug: str, key: str) -> HttpResponseBase:
    upload = readable_upload(request, slug, key)
    inline = upload.content_type in IMAGE_TYPES
    disposition = content_disposition_header(not inline, upload.name)
    return _serve(request, upload.stored_name, upload.content_type, disposition, upload.key)


@require_http_methods(["GET", "HEAD"])
def thumbnail(request: HttpRequest, slug: str, key: str) -> HttpResponseBase:
    upload = readable_upload(request, slug, key)
    name = upload.thumbnail_name
    content_type = THUMBNAIL_TYPES.get(name.rsplit(".", 1)[-1], "")
    if not content_type:
        return json_error(404, "this file has no thumbnail")
    return _serve(request, name, content_type, "inline", f"{upload.key}-thumbnail")


def _serve(
    request: HttpRequest, stored_name: str, content_type: str, disposition: str | None, tag: str
) -> HttpResponseBase:
    """The file's answer: 304 if the client has it (after the access check, like every
    answer), nginx's internal redirect in production, else the bytes streamed from storage."""
    etag = f'"{tag}"'  # a stored file never changes
    storage = upload_storage()
    response: HttpResponseBase
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponseNotModified()
    elif settings.CHAT_FILES_ACCEL_REDIRECT and isinstance(storage, FileSystemStorage):
        # nginx sends the bytes (and answers Range requests) from its internal location.
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = settings.CHAT_FILES_ACCEL_REDIRECT + quote(stored_name)
    else:
        # LIMITATION: from a bucket the bytes pass through this process (no Range support).
        try:
            opened = storage.open(stored_name, "rb")
        except FileNotFoundError:
            return json_error(404, "no such file")
        response = FileResponse(opened, content_type=content_type)
    if disposition:
        response["Content-Disposition"] = disposition
    response["ETag"] = etag
    response["Content-Security-Policy"] = FILE_CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    # Kept by the browser, but asked again each time: access is checked on every request.
    response["Cache-Control"] = "private, no-cache"
    return response
