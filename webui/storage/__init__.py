"""The conversations' SQLite file in WEBUI_DATA_DIR, opened (and upgraded) at start, and each app context's connection to it.

The package's modules: database (a connection whose waits stop only its caller; StorageError), migrations (the
versioned schema), conversations (conversations and message trees: queries and API shapes), answer_parts (a streaming
answer's text while it streams), archive (export and import), validate (what a client may store), presets (saved
settings and each user's default), connections (the model servers an admin adds from the page, keys sealed), module_keys
(the keys an admin enters for drop-in modules, sealed too), sealed (every column of sealed secrets), api_tokens (the
hashes of personal API tokens), accounts (the accounts' own file).
"""
from pathlib import Path

from flask import current_app, g
from flask_babel import gettext as _

from ..config import ConfigError
from . import accounts
from .database import Database, Gate, StorageError
from .migrations import migrate

FILENAME = "webui.sqlite3"


def app_connection(app):
    """A new connection to the app's database; its writers take turns with those of the app's other connections."""
    return Database(app.extensions["webui.database"], app.extensions["webui.writers"], app.config["WEBUI_DATABASE_TIMEOUT"])


def get_db():
    """The connection of the current app context, opened on first use."""
    if "db" not in g:
        g.db = app_connection(current_app)
    return g.db


def close_db(error=None):
    """Close the app context's connection, if it opened one."""
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_app(app):
    """Open (creating or upgrading) the database; a file that cannot be used stops the start with a message that says
    why. (Only a process that serves marks answers cut off by a crash: see serving.) The accounts' file is opened
    when they are first read."""
    path = str(Path(app.config["WEBUI_DATA_DIR"]) / FILENAME)
    app.extensions["webui.database"] = path
    app.extensions["webui.writers"] = Gate()
    # In an app context, so that the message is in the app's default language (a command's is its terminal's).
    with app.app_context():
        try:
            db = app_connection(app)
            try:
                migrate(db)
                # After the version check, so that a database from a newer version is not touched at all.
                db.execute("PRAGMA journal_mode = WAL")
            finally:
                db.close()
        except StorageError as e:
            raise ConfigError(_("The database %(path)s cannot be used: %(error)s", path=path, error=e.cause)) from None
    app.teardown_appcontext(close_db)
    accounts.init_app(app)
