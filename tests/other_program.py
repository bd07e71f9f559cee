"""The server's database as another program sees it (SQLite's file or PostgreSQL's database): its stored answers, the
transactions that wrote to it, and a write lock it can hold."""
import sqlite3
import struct
import time
from functools import cached_property
from pathlib import Path

from webui import storage


class OtherProgram:
    """The server's database as another program sees it: its stored answers, the transactions that wrote to it
    (`commits`, counted by a subclass's way), and its write lock, which that program can hold."""

    def execute(self, sql, params=()):
        """Run one statement (`?` placeholders) on the program's own connection: its rows."""
        cursor = self.connection.execute(self.placeholders(sql), params)
        return cursor.fetchall() if cursor.description else []

    def placeholders(self, sql):
        """A statement in the driver's placeholder style."""
        return sql

    def stored(self, message_ids):
        """message id -> its stored text, all read at one moment."""
        marks = ", ".join("?" * len(message_ids))
        return dict(self.execute(f"SELECT id, content FROM stored_messages WHERE id IN ({marks})", list(message_ids)))

    def release(self, commit=False):
        """End the transaction that holds the write lock: COMMIT, or ROLLBACK."""
        self.execute("COMMIT" if commit else "ROLLBACK")

    def close(self):
        """Close the connection."""
        self.connection.close()


class DatabaseFile(OtherProgram):
    """The server's SQLite file, its commits counted from its write-ahead log."""

    def __init__(self, data):
        """Open the file in `data`, the server's data folder."""
        self.path = Path(data) / storage.FILENAME
        self.connection = sqlite3.connect(self.path, isolation_level=None)
        self.connection.execute("PRAGMA foreign_keys = ON")

    @cached_property
    def commits(self):
        """The commits to the file, counted from the first use on."""
        return WalCommits(Path(f"{self.path}-wal"))

    def hold_write_lock(self):
        """Take the file's write lock, as another program writing to it does: writes wait, reads go on."""
        self.execute("BEGIN IMMEDIATE")


class PostgresDatabase(OtherProgram):
    """The server's PostgreSQL database, its commits counted by the transaction ids they took."""

    def __init__(self, url):
        """Connect to the database at `url` (SQLAlchemy's)."""
        import psycopg

        self.connection = psycopg.connect(url.replace("+psycopg", "", 1), autocommit=True)

    @cached_property
    def commits(self):
        """The transactions that wrote answer parts, counted from the first use on."""
        return PartCommits(self)

    def placeholders(self, sql):
        """psycopg's placeholders."""
        return sql.replace("?", "%s")

    def hold_write_lock(self):
        """Lock the tables an answer is written to, as another program's long transaction may: what SQLite's write lock
        is to its file, writes wait (EXCLUSIVE takes in every write's ROW EXCLUSIVE) while reads (ACCESS SHARE) go on."""
        self.execute("BEGIN")
        self.execute("LOCK TABLE messages, answer_parts IN EXCLUSIVE MODE")


class Commits:
    """Transactions committed to a database, counted by `poll()`."""

    def during(self, seconds, each=lambda: None):
        """Commits counted in the next `seconds`, polling often enough to miss none; `each()` is called between two
        polls."""
        self.poll()
        before = self.count
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.poll()
            each()
            time.sleep(0.005)
        self.poll()
        return self.count - before


class PartCommits(Commits):
    """Counts the transactions that wrote answer parts to a PostgreSQL database: the distinct ids of the transactions
    that inserted the parts written since the counting began (a part is never updated, so its xmin stays its
    writer's). Transaction ids themselves are no count: autovacuum's ANALYZE takes some too."""

    def __init__(self, database):
        """Count from now on."""
        self.database = database
        ((self.after,),) = database.execute("SELECT coalesce(max(seq), 0) FROM answer_parts")
        self.count = 0

    def poll(self):
        """Count the transactions that wrote the parts there are now."""
        query = "SELECT count(DISTINCT xmin::text) FROM answer_parts WHERE seq > ?"
        ((self.count,),) = self.database.execute(query, (self.after,))


class WalCommits(Commits):
    """Counts the transactions committed to a database in WAL mode by reading its -wal file as SQLite writes it: the
    last frame of each commit holds the database's size in its header (other frames hold 0 there). Once the file was
    checkpointed, SQLite writes it again from the start with new salts; the count goes on from there."""

    HEADER, FRAME_HEADER = 32, 24

    def __init__(self, path):
        """Count from now on."""
        self.path = path
        self.salts, self.offset, self.count = None, self.HEADER, 0
        self.poll()
        self.count = 0

    def poll(self):
        """Count the commits written since the last poll."""
        with open(self.path, "rb") as wal:
            header = wal.read(self.HEADER)
            if len(header) < self.HEADER:
                return
            page_size, _, *salts = struct.unpack(">4I", header[8:24])
            if salts != self.salts:
                self.salts, self.offset = salts, self.HEADER
            size = wal.seek(0, 2)
            for _ in range(100_000):
                if self.offset + self.FRAME_HEADER + page_size > size:
                    return
                wal.seek(self.offset)
                _, commit, *frame_salts = struct.unpack(">4I", wal.read(16))
                if frame_salts != self.salts:
                    return
                self.count += commit > 0
                self.offset += self.FRAME_HEADER + page_size
