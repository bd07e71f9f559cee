"""The chat page and the provider listing."""
from flask import Blueprint, jsonify, render_template
from flask_babel import get_locale

from .i18n import LANGUAGES, script_catalog
from .registry import get_registry

bp = Blueprint("chat", __name__)


@bp.get("/")
def index():
    """Render the chat page in the request's language."""
    return render_template("index.html", languages=LANGUAGES, locale=str(get_locale()), script_messages=script_catalog())


@bp.get("/api/providers")
def providers():
    """List the providers with their models and whether they can be used now."""
    return jsonify(get_registry().describe())
