"""The app's database engines (SQLAlchemy: SQLite's file or a PostgreSQL pool) and the rows and errors of their drivers.

Callers never see SQLAlchemy's Connection: a Database holds one of the engine's driver connections (sqlite3 or psycopg,
both in autocommit mode, transactions explicit), so a statement costs what the driver costs. SQLAlchemy gives the pool
(whose connections a Database pings when they lay unused, so a restarted PostgreSQL is reconnected), the dialect that
compiles Core expressions, and Alembic's migrations.
"""
import logging
import math
import os
import sqlite3
import sys
import time
import weakref
from dataclasses import dataclass, field
from functools import lru_cache

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import make_url

# What a driver's error says about the database: each is a code the user is told. Any other error is a bug.
SQLITE_CODES = {
    sqlite3.SQLITE_BUSY: "storage_busy",
    sqlite3.SQLITE_LOCKED: "storage_busy",
    sqlite3.SQLITE_FULL: "storage_full",
    sqlite3.SQLITE_IOERR: "storage_failed",
    sqlite3.SQLITE_READONLY: "storage_failed",
    sqlite3.SQLITE_CANTOPEN: "storage_failed",
    sqlite3.SQLITE_PERM: "storage_failed",
    sqlite3.SQLITE_PROTOCOL: "storage_failed",
    sqlite3.SQLITE_CORRUPT: "storage_failed",
    sqlite3.SQLITE_NOTADB: "storage_failed",
}
# PostgreSQL's are named by SQLSTATE class or code (psycopg is imported only by a process that uses PostgreSQL).
POSTGRES_CODES = {"53100": "storage_full", "55P03": "storage_busy", "57014": "storage_busy", "53300": "storage_busy"}
POSTGRES_CLASSES = {"08": "storage_failed", "57": "storage_failed", "53": "storage_failed"}


def loaded_psycopg():
    """The psycopg module if this process loaded it (it did if it uses PostgreSQL), else None."""
    return sys.modules.get("psycopg")


def driver_errors():
    """The errors a driver raises, for an `except` clause: SQLite's, SQLAlchemy's (a pool's checkout) and, once
    loaded, psycopg's."""
    psycopg = loaded_psycopg()
    return (sqlite3.Error, sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError) + ((psycopg.Error,) if psycopg else ())


def duplicate_errors():
    """The errors of a row whose unique key is taken, for an `except` clause, whatever the database."""
    psycopg = loaded_psycopg()
    return (sqlite3.IntegrityError,) + ((psycopg.errors.UniqueViolation,) if psycopg else ())


# How many connections to a database one process keeps open (about one per native thread: every call runs in one), and
# how many more it may open under load (PostgreSQL; a SQLite file has no server to run out of connections).
POOL_SIZE = 10
POOL_OVERFLOW = 40


def error_code(error):
    """The code of a driver error that says the database cannot be used now, or None (the error is a bug)."""
    if isinstance(error, sqlalchemy.exc.TimeoutError):
        return "storage_busy"  # every pooled connection was in use for the whole wait
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        error = error.orig
    if isinstance(error, sqlite3.Error):
        return SQLITE_CODES.get((getattr(error, "sqlite_errorcode", None) or 0) & 0xFF)
    psycopg = loaded_psycopg()
    if psycopg is None or not isinstance(error, psycopg.Error):
        return None
    state = error.sqlstate or ""
    if state in POSTGRES_CODES:
        return POSTGRES_CODES[state]
    if state[:2] in POSTGRES_CLASSES:
        return POSTGRES_CLASSES[state[:2]]
    # No SQLSTATE: the connection itself failed (refused, cut, closed).
    return "storage_failed" if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)) and not state else None


