"""The page's API tokens section: /api/tokens lists, makes (the token shown once) and revokes the caller's own tokens."""
from flask import Blueprint, current_app, jsonify
from flask_babel import gettext as _

from ..access.identity import current_owner
from ..connections.api import request_body
from ..errors import UserError, bad_request
from ..storage import api_tokens, get_db
from . import tokens

bp = Blueprint("api_tokens", __name__, url_prefix="/api/tokens")


@bp.get("")
def index():
    """The caller's tokens, newest first: names, prefixes and times, never a token."""
    return jsonify(tokens=[api_tokens.token_json(row) for row in api_tokens.owned(get_db(), current_owner())])


@bp.post("")
def create():
    """Make a token for the caller: the only answer that ever holds it."""
    body = request_body()
    unknown = sorted(set(body) - {"name"})
    if unknown:
        raise bad_request(_("Unknown field “%(name)s”.", name=unknown[0][:40]))
    listed, token = tokens.create(current_owner(), body.get("name"))
    return jsonify(token=token, **listed), 201


@bp.delete("/<token_id>")
def revoke(token_id):
    """Revoke one of the caller's tokens: refused at once, and its running answers stop."""
    if not tokens.revoke(current_owner(), token_id):
        raise UserError(_("There is no such token."), code="not_found")
    current_app.extensions["webui.api_running"].stop_token(token_id)
    return "", 204
