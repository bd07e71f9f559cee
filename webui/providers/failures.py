"""What goes wrong upstream: failures kept apart from their wording, error bodies read, and both put into words."""
import email.utils
import json
import math
import re
import time

from flask_babel import gettext as _


class Failure(Exception):
    """What went wrong upstream, kept apart from its wording so each reader gets it in their language."""

    def __init__(self, code, **params):
        """Keep the error code and the facts its message needs."""
        super().__init__(code)
        self.code = code
        self.params = params


MESSAGES = {
    "auth_failed": lambda p: _("%(name)s rejected the key (HTTP %(status)d): %(detail)s", **p),
    "unknown_model": lambda p: _("%(name)s does not know the model “%(model)s” (HTTP 404): %(detail)s", **p),
    "not_found": lambda p: _(
        "%(name)s has nothing at %(path)s (HTTP 404): check its base URL, or list its models in the config file.", **p
    ),
    "rate_limited": lambda p: (
        _("%(name)s is limiting requests: try again in %(seconds)d s.", **p)
        if p.get("seconds") is not None
        else _("%(name)s is limiting requests: try again later.", **p)
    ),
    "upstream_error": lambda p: (
        _("%(name)s failed (HTTP %(status)d): %(detail)s", **p) if p.get("status") else _("%(name)s failed: %(detail)s", **p)
    ),
    "upstream_rejected": lambda p: _("%(name)s refused the request (HTTP %(status)d): %(detail)s", **p),
    "unreachable": lambda p: _("Cannot connect to %(name)s: is the server running, and is its base URL right?", **p),
    "timeout": lambda p: _("No answer from %(name)s for %(seconds)s s.", **p),
    "not_api": lambda p: _(
        "%(name)s answered %(path)s with a web page, not JSON: is its base URL the address of its API (for an "
        "OpenAI-compatible server it usually ends in /v1)?",
        **p,
    ),
    "bad_stream": lambda p: _("%(name)s sent an answer that cannot be read: %(detail)s", **p),
    "interrupted": lambda p: _("The answer from %(name)s was cut off before it finished.", **p),
    "context_exceeded": lambda p: _(
        "%(name)s found the conversation too long for its context, even with older messages left out: %(detail)s", **p
    ),
}
# How servers say a prompt does not fit their context: OpenAI, vLLM and llama-cpp-python ("This model's maximum context
# length is N tokens. However, your messages resulted in M tokens", code context_length_exceeded), llama.cpp's server
# (type exceed_context_size_error, with n_ctx and n_prompt_tokens), and llama.cpp's own "Requested tokens (M) exceed
# context window of N".
OVERFLOW_WORDS = re.compile(r"context (length|window|size)|maximum context|exceed_context", re.I)
LIMIT_NUMBERS = [re.compile(r"maximum context length is (\d+)", re.I), re.compile(r"context window of (\d+)", re.I)]
PROMPT_NUMBERS = [
    re.compile(r"resulted in (\d+) tokens", re.I), re.compile(r"requested (\d+) tokens", re.I),
    re.compile(r"requested tokens \((\d+)\)", re.I),
]


def retry_after(value):
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); None when absent or unreadable."""
    value = (value or "").strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, math.ceil(when.timestamp() - time.time()))


def error_message(data):
    """The message of an error object in the OpenAI, Ollama or FastAPI shape; None when it holds none."""
    for key in ("error", "detail", "message"):
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("message") or json.dumps(value)
        if value:
            return str(value)
    return None


def error_text(body):
    """What an error body says: the message of a JSON error object, or the text itself."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text
    return (error_message(data) if isinstance(data, dict) else None) or text


def json_object(text):
    """Parse one JSON object of an answer; anything else makes the answer unreadable."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise Failure("bad_stream", detail=text if isinstance(text, str) else text.decode("utf-8", "replace"))
    return data


def raise_if_error(event):
    """An error object inside a stream or answer fails the request with the server's message."""
    if event.get("error"):
        raise Failure("upstream_error", detail=error_message(event))


def first_number(patterns, text):
    """The number the first matching pattern finds in `text`, or None."""
    for pattern in patterns:
        found = pattern.search(text)
        if found:
            return int(found[1])
    return None


def overflow(body):
    """A Failure for an error body that says the prompt is too long for the server's context (with the context length
    and the prompt's tokens when it states them), or None for any other error."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    error = error if isinstance(error, dict) else {}
    detail = error_text(body)
    named = error.get("code") == "context_length_exceeded" or error.get("type") == "exceed_context_size_error"
    if not (named or OVERFLOW_WORDS.search(detail)):
        return None
    number = lambda key: error[key] if isinstance(error.get(key), int) and error[key] > 0 else None  # noqa: E731
    limit = number("n_ctx") or first_number(LIMIT_NUMBERS, detail)
    prompt = number("n_prompt_tokens") or first_number(PROMPT_NUMBERS, detail)
    return Failure("context_exceeded", limit=limit, prompt=prompt, detail=detail)
