"""Clients' JSON, a WebSocket frame's or a request body's, decoded with malformed, too deep and too large input refused."""
import json

from flask import request
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge

from .errors import UserError, bad_request


def parse_json(text):
    """Decode a client's JSON, refusing malformed and too deeply nested input."""
    try:
        return json.loads(text)
    except ValueError:
        raise bad_request(_("The request is not valid JSON.")) from None
    except RecursionError:
        # The decoder recurses once per level: nesting deeper than the interpreter's stack allows is refused here,
        # before anything else walks the value.
        raise bad_request(_("The request is nested too deeply.")) from None


def json_body(limit):
    """The request's JSON body, read only up to `limit` bytes."""
    request.max_content_length = min(limit, request.max_content_length or limit)
    try:
        data = request.get_data(cache=False)
    except RequestEntityTooLarge:
        kib = request.max_content_length // 1024
        raise UserError(_("The request is too large (the limit is %(kib)d KiB).", kib=kib), code="too_large") from None
    return parse_json(data)
