"""The page's connections as providers: built from their stored rows at start, and again after every change."""
import threading

from flask import current_app
from flask_babel import gettext as _

from ..config import ConfigError
from ..providers.base import Unavailable
from ..providers.configured import server_provider
from ..providers.registry import get_registry
from ..secrets import SecretError
from ..storage import connections, get_db

# Changes are read back and handed to the registry one at a time: the last to go reads every change committed before.
_refreshing = threading.Lock()


def server_entry(fields, key):
    """The [[providers]] entry a connection's fields and key stand for (see providers/configured.py); what is None
    (no key, all models, no context length) is left out, as a config file would."""
    entry = {name: fields.get(name) for name in ("name", "type", "base_url", "models", "context_length", "vision")}
    return {name: value for name, value in {**entry, "api_key": key}.items() if value is not None}


def unreadable_key(name):
    """The reason a connection whose key cannot be opened is unusable, in the reader's language."""
    return _(
        "The key of %(name)s cannot be read with this server's secret key (WEBUI_SECRET_KEY or secret.key): it was "
        "stored under another one.",
        name=name,
    )


def provider_of(row, config):
    """The provider of a stored connection; listed as unusable when its key cannot be opened."""
    try:
        key = connections.key_of(row)
    except SecretError:
        name = row["name"]
        return Unavailable(name, lambda: unreadable_key(name), code="bad_config")
    return server_provider(server_entry(connections.fields_of(row), key), config)


def refresh():
    """Give the current app's registry the enabled connections as they are stored now: every page and socket uses them
    from their next request on, while answers already running keep the provider they started with."""
    with _refreshing:
        rows = connections.all_rows(get_db())
        get_registry().set_connections([provider_of(row, current_app.config) for row in rows if row["enabled"]])


def check_keys(rows):
    """Stop the start with ConfigError, saying so, when the server's secret key cannot open the key of a row (a
    connection's or a module's); nothing is changed: a wrong WEBUI_SECRET_KEY must not cost the stored keys."""
    for row in rows:
        try:
            connections.key_of(row)
        except SecretError:
            raise ConfigError(
                _(
                    "%(reason)s Start the server with the secret key the keys were stored under; nothing was "
                    "changed.",
                    reason=unreadable_key(row["name"]),
                )
            ) from None


def init_app(app):
    """Put the stored connections into the app's registry; a key that cannot be opened stops the start (check_keys)."""
    with app.app_context():
        check_keys(connections.all_rows(get_db()))
        refresh()
