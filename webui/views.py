"""The chat page and the provider listing."""
import ipaddress
import socket

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_babel import get_locale

from .i18n import LANGUAGES, script_catalog
from .identity import current_owner
from .registry import get_registry

bp = Blueprint("chat", __name__)


@bp.get("/")
@bp.get("/c/<conversation_id>")
def index(conversation_id=None):
    """Render the chat page in the request's language; the page opens the conversation named in its path."""
    # The page's socket and API calls find the browser's conversations by the identity cookie set here.
    current_owner()
    return render_template(
        "index.html", languages=LANGUAGES, locale=str(get_locale()), script_messages=script_catalog(), lan_url=lan_url()
    )


def machine_address():
    """This machine's first non-loopback IPv4 address, looked up without sending anything."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        return None
    addresses = [info[4][0] for info in infos if not ipaddress.ip_address(info[4][0]).is_loopback]
    return addresses[0] if addresses else None


def lan_url():
    """The address a phone on the network can open, when the server listens beyond loopback."""
    host = current_app.config["WEBUI_HOST"]
    if host in ("", "0.0.0.0", "::"):
        host = machine_address()
    else:
        try:
            if ipaddress.ip_address(host).is_loopback:
                return None
        except ValueError:
            if host == "localhost":
                return None
    if not host:
        return None
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{request.environ.get('SERVER_PORT', current_app.config['WEBUI_PORT'])}/"


@bp.get("/api/providers")
def providers():
    """List the providers with their models and whether they can be used now."""
    return jsonify(get_registry().describe())
