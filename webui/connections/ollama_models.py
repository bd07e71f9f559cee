"""An Ollama connection's models from the page: those installed, a pull relayed line by line as it goes, a delete.

Like every connection endpoint, only an admin's. A connection is named by the id GET /api/connections gives it: a
page's connection (enabled or not) by its own id, a server of the config file by `config-N`.
"""
import json
import logging

from flask import Blueprint, Response, current_app, jsonify, stream_with_context
from flask_babel import gettext as _

from ..access.roles import require_admin
from ..access.security import count_request
from ..errors import ProviderError, UserError, json_error
from ..providers.base import Unavailable
from ..providers.ollama import OllamaProvider
from ..providers.ollama_models import valid_name
from ..providers.registry import get_registry
from ..providers.upstream import UpstreamProvider
from ..storage import connections, get_db
from .api import config_servers, request_body
from .providers import provider_of

log = logging.getLogger(__name__)

bp = Blueprint("ollama_models", __name__, url_prefix="/api/connections")
bp.before_request(require_admin)

PULL_FIELDS = frozenset({"name"})
# Under this a pull could not even wait for its first line.
MIN_PULL_IDLE_SECONDS = 1


def ollama_server(connection_id):
    """The Ollama server a connection id names, ready to be asked; refused in words when there is none, when the
    connection is of another type, or when its key cannot be had."""
    row = connections.get(get_db(), connection_id)
    server = provider_of(row, current_app.config) if row is not None else config_servers().get(connection_id)
    if server is None:
        raise UserError(_("There is no connection with this id."), code="not_found")
    # An Unavailable stands for a connection whose key cannot be opened: check() says so.
    if not isinstance(server, (OllamaProvider, Unavailable)):
        raise UserError(
            _("%(name)s is not an Ollama server: only Ollama's models can be listed, pulled and deleted here.", name=server.name),
            code="not_ollama",
        )
    server.check()
    return server


def model_name(value):
    """`value` if it is a model name Ollama takes; refused as a bad `name` otherwise, before anything is sent."""
    if not valid_name(value):
        raise UserError(
            _(
                "A model name is letters, digits, “.”, “_”, “-”, “:” and “/”, like “qwen2.5:0.5b” or "
                "“hf.co/namespace/model:tag”, at most 80 characters between two “/” or “:”."
            ),
            field="name",
        )
    return value


def upstream_failure(error):
    """A server's failure to do what was asked, in plain words: 404 for a model it does not have, else 502."""
    return json_error(error.code, error.message, 404 if error.code == "unknown_model" else 502)


def models_changed(name):
    """The provider called `name` asks its server for its models afresh, so that the page's list of models shows a model
    pulled or deleted at once."""
    provider = next((p for p in get_registry() if p.name == name), None)
    if isinstance(provider, UpstreamProvider):
        provider.forget("models")


def ndjson(value):
    """One line of a newline-delimited JSON response."""
    return json.dumps(value, ensure_ascii=False) + "\n"


def pull_lines(server, model, idle_seconds):
    """The lines of a pull's response: each progress line as the server sends it, then exactly one final line."""
    try:
        for step in server.pull(model, idle_seconds):
            yield ndjson(step)
    except ProviderError as e:
        yield ndjson({"error": {"code": e.code, "message": e.message}})
        return
    except Exception:
        # A bug, not the server's failure: the trace goes to the log, the page still gets its final line.
        log.exception("relaying the pull of %s from %s failed", model, server.name)
        message = _("Something went wrong inside the server; its log has the details.")
        yield ndjson({"error": {"code": "internal_error", "message": message}})
        return
    models_changed(server.name)
    yield ndjson({"done": True})


@bp.get("/<connection_id>/models")
def installed(connection_id):
    """The models installed on an Ollama connection's server, asked now."""
    server = ollama_server(connection_id)
    count_request()
    try:
        return jsonify(models=server.installed())
    except ProviderError as e:
        return upstream_failure(e)


@bp.post("/<connection_id>/models/pull")
def pull(connection_id):
    """Have the server download a model, relaying its progress as newline-delimited JSON while it goes. The request
    ends the download when the page goes away: the server stops it when its connection closes."""
    server = ollama_server(connection_id)
    body = request_body()
    unknown = sorted(set(body) - PULL_FIELDS)
    if unknown:
        raise UserError(_("“%(field)s” is not a field of a pull: give the model's “name”.", field=unknown[0][:40]))
    model = model_name(body.get("name"))
    count_request()
    idle_seconds = max(MIN_PULL_IDLE_SECONDS, current_app.config["WEBUI_PULL_IDLE_SECONDS"])
    lines = stream_with_context(pull_lines(server, model, idle_seconds))
    # A proxy that buffered the response would hold the progress back until the download ended.
    return Response(lines, mimetype="application/x-ndjson", headers={"X-Accel-Buffering": "no"})


@bp.delete("/<connection_id>/models/<path:name>")
def delete(connection_id, name):
    """Delete a model from an Ollama connection's server."""
    server = ollama_server(connection_id)
    model = model_name(name)
    count_request()
    try:
        server.delete(model)
    except ProviderError as e:
        return upstream_failure(e)
    models_changed(server.name)
    return "", 204
