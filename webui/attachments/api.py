"""The attachments API: upload a file, fetch it (or an image's thumbnail) as its owner, delete one never sent."""
import time

from flask import Blueprint, current_app, jsonify, request, send_file
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.sansio.multipart import NEED_DATA, Data, Epilogue, Field, File, MultipartDecoder

from ..access.identity import current_owner
from ..access.security import count_request
from ..errors import bad_request
from ..storage import get_db
from . import cleanup, files, intake, records

bp = Blueprint("attachments", __name__, url_prefix="/api/attachments")
# Room for the multipart wrapping around the file (its boundary, part headers and name), on top of the file itself.
MULTIPART_BYTES = 64 * 1024
# A file opened from here runs no script and loads nothing, whatever a browser takes it for.
SANDBOX = "sandbox; default-src 'none'"
EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg"}
READ_BYTES = 64 * 1024


def body_limit(config):
    """The largest upload request: the largest file with its multipart wrapping."""
    return config["WEBUI_MAX_UPLOAD_BYTES"] + MULTIPART_BYTES


def parse_upload(decoder):
    """(field name, file name, claimed type, bytes) of each file of a multipart body, fed to `decoder` as it comes."""
    found, current = [], None
    while True:
        chunk = request.stream.read(READ_BYTES)
        decoder.receive_data(chunk or None)
        while (event := decoder.next_event()) is not NEED_DATA:
            if isinstance(event, File):
                current = [event.name, event.filename, event.headers.get("Content-Type", ""), []]
                found.append(current)
            elif isinstance(event, Field):
                current = None
            elif isinstance(event, Data) and current:
                current[3].append(event.data)
            elif isinstance(event, Epilogue):
                return [(name, filename, claimed, b"".join(data)) for name, filename, claimed, data in found]
        if not chunk:
            raise ValueError("the body ends inside the form")
        # A fast client's whole body is there at once: parsing it in one go would hold up everyone else.
        time.sleep(0)


def sent_files():
    """(file name, claimed type, bytes) of each file the multipart field `file` carries, parsed as the body is read, a
    piece at a time with a turn for the other greenlets between two."""
    config = current_app.config
    request.max_content_length = body_limit(config)
    boundary = request.mimetype_params.get("boundary", "")
    if request.mimetype != "multipart/form-data" or not boundary:
        return []
    if "form" in request.__dict__:
        # The body was read already, by a CSRF check that looked for the token among the form's fields.
        return [(part.filename, part.mimetype, part.read()) for part in request.files.getlist("file")]
    try:
        parts = parse_upload(MultipartDecoder(boundary.encode("latin-1")))
    except RequestEntityTooLarge:
        raise intake.too_large(config["WEBUI_MAX_UPLOAD_BYTES"]) from None
    except ValueError:
        raise bad_request(_("The upload is not a whole multipart form.")) from None
    return [(filename, claimed, data) for name, filename, claimed, data in parts if name == "file"]


@bp.post("")
def upload():
    """Store the multipart field `file` as an attachment of the caller's: 201 and what it is."""
    # Counted before the body is read: each upload holds its bytes several times over and may start a child process.
    count_request(window="webui.uploads", message=_("Too many files sent: wait a minute and try again."))
    sent = sent_files()
    if len(sent) != 1:
        raise bad_request(_("Send one file, in the form field “file”."))
    return jsonify(records.attachment_json(intake.accept(current_owner(), *sent[0]))), 201


def download_name(attachment, media_type):
    """The name a saved copy gets: the attachment's, with an image's extension made that of the type it is stored as."""
    extension = EXTENSIONS.get(media_type)
    if not extension:
        return attachment.name
    stem, dot, _old = attachment.name.rpartition(".")
    return (stem if dot and stem else attachment.name) + extension


def served(attachment, digest, media_type):
    """The stored file: inline only for an image this server re-encoded, else as a download; either way sandboxed,
    never sniffed, never cached."""
    path = files.path_of(files.folder(), digest)
    if not path.is_file():
        raise records.not_found()
    inline = attachment.kind == "image"
    name = download_name(attachment, media_type)
    # Flask adds "; charset=utf-8" to a text type, which is what a text attachment is.
    response = send_file(path, mimetype=media_type, as_attachment=not inline, download_name=name)
    response.headers["Content-Security-Policy"] = SANDBOX
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<attachment_id>")
def show(attachment_id):
    """The attachment's file, to its owner only (anyone else: 404, as for an id that does not exist)."""
    attachment = records.owned(get_db(), current_owner(), attachment_id)
    return served(attachment, attachment.hash, attachment.media_type)


@bp.get("/<attachment_id>/thumbnail")
def thumbnail(attachment_id):
    """An image's thumbnail (at most 320 × 320, in the image's format), to its owner only; other kinds have none."""
    attachment = records.owned(get_db(), current_owner(), attachment_id)
    if attachment.thumbnail_hash is None:
        raise records.not_found()
    return served(attachment, attachment.thumbnail_hash, attachment.media_type)


@bp.delete("/<attachment_id>")
def delete(attachment_id):
    """Delete an upload no message carries yet (a chip removed before sending): 204."""
    db = get_db()
    records.delete_unsent(db, current_owner(), attachment_id)
    cleanup.collect(db)
    return "", 204
