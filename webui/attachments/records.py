"""The attachments' rows: added within a quota, found for their owner only, linked to messages, shown as JSON.

Queries are Core expressions, compiled once per database.
"""
import secrets
import time
from dataclasses import dataclass, fields

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import Integer, Text, bindparam, delete, exists, func, insert, or_, select

from ..cooperative import in_native_thread
from ..errors import UserError
from ..storage.conversations import iso
from ..storage.database import transaction
from ..storage.schema import attachment_garbage, attachments, message_attachments
from ..storage.search import json_list, listed
from . import files

MIB = 1024 * 1024


@dataclass
class Attachment:
    """One attachment as its row has it; `data` holds its stored bytes where they are in memory: an image's once
    for_message() has read them, any file's just read by intake."""

    id: str
    owner: str
    hash: str
    name: str
    kind: str
    media_type: str
    size: int
    created_at: float
    thumbnail_hash: str = None
    text: str = None
    width: int = None
    height: int = None
    pages: int = None
    data: bytes = None


COLUMNS = [f.name for f in fields(Attachment) if f.name != "data"]


OWNER = attachments.c.owner == bindparam("owner_name")
USED_BYTES = select(func.coalesce(func.sum(attachments.c.size), 0)).where(OWNER)
INSERT = insert(attachments).values({name: bindparam(f"new_{name}") for name in COLUMNS})
OWNED = select(attachments).where(attachments.c.id == bindparam("attachment_id"), OWNER)
SENT = select(message_attachments.c.position).where(message_attachments.c.attachment_id == bindparam("attachment_id")).limit(1)
DELETE = delete(attachments).where(attachments.c.id == bindparam("attachment_id"))
UNSENT_BEFORE = delete(attachments).where(
    attachments.c.created_at < bindparam("before"), ~exists().where(message_attachments.c.attachment_id == attachments.c.id)
)
DELETE_OWNED = delete(attachments).where(OWNER)
# The link is written only if the attachment is still there (see link).
LINK = insert(message_attachments).from_select(
    ["message_id", "attachment_id", "position"],
    select(bindparam("message_id", type_=Text), attachments.c.id, bindparam("at", type_=Integer))
    .where(attachments.c.id == bindparam("attachment_id")),
)
listed_messages = listed("message_ids")
CARRIED = (
    select(message_attachments.c.message_id, attachments)
    .join_from(message_attachments, attachments, attachments.c.id == message_attachments.c.attachment_id)
    .where(message_attachments.c.message_id.in_(select(listed_messages.c.value)))
    .order_by(message_attachments.c.message_id, message_attachments.c.position)
)


def named(digest):
    """Whether an attachment's row names the file `digest` (a column or a value of another table)."""
    return exists().where(or_(attachments.c.hash == digest, attachments.c.thumbnail_hash == digest))


GARBAGE = select(attachment_garbage.c.hash).where(~named(attachment_garbage.c.hash))
FORGET_GARBAGE = delete(attachment_garbage)
listed_digests = listed("digests")
UNNAMED = select(listed_digests.c.value).where(~named(listed_digests.c.value))


def from_row(row):
    """The Attachment of a row of the attachments table."""
    return Attachment(**{name: row[name] for name in COLUMNS})


def attachment_json(attachment):
    """An attachment as the API shows it: `type` is the media type it is served with, `chars` its text's length."""
    return {
        "id": attachment.id,
        "name": attachment.name,
        "type": attachment.media_type,
        "kind": attachment.kind,
        "size": attachment.size,
        "width": attachment.width,
        "height": attachment.height,
        "pages": attachment.pages,
        "chars": len(attachment.text) if attachment.text is not None else None,
        "created_at": iso(attachment.created_at),
    }


def not_found():
    """The one answer for an attachment that does not exist or is someone else's."""
    return UserError(_("There is no such attachment."), code="not_found")


def used_bytes(db, owner):
    """How many bytes the owner's attachments take."""
    return db.execute(USED_BYTES, {"owner_name": owner}).fetchone()[0]


def check_room(db, owner, needed, quota):
    """Refuse a file of `needed` bytes that would take the owner's attachments past `quota` (0: no limit)."""
    if not quota:
        return
    used = used_bytes(db, owner)
    if used + needed <= quota:
        return
    mib = {"used": used / MIB, "quota": quota / MIB, "needed": needed / MIB}
    message = _(
        "Your attachments take %(used).1f MiB of the %(quota).1f MiB this server keeps for you, so this file"
        " (%(needed).1f MiB) does not fit: delete conversations with files you no longer need.",
        **mib,
    )
    raise UserError(message, code="over_quota")


