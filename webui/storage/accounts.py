"""The accounts file, WEBUI_DATA_DIR/users.db: its table, each app context's connection to it, and the queries on it.

The file is its own, apart from the conversations, and made by the first account: reading never makes it. Its calls go
through Database like the conversations' (off the event loop, writers taking turns, WEBUI_DATABASE_TIMEOUT, a file
that cannot be used raising StorageError).
"""
import os
import time
from pathlib import Path

from flask import current_app, g

from .database import Database, Gate, run_statement

FILENAME = "users.db"
SCHEMA = """CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    token TEXT NOT NULL,
    created_at REAL NOT NULL
)"""


def init_app(app):
    """Say where the app's accounts live, and close each app context's connection to them with the context."""
    app.extensions["webui.accounts"] = str(Path(app.config["WEBUI_DATA_DIR"]) / FILENAME)
    app.extensions["webui.accounts.writers"] = Gate()
    app.teardown_appcontext(close_accounts_db)


def written(path):
    """Whether SQLite has written the file: a missing or empty one (its first account not committed yet) holds none."""
    return os.path.exists(path) and os.path.getsize(path) > 0


def accounts_db(create=False):
    """The app context's connection to the accounts file, opened on first use; None while the file holds no account,
    unless `create`."""
    if "accounts_db" not in g:
        path = current_app.extensions["webui.accounts"]
        if not written(path):
            if not create:
                return None
            # Made with mode 0600 before SQLite opens it: SQLite gives its journal the database file's mode.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        gate = current_app.extensions["webui.accounts.writers"]
        g.accounts_db = Database(path, gate, current_app.config["WEBUI_DATABASE_TIMEOUT"])
    return g.accounts_db


def close_accounts_db(error=None):
    """Close the app context's connection to the accounts, if it opened one."""
    db = g.pop("accounts_db", None)
    if db is not None:
        db.close()


def read(sql, *args):
    """The rows of a query; none while the file holds no account."""
    db = accounts_db()
    return db.execute(sql, args) if db is not None else []


def with_table(connection, sql, args):
    """Make the table if the file has none yet, then run the statement: how many rows it changed."""
    connection.execute(SCHEMA)
    return run_statement(connection, sql, args)[1]


def change(sql, *args):
    """Run one statement that changes the accounts as one write transaction; how many rows it changed."""
    return accounts_db(create=True).write(with_table, sql, args)


def has_any():
    """Whether at least one account exists."""
    return bool(read("SELECT 1 FROM users LIMIT 1"))


def names():
    """Every user name, sorted."""
    return [row["name"] for row in read("SELECT name FROM users ORDER BY name")]


def token_of(name):
    """The token every session of the user carries, or None when there is no such user."""
    rows = read("SELECT token FROM users WHERE name = ?", name)
    return rows[0]["token"] if rows else None


def credentials(name):
    """The user's (password hash, token), or None when there is no such user."""
    rows = read("SELECT password_hash, token FROM users WHERE name = ?", name)
    return (rows[0]["password_hash"], rows[0]["token"]) if rows else None


def add(name, password_hash, token):
    """Store a new account; sqlite3.IntegrityError when the name is taken."""
    change("INSERT INTO users (name, password_hash, token, created_at) VALUES (?, ?, ?, ?)", name, password_hash, token, time.time())


def set_credentials(name, password_hash, token):
    """Store a user's new password hash and token; False when there is no such user."""
    return change("UPDATE users SET password_hash = ?, token = ? WHERE name = ?", password_hash, token, name) > 0


def set_token(name, token):
    """Store a user's new token; False when there is no such user."""
    return change("UPDATE users SET token = ? WHERE name = ?", token, name) > 0


def delete(name):
    """Delete an account; False when there is no such user."""
    return change("DELETE FROM users WHERE name = ?", name) > 0
