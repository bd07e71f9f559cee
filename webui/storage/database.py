"""A connection to the app's database (SQLite or PostgreSQL), whose waits stop only its caller and end within a bound.

Any text can be stored, and a database that cannot be used is a StorageError the user can read instead of a crash.
"""
import time
from contextlib import contextmanager

from flask_babel import gettext as _

from ..cooperative import in_native_thread
from ..errors import UserError
from .engine import IN_ERROR, checked_out, error_code, give_back, idle
from .statements import Link, Rows, run_statement


class StorageError(UserError):
    """The database cannot do what was asked now: another program holds its lock, the disk is full, or it fails."""

    def __init__(self, code, cause):
        """`code` is one of the engine's codes; `cause` is the driver's own words, for the log and the operator."""
        messages = {
            "storage_busy": _("The server's database is busy: another program is writing to it. Try again in a moment."),
            "storage_full": _("The server's disk is full, so nothing new can be saved. Try again when space has been freed."),
            "storage_failed": _("The server cannot use its database right now. Try again later."),
        }
        super().__init__(messages[code], code=code)
        self.cause = cause


def storage_error(error):
    """The StorageError for a driver error that says the database cannot be used now, or None (the error is a bug)."""
    code = error_code(error)
    # The driver's own words, without SQLAlchemy's wrapping (the statement, a link to its docs).
    return StorageError(code, str(getattr(error, "orig", None) or error)) if code else None


def outcome(function, *args):
    """(`function(*args)`, None), or (None, the error it raised): returned, not raised, from a native thread, where
    gevent would print each error as a crash of the pool (a refusal raised by a function given to Database.write too)."""
    try:
        return function(*args), None
    except Exception as e:
        return None, e


def begin(link, seconds):
    """Take the write lock, waiting at most `seconds` for another process to let go of it."""
    milliseconds = max(1, round(seconds * 1000))
    if link.store.sqlite:
        link.driver.execute(f"PRAGMA busy_timeout = {milliseconds}")
        try:
            link.driver.execute("BEGIN IMMEDIATE")
        finally:
            link.driver.execute(f"PRAGMA busy_timeout = {round(link.store.wait * 1000)}")
        return
    # One round trip: statements without parameters go as one simple query.
    try:
        link.driver.execute(
            f"BEGIN; SET LOCAL lock_timeout = {milliseconds}; SELECT pg_advisory_xact_lock({link.store.lock})"
        )
    except BaseException:
        # The wait ran out: the transaction it began is ended, or every later statement on the connection would fail.
        if link.driver.info.transaction_status == IN_ERROR:
            link.driver.execute("ROLLBACK")
        raise


def end(link, commit):
    """COMMIT or ROLLBACK; a commit that fails is rolled back, so the connection never keeps the write lock."""
    try:
        link.driver.execute("COMMIT" if commit else "ROLLBACK")
    except BaseException:
        if link.store.sqlite and link.driver.in_transaction:
            link.driver.execute("ROLLBACK")
        raise


def in_transaction(link, seconds, function, args):
    """`function(link, *args)` as one write transaction: committed if it returns, rolled back if it raises."""
    begin(link, seconds)
    try:
        result = function(link, *args)
    except BaseException:
        end(link, False)
        raise
    end(link, True)
    return result


def on_link(db, function, args):
    """`function(link, *args)` on the Database's connection (in the caller's native thread); then, with no transaction
    open, the connection goes back to the pool."""
    try:
        return function(db._link(), *args)
    finally:
        db._between_transactions()


def nothing(link):
    """Do nothing with the connection (a first call, so that a database that cannot be used fails at once)."""


class Database:
    """A connection to the database, used by one thread or greenlet at a time.

    Under gevent every call into the driver runs in a native thread (cooperative.in_native_thread): both SQLite and
    psycopg wait in C, which would stop every greenlet of the process. The writers of this process take turns at the
    store's gate before they ask for the write lock, so at most one native thread waits for another process, and a
    writer that has its turn waits `wait` seconds for another process's lock before it gets StorageError("storage_busy").
    A Database holds a pooled connection only during a call or an open transaction: a socket's lives as long as the
    socket, and one each would use up PostgreSQL's pool with a few dozen sockets (and hold SQLite's schema and
    statements in memory once per socket), when the process uses at most one a native thread and the writer's between
    two statements. A connection that fails (the server restarted) is dropped: the next call takes another.
    """

    def __init__(self, store):
        """A SQLite file is opened now (one that cannot be opened fails here); PostgreSQL is reached at the first call."""
        self.store = store
        self.wait = store.wait
        self.gate = store.gate
        self.pooled = None
        if store.sqlite:
            self._run(nothing)

    @property
    def sqlite(self):
        """Whether the database is a SQLite file."""
        return self.store.sqlite

    def _link(self):
        """The connection as a Link, taken from the pool if there is none (in the caller's native thread)."""
        if self.pooled is None:
            self.pooled = checked_out(self.store)
            self.link = Link(self.pooled.driver_connection, self.store)
        return self.link

    def _between_transactions(self):
        """Give a connection with no transaction open back to the pool (in the caller's native thread)."""
        if self.pooled is not None and idle(self.pooled, self.sqlite):
            pooled, self.pooled = self.pooled, None
            give_back(pooled)

    def _call(self, function, *args):
        """`function(*args)` off the event loop, with a database that cannot be used turned into a StorageError."""
        result, error = in_native_thread(outcome, function, *args)
        if error is None:
            return result
        failure = storage_error(error)
        if failure is None:
            raise error
        if failure.code == "storage_failed" and self.pooled is not None:
            in_native_thread(self.pooled.invalidate)
            self.pooled = None
        raise failure from error

    def _run(self, function, *args):
        """`function(link, *args)` in a native thread."""
        return self._call(on_link, self, function, args)

    def execute(self, sql, params=()):
        """Run one statement (a Core expression, or SQLite's own SQL text: see Link.statement); returns its Rows."""
        return Rows(*self._run(run_statement, sql, params))

    @contextmanager
    def _writers_turn(self):
        """Hold this process's turn to write for the block, which is given the time its wait for the lock ends:
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
            self._run(begin, deadline - time.monotonic())
            try:
                yield self
            except BaseException:
                if self.pooled is not None:
                    self._run(end, False)
                raise
            self._run(end, True)

    def read(self, function, *args):
        """`function(link, *args)` in a single call into the driver (under gevent one trip to a native thread), outside
        any transaction; what it raises is raised here."""
        return self._run(function, *args)

    def write(self, function, *args):
        """`function(link, *args)` as one write transaction in a single call into the driver (under gevent one trip to
        a native thread, however many statements it runs), given a Link whose statements go through its execute(),
        run_statement or run_many, which make their parameters storable. What the function raises rolls it back and
        is raised here."""
        with self._writers_turn() as deadline:
            return self._run(in_transaction, deadline - time.monotonic(), function, args)

    def close(self):
        """Give the connection back, if a transaction left the Database holding one."""
        if self.pooled is not None:
            pooled, self.pooled = self.pooled, None
            self._call(pooled.close)


def transaction(db):
    """Run a block as one write transaction (see Database.transaction)."""
    return db.transaction()