class Record(tuple):
    """A PostgreSQL row read like sqlite3.Row: by position or by column name."""

    def __new__(cls, values, index):
        """The values, and the position of each column name."""
        record = super().__new__(cls, values)
        record.index_of = index
        return record

    def __getitem__(self, key):
        """A value by position (or slice) or by column name."""
        return super().__getitem__(self.index_of[key] if isinstance(key, str) else key)

    def keys(self):
        """The column names."""
        return list(self.index_of)


def records(cursor):
    """psycopg's row factory for Records."""
    index = {column.name: n for n, column in enumerate(cursor.description or ())}
    return lambda values: Record(values, index)


# While a write transaction runs on PostgreSQL it holds an advisory lock, so that writers take turns across every
# process and host as SQLite's write lock makes them: each check-then-write of the callers (quotas, the last admin)
# keeps its meaning on both. The accounts have their own, as on SQLite they have their own file.
WRITERS_LOCK = 0x7765627569
ACCOUNTS_LOCK = 0x7765627561


@dataclass
class Store:
    """One database of the app: its engine, its dialect's name, this process's gate for its writers, how long a write
    waits for the lock, and (PostgreSQL) the advisory lock its write transactions hold."""

    engine: sqlalchemy.Engine
    gate: object
    wait: float
    lock: int = WRITERS_LOCK
    name: str = field(init=False)

    def __post_init__(self):
        """Read the dialect's name."""
        self.name = self.engine.dialect.name

    @property
    def sqlite(self):
        """Whether it is a SQLite file."""
        return self.name == "sqlite"


@lru_cache(maxsize=512)
def compiled_statement(statement, dialect):
    """A Core expression compiled once for a dialect (module-level statements with bindparams are compiled once a
    process): its SQL, its parameters' names in order (None: the driver takes them by name) and their defaults."""
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    return str(compiled), compiled.positiontup if dialect.positional else None, compiled.params


# A PostgreSQL connection that lay in the pool for longer than this is pinged before it is used: longer than the gaps
# between the statements of a busy process, shorter than any restart of a server.
IDLE_PING_SECONDS = 0.1
# Where a pooled connection keeps when it was last given back (its record's `info` outlives each checkout).
GIVEN_BACK = "webui.given_back"
# psycopg's TransactionStatus: IDLE, no transaction open on the connection; IN_ERROR, one that a failed statement ended.
IDLE, IN_ERROR = 0, 3


def checked_out(store):
    """A connection from the store's pool. On PostgreSQL one that lay there for longer than IDLE_PING_SECONDS is
    checked with a round trip first, and one the server dropped (it restarted meanwhile) is given up for another, so
    no caller meets its failure; after as many as the pool keeps, the next is a new one."""
    for _attempt in range(0 if store.sqlite else POOL_SIZE):
        pooled = store.engine.raw_connection()
        if time.monotonic() - pooled.info.get(GIVEN_BACK, math.inf) <= IDLE_PING_SECONDS:
            return pooled
        try:
            pooled.driver_connection.execute("SELECT 1")
            return pooled
        except driver_errors():
            pooled.invalidate()
    return store.engine.raw_connection()


def idle(pooled, sqlite):
    """Whether a pooled connection has no transaction open."""
    if sqlite:
        return not pooled.driver_connection.in_transaction
    return pooled.driver_connection.info.transaction_status == IDLE


def give_back(pooled):
    """Give a pooled connection back to the pool, noting when."""
    pooled.info[GIVEN_BACK] = time.monotonic()
    pooled.close()


def sqlite_connected(connection, _record):
    """What every new connection to a SQLite file does first (its busy timeout is sqlite3.connect's `timeout`)."""
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA foreign_keys = ON")
    # In WAL mode (the conversations) NORMAL keeps every commit through a crash of the process; only a power cut
    # may lose the last ones. With a rollback journal (the accounts) a power cut could corrupt the file: FULL stays.
    if connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        connection.execute("PRAGMA synchronous = NORMAL")


def postgres_connected(connection, _record):
    """What every new connection to PostgreSQL does first: rows as Records."""
    connection.row_factory = records


