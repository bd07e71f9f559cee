"""The columns that hold tokens of the secret store (webui.secrets), for re-sealing them all under a new key."""
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import Column, Select, Update, bindparam, select, update

from ..errors import UserError
from ..secrets import SecretError
from .schema import connections, module_keys


@dataclass(frozen=True)
class SealedColumn:
    """A column holding sealed tokens (NULL for none), the statement that reads them with the keys of their rows, and
    the one that stores a token (`token`) anew in the row whose key is `key`."""

    column: Column
    read: Select
    write: Update


def sealed_column(column, key_column):
    """The SealedColumn of `column`, whose rows `key_column` names."""
    read = select(key_column, column).where(column.is_not(None))
    write = update(column.table).where(key_column == bindparam("key")).values({column.name: bindparam("token")})
    return SealedColumn(column, read, write)


# A column of sealed secrets is added here, and only here, for `webui secret rotate` to re-seal it with the others.
SEALED_COLUMNS = (
    sealed_column(connections.c.api_key, connections.c.seq),
    sealed_column(module_keys.c.api_key, module_keys.c.name),
)


def opened(db, box):
    """Every stored token opened with `box`: a list of (its SealedColumn, its row's key, its text). A token `box`
    cannot open is a UserError naming its place, before anything is written."""
    found = []
    for sealed in SEALED_COLUMNS:
        for key, token in db.execute(sealed.read).fetchall():
            try:
                found.append((sealed, key, box.decrypt(token)))
            except SecretError:
                raise UserError(
                    _(
                        "The secret in %(table)s.%(column)s, row %(row)s, cannot be opened with the current secret "
                        "key: it is damaged or was sealed under another key.",
                        table=sealed.column.table.name,
                        column=sealed.column.name,
                        row=key,
                    ),
                    code="unreadable_secret",
                ) from None
    return found


def seal(db, found, box):
    """Store each text of `found` (as `opened` gives it) sealed anew with `box`, in its place."""
    for sealed, key, text in found:
        db.execute(sealed.write, {"key": key, "token": box.encrypt(text)})
