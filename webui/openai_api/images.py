"""Images in /v1 messages, as data: URLs only: read as the page's uploads are, sent as its attachments are.

No URL is ever fetched. An image for a model that reads none is refused before any is read. They are stored as
attachments only with a stored exchange.

Inside the server a /v1 message with images is the page's {"role", "content", "images": [...]} (attachments/prompt.py):
its images first as the request brought them (Part), then, once its model is known to read them, as Pictures read in
memory (Read). Their files are written only when WEBUI_API_STORE keeps the exchange (see keep): otherwise nothing of
them outlives the request.
"""
import base64
import binascii
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext

from ..attachments import files, intake, records
from ..attachments.prompt import Picture, Vision
from ..cooperative import in_native_thread
from ..errors import UserError

# The formats OpenAI's API takes images in, as a data: URL names them, and the extension of the name each goes by
# (a stored one's download name takes the extension of its re-encoding).
MEDIA_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/jpg": "jpg", "image/webp": "webp", "image/gif": "gif"}


@dataclass
class Part:
    """An image part of a message as the request brought it: where it is in the request, its claimed type, its bytes."""

    param: str
    media_type: str
    data: bytes


@dataclass(eq=False)
class Read(Picture):
    """An image of a message read in memory (see intake.examine); `files`, (digest, bytes) of its re-encoding and its
    thumbnail, are written only when the exchange is stored."""

    files: list = field(default_factory=list)


def part(content_part, param):
    """The image of an image_url content part, {"url": …} or the URL alone: a data: URL's bytes, decoded. Any other URL
    is refused, never fetched: a request cannot make the server reach into the network it sits in."""
    url = content_part.get("image_url")
    url = url.get("url") if isinstance(url, dict) else url
    if not isinstance(url, str):
        message = _("An image_url part holds its image as {\"image_url\": {\"url\": \"data:image/png;base64,…\"}}.")
        raise UserError(message, param=param)
    if url[:5].lower() != "data:":
        message = _("This server never fetches URLs: send the image itself, as a data:image/png;base64,… URL.")
        raise UserError(message, param=param)
    header, _comma, payload = url[5:].partition(",")
    media_type, *parameters = (value.strip() for value in header.lower().split(";"))
    if media_type not in MEDIA_TYPES or parameters[-1:] != ["base64"]:
        message = _("An image must be a PNG, JPEG, WebP or GIF image, sent as a data:image/…;base64,… URL.")
        raise UserError(message, param=param)
    try:
        # Base64 wrapped over lines, as the `base64` command writes it, is read too: whitespace is all that is dropped.
        data = base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        message = _("The image’s data: URL does not hold valid base64 (standard base64, with + and /, not URL-safe).")
        raise UserError(message, param=param) from None
    return Part(param, media_type, data)


def parts_of(messages):
    """The images of all the messages, in order."""
    return [image for message in messages for image in message.get("images", ())]


def check_count(messages):
    """Refuse more images in one request than a message of the page may carry: each request brings them all again."""
    limit = current_app.config["WEBUI_MAX_ATTACHMENTS_PER_MESSAGE"]
    images = parts_of(messages)
    if len(images) > limit:
        message = ngettext(
            "A request may carry at most %(num)d image.", "A request may carry at most %(num)d images.", limit
        )
        raise UserError(message, param=images[limit].param)


def read(owner, image):
    """A Part read as an upload of `owner` is (by its content, re-encoded in a child process), in memory; a refusal
    names the part."""
    name = f"image.{MEDIA_TYPES[image.media_type]}"
    try:
        attachment, stored = intake.examine(owner, name, image.media_type, image.data)
    except UserError as error:
        error.details.setdefault("param", image.param)
        raise
    return Read(attachment, stored)


def read_all(owner, provider, model, messages):
    """The messages with their images read (see read), when the model reads images: refused before any is read, or
    anything sent, when it does not."""
    images = parts_of(messages)
    if not images:
        return messages
    Vision(provider, model).check(messages, param=images[0].param)
    return [{**m, "images": [read(owner, image) for image in m["images"]]} if m.get("images") else m for m in messages]


def write_files(messages):
    """Write the files of the messages' images, before the transaction that adds their rows (see keep) holds the
    write lock only to check that they are still there."""
    for picture in parts_of(messages):
        in_native_thread(files.put_all, files.folder(), picture.files)


def keep(db, message_id, message):
    """Store the images of `message` (read by read_all) as attachments of its owner that the stored message
    `message_id` carries, within the owner's quota, inside the caller's transaction that writes the message."""
    images = message.get("images", ())
    quota = current_app.config["WEBUI_MAX_ATTACHMENT_BYTES_PER_USER"]
    for picture in images:
        records.insert(db, picture.attachment, picture.files, quota)
    records.link(db, message_id, [picture.attachment.id for picture in images])
