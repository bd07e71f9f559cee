"""The SQLite database in WEBUI_DATA_DIR: connections, the versioned schema and recovery at start."""
import sqlite3
from contextlib import contextmanager
from pathlib import Path

from flask import current_app, g

from .config import ConfigError

FILENAME = "webui.sqlite3"
# Milliseconds a writer waits for another thread or process to finish its transaction.
BUSY_TIMEOUT_MS = 10_000
TOKENIZER = "unicode61 remove_diacritics 2"


def search_index(index, table, column):
    """Statements for an FTS5 index of `table`.`column`, kept in step by triggers and filled from the rows there are."""
    # Part of released migration 2: a later schema change needs a new function, not an edit of this one.
    forget = f"INSERT INTO {index} ({index}, rowid, {column}) VALUES ('delete', old.seq, old.{column});"
    learn = f"INSERT INTO {index} (rowid, {column}) VALUES (new.seq, new.{column});"
    return (
        f"CREATE VIRTUAL TABLE {index} USING fts5 ({column}, content='{table}', content_rowid='seq', tokenize='{TOKENIZER}')",
        f"CREATE TRIGGER {index}_insert AFTER INSERT ON {table} BEGIN {learn} END",
        f"CREATE TRIGGER {index}_delete AFTER DELETE ON {table} BEGIN {forget} END",
        f"CREATE TRIGGER {index}_update AFTER UPDATE OF {column} ON {table} BEGIN {forget} {learn} END",
        f"INSERT INTO {index} ({index}) VALUES ('rebuild')",
    )


# MIGRATIONS[n] holds the statements that take a database from version n to n + 1. Released steps are
# never edited: a database written by any older version is upgraded by running the steps it has not seen.
MIGRATIONS = [
    (
        """CREATE TABLE conversations (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            owner TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            system_prompt TEXT NOT NULL DEFAULT '',
            options TEXT NOT NULL DEFAULT '{}',
            provider TEXT,
            model TEXT,
            leaf_id TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX conversations_by_owner ON conversations (owner, updated_at)",
        """CREATE TABLE messages (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            parent_id TEXT REFERENCES messages (id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            content TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'complete',
            provider TEXT,
            model TEXT,
            stats TEXT,
            error TEXT,
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX messages_by_conversation ON messages (conversation_id)",
        "CREATE INDEX messages_by_parent ON messages (parent_id)",
        "CREATE INDEX messages_by_status ON messages (status)",
    ),
    search_index("message_search", "messages", "content") + search_index("title_search", "conversations", "title"),
]
SCHEMA_VERSION = len(MIGRATIONS)


def connect(path):
    """Open a connection in autocommit mode; transactions are explicit (see transaction())."""
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA foreign_keys = ON")
    # In WAL mode NORMAL keeps every commit through a crash of the process; only a power cut may lose the last ones.
    db.execute("PRAGMA synchronous = NORMAL")
    return db


@contextmanager
def transaction(db):
    """Run a block as one write transaction, taking the write lock up front so it cannot deadlock."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def migrate(db):
    """Bring the schema up to SCHEMA_VERSION, one step per transaction."""
    for _ in range(SCHEMA_VERSION + 1):
        with transaction(db):
            # Read inside the transaction: another process starting at the same time may have just upgraded.
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ConfigError(
                    f"the database was written by a newer version of webui (schema {version}; this one knows {SCHEMA_VERSION})"
                )
            if version == SCHEMA_VERSION:
                return
            for statement in MIGRATIONS[version]:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version + 1}")


def recover(db):
    """Answers that were streaming when the last process died stay, marked interrupted."""
    db.execute("UPDATE messages SET status = 'interrupted' WHERE status = 'streaming'")


def get_db():
    """The connection of the current app context, opened on first use."""
    if "db" not in g:
        g.db = connect(current_app.extensions["webui.database"])
    return g.db


def close_db(error=None):
    """Close the app context's connection, if it opened one."""
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_app(app):
    """Open (creating or upgrading) the database and mark answers cut off by a crash."""
    path = str(Path(app.config["WEBUI_DATA_DIR"]) / FILENAME)
    app.extensions["webui.database"] = path
    db = connect(path)
    try:
        migrate(db)
        # After the version check, so that a database from a newer version is not touched at all.
        db.execute("PRAGMA journal_mode = WAL")
        recover(db)
    finally:
        db.close()
    app.teardown_appcontext(close_db)
