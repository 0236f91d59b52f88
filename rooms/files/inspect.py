"""What an uploaded file is, from its content alone, and what is stored of it.

The client's Content-Type and the file's extension are claims. The type is detected from
the bytes: images that Pillow decodes (JPEG, PNG, GIF, WebP) are decoded and encoded again,
which leaves no metadata (EXIF, GPS position, comments) and nothing appended to the pixels
(an image that is also an HTML page or a script); a few other types are recognised by their
signature (PDF, ZIP, plain UTF-8 text); everything else is application/octet-stream, served
as a download. A file whose name says it is one of those types but whose content is not is
refused, and so is an image with markup in it (a polyglot), an empty file
and an image over the pixel limit (a decompression bomb), each with a RefusedFile saying why.
"""

from __future__ import annotations

import io
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from rooms.models.uploads import MAX_UPLOAD_NAME_LENGTH

# Pillow format -> (content type, extension). Only these are decoded; SVG is not an image
# here (it is a document that can run script) and is stored as a download.
IMAGE_FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}
IMAGE_TYPES = frozenset(content_type for content_type, _ in IMAGE_FORMATS.values())
# Other types recognised by their first bytes: content type, extension, signature.
SIGNATURES = (
    ("application/pdf", "pdf", b"%PDF-"),
    ("application/zip", "zip", b"PK\x03\x04"),
)
TEXT_TYPE = ("text/plain", "txt")
BINARY_TYPE = ("application/octet-stream", "bin")
# What a name's extension claims, for the types above.
CLAIMED_BY_EXTENSION = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "pdf": "application/pdf",
    "zip": "application/zip",
    "txt": "text/plain",
}
# Markup or script inside an image: the sign of a polyglot (an image that a browser which
# sniffs would run as a page). Searched in the whole file: long enough that compressed
# pixels do not spell them by chance (none in 40 buffers of 25 MB of random bytes).
MARKUP = re.compile(
    rb"<(?:script|iframe|object|embed|!doctype|\?xml)|<(?:html|body|head)[\s/>]|javascript:",
    re.IGNORECASE,
)
# Shorter tags, searched where browsers sniff a page: the first bytes.
SNIFFED_MARKUP = re.compile(rb"<(?:svg|img|meta|style|link|base|form)[\s/>]", re.IGNORECASE)
SNIFF_BYTES = 1024
# Text is detected from this much of the file.
TEXT_SNIFF_BYTES = 64 * 1024
THUMBNAIL_PX = 320
# An animation may have at most this many frames; all of them count against the pixel limit.
MAX_FRAMES = 500


class RefusedFile(Exception):
    """An upload the site will not store; says why (the status is 400, or 413 for size)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Inspected:
    """What is stored of an upload: its content, detected type, and for an image its size
    and thumbnail."""

    content_type: str
    extension: str
    # The re-encoded image, or None: store the upload's own bytes.
    data: bytes | None = None
    width: int | None = None
    height: int | None = None
    thumbnail: bytes | None = None


def clean_name(name: str) -> str:
    """The uploader's file name as it is shown: the last path component, without control,
    invisible or direction-changing characters, at most MAX_UPLOAD_NAME_LENGTH characters
    (the extension kept). Never used as a path: the storage's names are random."""
    name = unicodedata.normalize("NFC", name)
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(
        char
        for char in name
        if unicodedata.category(char) not in ("Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp")
    )
    name = " ".join(name.split()).strip(". ")
    if len(name) > MAX_UPLOAD_NAME_LENGTH:
        stem, ext = os.path.splitext(name)
        ext = ext[:16]
        name = stem[: MAX_UPLOAD_NAME_LENGTH - len(ext)].rstrip() + ext
    return name or "file"


def claimed_type(name: str) -> str | None:
    """The type the name's extension claims, if it is one we recognise. (The browser's
    Content-Type is not even a claim: it guesses from the same extension.)"""
    extension = os.path.splitext(name)[1].lstrip(".").lower()
    return CLAIMED_BY_EXTENSION.get(extension)


