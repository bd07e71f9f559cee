"""`webui db copy`'s work: every row of the app's database (accounts too) into an empty PostgreSQL one, then counted.

The whole copy is one transaction on the target: a copy that fails leaves it empty. Its schema is made first by the
same upgrade a server runs at start. Identity columns (`seq`) keep their numbers, and their sequences go on after the
largest. Attachment files are not rows: they stay in WEBUI_DATA_DIR/attachments, which the new hosts must share.
"""
from flask_babel import gettext as _
from sqlalchemy import false, func, insert, select

from ..errors import UserError
from . import accounts, schema
from .statements import storable_in_postgres
from .engine import is_postgres, postgres_engine
from .gate import Gate
from .upgrade import upgrade

BATCH = 1000


def target_store(url, wait):
    """The Store of the PostgreSQL database to fill, its schema made; UserError if it is not PostgreSQL."""
    if not is_postgres(url):
        raise UserError(_("The target must be a PostgreSQL database: a URL that starts with postgresql://."))
    store = postgres_engine(url, wait, Gate())
    upgrade(store)
    return store


def counts(connection, tables):
    """table name -> how many rows it holds."""
    return {table.name: connection.execute(select(func.count()).select_from(table)).scalar() for table in tables}


def source_rows(source, table):
    """The rows of a table in the app's database, in batches of dicts (the accounts from wherever they live)."""
    if table is schema.users:
        rows = accounts.read(select(schema.users))
        yield [dict(zip(table.columns.keys(), row)) for row in rows]
        return
    with source.engine.connect() as connection:
        result = connection.execute(select(table).order_by(*table.primary_key.columns))
        while batch := result.mappings().fetchmany(BATCH):
            yield [{name: storable_in_postgres(value) for name, value in row.items()} for row in batch]


def source_counts(source):
    """table name -> how many rows the app's database holds (the accounts from wherever they live)."""
    with source.engine.connect() as connection:
        found = counts(connection, [table for table in schema.COPIED if table is not schema.users])
    found["users"] = accounts.read(select(func.count()).select_from(schema.users))[0][0] if accounts.has_any() else 0
    return found


def next_seq(table):
    """The statement that makes the table's sequence go on after its largest `seq`."""
    largest = func.coalesce(select(func.max(table.c.seq)).scalar_subquery(), 0)
    return select(func.setval(func.pg_get_serial_sequence(table.name, "seq"), largest + 1, false()))


def copy_rows(source, target):
    """Copy every table's rows in one transaction on `target`, refusing a target that holds any row."""
    with target.engine.connect() as connection:
        connection.exec_driver_sql("BEGIN")
        try:
            held = {name: count for name, count in counts(connection, schema.COPIED).items() if count}
            if held:
                tables = ", ".join(sorted(held))
                raise UserError(_("The target database is not empty (rows in: %(tables)s). Copy into an empty one.",
                                  tables=tables))
            for table in schema.COPIED:
                for batch in source_rows(source, table):
                    if batch:
                        connection.execute(insert(table), batch)
                if "seq" in table.columns:
                    connection.execute(next_seq(table))
        except BaseException:
            connection.exec_driver_sql("ROLLBACK")
            raise
        connection.exec_driver_sql("COMMIT")


def copy_database(source, url, wait):
    """Copy the app's database into the empty PostgreSQL database at `url`: [(table, rows in the source, rows in the
    target)] once copied, every count checked."""
    target = target_store(url, wait)
    try:
        copy_rows(source, target)
        with target.engine.connect() as connection:
            copied = counts(connection, schema.COPIED)
    finally:
        target.engine.dispose()
    before = source_counts(source)
    return [(table.name, before[table.name], copied[table.name]) for table in schema.COPIED]
