"""Personal API tokens: made at random, kept only as a SHA-256 hash, checked in constant time, each carrying its owner.

A token is PREFIX, a public id of 12 hex digits, "_", and 256 random bits (43 URL-safe characters). The id finds its
row; the hash of the whole token is then compared in constant time. Only the owner's account (or, without accounts,
the browser that made it) gives a token its rights: a deleted account's tokens, and a browser's once the server has
accounts, are refused.
"""
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _

from ..access.auth import get_access
from ..errors import UserError, bad_request
from ..storage import api_tokens, app_connection, get_db, validate
from ..storage.api_tokens import PREFIX
from ..storage.database import transaction

TOKEN = re.compile(re.escape(PREFIX) + r"([0-9a-f]{12})_[A-Za-z0-9_-]{43}")
# A token named by its id, as `webui token list` shows it, or by the start of the token.
TOKEN_ID = re.compile(r"(?:" + re.escape(PREFIX) + r")?([0-9a-f]{12})(?:_.*)?")
USER_OWNER = "user:"
MAX_NAME_CHARS = 100
# A bound on what one person keeps: a script that loops cannot fill the disk with tokens.
MAX_TOKENS = 100
# How stale a token's "last used" time may get: written at most once a minute, not at every request.
USED_EVERY_SECONDS = 60


@dataclass(frozen=True)
class Bearer:
    """Who a request's token speaks for: the token's id, its owner, and the account name of a user's token."""

    token_id: str
    owner: str
    user: str | None


class Lookup:
    """The app's own connection for finding tokens, opened once: a request then opens none of its own to be let in,
    which would cost more than the rest of its way to the first token. Each lookup reads what is committed, so a token
    revoked by another process is refused at once."""

    def __init__(self):
        """Not opened yet."""
        self._lock = threading.Lock()
        self._db = None

    def row(self, token_id):
        """The row of the token `token_id`, or None."""
        with self._lock:
            if self._db is None:
                self._db = app_connection(current_app)
            return api_tokens.by_id(self._db, token_id)


def digest(token):
    """The hash a token is kept as."""
    # 256 random bits cannot be guessed, nor found from their hash by trying: a fast hash keeps a token as safe as a
    # slow one (scrypt, for passwords, which people choose and others can guess) and costs a microsecond a request.
    return hashlib.sha256(token.encode()).hexdigest()


def token_name(value):
    """A token's name: one line of text, not empty."""
    return validate.one_line(value, MAX_NAME_CHARS, _("A token's name must be text of 1 to %(n)d characters.", n=MAX_NAME_CHARS))


def create(owner, name):
    """Make a token for `owner`: (its row as the page sees it, the token itself, which is never shown again)."""
    name = token_name(name)
    token_id = secrets.token_hex(6)
    token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    db = get_db()
    with transaction(db):
        if api_tokens.count_owned(db, owner) >= MAX_TOKENS:
            raise bad_request(_("You have %(n)d tokens, the most one person may keep: revoke one first.", n=MAX_TOKENS))
        api_tokens.insert(db, token_id, owner, name, digest(token))
    return api_tokens.token_json(api_tokens.by_id(db, token_id)), token


def token_id_of(text):
    """The id a token is named by (its id, its prefix or the token itself); None when `text` names none."""
    found = TOKEN_ID.fullmatch(text.strip())
    return found[1] if found else None


def revoke(owner, token_id):
    """Delete a token of `owner`; whether there was one. Its running answers stop at the watcher's next look
    (running.Running), or at once when the caller stops them too."""
    db = get_db()
    with transaction(db):
        return api_tokens.revoke(db, owner, token_id)


def unauthorized(message):
    """The refusal of a request without a usable token."""
    return UserError(message, code="unauthorized")


def owner_stands(owner):
    """Whether a token's owner may still use it: a user whose account exists, or a browser while the server still has
    no accounts."""
    access = get_access()
    if owner.startswith(USER_OWNER):
        return access.users.role(owner.removeprefix(USER_OWNER)) is not None
    return not access.required()


def authenticate(authorization):
    """The Bearer an `Authorization: Bearer <token>` header names; UserError `unauthorized` for anything else."""
    scheme, _space, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized(
            _(
                "This API needs a token: send it as “Authorization: Bearer <token>”. Make one on the page (API "
                "tokens) or with “webui token add USER”."
            )
        )
    token = token.strip()
    found = TOKEN.fullmatch(token)
    row = current_app.extensions["webui.api_token_lookup"].row(found[1]) if found else None
    # The id that finds the row is no secret; what is, is compared as hashes, in a time that does not tell where they differ.
    if row is None or not hmac.compare_digest(row["hash"], digest(token)):
        raise unauthorized(_("This API token is not valid: it is mistyped, or it was revoked. Make a new one on the page (API tokens)."))
    if not owner_stands(row["owner"]):
        raise unauthorized(
            _("This API token's account no longer exists, or it was made before the server had accounts: sign in and make a new one.")
        )
    mark_used(row)
    owner = row["owner"]
    return Bearer(row["id"], owner, owner.removeprefix(USER_OWNER) if owner.startswith(USER_OWNER) else None)


def mark_used(row):
    """Note when a token was used, at most once every USED_EVERY_SECONDS."""
    now = time.time()
    if row["last_used_at"] is None or now - row["last_used_at"] >= USED_EVERY_SECONDS:
        db = get_db()
        with transaction(db):
            api_tokens.mark_used(db, row["id"], now)
