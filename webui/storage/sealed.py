"""The columns that hold tokens of the secret store (webui.secrets), for re-sealing them all under a new key."""
from flask_babel import gettext as _

from ..errors import UserError
from ..secrets import SecretError

# Every (table, column) holding sealed tokens (NULL for none). A table of sealed secrets is added here, and only here,
# for `webui secret rotate` to re-seal it with the others.
SEALED_COLUMNS = [("connections", "api_key"), ("module_keys", "api_key")]


def opened(db, box):
    """Every stored token opened with `box`: a list of (table, column, rowid, text). A token `box` cannot open is a
    UserError naming its place, before anything is written."""
    found = []
    for table, column in SEALED_COLUMNS:
        for rowid, token in db.execute(f"SELECT rowid, {column} FROM {table} WHERE {column} IS NOT NULL").fetchall():
            try:
                found.append((table, column, rowid, box.decrypt(token)))
            except SecretError:
                raise UserError(
                    _(
                        "The secret in %(table)s.%(column)s, row %(row)d, cannot be opened with the current secret "
                        "key: it is damaged or was sealed under another key.",
                        table=table,
                        column=column,
                        row=rowid,
                    ),
                    code="unreadable_secret",
                ) from None
    return found


def seal(db, found, box):
    """Store each text of `found` (as `opened` gives it) sealed anew with `box`, in its place."""
    for table, column, rowid, text in found:
        db.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (box.encrypt(text), rowid))
