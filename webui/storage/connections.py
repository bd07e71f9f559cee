"""The connections to model servers an admin adds from the page: their rows, with each key sealed by the secret store.

A key goes into the database only as a token of webui.secrets (AES-GCM): `sealed` makes one, `key_of` opens it.
"""
import json
import time

from ..secrets import get_box
from .conversations import new_id

# The fields the page sets, in the order of the table's columns.
FIELDS = ("name", "type", "base_url", "models", "context_length", "vision", "enabled")


def sealed(key):
    """The token stored for `key`; None for no key."""
    return get_box().encrypt(key) if key else None


def key_of(row):
    """The key of a connection's row, or None; secrets.SecretError when the token cannot be opened with this server's
    secret key."""
    return get_box().decrypt(row["api_key"]) if row["api_key"] else None


def fields_of(row):
    """The fields of a row as the page sets them: `models` a list or None (all), `vision` a boolean or a list of model
    names, `enabled` a boolean."""
    models, vision = row["models"], row["vision"]
    # A text on both databases when a list (PostgreSQL's column is text, so 0 and 1 come back as text there too).
    vision = json.loads(vision) if isinstance(vision, str) else vision
    return {
        "name": row["name"],
        "type": row["type"],
        "base_url": row["base_url"],
        "models": json.loads(models) if models is not None else None,
        "context_length": row["context_length"],
        "vision": vision if isinstance(vision, list) else bool(vision),
        "enabled": bool(row["enabled"]),
    }


def columns(fields):
    """The values of FIELDS as stored. `vision` is 0 or 1 (none or all of its models), or the JSON text of a list of
    model names: SQLite keeps a text that is not a number as text, in this column of INTEGER affinity too."""
    vision = fields["vision"]
    stored = dict(
        fields,
        models=None if fields["models"] is None else json.dumps(fields["models"]),
        vision=json.dumps(vision) if isinstance(vision, list) else vision,
    )
    return [stored[key] for key in FIELDS]


def all_rows(db):
    """Every connection, in the order they were added."""
    return db.execute("SELECT * FROM connections ORDER BY seq").fetchall()


def exist(db):
    """Whether there is any connection, enabled or not."""
    return db.execute("SELECT 1 FROM connections LIMIT 1").fetchone() is not None


def get(db, connection_id):
    """A connection's row, or None."""
    return db.execute("SELECT * FROM connections WHERE id = ?", (connection_id,)).fetchone()


def add(db, fields, token):
    """Store a new connection with the sealed key `token` (or None); its id."""
    connection_id, now = new_id(), time.time()
    db.execute(
        f"INSERT INTO connections (id, {', '.join(FIELDS)}, api_key, created_at, updated_at)"
        f" VALUES (?, {', '.join('?' for _ in FIELDS)}, ?, ?, ?)",
        (connection_id, *columns(fields), token, now, now),
    )
    return connection_id


def update(db, connection_id, fields, token):
    """Store a connection's new fields and sealed key."""
    assignments = ", ".join(f"{key} = ?" for key in FIELDS)
    db.execute(
        f"UPDATE connections SET {assignments}, api_key = ?, updated_at = ? WHERE id = ?",
        (*columns(fields), token, time.time(), connection_id),
    )


def delete(db, connection_id):
    """Delete a connection; whether there was one."""
    return db.execute("DELETE FROM connections WHERE id = ?", (connection_id,)).rowcount > 0
