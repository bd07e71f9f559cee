"""The app's database (SQLite in the data folder, or PostgreSQL), upgraded at start, and each app context's connection.

The package's modules: engine (SQLAlchemy's engines, driver rows and errors), database (a connection whose waits stop
only its caller; StorageError), statements (a statement's SQL, storable parameters and rows), gate (this process's
writers taking turns), schema (the tables for Core), migrations (SQLite's legacy steps), upgrade and alembic/ (the
versioned schema), search (full-text search per database), copy (`webui db copy`), conversations (conversations and
message trees: queries and API shapes), answer_parts (a streaming answer's text while it streams), archive (export and
import), validate (what a client may store), presets (saved settings and each user's default), connections (the model
servers an admin adds from the page, keys sealed), module_keys (the keys an admin enters for drop-in modules, sealed
too), sealed (every column of sealed secrets), api_tokens (the hashes of personal API tokens), accounts (the accounts:
their own file on SQLite, a table of the one database on PostgreSQL).
"""
import time
from pathlib import Path

from flask import current_app, g
from flask_babel import gettext as _
from sqlalchemy.engine import make_url

from ..config import ConfigError
from . import accounts
from .database import Database, StorageError, storage_error
from .gate import Gate
from .engine import driver_errors, is_postgres, postgres_engine, private_file, sqlite_engine
from .upgrade import upgrade

FILENAME = "webui.sqlite3"


def app_connection(app):
    """A new connection to the app's database; its writers take turns with those of the app's other connections."""
    return Database(app.extensions["webui.store"])


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


def database_location(config):
    """Where the app's database is: a PostgreSQL URL, or a SQLite file's path (WEBUI_DATABASE_URL's, or the data
    folder's file)."""
    url = config.get("WEBUI_DATABASE_URL")
    if url and not is_postgres(url):
        return make_url(url).database
    return url or str(Path(config["WEBUI_DATA_DIR"]) / FILENAME)


def open_store(app):
    """The app's Store, with its engine."""
    location, wait = app.extensions["webui.database"], app.config["WEBUI_DATABASE_TIMEOUT"]
    if is_postgres(location):
        return postgres_engine(location, wait, Gate())
    private_file(location)
    return sqlite_engine(location, wait, Gate())


def upgraded(store):
    """Upgrade the database, a driver's error that says it cannot be used raised as a StorageError."""
    try:
        upgrade(store)
    except driver_errors() as e:
        failure = storage_error(e)
        if failure is None:
            raise
        raise failure from e


def use_wal(db):
    """Put a SQLite file in WAL mode, and close the connection. The switch needs the file to itself: while another
    process starting at the same time reads it, it is tried again, for the database's wait at most."""
    deadline = time.monotonic() + db.wait
    try:
        while True:
            try:
                db.execute("PRAGMA journal_mode = WAL")
                return
            except StorageError as e:
                if e.code != "storage_busy" or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
    finally:
        db.close()


def init_app(app):
    """Open (creating or upgrading) the database; one that cannot be used stops the start with a message that says
    why. (Only a process that serves marks answers cut off by a crash: see serving.) The accounts' file is opened
    when they are first read."""
    app.extensions["webui.database"] = location = database_location(app.config)
    store = app.extensions["webui.store"] = open_store(app)
    shown = store.engine.url.render_as_string(hide_password=True) if not store.sqlite else location
    # In an app context, so that the message is in the app's default language (a command's is its terminal's).
    with app.app_context():
        try:
            upgraded(store)
            if store.sqlite:
                # After the version check, so that a database from a newer version is not touched at all.
                use_wal(app_connection(app))
                # The connections opened before the switch set their durability for a rollback journal (see
                # engine.sqlite_connected): every one the app uses is opened after it.
                store.engine.dispose()
        except StorageError as e:
            raise ConfigError(_("The database %(path)s cannot be used: %(error)s", path=shown, error=e.cause)) from None
    app.teardown_appcontext(close_db)
    accounts.init_app(app)
