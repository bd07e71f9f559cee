"""Personal API tokens (see openai_api/tokens.py): their rows, and what of them their owner may see.

Each row holds a token's public id, its owner, its name, the SHA-256 of the whole token and when it was made and last
used; never the token itself.
"""
import time

from .conversations import iso

# How every token starts, so that people, logs and secret scanners can tell one: PREFIX, the id, "_", the secret.
PREFIX = "webui_"


def insert(db, token_id, owner, name, digest):
    """Store a new token of `owner`."""
    db.execute(
        "INSERT INTO api_tokens (id, owner, name, hash, created_at) VALUES (?, ?, ?, ?, ?)",
        (token_id, owner, name, digest, time.time()),
    )


def by_id(db, token_id):
    """The row of the token with this public id, or None."""
    return db.execute("SELECT * FROM api_tokens WHERE id = ?", (token_id,)).fetchone()


def owned(db, owner):
    """Every token of `owner`, newest first."""
    return db.execute("SELECT * FROM api_tokens WHERE owner = ? ORDER BY created_at DESC, seq DESC", (owner,)).fetchall()


def count_owned(db, owner):
    """How many tokens `owner` has."""
    return db.execute("SELECT COUNT(*) FROM api_tokens WHERE owner = ?", (owner,)).fetchone()[0]


def existing(db, token_ids):
    """The ids among `token_ids` that still have a row."""
    ids = list(token_ids)
    marks = ", ".join("?" * len(ids))
    return {row["id"] for row in db.execute(f"SELECT id FROM api_tokens WHERE id IN ({marks})", ids)} if ids else set()


def revoke(db, owner, token_id):
    """Delete a token of `owner`; whether there was one."""
    return db.execute("DELETE FROM api_tokens WHERE id = ? AND owner = ?", (token_id, owner)).rowcount > 0


def delete_owned(db, owner):
    """Delete every token of `owner`; how many there were."""
    return db.execute("DELETE FROM api_tokens WHERE owner = ?", (owner,)).rowcount


def mark_used(db, token_id, now):
    """Note that the token was used at `now`."""
    db.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (now, token_id))


def token_json(row):
    """A token as its owner may see it: never the token or its hash, only the prefix that names it."""
    return {
        "id": row["id"],
        "name": row["name"],
        "prefix": f"{PREFIX}{row['id']}_",
        "created_at": iso(row["created_at"]),
        "last_used_at": iso(row["last_used_at"]) if row["last_used_at"] is not None else None,
    }
