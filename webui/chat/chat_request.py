"""The chat request: its fields checked, as a chat frame sends them (plain messages or a stored conversation's turn)."""
from dataclasses import dataclass, field

from flask_babel import gettext as _

from ..errors import bad_request
from .frames import request_id_of, valid_id
from .options import parse_options

ROLES = ("system", "user", "assistant")
# What each action of a stored conversation needs: (a message_id, the text of a message).
ACTION_FIELDS = {"send": (False, True), "regenerate": (True, False), "continue": (True, False), "edit": (True, True)}


@dataclass
class ChatRequest:
    """A validated chat request: plain `messages`, or a turn of a stored conversation."""

    request_id: object
    provider: str | None
    model: str | None
    messages: list | None
    options: dict
    stored: bool = False
    conversation_id: str | None = None
    action: str = "send"
    message_id: str | None = None
    content: str | None = None
    system_prompt: str | None = None
    # The ids of the files the user's message carries, uploaded with POST /api/attachments; not checked yet.
    attachments: list = field(default_factory=list)


def parse_messages(messages):
    """Check a list of {"role", "content"} messages."""
    if not isinstance(messages, list) or not messages:
        raise bad_request(_("“messages” must be a non-empty list."))
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ROLES or not isinstance(message.get("content"), str):
            raise bad_request(_("Each message needs a role (system, user or assistant) and text content."))
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def parse_attachments(frame):
    """The attachment ids of a chat frame: a list of ids, [] when absent (each is checked against its owner later)."""
    ids = frame.get("attachments")
    if ids is None:
        return []
    if not isinstance(ids, list) or not all(valid_id(value) for value in ids):
        raise bad_request(_("“attachments” must be a list of attachment ids."))
    return ids


def parse_content(frame, attachments):
    """The text of a new user message: not blank, unless the message carries files (then it may be empty or absent)."""
    content = frame.get("content")
    if attachments and content is None:
        return ""
    if not isinstance(content, str) or not (content.strip() or attachments):
        raise bad_request(_("“content” must be the text of the message."))
    return content


def parse_turn(frame):
    """Check the fields of a chat frame for a stored conversation; they depend on its action."""
    action = frame.get("action", "send")
    if action not in ACTION_FIELDS:
        raise bad_request(_("Unknown action “%(action)s”.", action=str(action)[:40]))
    needs_message, needs_content = ACTION_FIELDS[action]
    if "messages" in frame:
        raise bad_request(_("Send either “messages” or “conversation_id”, not both."))
    conversation_id = frame["conversation_id"]
    if not (valid_id(conversation_id) or (conversation_id is None and action == "send")):
        raise bad_request(_("“conversation_id” is missing or invalid."))
    message_id = frame.get("message_id")
    if needs_message and not valid_id(message_id):
        raise bad_request(_("“message_id” is missing or invalid."))
    # A new conversation may start with the settings the person chose before sending anything.
    starts_conversation = conversation_id is None
    optional = (("message_id", needs_message), ("content", needs_content), ("attachments", needs_content))
    for name, needed in optional + (("system_prompt", starts_conversation),):
        # An empty list of attachments is as good as none, whatever the action.
        if not needed and frame.get(name) not in (None, []):
            raise bad_request(_("“%(name)s” is not used with this action.", name=name))
    attachments = parse_attachments(frame)
    return {
        "conversation_id": conversation_id,
        "action": action,
        "message_id": message_id,
        "content": parse_content(frame, attachments) if needs_content else None,
        "system_prompt": frame.get("system_prompt"),
        "attachments": attachments,
    }


def parse_chat(frame):
    """Validate a chat frame: with `conversation_id` (even null) it is a turn of a stored conversation."""
    request_id = request_id_of(frame)
    for key in ("provider", "model"):
        if frame.get(key) is not None and not isinstance(frame[key], str):
            raise bad_request(_("“%(name)s” must be a string.", name=key))
    common = (request_id, frame.get("provider"), frame.get("model"))
    options = parse_options(frame.get("options"))
    if "conversation_id" in frame:
        return ChatRequest(*common, None, options, stored=True, **parse_turn(frame))
    return ChatRequest(*common, parse_messages(frame.get("messages")), options, attachments=parse_attachments(frame))
