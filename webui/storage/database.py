"""A connection to the SQLite file, whose waits stop only its caller and end within a bound.

Any text can be stored, and a file that cannot be used is a StorageError the user can read instead of a crash.
"""
import sqlite3
import threading
import time
from contextlib import contextmanager

from flask_babel import gettext as _

from ..cooperative import in_native_thread
from ..errors import UserError

# What an error's primary result code (its code & 0xFF) says about the file: each is a code the user is told.
# Any other SQLite error is a bug and is raised as it is.
CODES = {
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


class StorageError(UserError):
    """The database cannot do what was asked now: another program holds its lock, the disk is full, or it fails."""

    def __init__(self, code, cause):
        """`code` is one of CODES' values; `cause` is SQLite's own words, for the log and the server's operator."""
        messages = {
            "storage_busy": _("The server's database is busy: another program is writing to it. Try again in a moment."),
            "storage_full": _("The server's disk is full, so nothing new can be saved. Try again when space has been freed."),
            "storage_failed": _("The server cannot use its database right now. Try again later."),
        }
        super().__init__(messages[code], code=code)
        self.cause = cause


def storage_error(error):
    """The StorageError for a SQLite error that says the file cannot be used now, or None (the error is a bug)."""
    code = CODES.get((getattr(error, "sqlite_errorcode", None) or 0) & 0xFF)
    return StorageError(code, str(error)) if code else None


def storable(value):
    """A parameter as SQLite can take it: text with surrogates (an emoji split across two chunks, half of one) is made
    valid UTF-8, a split pair joined again and a lone half replaced by U+FFFD; anything else is unchanged."""
    if value.__class__ is not str:
        return value
    try:
        value.encode()
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


class Rows(list):
    """A statement's rows, all fetched, and how many rows it changed (`rowcount`), read like a cursor."""

    def __init__(self, rows, rowcount):
        """Keep the rows and the count."""
        super().__init__(rows)
        self.rowcount = rowcount

    def fetchone(self):
        """The first row, or None."""
        return self[0] if self else None

    def fetchall(self):
        """Every row."""
        return self


def outcome(function, *args):
    """(`function(*args)`, None), or (None, the SQLite error it raised): returned, not raised, from a native thread,
    where gevent would print each error as a crash of the pool."""
    try:
        return function(*args), None
    except sqlite3.Error as e:
        return None, e


def open_connection(path, wait):
    """A connection in autocommit mode (transactions are explicit) that any thread may use, one at a time."""
    connection = sqlite3.connect(path, timeout=wait, isolation_level=None, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA foreign_keys = ON")
    # In WAL mode (the conversations) NORMAL keeps every commit through a crash of the process; only a power cut may
    # lose the last ones. With a rollback journal (the accounts) a power cut could corrupt the file: SQLite's FULL stays.
    if connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        connection.execute("PRAGMA synchronous = NORMAL")
    return connection


def run_statement(connection, sql, params):
    """Run one statement and fetch its rows (fetching steps it further, so it happens in the same thread): the rows and
    how many rows it changed."""
    cursor = connection.execute(sql, [storable(value) for value in params])
    return cursor.fetchall(), cursor.rowcount


def run_many(connection, sql, rows):
    """Run one statement once for each row of parameters: how many rows it changed in all."""
    return connection.executemany(sql, ([storable(value) for value in params] for params in rows)).rowcount


def begin(connection, seconds, wait):
    """Take the write lock, waiting at most `seconds` for another process to let go of it."""
    connection.execute(f"PRAGMA busy_timeout = {max(0, round(seconds * 1000))}")
    try:
        connection.execute("BEGIN IMMEDIATE")
    finally:
        connection.execute(f"PRAGMA busy_timeout = {round(wait * 1000)}")


def end(connection, commit):
    """COMMIT or ROLLBACK; a commit that fails is rolled back, so the connection never keeps the write lock."""
    try:
        connection.execute("COMMIT" if commit else "ROLLBACK")
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")


def in_transaction(connection, seconds, wait, function, args):
    """`function(connection, *args)` as one write transaction: committed if it returns, rolled back if it raises."""
    begin(connection, seconds, wait)
    try:
        result = function(connection, *args)
    except BaseException:
        end(connection, False)
        raise
    end(connection, True)
    return result


class Gate:
    """This process's writers of one file, taking turns. A writer waits as long as turns go by (the process's own
    writers are busy, as when hundreds of answers start at once), and gives up only when no turn has ended for `wait`
    seconds: the writer in its turn is stuck on another process's lock."""

    def __init__(self):
        """Nobody in; no turn taken yet."""
        self._lock = threading.Lock()
        # Changed only by the writer in its turn, as it leaves.
        self.turns = 0

    def enter(self, wait):
        """Take the turn; False if no turn ended for `wait` seconds."""
        seen = self.turns
        while not self._lock.acquire(timeout=wait):
            if self.turns == seen:
                return False
            seen = self.turns
        return True

    def leave(self):
        """End the turn."""
        self.turns += 1
        self._lock.release()


class Database:
    """One connection to the file, used by one thread or greenlet at a time.

    Under gevent every call into SQLite runs in a native thread (cooperative.in_native_thread): SQLite waits for a lock
    by sleeping in C, which would stop every greenlet of the process. The writers of this process take turns at `gate`
    before they ask SQLite for the write lock, so at most one native thread waits for another process, and a writer
    that has its turn waits `wait` seconds for another process's lock before it gets StorageError("storage_busy").
    """

    def __init__(self, path, gate, wait):
        """Open the file at `path`; `gate` is the lock its writers in this process share."""
        self.gate = gate
        self.wait = wait
        self.connection = self._call(open_connection, path, wait)

    def _call(self, function, *args):
        """`function(*args)` off the event loop, with a file that cannot be used turned into a StorageError."""
        result, error = in_native_thread(outcome, function, *args)
        if error is None:
            return result
        failure = storage_error(error)
        if failure is None:
            raise error
        raise failure from error

    def execute(self, sql, params=()):
        """Run one statement; returns its Rows."""
        return Rows(*self._call(run_statement, self.connection, sql, params))

    @contextmanager
    def _writers_turn(self):
        """Hold this process's turn to write for the block, which is given the time its wait for the file's lock ends:
        `wait` seconds from its turn."""
        if not self.gate.enter(self.wait):
            raise StorageError("storage_busy", "another writer of this process kept the database")
        try:
            yield time.monotonic() + self.wait
        finally:
            self.gate.leave()

    @contextmanager
    def transaction(self):
        """Run a block as one write transaction, taking the write lock up front so it cannot deadlock."""
        with self._writers_turn() as deadline:
            self._call(begin, self.connection, deadline - time.monotonic(), self.wait)
            try:
                yield self
            except BaseException:
                self._call(end, self.connection, False)
                raise
            self._call(end, self.connection, True)

    def write(self, function, *args):
        """`function(connection, *args)` as one write transaction in a single call into SQLite (under gevent one trip
        to a native thread, however many statements it runs), given the sqlite3 connection itself: its parameters go
        through run_statement or run_many, which make them storable."""
        with self._writers_turn() as deadline:
            return self._call(in_transaction, self.connection, deadline - time.monotonic(), self.wait, function, args)

    def close(self):
        """Close the connection (the last one to close checkpoints the file, so it may write)."""
        self._call(self.connection.close)


def transaction(db):
    """Run a block as one write transaction (see Database.transaction)."""
    return db.transaction()
