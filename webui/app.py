"""The Flask app: create_app() builds it from its settings and its parts, each of which wires itself in with init_app()."""
import os
from pathlib import Path

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from . import config as settings
from . import accounts_api, attachments, connections, conversations_api, health, i18n, module_keys_api, openai_api, presets_api, shared, storage, views
from .serving import shutdown
from .access import auth, identity, security
from .chat import runner, stored_answers, writer, ws
from .errors import UserError, json_error, user_error_response, web_refusal
from .openai_api import routes as openai_routes
from .providers import registry

PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name):
    """templates/, static/ and translations/ sit inside the package in a wheel, beside it in a checkout."""
    inside = PACKAGE_DIR / name
    return inside if inside.is_dir() else PACKAGE_DIR.parent / name


def json_http_error(error):
    """API errors are JSON with a code and message, never a page or a trace; /v1's in OpenAI's shape."""
    if request.path.startswith(security.API_PREFIX):
        return openai_routes.internal_error(error) if error.code == 500 else openai_routes.http_error(error)
    if not request.path.startswith("/api/"):
        return error
    return json_error(*web_refusal(error), error.code)


def create_app(config=None):
    """Create the application; `config` overrides every other source of settings."""
    app = Flask(
        # The package's name: the instance folder (the default data folder) and the logger are the package's.
        __package__,
        instance_relative_config=True,
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
    )
    app.config.update(settings.load(config))
    i18n.init_app(app, resource_dir("translations"), resource_dir("static"))
    # In an app context, so that a refusal is in the app's default language (a command's is its terminal's).
    with app.app_context():
        settings.check_numbers(app.config)
    app.config["WEBUI_DATA_DIR"] = app.config["WEBUI_DATA_DIR"] or app.instance_path
    # Only its owner may look in: it holds every conversation, the accounts and the key that seals secrets.
    os.makedirs(app.config["WEBUI_DATA_DIR"], mode=0o700, exist_ok=True)
    # Before the parts that choose by it whether to count and keep their state in Redis (it connects at first use).
    shared.init_app(app)
    # First, so a request from a wrong host, site or user is refused before anything else reads it.
    auth.init_app(app)
    security.init_app(app)
    app.register_error_handler(HTTPException, json_http_error)
    # A refusal raised anywhere (a route, the sign-in check before every request) is the same JSON answer.
    app.register_error_handler(UserError, user_error_response)
    storage.init_app(app)
    identity.init_app(app)
    stored_answers.init_app(app)
    runner.init_app(app)
    registry.init_app(app)
    connections.init_app(app)
    module_keys_api.init_app(app)
    writer.init_app(app)
    shutdown.init_app(app)
    openai_api.init_app(app)
    ws.init_app(app)
    app.register_blueprint(views.bp)
    conversations_api.init_app(app)
    app.register_blueprint(accounts_api.bp)
    app.register_blueprint(presets_api.bp)
    app.register_blueprint(module_keys_api.bp)
    attachments.init_app(app)
    app.register_blueprint(health.bp)
    return app
