"""A connection's fields as an admin sends them, checked: each refusal names its field."""
import re
from urllib.parse import urlsplit

from flask_babel import gettext as _

from ..errors import UserError, bad_request
from ..providers.configured import TYPES, entry_problem
from ..storage import connections
from .providers import server_entry

# A provider's name travels in chat frames and URLs: plain characters, and never the `[[providers]] #N` of a bad entry.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_URL_CHARS = 2000
MAX_KEY_CHARS = 4096
MAX_MODELS = 1000
MAX_MODEL_CHARS = 200
MAX_CONTEXT_LENGTH = 10_000_000
BODY_FIELDS = frozenset({*connections.FIELDS, "api_key"})
# A request body that leaves `api_key` out keeps the stored key.
KEEP = object()


def field_error(field, message):
    """A refusal of one field of the body, which the page shows on that field."""
    return UserError(message, code="bad_request", field=field)


def new_key(body):
    """The key a request body gives: KEEP when it leaves `api_key` out, None when it clears it, else the key."""
    if "api_key" not in body:
        return KEEP
    key = body["api_key"]
    if key is None or key == "":
        return None
    # A key goes into an HTTP header: one line of visible ASCII, as every server's keys are.
    if not isinstance(key, str) or len(key) > MAX_KEY_CHARS or not all("!" <= c <= "~" for c in key):
        raise field_error(
            "api_key", _("The key must be one line of at most %(n)d visible characters, without spaces.", n=MAX_KEY_CHARS)
        )
    return key


def changed_fields(body, current, allowed=BODY_FIELDS):
    """`current` (a connection's fields) with what the request body changes."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad_request(_("“%(field)s” is not a field of a connection.", field=unknown[0][:40]))
    return {**current, **{field: value for field, value in body.items() if field in connections.FIELDS}}


def url_problem(url):
    """What is wrong with a base URL beyond what a config file checks (see entry_problem); None when nothing is."""
    if not isinstance(url, str):
        return None
    if len(url) > MAX_URL_CHARS or not url.isprintable() or " " in url:
        return _("The base URL must be one address of at most %(n)d characters, without spaces.", n=MAX_URL_CHARS)
    # Said as the form labels the field; a config file's entry_problem names its key, base_url.
    scheme = _("The base URL must be an http:// or https:// address.")
    try:
        parts = urlsplit(url)
        credentials = parts.username or parts.password
        # Reading the port checks it: ValueError when it is not a number from 0 to 65535.
        parts.port
    except ValueError:
        return scheme
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return scheme
    if credentials:
        return _("The base URL must not hold a user name or password: give the key in its own field.")
    return None


# A connection that passes every rule of a [[providers]] entry: problem_field tries the fields of another against it.
VALID = {
    "name": "valid", "type": "openai", "base_url": "http://127.0.0.1/v1", "models": None, "context_length": None,
    "vision": False,
}


def problem_field(fields, taken):
    """The field that makes a connection break a rule of a [[providers]] entry: the first that breaks one alone."""
    for field in VALID:
        if entry_problem(server_entry({**VALID, field: fields.get(field)}, None), taken if field == "name" else set()):
            return field
    return None


def too_many_names(names):
    """Whether a list of model names (`models`, or `vision` when it names them) is longer, or has longer names, than a
    connection may store."""
    return isinstance(names, list) and (
        len(names) > MAX_MODELS
        or not all(isinstance(m, str) and len(m) <= MAX_MODEL_CHARS and m.isprintable() for m in names)
    )


def server_of(url):
    """Which server an address names: its scheme, host and port (a path may change, the server stays)."""
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.hostname, parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())


def check_key_stays(key, stored_key, stored_url, url):
    """Refuse to keep a stored key (`key` is KEEP) for an address of another server than the one it was entered for:
    an admin who may change the address must not be able to send the key where they can read it."""
    if key is KEEP and stored_key is not None and server_of(url) != server_of(stored_url):
        raise field_error(
            "api_key", _("The address names another server: enter its key again, or clear the key. A key goes only to "
                         "the server it was entered for.")
        )


def check_fields(fields, taken, named=True):
    """Refuse, in words and naming the field, a connection that could not be used or stored; `named`: its name is
    checked too."""
    if named and not (isinstance(fields.get("name"), str) and NAME.fullmatch(fields["name"])):
        raise field_error(
            "name", _("The name must be 1 to 64 letters, digits, “.”, “_” or “-”, starting with a letter or digit.")
        )
    if not (isinstance(fields.get("type"), str) and fields["type"] in TYPES):
        raise field_error("type", _("The type must be “openai” or “ollama”."))
    problem = url_problem(fields.get("base_url"))
    if problem:
        raise field_error("base_url", problem)
    for field in ("models", "vision"):
        if too_many_names(fields[field]):
            message = _(
                "“%(field)s” must be at most %(n)d model names of at most %(chars)d characters.",
                field=field,
                n=MAX_MODELS,
                chars=MAX_MODEL_CHARS,
            )
            raise field_error(field, message)
    length = fields["context_length"]
    if isinstance(length, int) and length > MAX_CONTEXT_LENGTH:
        raise field_error("context_length", _("“context_length” must be at most %(n)d tokens.", n=MAX_CONTEXT_LENGTH))
    if not isinstance(fields["enabled"], bool):
        raise field_error("enabled", _("“enabled” must be true or false."))
    # The rules of a [[providers]] entry, which the connection becomes: a URL with a host, models, a context length.
    problem = entry_problem(server_entry(fields, None), taken)
    if problem:
        raise field_error(problem_field(fields, taken), _("The connection cannot be used: %(problem)s", problem=problem))
