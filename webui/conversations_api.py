"""The conversations API: list and search, read, change, delete, export and import."""

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context
from flask_babel import gettext as _

from . import attachments
from .access.identity import current_owner
from .access.security import allow_body, count_request
from .chat.stored_answers import get_stored_answers
from .errors import bad_request
from .json_input import json_body
from .storage import archive, conversations, get_db, validate
from .storage.database import transaction

MAX_LIMIT = 100
DEFAULT_LIMIT = 50
MAX_QUERY_CHARS = 500
bp = Blueprint("conversations", __name__, url_prefix="/api/conversations")


def page_size(value):
    """The `limit` query parameter: how many conversations one page lists."""
    if value is None:
        return DEFAULT_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise bad_request(_("“limit” must be a whole number from 1 to %(n)d.", n=MAX_LIMIT))
    return int(value)


@bp.get("")
def index():
    """The caller's conversations, newest first; `q` keeps those whose title or text matches."""
    query = request.args.get("q", "")
    if len(query) > MAX_QUERY_CHARS:
        raise bad_request(_("The search is too long (at most %(n)d characters).", n=MAX_QUERY_CHARS))
    limit = page_size(request.args.get("limit"))
    rows, cursor = conversations.list_conversations(get_db(), current_owner(), query, limit, request.args.get("before"))
    return jsonify(conversations=[conversations.summary_json(row) for row in rows], next=cursor)


@bp.get("/<conversation_id>")
def show(conversation_id):
    """One conversation with the messages of its active branch."""
    return jsonify(get_db().read(conversations.shown, current_owner(), conversation_id))


@bp.patch("/<conversation_id>")
def update(conversation_id):
    """Rename, change the system prompt, options, provider or model, or switch to another branch."""
    body = json_body(current_app.config["WEBUI_MAX_REQUEST_BYTES"])
    db = get_db()
    with transaction(db):
        conversation = conversations.owned_conversation(db, current_owner(), conversation_id)
        changes = validate.changes(db, conversation, body)
        if changes:
            conversations.update_conversation(db, conversation_id, **changes)
    return show(conversation_id)


@bp.delete("/<conversation_id>")
def delete(conversation_id):
    """Delete a conversation with all its branches; answers still being written into it stop."""
    db = get_db()
    with transaction(db):
        conversations.owned_conversation(db, current_owner(), conversation_id)
        conversations.delete_conversation(db, conversation_id)
    # Its messages' attachments that no other message carries went with them (a trigger): now their files.
    attachments.collect(db)
    for answer in get_stored_answers().running(lambda turn: turn.conversation_id == conversation_id):
        answer.finish("stopped")
    return "", 204


@bp.get("/<conversation_id>/export")
def export(conversation_id):
    """Download the active branch as JSON (importable again) or Markdown."""
    kind = request.args.get("format", "json")
    if kind not in ("json", "md"):
        raise bad_request(_("“format” must be json or md."))
    db = get_db()
    conversation = conversations.owned_conversation(db, current_owner(), conversation_id)
    if kind == "json":
        # Written as it is read: a conversation's files make it as large as they are.
        body, mimetype = stream_with_context(archive.export_json(conversation)), "application/json"
    else:
        body, mimetype = archive.export_markdown(db, conversation), "text/markdown"
    response = Response(body, mimetype=mimetype)
    response.headers.set("Content-Disposition", "attachment", filename=f"conversation-{conversation_id}.{kind}")
    return response


@bp.post("/import")
def import_():
    """Store an uploaded export, or a plain list of OpenAI messages, as a new conversation."""
    owner = current_owner()
    # Counted before the body is read: a burst of large files is refused without parsing them.
    count_request(window="webui.imports", message=_("Too many imports: wait a minute and try again."))
    # An export carries its files in base64: the import's own limit, WEBUI_MAX_IMPORT_BYTES, replaces the body limit
    # (security.allow_body). Decoding holds the process (json's C decoder keeps the interpreter lock, in any thread):
    # the limit and WEBUI_IMPORTS_PER_MINUTE bound it.
    limit = request.max_content_length = current_app.config["WEBUI_MAX_IMPORT_BYTES"]
    spec = archive.parse_import(json_body(limit))
    quota = current_app.config["WEBUI_MAX_STORED_BYTES_PER_USER"]
    return jsonify(id=archive.store_import(get_db(), owner, spec, quota)), 201


def init_app(app):
    """Mount the conversations API; an import may be as large as WEBUI_MAX_IMPORT_BYTES."""
    app.register_blueprint(bp)
    allow_body(app, "conversations.import_", app.config["WEBUI_MAX_IMPORT_BYTES"])
