"""The keys an admin enters from the page for drop-in modules with `needs_auth`, each sealed as a connection's key is.

A row's `api_key` is a token of the secret store: connections.sealed makes one, connections.key_of opens it.
"""
import time

from sqlalchemy import bindparam, select
from sqlalchemy import delete as delete_from

from .schema import module_keys as table
from .search import Upserts

ALL = select(table).order_by(table.c.name)
# By database name (see search.Upserts).
PUT = Upserts(table, ("name",), {"name": bindparam("module"), "api_key": bindparam("token"), "updated_at": bindparam("now")})
DELETE = delete_from(table).where(table.c.name == bindparam("module"))


def all_rows(db):
    """Every module's stored key, by module name."""
    return db.execute(ALL).fetchall()


def put(db, name, token):
    """Store the sealed key `token` for the module `name`, in place of any it had."""
    db.execute(PUT[db.store.name], {"module": name, "token": token, "now": time.time()})


def delete(db, name):
    """Forget the module's key; whether it had one."""
    return db.execute(DELETE, {"module": name}).rowcount > 0
