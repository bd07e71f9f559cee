"""Errors meant for the person at the page: a stable code and a message that says what to do."""
import base64
import math
import re
import string
from functools import lru_cache

from flask import jsonify, request
from flask_babel import gettext as _


# The HTTP status of the codes that are not a plain bad request (400).
HTTP_STATUS = {
    "forbidden": 403, "not_found": 404, "too_large": 413, "rate_limited": 429, "over_quota": 507,
    # Attachments: a kind of file not read, a file that cannot be used, one a sent message holds, no reader free.
    "unsupported_type": 415, "bad_attachment": 422, "in_use": 409, "busy": 503,
    # Storage that cannot be used now: 503 asks to try again later, 507 says the disk is full.
    "storage_busy": 503, "storage_failed": 503, "storage_full": 507,
}


def json_error(code, message, status=None, headers=None, field=None):
    """The one shape of every refusal over HTTP: {"error": {"code", "message"}}, never a page or a trace; a refusal of
    one field of a request also names it (`field`), so that a form can show the message on that field."""
    error = {"code": code, "message": message, **({"field": field} if field else {})}
    return jsonify(error=error), status or HTTP_STATUS.get(code, 400), headers or {}


def user_error_response(error):
    """A UserError raised while handling a request, answered as JSON; nothing was changed."""
    headers = retry_after_header(error.details.get("retry_after"))
    return json_error(error.code, error.message, headers=headers, field=error.details.get("field"))


def web_refusal(error, offered=""):
    """(code, message) of the web layer's refusal of a request (werkzeug's HTTPException) in the user's language: no
    such address (then `offered`, what there is, if given), or a method the address does not take; any other keeps
    werkzeug's words."""
    if error.code == 404:
        return "not_found", " ".join(filter(None, [_("There is nothing at this address."), offered]))
    if error.code == 405:
        return "method_not_allowed", _("This address does not take %(method)s requests.", method=request.method)
    return error.name.lower().replace(" ", "_"), error.description


def retry_after_header(seconds):
    """Retry-After for a refusal that knows how long the caller is to wait (whole seconds, at least one), else none."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))} if seconds is not None else {}


class UserError(Exception):
    """A failure reported to the page as an error frame or JSON error."""

    code = "bad_request"

    def __init__(self, message, code=None, **details):
        """Keep the message (already in the user's language), the code and any details."""
        super().__init__(str(message))
        self.message = str(message)
        if code:
            self.code = code
        self.details = details


def bad_request(message):
    """A UserError with the bad_request code."""
    return UserError(message, code="bad_request")


class ProviderError(UserError):
    """A provider could not answer."""

    code = "provider_error"


class NeedsKeyError(ProviderError):
    """A provider that needs a key was not given one."""

    code = "needs_key"


# Things that look like credentials: "sk-…" style keys, bearer tokens, key=value pairs.
_SECRET_PATTERNS = [
    re.compile(r"\b(sk|pk|rk|gsk|xai|key)[-_][A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=\-]{8,}"),
    re.compile(r"(?i)\b(api[-_]?key|access[-_]?token|secret|password|authorization)([\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"),
]
# A known secret shorter than this is hidden only as written: its other spellings would match ordinary words.
MIN_SECRET_CHARS = 8
# What may come between two characters of an echoed secret: line breaks and spaces, or them escaped as in JSON.
_GAP = r"(?:\s|\\[nrt]){0,4}"
# Base64 in either alphanumeric alphabet; "=" only pads its end.
_BASE64_CHARS = frozenset(string.ascii_letters + string.digits + "+/-_")
# Text from outside (an upstream's error, a provider's exception) is shown at most this long.
MAX_EXCERPT = 1000
REDACTED = "[redacted]"


def spelled(secret):
    """A pattern for `secret` in any case, any character perhaps percent-encoded, with line breaks or spaces between."""
    def character(c):
        """The character itself, or its UTF-8 bytes percent-encoded."""
        return "(?:" + re.escape(c) + "|" + "".join(f"%{b:02x}" for b in c.encode("utf-8", "surrogatepass")) + ")"

    return "(?P<spelled>(?i:" + _GAP.join(character(c) for c in secret) + "))"


def base64_cores(secret):
    """The base64 characters that `secret` alone determines, at each of the three places it can start in a group of
    three bytes, in the standard and the URL-safe alphabet: they are there whatever is encoded around it ("user:…")."""
    data = secret.encode("utf-8", "surrogatepass")
    cores = set()
    for shift in range(3):
        encoded = base64.b64encode(bytes(shift) + data).decode()
        # Character i carries bits 6i to 6i + 6; the secret's are bits 8 * shift to 8 * (shift + len(data)).
        core = encoded[-(-8 * shift // 6) : 8 * (shift + len(data)) // 6]
        cores |= {core, core.translate(str.maketrans("+/", "-_"))}
    return cores


@lru_cache(maxsize=256)
def secret_pattern(secret):
    """One pattern for the spellings of a known secret that careless servers echo back."""
    if len(secret) < MIN_SECRET_CHARS:
        return re.compile("(?P<spelled>" + re.escape(secret) + ")")
    cores = (_GAP.join(re.escape(c) for c in core) for core in sorted(base64_cores(secret)))
    return re.compile("|".join([spelled(secret), *cores]))


def hide(text, secret):
    """`text` with every spelling of `secret` replaced, a base64 one with the whole run of base64 around it."""
    parts, done = [], 0
    for match in secret_pattern(secret).finditer(text):
        start, end = match.span()
        if not match.group("spelled"):
            # Grown by a loop, not by the pattern: a pattern could only find the run's start by backtracking.
            while start > done and text[start - 1] in _BASE64_CHARS:
                start -= 1
            while end < len(text) and (text[end] in _BASE64_CHARS or text[end] == "="):
                end += 1
        parts += [text[done:start], REDACTED]
        done = end
    return "".join(parts) + text[done:]


def redact(text, secrets=()):
    """Hide known secrets, however echoed, and anything shaped like a key before text reaches a page or a log."""
    for secret in secrets:
        if secret:
            text = hide(text, secret)
    text = _SECRET_PATTERNS[0].sub(REDACTED, text)
    text = _SECRET_PATTERNS[1].sub(lambda m: m.group(1) + " " + REDACTED, text)
    return _SECRET_PATTERNS[2].sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)


def excerpt(text, secrets=(), limit=MAX_EXCERPT):
    """At most `limit` characters of text from outside, whitespace collapsed, with secrets and anything like a key
    redacted. Only the text near the excerpt is read, so a text of any size costs no more than a short one."""
    # A spelling of a secret takes at most 12 characters per byte of it (three for "%6B", eight for a gap of four
    # escaped line breaks; base64 needs less), so one that reaches into the excerpt lies wholly in this window and
    # is redacted whole, never cut in two.
    longest = max((len(secret.encode("utf-8", "surrogatepass")) for secret in secrets if secret), default=0)
    window = limit + 64 + 12 * longest
    words, size = [], 0
    for word in re.finditer(r"\S+", text):
        if size > window:
            break
        words.append(word.group())
        size += len(words[-1]) + 1
    text = redact(" ".join(words)[:window], secrets)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_text(error, secrets=()):
    """An exception's type and text, with `secrets` and anything like a key removed: for the page and the log."""
    # Not repr(): it escapes quotes and backslashes, and a key written differently would no longer be found.
    return excerpt(f"{type(error).__name__}: {error}", secrets)


def failure_message(error, secrets=()):
    """What to tell the reader about an unexpected exception from a provider, with anything like a key removed."""
    return _("The provider failed: %(error)s", error=error_text(error, secrets))
