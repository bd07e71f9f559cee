"""Errors meant for the person at the page: a stable code and a message that says what to do."""
import re

from flask_babel import gettext as _


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


def redact(text, secrets=()):
    """Hide known secrets and anything shaped like a key before text reaches a page or a log."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = _SECRET_PATTERNS[0].sub("[redacted]", text)
    text = _SECRET_PATTERNS[1].sub(lambda m: m.group(1) + " [redacted]", text)
    return _SECRET_PATTERNS[2].sub(lambda m: m.group(1) + m.group(2) + "[redacted]", text)


def error_text(error, secrets=()):
    """An exception's type and text, with `secrets` and anything like a key removed: for the page and the log."""
    # Not repr(): it escapes quotes and backslashes, and a key written differently would no longer be found.
    return redact(f"{type(error).__name__}: {error}", secrets)


def failure_message(error, secrets=()):
    """What to tell the reader about an unexpected exception from a provider, with anything like a key removed."""
    return _("The provider failed: %(error)s", error=error_text(error, secrets))
