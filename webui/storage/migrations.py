"""SQLite's released steps of the schema (PRAGMA user_version 1..8), which Alembic's baseline revision finishes.

A SQLite file made before Alembic has a user_version and no alembic_version table; Alembic sees no revision and runs
the baseline, which on SQLite runs the steps the file has not seen (every one for a new file) and sets user_version to
8, then records the baseline. Every later change is an Alembic revision, on both databases: these steps are never
edited, and none is added.
"""
from ..config import ConfigError

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
    (
        # A streaming answer's text grows by parts, one row per write, so a write costs what it adds. Only a message
        # that is streaming has parts: its end (or recover) appends them to its content and deletes them at once.
        """CREATE TABLE answer_parts (
            seq INTEGER PRIMARY KEY,
            message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
            text TEXT NOT NULL,
            lead TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX answer_parts_by_message ON answer_parts (message_id, seq)",
        # Each part is indexed once, as it comes, with `lead` (the unfinished word before it) in front, so a word cut
        # in two by a write is found whole. Contentless: the words are only looked up, never read back.
        f"CREATE VIRTUAL TABLE part_search USING fts5 (words, content='', tokenize='{TOKENIZER}')",
        "CREATE TRIGGER part_search_insert AFTER INSERT ON answer_parts BEGIN"
        " INSERT INTO part_search (rowid, words) VALUES (new.seq, new.lead || new.text); END",
        "CREATE TRIGGER part_search_delete AFTER DELETE ON answer_parts BEGIN"
        " INSERT INTO part_search (part_search, rowid, words) VALUES ('delete', old.seq, old.lead || old.text); END",
        # Every message as readers see it: its content followed by its parts, in the order they were written. It
        # names messages' columns one by one: a step that adds a column to messages makes this view again.
        """CREATE VIEW stored_messages AS SELECT
            seq, id, conversation_id, parent_id, role,
            content || COALESCE((SELECT group_concat(text, '') FROM
                (SELECT text FROM answer_parts p WHERE p.message_id = m.id ORDER BY p.seq)), '') AS content,
            status, provider, model, stats, error, created_at
        FROM messages m""",
    ),
    (
        # A preset: a name, a system prompt and generation options. `owner` is the user who keeps it, or NULL for one
        # an admin published to everyone.
        """CREATE TABLE presets (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            owner TEXT,
            name TEXT NOT NULL,
            system_prompt TEXT NOT NULL DEFAULT '',
            options TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX presets_by_owner ON presets (owner)",
        # At most one default per user (the key), their own preset or a shared one; it goes with its preset.
        """CREATE TABLE preset_defaults (
            owner TEXT PRIMARY KEY,
            preset_id TEXT NOT NULL REFERENCES presets (id) ON DELETE CASCADE
        )""",
        "CREATE INDEX preset_defaults_by_preset ON preset_defaults (preset_id)",
    ),
    (
        # The model servers an admin connects from the page (storage/connections.py). `models` is a JSON list of the
        # models offered, NULL for all the server lists; `api_key` is a token of the secret store (secrets.py), never
        # the key itself.
        """CREATE TABLE connections (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            base_url TEXT NOT NULL,
            models TEXT,
            context_length INTEGER,
            vision INTEGER NOT NULL DEFAULT 0,
            enabled INTEGER NOT NULL DEFAULT 1,
            api_key TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
    ),
    (
        # The keys an admin enters from the page for drop-in modules that need one (storage/module_keys.py), by the
        # module's name; `api_key` is a token of the secret store, never the key itself.
        """CREATE TABLE module_keys (
            name TEXT PRIMARY KEY,
            api_key TEXT NOT NULL,
            updated_at REAL NOT NULL
        )""",
    ),
    (
        # A file a user attached (webui/attachments): its bytes are a file in WEBUI_DATA_DIR/attachments named by
        # `hash` (SHA-256 hex; an image's re-encoding, whose thumbnail is `thumbnail_hash`), shared by every row with
        # the same content. `name` is for display only, `text` what a text file or a PDF says.
        """CREATE TABLE attachments (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            owner TEXT NOT NULL,
            hash TEXT NOT NULL,
            thumbnail_hash TEXT,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            media_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            text TEXT,
            width INTEGER,
            height INTEGER,
            pages INTEGER,
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX attachments_by_owner ON attachments (owner, created_at)",
        "CREATE INDEX attachments_by_hash ON attachments (hash)",
        "CREATE INDEX attachments_by_thumbnail ON attachments (thumbnail_hash)",
        # Which attachments a message carries, in order. A message's deletion (its conversation's) takes its links.
        """CREATE TABLE message_attachments (
            message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
            attachment_id TEXT NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            PRIMARY KEY (message_id, position)
        )""",
        "CREATE INDEX message_attachments_by_attachment ON message_attachments (attachment_id)",
        # An attachment goes with the last message that carried it; one never sent stays until the clean-up.
        "CREATE TRIGGER attachment_unlinked AFTER DELETE ON message_attachments BEGIN"
        " DELETE FROM attachments WHERE id = old.attachment_id"
        " AND NOT EXISTS (SELECT 1 FROM message_attachments WHERE attachment_id = old.attachment_id); END",
        # The files of deleted rows, for the clean-up to remove once no row names them (webui/attachments/cleanup.py):
        # kept in the database, so a crash between the commit and the removal loses no file's trace.
        "CREATE TABLE attachment_garbage (hash TEXT PRIMARY KEY)",
        "CREATE TRIGGER attachment_deleted AFTER DELETE ON attachments BEGIN"
        " INSERT OR IGNORE INTO attachment_garbage (hash) VALUES (old.hash);"
        " INSERT OR IGNORE INTO attachment_garbage (hash) SELECT old.thumbnail_hash WHERE old.thumbnail_hash IS NOT NULL;"
        " END",
    ),
    (
        # Personal API tokens for /v1 (storage/api_tokens.py): `id` is the token's public part, written into the token
        # itself; `hash` is the SHA-256 of the whole token, which is never stored. `owner` is whose rights it carries.
        """CREATE TABLE api_tokens (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            owner TEXT NOT NULL,
            name TEXT NOT NULL,
            hash TEXT NOT NULL,
            created_at REAL NOT NULL,
            last_used_at REAL
        )""",
        "CREATE INDEX api_tokens_by_owner ON api_tokens (owner)",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)


def legacy_version(connection):
    """A SQLite file's step (its PRAGMA user_version), which must be one this code knows."""
    version = connection.exec_driver_sql("PRAGMA user_version").scalar()
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"the database was written by a newer version of webui (schema {version}; this one knows {SCHEMA_VERSION})"
        )
    return version


def finish_legacy_steps(connection):
    """Run the steps a SQLite file has not seen (all of them for a new file), on a SQLAlchemy connection inside the
    caller's write transaction: what Alembic's baseline revision does on SQLite."""
    version = legacy_version(connection)
    for step in MIGRATIONS[version:]:
        for statement in step:
            connection.exec_driver_sql(statement)
    connection.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
