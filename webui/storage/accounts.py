"""The accounts: their table, each app context's connection to it, and the queries on it.

On PostgreSQL the table `users` is in the one database (made by the baseline revision), so that every host shares the
accounts. On SQLite it stays in its own file, WEBUI_DATA_DIR/users.db, made by the first account: reading never makes
it, and a file an older version wrote is upgraded in place by its own steps when first opened. Moving it into the
conversations' file would need a copy between two files that a crash could leave half done, and would change what
existing installs back up; keeping it costs nothing. Its calls go through Database like the conversations' (off the
event loop, writers taking turns, WEBUI_DATABASE_TIMEOUT, a database that cannot be used raising StorageError).
Each account is an admin or a user; while there are accounts, at least one is an admin.
"""
import os
import time
from pathlib import Path

from flask import current_app, g
from sqlalchemy import bindparam, delete, exists, insert, literal_column, select, update

from .database import Database
from .statements import run_statement
from .engine import ACCOUNTS_LOCK, Store, private_file, sqlite_engine
from .gate import Gate
from .schema import users

FILENAME = "users.db"
# The table as the first release made it; MIGRATIONS[n] takes the file from version n (its PRAGMA user_version) to
# n + 1. Released steps are never edited: a file written by any older version is upgraded by the steps it has not seen.
SCHEMA = """CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    token TEXT NOT NULL,
    created_at REAL NOT NULL
)"""
MIGRATIONS = [
    # What an account may change: "admin" (what the whole server uses) or "user" (their own things only).
    ("ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user'",),
]
SCHEMA_VERSION = len(MIGRATIONS)

# The queries, Core expressions compiled once per database (the file's own upgrade above stays SQLite's SQL).
NAMED = users.c.name == bindparam("account")
ANY = select(users.c.name).limit(1)
NAMES = select(users.c.name).order_by(users.c.name)
TOKEN = select(users.c.token).where(NAMED)
CREDENTIALS = select(users.c.password_hash, users.c.token).where(NAMED)
ROLE = select(users.c.role).where(NAMED)
ROLES = select(users.c.name, users.c.role).order_by(users.c.name)
AN_ADMIN = select(users.c.name).where(users.c.role == "admin").limit(1)
# Of two made in the same instant, the oldest is the one stored first (SQLite's rowid; PostgreSQL's accounts, all made
# by this version, have distinct times, and their names decide a tie): by whether the database is SQLite.
OLDEST = {
    sqlite: select(users.c.name).order_by(users.c.created_at, tie).limit(1)
    for sqlite, tie in ((True, literal_column("rowid")), (False, users.c.name))
}
CROWN = update(users).where(NAMED).values(role="admin")
INSERT = insert(users).values(
    name=bindparam("account"), password_hash=bindparam("new_hash"), token=bindparam("new_token"),
    created_at=bindparam("now"), role=bindparam("new_role"),
)
SET_CREDENTIALS = update(users).where(NAMED).values(password_hash=bindparam("new_hash"), token=bindparam("new_token"))
SET_TOKEN = update(users).where(NAMED).values(token=bindparam("new_token"))
# Unless it is the last admin (checked in the statement, so two demotions at once cannot leave none).
others = users.alias("others")
other_admin = exists().where(others.c.role == "admin", others.c.name != bindparam("account"))
DEMOTE = update(users).where(NAMED, (users.c.role != "admin") | other_admin).values(role="user")
DELETE = delete(users).where(NAMED)


def init_app(app):
    """Say where the app's accounts live, and close each app context's connection to them with the context."""
    store, wait = app.extensions["webui.store"], app.config["WEBUI_DATABASE_TIMEOUT"]
    if store.sqlite:
        path = app.extensions["webui.accounts"] = str(Path(app.config["WEBUI_DATA_DIR"]) / FILENAME)
        store = sqlite_engine(path, wait, Gate())
    else:
        # The same database, but writers of their own: a write of the accounts never waits for one of conversations.
        store = Store(store.engine, Gate(), wait, ACCOUNTS_LOCK)
    app.extensions["webui.accounts.store"] = store
    # The table of a PostgreSQL database is made by its upgrade at start.
    app.extensions["webui.accounts.upgraded"] = not store.sqlite
    app.teardown_appcontext(close_accounts_db)


def written(path):
    """Whether SQLite has written the file: a missing or empty one (its first account not committed yet) holds none."""
    return os.path.exists(path) and os.path.getsize(path) > 0


def accounts_db(create=False):
    """The app context's connection to the accounts file, opened on first use; None while the file holds no account,
    unless `create`."""
    if "accounts_db" not in g:
        store = current_app.extensions["webui.accounts.store"]
        path = current_app.extensions.get("webui.accounts")
        if store.sqlite and not written(path):
            if not create:
                return None
            private_file(path)
        db = Database(store)
        try:
            upgrade_once(db)
        except BaseException:
            db.close()
            raise
        g.accounts_db = db
    return g.accounts_db