def insert(db, attachment, stored, quota):
    """Add a new attachment's row within the owner's `quota` and make sure its files (`stored`: (digest, bytes) pairs)
    are there, inside the caller's transaction, so no clean-up can remove them between the two; returns the
    attachment, its id given."""
    attachment.id = secrets.token_urlsafe(16)
    attachment.created_at = time.time()
    check_room(db, attachment.owner, attachment.size, quota)
    db.execute(INSERT, {f"new_{name}": getattr(attachment, name) for name in COLUMNS})
    in_native_thread(files.put_all, files.folder(), stored)
    return attachment


def add(db, attachment, stored, quota):
    """Store a new attachment (see insert) in a transaction of its own."""
    with transaction(db):
        return insert(db, attachment, stored, quota)


def owned(db, owner, attachment_id):
    """The owner's attachment with this id, else not_found."""
    row = db.execute(OWNED, {"attachment_id": attachment_id, "owner_name": owner}).fetchone()
    if row is None:
        raise not_found()
    return from_row(row)


def delete_unsent(db, owner, attachment_id):
    """Delete the owner's attachment, if no message carries it (one that does goes with its conversation)."""
    with transaction(db):
        owned(db, owner, attachment_id)
        if db.execute(SENT, {"attachment_id": attachment_id}).fetchone():
            message = _("This file was sent with a message: it goes when its conversation is deleted.")
            raise UserError(message, code="in_use")
        db.execute(DELETE, {"attachment_id": attachment_id})


def remove_unsent(db, before):
    """Delete the attachments uploaded before `before` (a time.time()) that no message carries; how many."""
    return db.execute(UNSENT_BEFORE, {"before": before}).rowcount


def delete_owned(db, owner):
    """Delete every attachment of `owner`, sent or not (an account's end); how many."""
    return db.execute(DELETE_OWNED, {"owner_name": owner}).rowcount


def for_message(db, owner, ids):
    """The attachments a new message of `owner` carries, in the order of `ids`, each image's stored bytes read: every
    id must be the owner's (not_found otherwise, as for an id that does not exist), none twice, at most
    WEBUI_MAX_ATTACHMENTS_PER_MESSAGE."""
    limit = current_app.config["WEBUI_MAX_ATTACHMENTS_PER_MESSAGE"]
    if len(ids) > limit:
        message = ngettext(
            "A message may carry at most %(num)d file.", "A message may carry at most %(num)d files.", limit
        )
        raise UserError(message, code="bad_request")
    if len(set(ids)) != len(ids):
        raise UserError(_("A message carries each file once."), code="bad_request")
    attachments = [owned(db, owner, attachment_id) for attachment_id in ids]
    for attachment in attachments:
        if attachment.kind == "image":
            attachment.data = read(attachment)
    return attachments


def read(attachment):
    """The attachment's stored bytes (an image's re-encoding; a text file or PDF as it came); not_found if its file is
    gone."""
    data = in_native_thread(files.read, files.folder(), attachment.hash)
    if data is None:
        raise not_found()
    return data


def link(db, message_id, ids):
    """Record that the message carries these attachments, in this order: inside the caller's transaction that writes
    the message, after for_message() has checked them. One deleted since (the clean-up of unsent uploads, its owner's
    DELETE) is not_found, and the caller's transaction is rolled back."""
    for position, attachment_id in enumerate(ids):
        linked = db.execute(LINK, {"message_id": message_id, "at": position, "attachment_id": attachment_id}).rowcount
        if not linked:
            raise not_found()


def carried(db, message_ids):
    """message id -> the Attachments it carries, in order, for the messages that carry any (their bytes not read)."""
    rows = db.execute(CARRIED, {"message_ids": json_list(message_ids)})
    found = {}
    for row in rows:
        found.setdefault(row["message_id"], []).append(from_row(row))
    return found


def of_messages(db, message_ids):
    """message id -> the JSON of the attachments it carries, in order, for the messages that carry any."""
    return {message_id: [attachment_json(a) for a in files] for message_id, files in carried(db, message_ids).items()}


def garbage(db):
    """The digests of deleted attachments' files that no row names any more (inside the caller's transaction)."""
    return [row[0] for row in db.execute(GARBAGE)]


def forget_garbage(db):
    """Empty the list of files to check (inside the transaction that removed the unused ones)."""
    db.execute(FORGET_GARBAGE)


def unnamed(db, names):
    """Those of these digests that no row names."""
    return [row[0] for row in db.execute(UNNAMED, {"digests": json_list(names)})]
