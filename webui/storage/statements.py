"""A statement on a driver connection: its SQL, its parameters as the database takes them, and its rows."""
from .engine import compiled_statement


def storable(value):
    """A parameter as the database can take it: text with surrogates (an emoji split across two chunks, half of one) is
    made valid UTF-8, a split pair joined again and a lone half replaced by U+FFFD; anything else is unchanged."""
    if value.__class__ is not str:
        return value
    try:
        value.encode()
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def storable_in_postgres(value):
    """A parameter as PostgreSQL can take it: as storable(), a NUL (which its text cannot hold) as U+FFFD, and a
    boolean as 0 or 1, as SQLite stores it (the flags' columns are integers on both)."""
    if value.__class__ is bool:
        return int(value)
    value = storable(value)
    return value.replace("\0", "\ufffd") if value.__class__ is str and "\0" in value else value


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


class Link:
    """A driver connection with its Store: what a function given to Database.write runs its statements on."""

    __slots__ = ("driver", "store", "fix")

    def __init__(self, driver, store):
        """Keep the connection and its store, and how parameters are made storable there."""
        self.driver = driver
        self.store = store
        self.fix = storable if store.sqlite else storable_in_postgres

    def execute(self, sql, params=()):
        """Run one statement, as Database.execute does: a function given to Database.write takes a Link where others
        take a Database."""
        return Rows(*run_statement(self, sql, params))

    def params(self, params):
        """Parameters as the database can take them."""
        fix = self.fix
        return [fix(value) for value in params]

    def statement(self, sql, params):
        """The driver's SQL and parameters of a Core expression (`params` a dict by bindparam name, or nothing), or of
        SQL text, which only SQLite is given (its PRAGMAs and the accounts file's steps: `?` placeholders, `params` a
        sequence)."""
        if sql.__class__ is str:
            return sql, self.params(params)
        sql, names, defaults = compiled_statement(sql, self.store.engine.dialect)
        return sql, self.bound(names, defaults, params or {})

    def many(self, statement, rows):
        """The driver's SQL of a Core expression, compiled once, and each of `rows` (dicts by bindparam name) as its
        parameters."""
        sql, names, defaults = compiled_statement(statement, self.store.engine.dialect)
        return sql, [self.bound(names, defaults, row) for row in rows]

    def bound(self, names, defaults, params):
        """A compiled Core expression's parameters as the driver takes them, made storable: each bindparam's value in
        `params`, or else the expression's own (`defaults`); in the order of `names`, or by name when that is None."""
        fix = self.fix
        if names is None:
            return {name: fix(params[name] if name in params else value) for name, value in defaults.items()}
        return [fix(params[name] if name in params else defaults[name]) for name in names]


def run_statement(link, sql, params=()):
    """Run one statement and fetch its rows (fetching steps it further, so it happens in the same thread): the rows and
    how many rows it changed."""
    cursor = link.driver.execute(*link.statement(sql, params))
    return (cursor.fetchall() if cursor.description else []), cursor.rowcount


def run_many(link, statement, rows):
    """Run a Core expression once for each row of parameters (a dict by bindparam name): how many rows it changed in
    all. No rows, no call into the driver (psycopg would still make a round trip)."""
    if not rows:
        return 0
    cursor = link.driver.cursor()
    try:
        cursor.executemany(*link.many(statement, rows))
        return cursor.rowcount
    finally:
        cursor.close()