def inspect(file: IO[bytes], size: int, name: str) -> Inspected:
    """Detect what the file is and make what is stored of it; RefusedFile if it is refused."""
    if size == 0:
        raise RefusedFile("the file is empty")
    file.seek(0)
    head = file.read(TEXT_SNIFF_BYTES)
    file.seek(0)
    claimed = claimed_type(name)
    inspected = _image(file) if _looks_like_image(head) else None
    if inspected is None:
        inspected = _other(head, size)
    if _contradicts(claimed, inspected.content_type):
        assert claimed is not None
        what = claimed.split("/")[-1].upper() if claimed in IMAGE_TYPES else claimed
        raise RefusedFile(f"the file's content is not what its name says ({what})")
    return inspected


def _contradicts(claimed: str | None, detected: str) -> bool:
    """Whether the content is not what was claimed. An image named for another image format
    (a PNG screenshot saved as .jpg) is still an image, and text in another encoding than
    UTF-8 is still text (stored as a download)."""
    if claimed is None or claimed == detected:
        return False
    if claimed in IMAGE_TYPES:
        return detected not in IMAGE_TYPES
    if claimed == TEXT_TYPE[0]:
        return detected != BINARY_TYPE[0]
    return True


def _looks_like_image(head: bytes) -> bool:
    return head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")) or (
        head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    )


def _other(head: bytes, size: int) -> Inspected:
    for content_type, extension, signature in SIGNATURES:
        if head.startswith(signature):
            return Inspected(content_type, extension)
    if _is_text(head, complete=size <= len(head)):
        return Inspected(*TEXT_TYPE)
    return Inspected(*BINARY_TYPE)


def _is_text(head: bytes, complete: bool) -> bool:
    """UTF-8 without NUL or other control characters but tab, newlines and form feed."""
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The sample may end inside a character.
        if complete or exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return not any(ord(c) < 32 and c not in "\t\n\r\f" for c in text)


def _image(file: IO[bytes]) -> Inspected:
    """Decode, check and encode again an image (its signature said it is one)."""
    max_pixels = settings.CHAT_MAX_IMAGE_PIXELS
    data = file.read()
    if MARKUP.search(data) or SNIFFED_MARKUP.search(data, 0, SNIFF_BYTES):
        raise RefusedFile("the image contains markup or script (a polyglot): refused")
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own limit and raises above twice that: ours is stricter.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(IMAGE_FORMATS))
            width, height = image.size
            frames = getattr(image, "n_frames", 1)
            if frames > MAX_FRAMES or width * height * frames > max_pixels:
                raise RefusedFile(
                    f"the image is too large: at most {max_pixels:,} pixels in all", status=413
                )
            image.load()
            encoded = _encode(image)
            thumbnail = _thumbnail(image)
    except RefusedFile:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise RefusedFile(
            f"the image is too large: at most {max_pixels:,} pixels in all", status=413
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        # Truncated, corrupt, or a format Pillow would not decode for us.
        raise RefusedFile("the file looks like an image but is not a valid one") from None
    content_type, extension = IMAGE_FORMATS[image.format or ""]
    return Inspected(content_type, extension, encoded, width, height, thumbnail)


def _encode(image: Image.Image) -> bytes:
    """The image encoded again from its pixels, in its own format, without its metadata."""
    out = io.BytesIO()
    fmt = image.format or ""
    animated = getattr(image, "n_frames", 1) > 1
    if fmt == "JPEG":
        # The orientation the camera wrote is applied to the pixels; EXIF goes.
        upright = ImageOps.exif_transpose(image)
        upright = upright.convert("RGB") if upright.mode not in ("RGB", "L") else upright
        upright.save(out, "JPEG", quality=90, optimize=True)
    elif fmt == "PNG":
        image.save(out, "PNG", optimize=not animated, save_all=animated)
    elif fmt == "GIF":
        image.save(out, "GIF", save_all=animated)
    else:
        image.save(out, "WEBP", quality=90, save_all=animated)
    return out.getvalue()


def _thumbnail(image: Image.Image) -> bytes:
    """A first-frame preview at most THUMBNAIL_PX on a side: PNG if it has transparency."""
    image.seek(0)
    preview = ImageOps.exif_transpose(image) if image.format == "JPEG" else image.copy()
    transparent = preview.mode in ("RGBA", "LA", "PA") or "transparency" in preview.info
    preview = preview.convert("RGBA" if transparent else "RGB")
    preview.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    out = io.BytesIO()
    preview.save(out, "PNG" if transparent else "JPEG", quality=85)
    return out.getvalue()
