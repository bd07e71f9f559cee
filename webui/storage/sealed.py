"""The columns that hold tokens of the secret store (webui.secrets), for re-sealing them all under a new key."""
from flask_babel import gettext as _

from ..errors import UserError
from ..secrets import SecretError

# Every (table, its key column, column) holding sealed tokens (NULL for none). A table of sealed secrets is added here,
# and only here, for `webui secret rotate` to re-seal it with the others.
SEALED_COLUMNS = [("connections", "seq", "api_key"), ("module_keys", "name", "api_key")]


def opened(db, box):
    """Every stored token opened with `box`: a list of (table, key column, column, key, text). A token `box` cannot
    open is a UserError naming its place, before anything is written."""
    found = []
    for table, key_column, column in SEALED_COLUMNS:
        for key, token in db.execute(f"SELECT {key_column}, {column} FROM {table} WHERE {column} IS NOT NULL").fetchall():
            try:
                found.append((table, key_column, column, key, box.decrypt(token)))
            except SecretError:
                raise UserError(
                    _(
                        "The secret in %(table)s.%(column)s, row %(row)s, cannot be opened with the current secret "
                        "key: it is damaged or was sealed under another key.",
                        table=table,
                        column=column,
                        row=key,
                    ),
                    code="unreadable_secret",
                ) from None
    return found


def seal(db, found, box):
    """Store each text of `found` (as `opened` gives it) sealed anew with `box`, in its place."""
    for table, key_column, column, key, text in found:
        db.execute(f"UPDATE {table} SET {column} = ? WHERE {key_column} = ?", (box.encrypt(text), key))
