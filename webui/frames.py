"""What the page sends over /ws: each frame parsed and checked."""
import json
import re
from dataclasses import dataclass, field

from flask_babel import gettext as _

from .errors import UserError
from .storage.conversations import ID
from .options import parse_options

ROLES = ("system", "user", "assistant")
# Where the request id of a frame too large to parse is looked for: its first or second member (after "type").
LEADING_CHARS = 400
LEADING_REQUEST_ID = re.compile(r'\s*\{\s*(?:"type"\s*:\s*"\w{1,20}"\s*,\s*)?"request_id"\s*:\s*("(?:[^"\\]|\\.){1,128}"|-?\d{1,20})')
# What each action of a stored conversation needs: (a message_id, the text of a message).
ACTION_FIELDS = {"send": (False, True), "regenerate": (True, False), "continue": (True, False), "edit": (True, True)}


@dataclass
class ChatRequest:
    """A validated chat frame: plain `messages`, or a turn of a stored conversation."""

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


def bad_request(message):
    """A UserError with the bad_request code."""
    return UserError(message, code="bad_request")


def parse_json(text):
    """Decode a client's JSON (a frame or a request body), refusing malformed and too deeply nested input."""
    try:
        return json.loads(text)
    except ValueError:
        raise bad_request(_("The request is not valid JSON.")) from None
    except RecursionError:
        # The decoder recurses once per level: nesting deeper than the interpreter's stack allows is refused here,
        # before anything else walks the value.
        raise bad_request(_("The request is nested too deeply.")) from None


def parse_frame(raw, max_bytes):
    """Decode one client frame into a dict, refusing binary, oversized and malformed frames."""
    if not isinstance(raw, str):
        raise bad_request(_("Frames must be JSON text."))
    if len(raw) > max_bytes or len(raw.encode()) > max_bytes:
        message = _("The request is too large (the limit is %(kib)d KiB).", kib=max_bytes // 1024)
        raise UserError(message, code="too_large", request_id=leading_request_id(raw))
    frame = parse_json(raw)
    if not isinstance(frame, dict):
        raise bad_request(_("The request must be a JSON object."))
    return frame


def leading_request_id(raw):
    """The request id at the start of a frame too large to parse (the page writes it first, after "type"), or None:
    the refusal is then answered as its request."""
    found = LEADING_REQUEST_ID.match(raw, 0, LEADING_CHARS)
    try:
        request_id = json.loads(found[1]) if found else None
    except ValueError:
        return None
    return request_id if valid_request_id(request_id) else None


def valid_request_id(value):
    """A request id is a short string or an integer."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and 0 < len(value) <= 128)


def parse_messages(messages):
    """Check a list of {"role", "content"} messages."""
    if not isinstance(messages, list) or not messages:
        raise bad_request(_("“messages” must be a non-empty list."))
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ROLES or not isinstance(message.get("content"), str):
            raise bad_request(_("Each message needs a role (system, user or assistant) and text content."))
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def valid_id(value):
    """Conversation and message ids are short strings of letters, digits, - and _."""
    return isinstance(value, str) and ID.fullmatch(value) is not None


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


def request_id_of(frame):
    """The frame's request id, which must be valid."""
    if not valid_request_id(frame.get("request_id")):
        raise bad_request(_("“request_id” is missing or invalid."))
    return frame["request_id"]


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


def parse_resume(frame):
    """Validate a resume frame: returns (request_id, message_id, after)."""
    request_id = request_id_of(frame)
    if not valid_id(frame.get("message_id")):
        raise bad_request(_("“message_id” is missing or invalid."))
    after = frame.get("after", 0)
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise bad_request(_("“after” must be the number of the last chunk received, or 0."))
    return request_id, frame["message_id"], after
