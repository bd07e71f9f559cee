"""Checks for what a client may store about a conversation (PATCH and import): each raises a UserError saying what is wrong."""
import json

from flask_babel import gettext as _
from sqlalchemy import bindparam, select

from ..chat.options import parse_options
from ..errors import bad_request
from . import conversations
from .schema import messages

MAX_TITLE_CHARS = 200
MAX_SYSTEM_PROMPT_CHARS = 32 * 1024
MAX_NAME_CHARS = 200
FIELDS = ("title", "system_prompt", "options", "provider", "model")
IN_CONVERSATION = select(messages.c.id).where(
    messages.c.id == bindparam("message_id"), messages.c.conversation_id == bindparam("conversation_id")
)


def one_line(value, most, message):
    """`value` as one line of text, its spaces collapsed; a bad_request with `message` when that is empty or longer
    than `most` characters."""
    line = " ".join(value.split()) if isinstance(value, str) else ""
    if not line or len(line) > most:
        raise bad_request(message)
    return line


def title(value):
    """A title: one line of text, not empty."""
    return one_line(value, MAX_TITLE_CHARS, _("The title must be text of 1 to %(n)d characters.", n=MAX_TITLE_CHARS))


def system_prompt(value):
    """A system prompt: text, possibly empty."""
    if not isinstance(value, str) or len(value) > MAX_SYSTEM_PROMPT_CHARS:
        raise bad_request(_("The system prompt must be text of at most %(n)d characters.", n=MAX_SYSTEM_PROMPT_CHARS))
    return value


def name(value, field):
    """A provider or model name, or None for the default."""
    if value is not None and not (isinstance(value, str) and 0 < len(value) <= MAX_NAME_CHARS):
        raise bad_request(_("“%(name)s” must be a name of at most %(n)d characters, or null.", name=field, n=MAX_NAME_CHARS))
    return value


def settings(data):
    """The conversation settings present in `data`, checked, as column values."""
    checks = {
        "title": title,
        "system_prompt": system_prompt,
        "options": lambda value: parse_options(value if value is not None else {}),
        "provider": lambda value: name(value, "provider"),
        "model": lambda value: name(value, "model"),
    }
    return {field: checks[field](data[field]) for field in FIELDS if field in data}


def changes(db, conversation, body):
    """The columns a PATCH body changes; the leaf moves to the newest message under `leaf_id`."""
    if not isinstance(body, dict):
        raise bad_request(_("The request must be a JSON object."))
    unknown = sorted(set(body) - set(FIELDS) - {"leaf_id"})
    if unknown:
        raise bad_request(_("Unknown field “%(name)s”.", name=unknown[0][:40]))
    columns = settings(body)
    if "options" in columns:
        columns["options"] = json.dumps(columns["options"])
    if "leaf_id" in body:
        leaf = body["leaf_id"]
        message = isinstance(leaf, str) and db.execute(
            IN_CONVERSATION, {"message_id": leaf, "conversation_id": conversation["id"]}
        ).fetchone()
        if not message:
            raise bad_request(_("“leaf_id” is not a message of this conversation."))
        columns["leaf_id"] = conversations.latest_leaf_under(db, leaf)
    return columns
