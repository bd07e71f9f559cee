"""Personal API tokens (see openai_api/tokens.py): their rows, and what of them their owner may see.

Each row holds a token's public id, its owner, its name, the SHA-256 of the whole token and when it was made and last
used; never the token itself. Queries are Core expressions, compiled once per database.
"""
import time

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy import insert as insert_into

from .conversations import iso
from .schema import api_tokens as tokens
from .search import json_list, listed

# How every token starts, so that people, logs and secret scanners can tell one: PREFIX, the id, "_", the secret.
PREFIX = "webui_"

INSERT = insert_into(tokens).values(
    id=bindparam("token_id"), owner=bindparam("owner_name"), name=bindparam("token_name"),
    hash=bindparam("digest"), created_at=bindparam("now"),
)
BY_ID = select(tokens).where(tokens.c.id == bindparam("token_id"))
OWNED = select(tokens).where(tokens.c.owner == bindparam("owner_name")).order_by(tokens.c.created_at.desc(), tokens.c.seq.desc())
COUNT_OWNED = select(func.count()).select_from(tokens).where(tokens.c.owner == bindparam("owner_name"))
REVOKE = delete(tokens).where(tokens.c.id == bindparam("token_id"), tokens.c.owner == bindparam("owner_name"))
DELETE_OWNED = delete(tokens).where(tokens.c.owner == bindparam("owner_name"))
listed_ids = listed("token_ids")
EXISTING = select(tokens.c.id).where(tokens.c.id.in_(select(listed_ids.c.value)))
MARK_USED = update(tokens).where(tokens.c.id == bindparam("token_id")).values(last_used_at=bindparam("now"))


def insert(db, token_id, owner, name, digest):
    """Store a new token of `owner`."""
    db.execute(INSERT, {"token_id": token_id, "owner_name": owner, "token_name": name, "digest": digest, "now": time.time()})


def by_id(db, token_id):
    """The row of the token with this public id, or None."""
    return db.execute(BY_ID, {"token_id": token_id}).fetchone()


def owned(db, owner):
    """Every token of `owner`, newest first."""
    return db.execute(OWNED, {"owner_name": owner}).fetchall()


def count_owned(db, owner):
    """How many tokens `owner` has."""
    return db.execute(COUNT_OWNED, {"owner_name": owner}).fetchone()[0]


def existing(db, token_ids):
    """The ids among `token_ids` that still have a row."""
    ids = list(token_ids)
    return {row["id"] for row in db.execute(EXISTING, {"token_ids": json_list(ids)})} if ids else set()


def revoke(db, owner, token_id):
    """Delete a token of `owner`; whether there was one."""
    return db.execute(REVOKE, {"token_id": token_id, "owner_name": owner}).rowcount > 0


def delete_owned(db, owner):
    """Delete every token of `owner`; how many there were."""
    return db.execute(DELETE_OWNED, {"owner_name": owner}).rowcount


def mark_used(db, token_id, now):
    """Note that the token was used at `now`."""
    db.execute(MARK_USED, {"token_id": token_id, "now": now})


def token_json(row):
    """A token as its owner may see it: never the token or its hash, only the prefix that names it."""
    return {
        "id": row["id"],
        "name": row["name"],
        "prefix": f"{PREFIX}{row['id']}_",
        "created_at": iso(row["created_at"]),
        "last_used_at": iso(row["last_used_at"]) if row["last_used_at"] is not None else None,
    }
