"""The connections to model servers an admin adds from the page: their rows, with each key sealed by the secret store.

A key goes into the database only as a token of webui.secrets (AES-GCM): `sealed` makes one, `key_of` opens it.
Queries are Core expressions, compiled once per database.
"""
import json
import time

from sqlalchemy import bindparam, select
from sqlalchemy import delete as delete_from
from sqlalchemy import insert as insert_into
from sqlalchemy import update as update_table

from ..secrets import get_box
from .conversations import new_id
from .schema import connections as table

# The fields the page sets, in the order of the table's columns.
FIELDS = ("name", "type", "base_url", "models", "context_length", "vision", "enabled")
# Parameters are named after their columns with a prefix: SQLAlchemy keeps a column's own name for itself.
WRITTEN = {column: bindparam(f"new_{column}") for column in (*FIELDS, "api_key", "updated_at")}
ALL = select(table).order_by(table.c.seq)
ANY = select(table.c.seq).limit(1)
BY_ID = select(table).where(table.c.id == bindparam("connection_id"))
ADD = insert_into(table).values(id=bindparam("connection_id"), created_at=bindparam("new_created_at"), **WRITTEN)
UPDATE = update_table(table).where(table.c.id == bindparam("connection_id")).values(**WRITTEN)
DELETE = delete_from(table).where(table.c.id == bindparam("connection_id"))


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


def written(fields, token, now):
    """The parameters of WRITTEN for `fields` as the page sets them and the sealed key `token`. `vision` is 0 or 1 (none
    or all of its models), or the JSON text of a list of model names (SQLite keeps a text that is not a number as text,
    in this column of INTEGER affinity too; PostgreSQL's column is text)."""
    vision = fields["vision"]
    stored = dict(
        fields,
        models=None if fields["models"] is None else json.dumps(fields["models"]),
        vision=json.dumps(vision) if isinstance(vision, list) else vision,
        api_key=token,
        updated_at=now,
    )
    return {f"new_{column}": stored[column] for column in WRITTEN}


def all_rows(db):
    """Every connection, in the order they were added."""
    return db.execute(ALL).fetchall()


def exist(db):
    """Whether there is any connection, enabled or not."""
    return db.execute(ANY).fetchone() is not None


def get(db, connection_id):
    """A connection's row, or None."""
    return db.execute(BY_ID, {"connection_id": connection_id}).fetchone()


def add(db, fields, token):
    """Store a new connection with the sealed key `token` (or None); its id."""
    connection_id, now = new_id(), time.time()
    db.execute(ADD, {"connection_id": connection_id, "new_created_at": now, **written(fields, token, now)})
    return connection_id


def update(db, connection_id, fields, token):
    """Store a connection's new fields and sealed key."""
    db.execute(UPDATE, {"connection_id": connection_id, **written(fields, token, time.time())})


def delete(db, connection_id):
    """Delete a connection; whether there was one."""
    return db.execute(DELETE, {"connection_id": connection_id}).rowcount > 0
