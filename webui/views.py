"""The chat page and the provider listing."""
import ipaddress
import posixpath
import re
import socket
from pathlib import Path

from flask import Blueprint, current_app, g, jsonify, render_template, request
from flask_babel import get_locale

from . import preview
from .access.identity import current_owner
from .access.roles import is_admin
from .chat.options import NUMERIC_OPTIONS
from .errors import UserError
from .i18n import LANGUAGES, script_catalog, script_plurals
from .providers.registry import get_registry
from .storage import connections, conversations, get_db

bp = Blueprint("chat", __name__)

# A static import of a relative module at the start of a line: `import x from "./x.js"`, `export { y } from "../y.js"`.
# No parenthesis on the way: a module fetched by `import("./z.js")` when needed is not the page's to preload.
MODULE_IMPORT = re.compile(r"""^\s*(?:import|export)\b[^;"'()]*?["'](\.{1,2}/[^"']+\.js)["']""", re.M)


def page_modules(static_dir, entry="app.js"):
    """Every module the page's script imports, directly or not, as paths under static/ (the entry excluded)."""
    found, todo = [], [entry]
    while todo:
        path = todo.pop(0)
        if path in found or not (static_dir / path).is_file():
            continue
        found.append(path)
        for target in MODULE_IMPORT.findall((static_dir / path).read_text(encoding="utf-8")):
            todo.append(posixpath.normpath(posixpath.join(posixpath.dirname(path), target)))
    return found[1:]


@bp.record_once
def find_page_modules(state):
    """List the page's modules once: the page names them all, so the browser fetches them at once, not level by level."""
    state.app.extensions["webui.page_modules"] = page_modules(Path(state.app.static_folder))


@bp.get("/")
@bp.get("/c/<conversation_id>")
def index(conversation_id=None):
    """Render the chat page in the request's language; the page opens the conversation named in its path."""
    # The page's socket and API calls find the browser's conversations by the identity cookie set here.
    owner = current_owner()
    conversation = conversation_of(owner, conversation_id)
    return render_template(
        "index.html",
        languages=LANGUAGES,
        locale=str(get_locale()),
        script_messages=script_catalog(),
        script_plurals=script_plurals(),
        max_request_bytes=current_app.config["WEBUI_MAX_REQUEST_BYTES"],
        max_attachments=current_app.config["WEBUI_MAX_ATTACHMENTS_PER_MESSAGE"],
        max_upload_bytes=current_app.config["WEBUI_MAX_UPLOAD_BYTES"],
        lan_url=lan_url(),
        page_modules=current_app.extensions["webui.page_modules"],
        conversation=conversation,
        opening=preview.newest(conversation["messages"]) if conversation else [],
        option_ranges=NUMERIC_OPTIONS,
        first_run=conversation is None and first_visit(owner),
        models_dir=models_dir(),
        # Who sees Settings → Connections; every request it makes is checked again (roles.require_admin).
        admin=is_admin(),
        user=g.get("user"),
    )


def first_visit(owner):
    """Whether the visitor has no conversations yet and the server no connection to a model server (from the page or
    the configuration file): the page then says how to get a better model than the demo."""
    if current_app.config["WEBUI_PROVIDERS"] or connections.exist(get_db()):
        return False
    rows, _cursor = conversations.list_conversations(get_db(), owner, "", 1, None)
    return not rows


def models_dir():
    """The folder the local provider reads GGUF files from, for the page to name: only to an admin, as it tells how the
    server's disk is laid out; None otherwise or when not set."""
    folder = current_app.config.get("WEBUI_MODELS_DIR")
    return str(Path(folder).resolve()) if folder and is_admin() else None


def conversation_of(owner, conversation_id):
    """The conversation the address names, as GET /api/conversations/<id> answers it, if it is the visitor's."""
    # Sent inside the page, it saves the round trip that would come after the scripts, before anything can be shown.
    if conversation_id is None:
        return None
    try:
        return get_db().read(conversations.shown, owner, conversation_id)
    except UserError:
        return None


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
