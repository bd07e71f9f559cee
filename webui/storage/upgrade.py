"""Bring a database to this version's schema at start: Alembic's revisions, run by one process at a time.

No alembic.ini: the scripts are the package's alembic/ folder. The upgrade runs in one transaction under the
database's write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock), so two processes starting at once
take turns and the second finds the schema current. A database a newer version wrote is refused before anything is
written. A database already at HEAD is only read, without loading Alembic (tens of megabytes a process).
"""
from pathlib import Path

from sqlalchemy import column, inspect, select, table

from ..config import ConfigError
from .migrations import legacy_version

SCRIPTS = Path(__file__).parent / "alembic"
# The newest revision in alembic/versions: a new revision changes it (tests/test_upgrade.py checks that they agree).
HEAD = "0003"
# The advisory lock PostgreSQL's upgrades take turns at (a number of this app's own).
UPGRADE_LOCK = 0x7765627575


def alembic_config(connection):
    """Alembic's configuration, given the connection to run on."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


def revision(connection):
    """The revision the database records, or None (a new database, or a SQLite file from before Alembic)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(select(column("version_num")).select_from(table("alembic_version"))).scalar()


def check_known(connection, config):
    """Refuse a database whose revision (or, on SQLite, legacy step) is not one this code knows."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    if connection.dialect.name == "sqlite":
        legacy_version(connection)
    current = revision(connection)
    if current is None:
        return
    try:
        known = ScriptDirectory.from_config(config).get_revision(current)
    except CommandError:
        known = None
    if known is None:
        raise ConfigError(f"the database was written by a newer version of webui (revision {current}, unknown to this one)")


def lock(connection, wait):
    """Begin the upgrade's transaction holding the database's write lock, waiting `wait` seconds at most for it."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"PRAGMA busy_timeout = {round(wait * 1000)}")
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        return
    connection.exec_driver_sql("BEGIN")
    connection.exec_driver_sql(f"SET LOCAL lock_timeout = {round(wait * 1000)}")
    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({UPGRADE_LOCK})")


def upgrade(store):
    """Run the revisions the database has not seen, all in one transaction; a current database is only read."""
    with store.engine.connect() as connection:
        current = revision(connection) == HEAD
        connection.rollback()
        if current:
            return
        from alembic import command

        lock(connection, store.wait)
        try:
            config = alembic_config(connection)
            check_known(connection, config)
            command.upgrade(config, "head")
        except BaseException:
            connection.exec_driver_sql("ROLLBACK")
            raise
        connection.exec_driver_sql("COMMIT")
