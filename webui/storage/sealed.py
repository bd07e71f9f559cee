"""The columns that hold tokens of the secret store (webui.secrets), for re-sealing them all under a new key."""
from flask_babel import gettext as _
from sqlalchemy import bindparam, select, update

from ..errors import UserError
from ..secrets import SecretError
from .schema import connections, module_keys

# Every (table, its key column, column) holding sealed tokens (NULL for none). A table of sealed secrets is added here,
# and only here, for `webui secret rotate` to re-seal it with the others.
SEALED_COLUMNS = [
    (connections, connections.c.seq, connections.c.api_key),
    (module_keys, module_keys.c.name, module_keys.c.api_key),
]
# For each: its tokens with their keys, and the statement that stores one anew.
READ = [select(key_column, column).where(column.is_not(None)) for _table, key_column, column in SEALED_COLUMNS]
WRITE = [
    update(table).where(key_column == bindparam("key")).values({column.name: bindparam("token")})
    for table, key_column, column in SEALED_COLUMNS
]


def opened(db, box):
    """Every stored token opened with `box`: a list of (place, key, text), its place an index of SEALED_COLUMNS. A token
    `box` cannot open is a UserError naming its place, before anything is written."""
    found = []
    for place, (table, _key_column, column) in enumerate(SEALED_COLUMNS):
        for key, token in db.execute(READ[place]).fetchall():
            try:
                found.append((place, key, box.decrypt(token)))
            except SecretError:
                raise UserError(
                    _(
                        "The secret in %(table)s.%(column)s, row %(row)s, cannot be opened with the current secret "
                        "key: it is damaged or was sealed under another key.",
                        table=table.name,
                        column=column.name,
                        row=key,
                    ),
                    code="unreadable_secret",
                ) from None
    return found


def seal(db, found, box):
    """Store each text of `found` (as `opened` gives it) sealed anew with `box`, in its place."""
    for place, key, text in found:
        db.execute(WRITE[place], {"key": key, "token": box.encrypt(text)})
