"""The connections API: an admin lists, adds, changes, removes and tests the model servers the server connects to."""
from flask import Blueprint, current_app, jsonify
from flask_babel import gettext as _

from ..access.roles import require_admin
from ..access.security import count_request
from ..json_input import json_body
from ..errors import ProviderError, UserError, bad_request, json_error
from ..providers.auto import AUTO
from ..providers.configured import TYPES, build_provider
from ..providers.registry import get_registry
from ..providers.upstream import UpstreamProvider
from ..secrets import SecretError
from ..storage import connections, get_db
from ..storage.database import transaction
from .fields import BODY_FIELDS, KEEP, changed_fields, check_fields, check_key_stays, new_key
from .providers import refresh, server_entry

bp = Blueprint("connections", __name__, url_prefix="/api/connections")

# A key shorter than this gets no hint: its last four characters would give too much of it away.
MIN_HINTED_KEY = 8
HINT_CHARS = 4
DEFAULTS = {"models": None, "context_length": None, "vision": False, "enabled": True}
CONFIG_ID = "config-%d"


@bp.before_request
def admins_only():
    """Only an admin may see or change connections: a base URL is where the server connects, with a key it holds."""
    require_admin()


def hint(key):
    """How the page may show a key: its last characters, or nothing for a short one."""
    return "…" + key[-HINT_CHARS:] if key and len(key) >= MIN_HINTED_KEY else None


def connection_json(row):
    """A stored connection as the page sees it: its fields and whether it has a key, never the key."""
    try:
        key = connections.key_of(row)
    except SecretError:
        key = None
    return {"id": row["id"], **connections.fields_of(row), "key_set": bool(row["api_key"]), "key_hint": hint(key), "source": "page"}


def kind(provider):
    """The type a configured server was given, "openai" or "ollama"."""
    return next(name for name, cls in TYPES.items() if isinstance(provider, cls))


def config_servers():
    """The servers of the config file by their read-only id, in its order."""
    servers = [p for p in get_registry().registered() if isinstance(p, UpstreamProvider)]
    return {CONFIG_ID % number: server for number, server in enumerate(servers, 1)}


def config_json(connection_id, server):
    """A server of the config file as the page sees it."""
    return {
        "id": connection_id,
        "name": server.name,
        "type": kind(server),
        "base_url": server.base_url,
        "models": server.configured_models or None,
        "context_length": server.context_length,
        "vision": server.vision,
        "enabled": True,
        "key_set": bool(server.api_key),
        "key_hint": hint(server.api_key),
        "source": "config",
    }


def stored_connection(db, connection_id):
    """The row of a connection the page may change; a server of the config file is refused as read-only."""
    row = connections.get(db, connection_id)
    if row is not None:
        return row
    if connection_id in config_servers():
        raise UserError(_("This connection comes from the configuration file: change it there."), code="read_only")
    raise UserError(_("There is no connection with this id."), code="not_found")


def taken_names(db, connection_id=None):
    """The names a connection other than `connection_id` may not have: every other provider's and connection's."""
    others = {row["name"] for row in connections.all_rows(db) if row["id"] != connection_id}
    return {provider.name for provider in get_registry().registered()} | {AUTO} | others


def request_body():
    """The JSON object a request carries, at most as large as a chat request."""
    body = json_body(current_app.config["WEBUI_MAX_REQUEST_BYTES"])
    if not isinstance(body, dict):
        raise bad_request(_("The request must be a JSON object."))
    return body


@bp.get("")
def index():
    """The servers of the config file (read-only), then the connections added from the page."""
    listed = [config_json(connection_id, server) for connection_id, server in config_servers().items()]
    return jsonify(connections=listed + [connection_json(row) for row in connections.all_rows(get_db())])


@bp.post("")
def create():
    """Add a connection; it is a provider at once."""
    body = request_body()
    key = new_key(body)
    fields = changed_fields(body, DEFAULTS)
    db = get_db()
    with transaction(db):
        check_fields(fields, taken_names(db))
        connection_id = connections.add(db, fields, connections.sealed(None if key is KEEP else key))
    refresh()
    return jsonify(connection_json(connections.get(db, connection_id))), 201


@bp.patch("/<connection_id>")
def update(connection_id):
    """Change a connection's fields or key (replaced, cleared with null or "", kept when left out)."""
    body = request_body()
    key = new_key(body)
    db = get_db()
    with transaction(db):
        row = stored_connection(db, connection_id)
        fields = changed_fields(body, connections.fields_of(row))
        check_fields(fields, taken_names(db, connection_id))
        check_key_stays(key, row["api_key"], row["base_url"], fields["base_url"])
        connections.update(db, connection_id, fields, row["api_key"] if key is KEEP else connections.sealed(key))
    refresh()
    return jsonify(connection_json(connections.get(db, connection_id)))


@bp.delete("/<connection_id>")
def delete(connection_id):
    """Remove a connection; an answer it is writing may finish."""
    db = get_db()
    with transaction(db):
        stored_connection(db, connection_id)
        connections.delete(db, connection_id)
    refresh()
    return "", 204


def tested_connection(body):
    """The stored connection a test names with `id`, whose fields and key fill in what the body leaves out; None."""
    if "id" not in body:
        return None
    if not isinstance(body["id"], str):
        raise bad_request(_("“id” must be the id of a connection."))
    return stored_connection(get_db(), body["id"])


@bp.post("/test")
def test():
    """Ask a server for its models, live, with the fields of a connection (those of the stored connection `id` for what
    the body leaves out, its key too); nothing is stored."""
    body = request_body()
    key = new_key(body)
    stored = tested_connection(body)
    fields = changed_fields(body, connections.fields_of(stored) if stored is not None else DEFAULTS, BODY_FIELDS | {"id"})
    named = fields.get("name") is not None
    if not named:
        # The name only says who did not answer: without one, the server is called by its address.
        fields["name"] = fields.get("base_url") if isinstance(fields.get("base_url"), str) and fields["base_url"] else "?"
    check_fields(fields, taken=set(), named=named)
    if stored is not None and key is KEEP:
        check_key_stays(key, stored["api_key"], stored["base_url"], fields["base_url"])
        key = connections.key_of(stored)
    count_request()
    server = build_provider(server_entry({**fields, "models": None}, None if key is KEEP else key))
    try:
        return jsonify(models=server.models())
    except ProviderError as e:
        # The server's failure, not the request's: 502, whatever HTTP status the server answered with.
        return json_error(e.code, e.message, 502)
