"""Keys for drop-in modules that need one, entered by an admin from the page: they win over [provider_keys], at once."""
import logging
import threading

from flask import Blueprint, jsonify
from flask_babel import gettext as _

from .access.roles import require_admin
from .connections.api import hint, request_body
from .connections.fields import KEEP, field_error, new_key
from .connections.providers import check_keys
from .errors import UserError, bad_request
from .providers.registry import ModuleProvider, get_registry
from .secrets import SecretError
from .storage import connections, get_db, module_keys
from .storage.database import transaction

log = logging.getLogger(__name__)

bp = Blueprint("module_keys", __name__, url_prefix="/api/module-keys")

# Changes are read back and handed to the registry one at a time: the last to go reads every change committed before.
_refreshing = threading.Lock()


@bp.before_request
def admins_only():
    """Only an admin may see or change the keys the server holds."""
    require_admin()


def keyed_modules():
    """The loaded drop-in modules that need a key, by name, as the server was started with them (their config key)."""
    return {p.name: p for p in get_registry().registered() if isinstance(p, ModuleProvider) and p.needs_auth}


def module_json(module, page_keys):
    """What the page may know of a module's key: whether it has one, its hint, and where it comes from; never the key."""
    page_key = page_keys.get(module.name)
    key = page_key or module.key
    source = "page" if page_key else "config" if module.key else None
    return {"name": module.name, "key_set": bool(key), "key_hint": hint(key), "source": source}


def keyed_module(name):
    """The loaded module called `name` that needs a key; 404 for any other name."""
    module = keyed_modules().get(name)
    if module is None:
        raise UserError(_("There is no provider module called “%(name)s” that needs a key.", name=name[:64]), code="not_found")
    return module


def refresh():
    """Give the current app's registry the keys as they are stored now: every page and socket uses them from their next
    request on, while answers already running keep the key they started with."""
    with _refreshing:
        keys = {}
        for row in module_keys.all_rows(get_db()):
            try:
                keys[row["name"]] = connections.key_of(row)
            except SecretError:
                # Only a token changed in the file since the start can get here (init_app checked them all).
                log.warning("the stored key of the module %s cannot be opened: it is left out", row["name"])
        get_registry().set_module_keys(keys)


@bp.get("")
def index():
    """Every loaded drop-in module that needs a key, with the state of its key."""
    page_keys = get_registry().module_keys()
    return jsonify(modules=[module_json(module, page_keys) for module in keyed_modules().values()])


@bp.put("/<name>")
def put(name):
    """Set the module's key from the body's `api_key`, in place of the page's key it had and over the config file's."""
    module = keyed_module(name)
    body = request_body()
    unknown = sorted(set(body) - {"api_key"})
    if unknown:
        raise bad_request(_("Only “api_key” may be given: the module's key."))
    key = new_key(body)
    if key is KEEP or key is None:
        raise field_error("api_key", _("Give the key in “api_key”; DELETE removes it."))
    db = get_db()
    with transaction(db):
        module_keys.put(db, name, connections.sealed(key))
    refresh()
    return jsonify(module_json(module, get_registry().module_keys()))


@bp.delete("/<name>")
def delete(name):
    """Forget the key entered on the page: the module has the config file's key again, or none."""
    keyed_module(name)
    db = get_db()
    with transaction(db):
        module_keys.delete(db, name)
    refresh()
    return "", 204


def init_app(app):
    """Give the modules their stored keys; a key the server's secret key cannot open stops the start (check_keys)."""
    with app.app_context():
        check_keys(module_keys.all_rows(get_db()))
        refresh()