def upgrade_once(db):
    """Upgrade a file an older version wrote before anything reads it; checked once a process."""
    if not current_app.extensions["webui.accounts.upgraded"]:
        if db.execute("PRAGMA user_version")[0][0] < SCHEMA_VERSION:
            db.write(upgrade)
        current_app.extensions["webui.accounts.upgraded"] = True


def close_accounts_db(error=None):
    """Close the app context's connection to the accounts, if it opened one."""
    db = g.pop("accounts_db", None)
    if db is not None:
        db.close()


def read(statement, **params):
    """The rows of a query (a Core expression and its parameters by name); none while the file holds no account."""
    db = accounts_db()
    return db.execute(statement, params) if db is not None else []


def upgrade(connection):
    """In the caller's write transaction, bring a SQLite file to this version: make the table if it has none, run the
    steps it has not seen, then crown the oldest account if none is an admin (a file from before roles had none)."""
    if not connection.store.sqlite:
        return
    version = run_statement(connection, "PRAGMA user_version")[0][0][0]
    if version >= SCHEMA_VERSION:
        return
    run_statement(connection, SCHEMA)
    for step in MIGRATIONS[version:]:
        for statement in step:
            run_statement(connection, statement)
    run_statement(connection, f"PRAGMA user_version = {SCHEMA_VERSION}")
    crown_oldest(connection)


def crown_oldest(connection):
    """Make the oldest account an admin when there are accounts and none is one: the name crowned, or None. So the
    first account is an admin, and so is the oldest one left when the last admin is deleted."""
    if run_statement(connection, AN_ADMIN)[0]:
        return None
    oldest = run_statement(connection, OLDEST[connection.store.sqlite])[0]
    if not oldest:
        return None
    run_statement(connection, CROWN, {"account": oldest[0]["name"]})
    return oldest[0]["name"]


def upgraded(connection, function, args):
    """`function(connection, *args)` on a file brought to this version first."""
    upgrade(connection)
    return function(connection, *args)


def write(function, *args):
    """`function(connection, *args)` as one write transaction on the accounts, making the file if there is none."""
    return accounts_db(create=True).write(upgraded, function, args)


def changed_rows(connection, statement, params):
    """Run one statement (a Core expression and its parameters by name): how many rows it changed."""
    return run_statement(connection, statement, params)[1]


def change(statement, **params):
    """Run one statement that changes the accounts as one write transaction; how many rows it changed."""
    return write(changed_rows, statement, params)


def has_any():
    """Whether at least one account exists."""
    return bool(read(ANY))


def names():
    """Every user name, sorted."""
    return [row["name"] for row in read(NAMES)]


def token_of(name):
    """The token every session of the user carries, or None when there is no such user."""
    rows = read(TOKEN, account=name)
    return rows[0]["token"] if rows else None


def credentials(name):
    """The user's (password hash, token), or None when there is no such user."""
    rows = read(CREDENTIALS, account=name)
    return (rows[0]["password_hash"], rows[0]["token"]) if rows else None


def role(name):
    """The account's role, "admin" or "user", or None when there is no such account."""
    rows = read(ROLE, account=name)
    return rows[0]["role"] if rows else None


def roles():
    """Every account's (name, role), sorted by name."""
    return [(row["name"], row["role"]) for row in read(ROLES)]


def insert(connection, name, password_hash, token, role):
    """Store a new account, an admin if it is the first."""
    run_statement(connection, INSERT, {
        "account": name, "new_hash": password_hash, "new_token": token, "now": time.time(), "new_role": role,
    })
    crown_oldest(connection)


def add(name, password_hash, token, role="user"):
    """Store a new account with `role` (the first account is an admin whatever it asks); engine.duplicate_errors() when
    the name is taken."""
    write(insert, name, password_hash, token, role)


def set_credentials(name, password_hash, token):
    """Store a user's new password hash and token; False when there is no such user."""
    return change(SET_CREDENTIALS, account=name, new_hash=password_hash, new_token=token) > 0


def set_token(name, token):
    """Store a user's new token; False when there is no such user."""
    return change(SET_TOKEN, account=name, new_token=token) > 0


def promote(name):
    """Make an account an admin; False when there is no such account."""
    return change(CROWN, account=name) > 0


def demote(name):
    """Make an account a user, unless it is the last admin (checked in the same transaction, so two demotions at
    once cannot leave none); False when there is no such account or it is the last admin."""
    return change(DEMOTE, account=name) > 0


def remove(connection, name):
    """Delete an account: (whether it existed, the account crowned because it was the last admin, or None)."""
    if not changed_rows(connection, DELETE, {"account": name}):
        return False, None
    return True, crown_oldest(connection)


def delete(name):
    """Delete an account; the oldest account left becomes an admin if it was the last one. (Whether it existed, the
    name of the account crowned or None.)"""
    return write(remove, name)
