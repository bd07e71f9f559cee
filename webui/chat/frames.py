"""The frame protocol of /ws: a frame decoded, its request id, a resume frame checked."""
import json
import re

from flask_babel import gettext as _

from ..errors import UserError, bad_request
from ..json_input import parse_json
from ..storage.conversations import ID

# The request id of a frame too large to parse, as the page writes it: in its first 400 characters, its first or
# second member (after "type").
LEADING_REQUEST_ID = re.compile(r'\s*\{\s*(?:"type"\s*:\s*"\w{1,20}"\s*,\s*)?"request_id"\s*:\s*("(?:[^"\\]|\\.){1,128}"|-?\d{1,20})')


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
    """The request id at the start of a frame too large to parse, or None: the refusal is then answered as its request."""
    found = LEADING_REQUEST_ID.match(raw, 0, 400)
    try:
        request_id = json.loads(found[1]) if found else None
    except ValueError:
        return None
    return request_id if valid_request_id(request_id) else None


def valid_request_id(value):
    """A request id is a short string or an integer."""
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and 0 < len(value) <= 128)


def valid_id(value):
    """Conversation, message and attachment ids are short strings of letters, digits, - and _."""
    return isinstance(value, str) and ID.fullmatch(value) is not None


def request_id_of(frame):
    """The frame's request id, which must be valid."""
    if not valid_request_id(frame.get("request_id")):
        raise bad_request(_("“request_id” is missing or invalid."))
    return frame["request_id"]


def parse_resume(frame):
    """Validate a resume frame: returns (request_id, message_id, after)."""
    request_id = request_id_of(frame)
    if not valid_id(frame.get("message_id")):
        raise bad_request(_("“message_id” is missing or invalid."))
    after = frame.get("after", 0)
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise bad_request(_("“after” must be the number of the last chunk received, or 0."))
    return request_id, frame["message_id"], after