def private_file(path):
    """Create the SQLite file `path`, if it is missing, readable by its owner only: SQLite gives its journal (-wal,
    -shm) the file's mode, and the umask's usual 0644 would let every local user read every conversation. One that
    exists and others can read is the operator's to change: it is only warned about."""
    if path in ("", ":memory:"):
        return
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if os.stat(path).st_mode & 0o077:
            logging.getLogger(__name__).warning("%s can be read by other users: chmod 600 it and its -wal and -shm", path)


def sqlite_engine(path, wait, gate):
    """The Store of a SQLite file: a pool of connections that Database checks out for each call or transaction, as on
    PostgreSQL. A connection holds the parsed schema and its prepared statements (a few hundred KB): one per open
    socket would cost that for every page open. The pool is closed with the process (or the Store), so the file's last
    connection to close checkpoints it."""
    engine = sqlalchemy.create_engine(
        f"sqlite:///{path}",
        pool_size=POOL_SIZE,
        max_overflow=-1,
        pool_use_lifo=True,
        # Given back only after its transactions ended (Database ends each): nothing to reset.
        pool_reset_on_return=None,
        isolation_level="AUTOCOMMIT",
        connect_args={"timeout": wait, "check_same_thread": False},
    )
    event.listen(engine, "connect", sqlite_connected)
    store = Store(engine, gate, wait)
    weakref.finalize(store, engine.dispose)
    return store


# Keepalives, on both sides of a connection to PostgreSQL: idle seconds before the first probe, seconds between
# probes, probes unanswered before the connection is dead. A peer gone silent is found in about twenty seconds.
KEEPALIVES = (10, 5, 2)


def session_settings(wait):
    """What every session of this server sets on the PostgreSQL server, for a database wait of `wait` seconds.

    A write transaction holds the writers' lock (database.begin) for all of its life, and a healthy one is never idle
    for long: each statement follows the last within the process. So a session idle in a transaction for twice the wait
    belongs to a process that froze (stopped, swapped out) or a host cut off, and the server ends it, giving the lock
    back to every other host; the server's keepalives find a client host gone dead. The frozen process, once it runs
    again, finds its connection closed: its write failed, and is made again (the saver tries again)."""
    milliseconds = max(1, round(wait * 1000))
    return {
        "lock_timeout": milliseconds,
        "idle_in_transaction_session_timeout": 2 * milliseconds,
        **dict(zip(("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count"), KEEPALIVES)),
    }


def postgres_engine(url, wait, gate):
    """The Store of a PostgreSQL database: a pool, whose connections Database checks out for each call or transaction
    (and pings when they lay unused: see checked_out)."""
    url = make_url(url).set(drivername="postgresql+psycopg")
    engine = sqlalchemy.create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        pool_timeout=wait,
        # The connection given back last goes out first: the busy few stay within IDLE_PING_SECONDS and need no ping,
        # where the default order would rotate every pooled one past it under a steady load.
        pool_use_lifo=True,
        # A statement waits `wait` seconds at most for another program's lock, then storage_busy: a reader too, whom
        # a migration's or VACUUM FULL's lock would otherwise hold for good, and with it one of the few native
        # threads every database call of the process needs. (A write transaction sets its own, its wait's rest.)
        connect_args={
            "connect_timeout": max(1, round(wait)),
            "options": " ".join(f"-c {name}={value}" for name, value in session_settings(wait).items()),
            # This side notices a server (or a network) gone silent as soon, not in the system's hours.
            "keepalives": 1, **dict(zip(("keepalives_idle", "keepalives_interval", "keepalives_count"), KEEPALIVES)),
        },
    )
    event.listen(engine, "connect", postgres_connected)
    return Store(engine, gate, wait)


def is_postgres(url):
    """Whether WEBUI_DATABASE_URL names a PostgreSQL database."""
    return bool(url) and url.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")
