"""Taking in one file: checked, read and stored, or refused with nothing stored.

Text is decoded here, images and PDFs are read in a child process (jobs.py). The upload endpoint calls accept(), and
so can an import that brings files; /v1 reads the images of its messages with examine(), in memory.
"""
from flask import current_app
from flask_babel import gettext as _

from ..cooperative import in_native_thread
from ..errors import UserError
from ..storage import get_db
from . import files, jobs, records, sniff

MIB = 1024 * 1024


def too_large(limit, name=None):
    """The refusal of a file over WEBUI_MAX_UPLOAD_BYTES (`name` None: a body too large to parse)."""
    if name is None:
        message = _("The file is larger than %(mib).1f MiB, the most a file may be.", mib=limit / MIB)
    else:
        message = _("“%(name)s” is larger than %(mib).1f MiB, the most a file may be.", name=name, mib=limit / MIB)
    return UserError(message, code="too_large")


def text_attachment(name, data, config):
    """A UTF-8 text file: stored as it came, its text kept for the model."""
    # A character takes at most four bytes: a file of more is refused before it is decoded.
    too_long = len(data) > 4 * config["WEBUI_MAX_ATTACHMENT_CHARS"]
    if too_long or len(text := sniff.decode_text(name, data)) > config["WEBUI_MAX_ATTACHMENT_CHARS"]:
        raise jobs.refusal(name, {"error": "chars"}, config)
    return dict(kind="text", media_type=sniff.TEXT_TYPE, text=text), [data]


def pdf_attachment(name, data, config):
    """A PDF: stored as it came (served only as a download), its text extracted in a child process."""
    reading = jobs.read("pdf", name, data)
    text = reading.parts[0].decode("utf-8")
    return dict(kind="pdf", media_type="application/pdf", text=text, pages=reading.pages), [data]


def image_attachment(name, data, config):
    """An image: decoded and re-encoded in a child process; the re-encoding is stored, with a thumbnail."""
    reading = jobs.read("image", name, data)
    fields = dict(kind="image", media_type=reading.media_type, width=reading.width, height=reading.height)
    return fields, reading.parts


READERS = {"text": text_attachment, "pdf": pdf_attachment, "image": image_attachment}


def checked_name(filename, data, config):
    """The display name of a file that is neither empty nor larger than WEBUI_MAX_UPLOAD_BYTES."""
    name = sniff.display_name(filename)
    if not data:
        raise UserError(_("“%(name)s” is empty.", name=name), code="bad_attachment")
    if len(data) > config["WEBUI_MAX_UPLOAD_BYTES"]:
        raise too_large(config["WEBUI_MAX_UPLOAD_BYTES"], name)
    return name


def read(owner, name, claimed_type, data, config):
    """The file read by its content, in memory: a records.Attachment of `owner` without an id, its `data` the bytes to
    store, and its files as (digest, bytes) pairs (the stored bytes, then an image's thumbnail)."""
    kind = sniff.kind_of(name, claimed_type, data)
    details, parts = READERS[kind](name, data, config)
    stored = [(in_native_thread(files.digest, part), part) for part in parts]
    thumbnail = stored[1][0] if len(stored) > 1 else None
    attachment = records.Attachment(
        id=None, owner=owner, hash=stored[0][0], name=name, size=len(parts[0]), created_at=None, thumbnail_hash=thumbnail,
        data=parts[0], **details,
    )
    return attachment, stored


def examine(owner, filename, claimed_type, data):
    """A file checked and read as accept() checks and reads one, kept in memory only (see read): for what a model is
    sent without storing it, or stored later with records.insert()."""
    config = current_app.config
    return read(owner, checked_name(filename, data, config), claimed_type, data, config)


def accept(owner, filename, claimed_type, data):
    """Store the file `data` the owner sent under `filename` (the browser's `claimed_type` only checked against it):
    the new records.Attachment, or a UserError that says why not, with nothing stored."""
    config = current_app.config
    name = checked_name(filename, data, config)
    db = get_db()
    quota = config["WEBUI_MAX_ATTACHMENT_BYTES_PER_USER"]
    # A first look before reading the file, so a file that cannot fit costs no child process: exact for text and PDFs,
    # which are stored as they come, and near enough for an image, whose re-encoding is about as large.
    records.check_room(db, owner, len(data), quota)
    attachment, stored = read(owner, name, claimed_type, data, config)
    records.check_room(db, owner, attachment.size, quota)
    # Written before the transaction, which holds the write lock only to check that they are still there.
    in_native_thread(files.put_all, files.folder(), stored)
    return records.add(db, attachment, stored, quota)
