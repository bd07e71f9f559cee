"""The keys an admin enters from the page for drop-in modules with `needs_auth`, each sealed as a connection's key is.

A row's `api_key` is a token of the secret store: connections.sealed makes one, connections.key_of opens it.
"""
import time


def all_rows(db):
    """Every module's stored key, by module name."""
    return db.execute("SELECT * FROM module_keys ORDER BY name").fetchall()


def put(db, name, token):
    """Store the sealed key `token` for the module `name`, in place of any it had."""
    db.execute(
        "INSERT INTO module_keys (name, api_key, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET api_key = excluded.api_key, updated_at = excluded.updated_at",
        (name, token, time.time()),
    )


def delete(db, name):
    """Forget the module's key; whether it had one."""
    return db.execute("DELETE FROM module_keys WHERE name = ?", (name,)).rowcount > 0
