"""Attachments in exported conversations: written out in base64 (or linked, in Markdown) and taken in again on import.

An imported file goes through intake.accept() as an upload does: its kind is decided by its content again, and the
limits and the owner's quota apply; an import refused after some of its files were stored deletes them again.
"""
import base64
import binascii
import logging
import re

from flask import current_app
from flask_babel import gettext as _

from ..errors import UserError
from ..storage import get_db
from ..storage.database import StorageError
from . import cleanup, intake, records

log = logging.getLogger(__name__)

# What could make markup or HTML of a file's name inside a link's text: escaped with a backslash, it is only text.
MARKUP = re.compile(r"([\\`*_\[\]<>&~!])")
URL = "/api/attachments/{id}"


def exported(db, owner, files):
    """The files a message carries (their JSON, see records.attachment_json) as an export holds them: each its name,
    media type and stored bytes in base64."""
    entries = []
    for file in files:
        attachment = records.owned(db, owner, file["id"])
        data = base64.b64encode(records.read(attachment)).decode("ascii")
        entries.append({"name": attachment.name, "type": attachment.media_type, "data": data})
    return entries


def markdown_links(files):
    """The files a message carries as Markdown: an image shown, any other file linked, each at its address here."""
    lines = [f"- {'!' if f['kind'] == 'image' else ''}[{escaped(f['name'])}]({URL.format(id=f['id'])})" for f in files]
    return "\n".join(lines)


def escaped(name):
    """A file's name as Markdown text."""
    return MARKUP.sub(r"\\\1", name)


def refusal(number, message, code="invalid_import"):
    """The refusal of an import for a file of its message `number`: one that cannot be read from it (invalid_import),
    or that the server does not take (the code of intake's refusal)."""
    return UserError(_("Message %(n)d: %(problem)s", n=number, problem=message), code=code)


def parse(items, number):
    """The files of an imported message (number `number`), checked for their shape only: [(name, type, bytes)]."""
    limit = current_app.config["WEBUI_MAX_ATTACHMENTS_PER_MESSAGE"]
    if not isinstance(items, list) or len(items) > limit:
        raise refusal(number, _("“attachments” must be a list of at most %(n)d files.", n=limit))
    files = []
    for item in items:
        shaped = isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("data"), str)
        if not shaped or not isinstance(item.get("type", ""), str):
            raise refusal(number, _("each file needs a text “name” and its bytes in base64 as “data”."))
        try:
            data = base64.b64decode(item["data"], validate=True)
        except (binascii.Error, ValueError):
            raise refusal(number, _("the “data” of “%(name)s” is not base64.", name=item["name"][:200])) from None
        files.append((item["name"], item.get("type", ""), data))
    return files


def accept_all(owner, messages):
    """Store the files of the imported messages (each {"files": [(name, type, bytes)], …}) as the owner's uploads:
    the ids of each message's files, in order. A file refused (by its content, a limit, the quota) refuses the import,
    saying which message, and the files stored before it are deleted again."""
    stored = []
    try:
        for number, message in enumerate(messages, 1):
            stored.append([])
            for name, claimed, data in message.get("files", ()):
                try:
                    stored[-1].append(intake.accept(owner, name, claimed, data).id)
                except UserError as e:
                    raise refusal(number, e.message, e.code) from None
    except BaseException:
        discard(owner, stored)
        raise
    return stored


def discard(owner, carried):
    """Delete the uploads of an import that was refused (`carried`: the ids of each message's files, which no message
    carries); what cannot be deleted now is left to the clean-up of unsent uploads."""
    db = get_db()
    try:
        for attachment_id in [attachment_id for ids in carried for attachment_id in ids]:
            records.delete_unsent(db, owner, attachment_id)
        cleanup.collect(db)
    except (StorageError, UserError) as error:
        log.warning("the files of a refused import wait for the clean-up: %s", error)
